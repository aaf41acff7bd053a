// SPDX-License-Identifier: GPL-2.0

//! Throughput of the ring buffer ([`RingProducer`] and [`RingConsumer`], the
//! code the guest and the host run) against Linux's C ring
//! (`tools/hv/vmbus_bufring.c`) and a plain memcpy of the same payload bytes
//! over the same memory, all measured in the same run. The workloads are in
//! this crate's library (`src/lib.rs`), shared with the instruction counts.
//!
//! * `ring-{single,batch}/{rvmbus,linux,memcpy}/N`: one packet of N payload
//!   bytes written and read back per iteration (*single*), or 16 written and
//!   then read back (*batch*). `linux` is left out, with a message, when
//!   the build had no kernel source.
//! * `per-packet/*`: the fixed cost of one packet, with no or 8 payload
//!   bytes, with and without real memory barriers, and the descriptor
//!   encode and decode alone.
//!
//! Times are the benchmark thread's CPU time ([`ThreadTime`]), not wall
//! time, so that other work on a shared machine does not count as the
//! ring's; for this single-threaded, CPU-bound code the two agree on an idle
//! machine.
//!
//! Each benchmark's throughput is given in packets per iteration;
//! `scripts/bench.sh` turns criterion's estimates into ns per packet and
//! the ratios between the implementations. Payload bytes are what count as
//! bytes: the descriptor, padding and trailer are the ring's overhead.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ring_bench::{Memcpy, Mode, PlainMem, Rvmbus, Workload, DESC, LINUX_SKIPPED, SIZES};
use vmbus_proto::ring::RingMem;
use vmbus_proto::wire::packet::{PacketType, VmPacketDescriptor};
use vmbus_proto::wire::Wire;

/// Criterion's measurement: the calling thread's CPU time in nanoseconds.
struct ThreadTime;

/// The calling thread's CPU time in nanoseconds.
fn thread_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &NsFormatter
    }
}

/// Prints nanoseconds as criterion prints wall time.
struct NsFormatter;

/// The factor and unit that bring `v` below 1000 in steps of 1000.
fn scale(v: f64, units: [&'static str; 4]) -> (f64, &'static str) {
    let mut factor = 1.0;
    for unit in &units[..3] {
        if v * factor < 1e3 {
            return (factor, unit);
        }
        factor *= 1e-3;
    }
    (factor, units[3])
}

impl ValueFormatter for NsFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = scale(typical, ["ns", "µs", "ms", "s"]);
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(&self, typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let per_iter = match *t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => n,
            Throughput::Elements(n) => n,
            Throughput::Bits(n) => n,
        } as f64;
        let rate = per_iter * 1e9 / typical;
        let (factor, unit) = scale(rate, ["elem/s", "Kelem/s", "Melem/s", "Gelem/s"]);
        values
            .iter_mut()
            .for_each(|v| *v = per_iter * 1e9 / *v * factor);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// Benchmarks `w` as `group/name/size`.
fn bench<W: Workload>(
    g: &mut criterion::BenchmarkGroup<'_, ThreadTime>,
    name: &str,
    size: usize,
    mut w: W,
) {
    g.bench_function(BenchmarkId::new(name, size), |bn| {
        bn.iter(|| {
            w.iter();
            black_box(&mut w);
        })
    });
}

fn throughput(c: &mut Criterion<ThreadTime>) {
    if let Some(why) = LINUX_SKIPPED {
        eprintln!("ring-bench: Linux's C ring left out: {why}");
    }
    for mode in Mode::ALL {
        let mut g = c.benchmark_group(format!("ring-{}", mode.name()));
        g.throughput(Throughput::Elements(mode.packets() as u64));
        for size in SIZES {
            bench(&mut g, "rvmbus", size, Rvmbus::<true>::new(size, mode));
            #[cfg(linux_bufring)]
            bench(&mut g, "linux", size, ring_bench::Linux::new(size, mode));
            bench(&mut g, "memcpy", size, Memcpy::new(size, mode));
        }
        g.finish();
    }
}

/// One packet's round trip with `payload` bytes.
fn round_trip<const FENCE: bool>(
    g: &mut criterion::BenchmarkGroup<'_, ThreadTime>,
    name: &str,
    payload: usize,
) {
    let mut b = Rvmbus::<FENCE>::new(payload, Mode::Single);
    g.bench_function(name, |bn| bn.iter(|| b.iter()));
}

fn per_packet(c: &mut Criterion<ThreadTime>) {
    let mut g = c.benchmark_group("per-packet");
    g.throughput(Throughput::Elements(1));
    round_trip::<true>(&mut g, "empty", 0);
    round_trip::<false>(&mut g, "empty-nofence", 0);
    round_trip::<true>(&mut g, "8B", 8);
    let mut raw = [0u8; DESC];
    let mut id = 0u64;
    g.bench_function("desc-encode-decode", |bn| {
        bn.iter(|| {
            id += 1;
            VmPacketDescriptor {
                ptype: PacketType::DATA_INBAND,
                offset8: 2,
                len8: 2,
                flags: 0,
                trans_id: black_box(id),
            }
            .write_to(&mut raw)
            .unwrap();
            black_box(VmPacketDescriptor::read_from(black_box(&raw)))
        })
    });
    let f = PlainMem::<true>::new();
    g.bench_function("fence", |bn| bn.iter(|| f.fence()));
    g.finish();
}

criterion_group! {
    name = benches;
    // Short by default so that `make bench` takes about a minute; criterion's
    // own options (--warm-up-time, --measurement-time, --sample-size)
    // override these.
    config = Criterion::default()
        .with_measurement(ThreadTime)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = throughput, per_packet
}
criterion_main!(benches);
