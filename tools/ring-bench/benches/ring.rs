// SPDX-License-Identifier: GPL-2.0

//! Throughput of the ring buffer ([`RingProducer`] and [`RingConsumer`], the
//! code the guest and the host run) against a plain memcpy of the same
//! payload bytes over the same memory, measured in the same run.
//!
//! The ring has a 256 KiB data area in ordinary memory. Each packet is built
//! the way a driver sends one: a freshly encoded 16-byte descriptor, the
//! payload and zero padding to 8 bytes, given to [`RingProducer::write`] as
//! three parts. The consumer drains the ring with
//! [`RingConsumer::read_packet`] until it reports the ring empty and then
//! commits.
//!
//! * `ring-single/{ring,memcpy}/N`: one packet of N payload bytes written
//!   and read back per iteration.
//! * `ring-batched/{ring,memcpy}/N`: as many packets as fit written, then
//!   all read back.
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
//! `scripts/bench.sh` turns criterion's estimates into packets/s, bytes/s
//! and the ratio to memcpy. Payload bytes are what count as bytes: the
//! descriptor, padding and trailer are the ring's overhead.

use std::cell::UnsafeCell;
use std::hint::black_box;
use std::sync::atomic::{compiler_fence, fence, AtomicU32, Ordering};
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vmbus_proto::ring::{
    init_control, ControlWord, RingConsumer, RingMem, RingProducer, TRAILER_SIZE,
};
use vmbus_proto::wire::packet::{PacketType, VmPacketDescriptor, RING_FEATURE_PENDING_SEND_SIZE};
use vmbus_proto::wire::Wire;

/// The data area: 256 KiB, a common VMBus channel ring size.
const RING_SIZE: usize = 256 * 1024;
/// Payload sizes of the throughput benchmarks.
const SIZES: [usize; 4] = [64, 256, 1500, 8192];
/// Bytes of the descriptor in front of every payload.
const DESC: usize = VmPacketDescriptor::SIZE;

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

/// A ring in plain memory, accessed the way the kernel accesses shared ring
/// pages: control words with acquire loads and release stores, the data area
/// with memcpy, and (if `FENCE`) a full barrier for `fence`, which is what
/// Linux's `virt_mb()` is on SMP. With `FENCE` false the barrier is a
/// compiler fence only, to measure what the barriers cost.
struct PlainMem<const FENCE: bool> {
    /// The control page, as 32-bit words.
    control: Box<[AtomicU32]>,
    /// The data area. Only this thread touches it; `UnsafeCell` because the
    /// ring writes through `&self`, as it does into shared pages.
    data: Box<[UnsafeCell<u8>]>,
}

impl<const FENCE: bool> PlainMem<FENCE> {
    fn new() -> Self {
        let mem = Self {
            control: (0..1024).map(|_| AtomicU32::new(0)).collect(),
            data: (0..RING_SIZE).map(|_| UnsafeCell::new(0)).collect(),
        };
        init_control(&mem, RING_FEATURE_PENDING_SEND_SIZE);
        mem
    }

    /// A pointer to `len` bytes at `off` of the data area, after checking
    /// that the range is inside it.
    fn range(&self, off: usize, len: usize) -> *mut u8 {
        let end = off.checked_add(len).expect("range overflows");
        assert!(end <= self.data.len(), "range outside the data area");
        // The cells are laid out as the bytes they wrap.
        UnsafeCell::raw_get(self.data[..].as_ptr()).wrapping_add(off)
    }
}

impl<const FENCE: bool> RingMem for PlainMem<FENCE> {
    fn data_len(&self) -> usize {
        self.data.len()
    }

    fn load(&self, word: ControlWord) -> u32 {
        self.control[word.offset() / 4].load(Ordering::Acquire)
    }

    fn store(&self, word: ControlWord, value: u32) {
        self.control[word.offset() / 4].store(value, Ordering::Release);
    }

    fn fence(&self) {
        if FENCE {
            fence(Ordering::SeqCst);
        } else {
            compiler_fence(Ordering::SeqCst);
        }
    }

    fn read(&self, off: usize, buf: &mut [u8]) {
        let src = self.range(off, buf.len());
        // SAFETY: `range` checked that the source lies inside the data
        // area; `buf` is a distinct exclusive borrow; the memory is only
        // used by this thread and no reference to it is live.
        unsafe { std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) };
    }

    fn write(&self, off: usize, buf: &[u8]) {
        let dst = self.range(off, buf.len());
        // SAFETY: as in `read`, with the roles swapped.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), dst, buf.len()) };
    }
}

/// Rounds `n` up to a multiple of 8.
const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// Bytes a packet with `payload` bytes occupies in the ring, trailer
/// included.
const fn stride(payload: usize) -> usize {
    DESC + align8(payload) + TRAILER_SIZE as usize
}

/// How many such packets the ring takes before it is full (it is never
/// filled completely).
const fn batch_len(payload: usize) -> usize {
    (RING_SIZE - 1) / stride(payload)
}

/// Both ends of a ring and the buffers a sender and a receiver would have.
struct Bench<const FENCE: bool> {
    mem: PlainMem<FENCE>,
    tx: RingProducer,
    rx: RingConsumer,
    payload: Vec<u8>,
    pad: [u8; 8],
    rxbuf: Vec<u8>,
    trans_id: u64,
    /// Where the memcpy baseline copies next.
    copy_off: usize,
}

impl<const FENCE: bool> Bench<FENCE> {
    fn new(payload: usize) -> Self {
        let mem = PlainMem::<FENCE>::new();
        let tx = RingProducer::new(&mem).unwrap();
        let rx = RingConsumer::new(&mem).unwrap();
        Self {
            mem,
            tx,
            rx,
            payload: (0..payload).map(|i| i as u8).collect(),
            pad: [0; 8],
            rxbuf: vec![0; DESC + align8(payload)],
            trans_id: 0,
            copy_off: 0,
        }
    }

    /// Encodes a descriptor and writes one packet.
    fn send(&mut self) {
        let len = DESC + align8(self.payload.len());
        self.trans_id += 1;
        let mut desc = [0u8; DESC];
        VmPacketDescriptor {
            ptype: PacketType::DATA_INBAND,
            offset8: (DESC / 8) as u16,
            len8: (len / 8) as u16,
            flags: 0,
            trans_id: self.trans_id,
        }
        .write_to(&mut desc)
        .unwrap();
        let pad = &self.pad[..len - DESC - self.payload.len()];
        let out = self.tx.write(&self.mem, &[&desc, &self.payload, pad]);
        black_box(out.unwrap());
    }

    /// Reads every packet in the ring and commits; returns how many.
    fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Some(info) = self.rx.read_packet(&self.mem, &mut self.rxbuf).unwrap() {
            black_box((info, &self.rxbuf));
            n += 1;
        }
        black_box(self.rx.commit(&self.mem).unwrap());
        n
    }

    /// The baseline for one packet: the payload copied into the data area
    /// at the place the ring would put it, and copied out again.
    fn copy_one(&mut self) {
        let n = self.payload.len();
        if self.copy_off + n > RING_SIZE {
            self.copy_off = 0;
        }
        self.mem.write(self.copy_off, &self.payload);
        self.mem.read(self.copy_off, &mut self.rxbuf[..n]);
        black_box(&self.rxbuf);
        self.copy_off = (self.copy_off + stride(n)) % RING_SIZE;
    }

    /// The baseline for a batch: all payloads copied in, then all out.
    fn copy_batch(&mut self, count: usize) {
        let n = self.payload.len();
        let s = stride(n);
        for i in 0..count {
            self.mem.write(i * s, &self.payload);
        }
        for i in 0..count {
            self.mem.read(i * s, &mut self.rxbuf[..n]);
            black_box(&self.rxbuf);
        }
    }
}

fn single(c: &mut Criterion<ThreadTime>) {
    let mut g = c.benchmark_group("ring-single");
    g.throughput(Throughput::Elements(1));
    for size in SIZES {
        let mut b = Bench::<true>::new(size);
        g.bench_function(BenchmarkId::new("ring", size), |bn| {
            bn.iter(|| {
                b.send();
                assert_eq!(b.drain(), 1);
            })
        });
        let mut b = Bench::<true>::new(size);
        g.bench_function(BenchmarkId::new("memcpy", size), |bn| {
            bn.iter(|| b.copy_one())
        });
    }
    g.finish();
}

fn batched(c: &mut Criterion<ThreadTime>) {
    let mut g = c.benchmark_group("ring-batched");
    for size in SIZES {
        let count = batch_len(size);
        g.throughput(Throughput::Elements(count as u64));
        let mut b = Bench::<true>::new(size);
        g.bench_function(BenchmarkId::new("ring", size), |bn| {
            bn.iter(|| {
                for _ in 0..count {
                    b.send();
                }
                assert_eq!(b.drain(), count);
            })
        });
        let mut b = Bench::<true>::new(size);
        g.bench_function(BenchmarkId::new("memcpy", size), |bn| {
            bn.iter(|| b.copy_batch(count))
        });
    }
    g.finish();
}

/// One packet's round trip with `payload` bytes.
fn round_trip<const FENCE: bool>(
    g: &mut criterion::BenchmarkGroup<'_, ThreadTime>,
    name: &str,
    payload: usize,
) {
    let mut b = Bench::<FENCE>::new(payload);
    g.bench_function(name, |bn| {
        bn.iter(|| {
            b.send();
            assert_eq!(b.drain(), 1);
        })
    });
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
    targets = single, batched, per_packet
}
criterion_main!(benches);
