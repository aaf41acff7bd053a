// SPDX-License-Identifier: GPL-2.0

//! rvmbus_echo: a sample VMBus driver for the rvmbus test host's echo
//! device. It sends requests to the host and checks that each answer
//! carries the bytes it sent.
//!
//! `/sys/kernel/debug/rvmbus_echo/run` starts a run: write `COUNT SIZE`
//! (sizes from 1 to 16000 bytes; `0` picks sizes that cycle through 1 to
//! 8000). Reading it shows the last run's result and the totals.
//! Every request either completes or is cancelled by the bus: a run that
//! ends with requests neither completed nor cancelled reports them as
//! `lost`, which the bus's API promises never happens.
//!
//! `/sys/kernel/debug/rvmbus_echo/bench` measures instead of checking every
//! byte: write `SIZE COUNT WINDOW [RELID]` to send COUNT requests of SIZE
//! bytes with at most WINDOW in flight (to the device with that relid, or
//! the first), timing each round trip; reading it shows the result line,
//! which also carries a baseline measured right after, in the same call:
//! the same bytes copied through a buffer of the ring's size as often as a
//! round trip copies them. Documentation/benchmarks.rst explains the keys.
//!
//! The completion callback runs in the channel's tasklet (softirq): the
//! state it shares with a run is under a spinlock with interrupts off, and
//! it never allocates (room is reserved beforehand, in process context).

#[path = "../rust/rvmbus_api/mod.rs"]
mod vmbus;

use core::fmt::{self, Write};

use kernel::{
    debugfs::{Dir, File},
    new_condvar, new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc, CondVar, Mutex, SpinLockIrq,
    },
    time::{msecs_to_jiffies, Delta, Instant, Monotonic},
    uaccess::UserSliceReader,
};

use vmbus::{Device, Driver, Packet, Registration};

kernel::prelude::module! {
    type: EchoModule,
    name: "rvmbus_echo",
    authors: ["rvmbus developers"],
    description: "Sample VMBus driver: checks traffic through the rvmbus host's echo device",
    license: "GPL",
    alias: ["vmbus:5a0f1c2e1d8b8e4a9c3f72766d627573"],
    params: {
        probe_delay_ms: u32 {
            default: 0,
            description: "Sleep this long in probe (tests a rescind that races the probe)",
        },
    },
}

/// The echo device class, 2e1c0f5a-8b1d-4a8e-9c3f-72766d627573.
const ECHO_CLASS: vmbus::Guid = vmbus::guid(
    0x2e1c0f5a,
    0x8b1d,
    0x4a8e,
    [0x9c, 0x3f, 0x72, 0x76, 0x6d, 0x62, 0x75, 0x73],
);

/// Ring bytes each way.
const RING_BYTES: u32 = 64 * 1024;
/// Requests in flight at once during a run.
const WINDOW: usize = 8;
/// Largest payload a run sends.
const MAX_SIZE: usize = 16000;
/// How long one send may wait for ring space, and a run for its answers.
const SEND_TIMEOUT_MS: u32 = 2000;
const DRAIN_TIMEOUT_MS: i64 = 5000;

kernel::sync::global_lock! {
    // SAFETY: Initialised in `EchoModule::init` before the driver
    // registers.
    unsafe(uninit) static DEVICES: Mutex<KVec<(Device, Arc<Shared>)>> = KVec::new();
}

/// A request waiting for its answer.
struct Outstanding {
    cookie: u64,
    /// The bytes the answer must carry; empty for a benchmark request,
    /// whose answer must carry `bench_size` bytes starting with the cookie.
    payload: KVec<u8>,
    /// A benchmark request: its payload size and when it was sent.
    bench: Option<(usize, Instant<Monotonic>)>,
    /// The bus took the request (`request()` returned); until then the
    /// submitter may still take it back, and a removal in between does not
    /// count it as waiting for a completion.
    taken: bool,
}

/// What a run counts.
#[derive(Clone, Copy, Default)]
struct Counts {
    sent: u64,
    completed: u64,
    cancelled: u64,
    mismatched: u64,
    failed: u64,
    bytes: u64,
}

impl Counts {
    /// What was counted since `before` (the totals only grow).
    fn since(&self, before: &Counts) -> Counts {
        Counts {
            sent: self.sent.wrapping_sub(before.sent),
            completed: self.completed.wrapping_sub(before.completed),
            cancelled: self.cancelled.wrapping_sub(before.cancelled),
            mismatched: self.mismatched.wrapping_sub(before.mismatched),
            failed: self.failed.wrapping_sub(before.failed),
            bytes: self.bytes.wrapping_sub(before.bytes),
        }
    }
}

/// State shared by the driver callbacks and a run.
struct RunState {
    outstanding: KVec<Outstanding>,
    counts: Counts,
    /// The device was removed.
    gone: bool,
    /// Round-trip times of the benchmark requests answered, in ns.
    latencies: KVec<u64>,
}

/// Held by the completion callback (softirq) and by a run (process
/// context): a spinlock with interrupts off, a leaf.
#[pin_data]
struct Shared {
    relid: u32,
    #[pin]
    state: SpinLockIrq<RunState>,
    #[pin]
    changed: CondVar,
    next_cookie: Atomic<u64>,
    /// Packets that were not answers (the echo device sends none).
    stray: Atomic<u64>,
}

/// The driver's state for one device.
struct EchoDev {
    shared: Arc<Shared>,
}

struct EchoDriver;

impl Driver for EchoDriver {
    type Data = EchoDev;
    const NAME: &'static CStr = c"rvmbus_echo";
    const IDS: &'static [vmbus::Guid] = &[ECHO_CLASS];

    fn probe(dev: &Device) -> Result<Pin<KBox<EchoDev>>> {
        let relid = dev.info()?.relid;
        let delay = module_parameters::probe_delay_ms.value();
        if delay > 0 {
            pr_info!("relid {}: probe sleeps {} ms\n", relid, delay);
            kernel::time::delay::fsleep(Delta::from_millis(i64::from(delay.min(60_000))));
        }
        // Room for the largest window: a run adds requests under the
        // spinlock, where it must not sleep.
        let outstanding = KVec::with_capacity(MAX_WINDOW, GFP_KERNEL)?;
        let shared = Arc::pin_init(
            pin_init!(Shared {
                relid,
                state <- new_spinlock_irq!(RunState {
                    outstanding,
                    counts: Counts::default(),
                    gone: false,
                    latencies: KVec::new(),
                }),
                changed <- new_condvar!(),
                next_cookie: Atomic::new(1),
                stray: Atomic::new(0),
            }),
            GFP_KERNEL,
        )?;
        Ok(KBox::pin(EchoDev { shared }, GFP_KERNEL)?)
    }

    fn start(data: &EchoDev, dev: &Device) -> Result {
        dev.open(RING_BYTES)?;
        DEVICES
            .lock()
            .push((dev.clone(), data.shared.clone()), GFP_KERNEL)?;
        pr_info!("relid {}: echo device ready\n", data.shared.relid);
        Ok(())
    }

    fn packet(data: &EchoDev, _dev: &Device, _pkt: &Packet<'_>) {
        data.shared.stray.add(1, Relaxed);
    }

    fn completion(data: &EchoDev, _dev: &Device, cookie: u64, result: Result<&[u8]>) {
        let s = &data.shared;
        let mut st = s.state.lock();
        let Some(i) = st.outstanding.iter().position(|o| o.cookie == cookie) else {
            pr_err!(
                "relid {}: completion for unknown cookie {}\n",
                s.relid,
                cookie
            );
            return;
        };
        let Ok(o) = st.outstanding.remove(i) else {
            return;
        };
        let size = o.bench.map_or(o.payload.len(), |(n, _)| n);
        // In-band packets are padded to 8 bytes: the answer is the payload
        // and at most 7 bytes of padding. A benchmark answer is checked by
        // its length and the cookie it starts with.
        let matches = |b: &[u8]| {
            let head = if o.bench.is_some() {
                let tag = cookie.to_le_bytes();
                let n = size.min(tag.len());
                b.get(..n) == tag.get(..n)
            } else {
                b.get(..size) == Some(&o.payload[..])
            };
            b.len() >= size && b.len() - size < 8 && head
        };
        match result {
            Ok(bytes) if matches(bytes) => {
                st.counts.completed += 1;
                st.counts.bytes += size as u64;
                if let Some((_, sent)) = o.bench {
                    // CAST: A round trip is positive and far below 2^63 ns.
                    let ns = sent.elapsed().as_nanos().max(0) as u64;
                    // Room was reserved for every request of the run; this
                    // callback runs in softirq and must not allocate.
                    let _ = st.latencies.push_within_capacity(ns);
                }
            }
            Ok(_) => {
                st.counts.completed += 1;
                st.counts.mismatched += 1;
            }
            Err(_) => st.counts.cancelled += 1,
        }
        drop(st);
        s.changed.notify_all();
    }

    fn rescind(data: &EchoDev, _dev: &Device) {
        pr_info!("relid {}: echo device rescinded\n", data.shared.relid);
    }

    fn suspend(data: &EchoDev, _dev: &Device) -> Result {
        pr_info!("relid {}: suspend\n", data.shared.relid);
        Ok(())
    }

    fn resume(data: &EchoDev, _dev: &Device) -> Result {
        pr_info!("relid {}: resume\n", data.shared.relid);
        Ok(())
    }

    fn remove(data: Pin<KBox<EchoDev>>, _dev: &Device) {
        let s = &data.shared;
        DEVICES.lock().retain(|(_, d)| !Arc::ptr_eq(d, s));
        let mut st = s.state.lock();
        st.gone = true;
        // Requests the bus took and neither completed nor cancelled; one
        // still inside `request()` is the submitter's (it fails, or its
        // completion comes and the run's drain counts it).
        let left = st.outstanding.iter().filter(|o| o.taken).count();
        let sending = st.outstanding.len() - left;
        drop(st);
        s.changed.notify_all();
        pr_info!(
            "relid {}: echo device removed, {} requests without completion, {} being sent\n",
            s.relid,
            left,
            sending
        );
    }
}

/// The payload of request `n` with `size` bytes: a pattern that differs
/// per request, so a misplaced answer shows.
fn fill(buf: &mut KVec<u8>, n: u64, size: usize) -> Result {
    buf.clear();
    for i in 0..size {
        // CAST: Truncation to a byte is the pattern.
        buf.push(
            (n as usize).wrapping_mul(31).wrapping_add(i) as u8,
            GFP_KERNEL,
        )?;
    }
    Ok(())
}

/// Waits on the shared state until `done`, at most `ms` milliseconds.
fn wait_for(s: &Shared, ms: i64, done: impl Fn(&RunState) -> bool) -> bool {
    let start = Instant::<Monotonic>::now();
    let mut st = s.state.lock();
    while !done(&st) {
        if start.elapsed() > Delta::from_millis(ms) {
            return false;
        }
        let _ = s
            .changed
            .wait_interruptible_timeout(&mut st, msecs_to_jiffies(20));
    }
    true
}

/// Records `o` as outstanding and sends `payload` with its cookie; false
/// when the `what` (run or bench) must stop: the device went, or the
/// request could not be sent (then it is taken back: no completion will
/// come for it).
fn submit(dev: &Device, s: &Shared, payload: &[u8], o: Outstanding, what: &str) -> Result<bool> {
    let cookie = o.cookie;
    {
        let mut st = s.state.lock();
        if st.gone {
            return Ok(false);
        }
        // Under the spinlock: within the room reserved at probe (at most
        // `MAX_WINDOW` in flight), so this never allocates in practice.
        st.outstanding.push(o, GFP_ATOMIC)?;
        st.counts.sent += 1;
    }
    if let Err(e) = dev.request(payload, cookie, SEND_TIMEOUT_MS) {
        let mut st = s.state.lock();
        st.outstanding.retain(|o| o.cookie != cookie);
        st.counts.sent -= 1;
        st.counts.failed += 1;
        drop(st);
        pr_info!(
            "relid {}: request failed ({:?}); {} stops\n",
            s.relid,
            e,
            what
        );
        return Ok(false);
    }
    // The completion may have come first and taken it out already.
    let mut st = s.state.lock();
    if let Some(o) = st.outstanding.iter_mut().find(|o| o.cookie == cookie) {
        o.taken = true;
    }
    Ok(true)
}

/// One run of `count` requests of `size` bytes (0: cycling sizes).
fn run(dev: &Device, s: &Shared, count: u64, size: usize) -> Result<(Counts, u64, usize)> {
    let before = s.state.lock().counts;
    let start = Instant::<Monotonic>::now();
    let mut payload = KVec::new();
    let mut copy = KVec::new();
    for n in 0..count {
        // CAST: `n % 8000` fits `usize`.
        let len = if size == 0 {
            1 + (n % 8000) as usize
        } else {
            size
        };
        fill(&mut payload, n, len)?;
        fill(&mut copy, n, len)?;
        if !wait_for(s, DRAIN_TIMEOUT_MS, |st| {
            st.gone || st.outstanding.len() < WINDOW
        }) {
            break;
        }
        let o = Outstanding {
            cookie: s.next_cookie.fetch_add(1, Relaxed),
            payload: core::mem::take(&mut copy),
            bench: None,
            taken: false,
        };
        if !submit(dev, s, &payload, o, "run")? {
            break;
        }
    }
    let _ = wait_for(s, DRAIN_TIMEOUT_MS, |st| st.outstanding.is_empty());
    let st = s.state.lock();
    let after = st.counts;
    let lost = st.outstanding.len();
    drop(st);
    let d = after.since(&before);
    // CAST: A run lasts far less than 2^63 microseconds.
    let us = start.elapsed().as_micros_ceil() as u64;
    Ok((d, us, lost))
}

/// Most requests a benchmark keeps in flight.
const MAX_WINDOW: usize = 256;
/// Fewest packets' worth of copies the baseline times.
const BASE_MIN_COUNT: u64 = 4096;
/// Most requests one benchmark call sends.
const MAX_BENCH_COUNT: u64 = 1_000_000;

/// What one benchmark call measured.
struct BenchResult {
    counts: Counts,
    lost: usize,
    /// Wall time from the first send to the last answer.
    ns: u64,
    /// Round-trip times, sorted.
    latencies: KVec<u64>,
    /// The baseline: `base_count` payloads copied four times each through
    /// a ring-sized buffer, and how long that took.
    base_ns: u64,
    base_count: u64,
}

/// Sorts `v` in place (a heap sort: core's sort pulls in code that objtool
/// cannot follow).
fn heap_sort(v: &mut [u64]) {
    fn sift(v: &mut [u64], mut root: usize, end: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            if child + 1 < end && v[child] < v[child + 1] {
                child += 1;
            }
            if v[root] >= v[child] {
                return;
            }
            v.swap(root, child);
            root = child;
        }
    }
    let n = v.len();
    for i in (0..n / 2).rev() {
        sift(v, i, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

/// The `p`-th per mille of sorted `v` (0 if empty).
fn per_mille(v: &[u64], p: usize) -> u64 {
    match v.len() {
        0 => 0,
        n => v.get((n - 1) * p / 1000).copied().unwrap_or(0),
    }
}

/// The baseline of a benchmark: `count` payloads of `size` bytes, each
/// copied as a round trip through the echo device copies it (into the
/// outbound ring, out of it, into the inbound ring, out of it), here all
/// by this CPU through one buffer of the ring's size, at offsets that
/// advance as a ring's would. Returns the nanoseconds it took.
fn copy_baseline(payload: &[u8], count: u64) -> Result<u64> {
    let size = payload.len();
    let ring_len = RING_BYTES as usize;
    let mut ring = KVec::from_elem(0u8, ring_len, GFP_KERNEL)?;
    let mut hop = KVec::from_elem(0u8, size, GFP_KERNEL)?;
    let mut out = KVec::from_elem(0u8, size, GFP_KERNEL)?;
    // The packet's place in the ring: payload rounded up to 8 bytes plus
    // the 16-byte descriptor and 8-byte trailer, as in the real ring.
    let step = size.next_multiple_of(8) + 24;
    let span = ring_len.saturating_sub(size).max(1);
    let mut off = 0usize;
    let start = Instant::<Monotonic>::now();
    for _ in 0..count {
        // `checked_rem`, not `%`: objtool does not know the division by
        // zero panic as noreturn (`span` is at least 1 anyway).
        let a = off.checked_rem(span).unwrap_or(0);
        let b = off.wrapping_add(step).checked_rem(span).unwrap_or(0);
        if let Some(ra) = ring.get_mut(a..a + size) {
            ra.copy_from_slice(core::hint::black_box(payload));
        }
        if let Some(ra) = ring.get(a..a + size) {
            hop.copy_from_slice(ra);
        }
        if let Some(rb) = ring.get_mut(b..b + size) {
            rb.copy_from_slice(core::hint::black_box(&hop[..]));
        }
        if let Some(rb) = ring.get(b..b + size) {
            out.copy_from_slice(rb);
        }
        core::hint::black_box(&mut out[..]);
        off = off.wrapping_add(2 * step);
    }
    // CAST: A baseline run is positive and far below 2^63 ns.
    Ok(start.elapsed().as_nanos().max(0) as u64)
}

/// One benchmark call: `count` requests of `size` bytes, at most `window`
/// in flight, each answer checked by length and cookie and timed.
fn bench(dev: &Device, s: &Shared, size: usize, count: u64, window: usize) -> Result<BenchResult> {
    let mut payload = KVec::new();
    fill(&mut payload, 0, size)?;
    {
        // The room for the round-trip times is made outside the spinlock,
        // where allocating may sleep.
        let mut lat = core::mem::take(&mut s.state.lock().latencies);
        lat.clear();
        // CAST: `count` is at most `MAX_BENCH_COUNT`.
        lat.reserve(count as usize, GFP_KERNEL)?;
        s.state.lock().latencies = lat;
    }
    let before = s.state.lock().counts;
    let start = Instant::<Monotonic>::now();
    for _ in 0..count {
        if !wait_for(s, DRAIN_TIMEOUT_MS, |st| {
            st.gone || st.outstanding.len() < window
        }) {
            break;
        }
        let cookie = s.next_cookie.fetch_add(1, Relaxed);
        let tag = cookie.to_le_bytes();
        let n = size.min(tag.len());
        if let (Some(dst), Some(src)) = (payload.get_mut(..n), tag.get(..n)) {
            dst.copy_from_slice(src);
        }
        let o = Outstanding {
            cookie,
            payload: KVec::new(),
            bench: Some((size, Instant::<Monotonic>::now())),
            taken: false,
        };
        if !submit(dev, s, &payload, o, "bench")? {
            break;
        }
    }
    let _ = wait_for(s, DRAIN_TIMEOUT_MS, |st| st.outstanding.is_empty());
    // CAST: A run is positive and far below 2^63 ns.
    let ns = start.elapsed().as_nanos().max(0) as u64;
    let (counts, lost, mut latencies) = {
        let mut st = s.state.lock();
        let d = st.counts.since(&before);
        (d, st.outstanding.len(), core::mem::take(&mut st.latencies))
    };
    heap_sort(&mut latencies);
    // At least a few thousand copies, so that the timer's resolution and a
    // cold cache do not set the baseline.
    let base_count = counts.completed.max(BASE_MIN_COUNT);
    let base_ns = copy_baseline(&payload, base_count)?;
    Ok(BenchResult {
        counts,
        lost,
        ns,
        latencies,
        base_ns,
        base_count,
    })
}

/// The control file's data: the last result line.
#[pin_data]
struct Control {
    #[pin]
    last: Mutex<KVec<u8>>,
}

fn parse_u64(s: &str) -> Result<u64> {
    s.parse::<u64>().map_err(|_| EINVAL)
}

/// The words of a short write to a control file (at most `buf.len()`
/// bytes of UTF-8).
fn user_words<'a>(
    r: &mut UserSliceReader,
    buf: &'a mut [u8; 64],
) -> Result<core::str::SplitWhitespace<'a>> {
    let n = r.len().min(buf.len());
    r.read_slice(&mut buf[..n])?;
    let text = core::str::from_utf8(&buf[..n]).map_err(|_| EINVAL)?;
    Ok(text.split_whitespace())
}

/// `write` on the control file: `COUNT SIZE`.
fn start_run(c: &Control, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; 64];
    let mut words = user_words(r, &mut buf)?;
    let count = parse_u64(words.next().ok_or(EINVAL)?)?;
    let size = parse_u64(words.next().unwrap_or("0"))?;
    // CAST: Checked against `MAX_SIZE`.
    if size as usize > MAX_SIZE {
        return Err(EINVAL);
    }
    let target = DEVICES.lock().first().map(|(d, s)| (d.clone(), s.clone()));
    let Some((dev, s)) = target else {
        return Err(ENODEV);
    };
    let (d, us, lost) = run(&dev, &s, count, size as usize)?;
    let mut line = KVec::new();
    let mut w = LineWriter(&mut line);
    let _ = writeln!(
        w,
        "relid={} sent={} completed={} cancelled={} mismatched={} failed={} lost={} bytes={} usecs={} stray={}",
        s.relid,
        d.sent,
        d.completed,
        d.cancelled,
        d.mismatched,
        d.failed,
        lost,
        d.bytes,
        us,
        s.stray.load(Relaxed)
    );
    pr_info!("echo run: {}", core::str::from_utf8(&line).unwrap_or("?\n"));
    *c.last.lock() = line;
    Ok(())
}

/// `write` on the benchmark file: `SIZE COUNT WINDOW [RELID]`.
fn start_bench(c: &Control, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; 64];
    let mut words = user_words(r, &mut buf)?;
    let size = parse_u64(words.next().ok_or(EINVAL)?)?;
    let count = parse_u64(words.next().ok_or(EINVAL)?)?;
    let window = parse_u64(words.next().unwrap_or("8"))?;
    let relid = words.next().map(parse_u64).transpose()?;
    // CAST: Each is checked against a small limit first.
    if size == 0 || size as usize > MAX_SIZE || count > MAX_BENCH_COUNT {
        return Err(EINVAL);
    }
    if window == 0 || window as usize > MAX_WINDOW {
        return Err(EINVAL);
    }
    let (size, window) = (size as usize, window as usize);
    let target = DEVICES
        .lock()
        .iter()
        .find(|(_, s)| relid.is_none_or(|r| u64::from(s.relid) == r))
        .map(|(d, s)| (d.clone(), s.clone()));
    let Some((dev, s)) = target else {
        return Err(ENODEV);
    };
    let b = bench(&dev, &s, size, count, window)?;
    let lat = &b.latencies[..];
    let mut line = KVec::new();
    let mut w = LineWriter(&mut line);
    let _ = writeln!(
        w,
        "relid={} size={} window={} sent={} completed={} cancelled={} mismatched={} failed={} lost={} bytes={} ns={} lat_min_ns={} lat_p50_ns={} lat_p99_ns={} lat_max_ns={} base_count={} base_ns={}",
        s.relid,
        size,
        window,
        b.counts.sent,
        b.counts.completed,
        b.counts.cancelled,
        b.counts.mismatched,
        b.counts.failed,
        b.lost,
        b.counts.bytes,
        b.ns,
        lat.first().copied().unwrap_or(0),
        per_mille(lat, 500),
        per_mille(lat, 990),
        lat.last().copied().unwrap_or(0),
        b.base_count,
        b.base_ns,
    );
    *c.last.lock() = line;
    Ok(())
}

/// `read` on the control file.
fn show(c: &Control, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let last = c.last.lock();
    match core::str::from_utf8(&last) {
        Ok(s) if !s.is_empty() => f.write_str(s),
        _ => f.write_str("no run yet\n"),
    }
}

/// A `fmt::Write` into a `KVec`.
struct LineWriter<'a>(&'a mut KVec<u8>);

impl Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| fmt::Error)
    }
}

/// Empties the device list when the module goes (a static is never
/// dropped, so its buffer would leak).
struct DeviceList;

impl Drop for DeviceList {
    fn drop(&mut self) {
        drop(core::mem::take(&mut *DEVICES.lock()));
    }
}

/// The module: the registration drops first, so every device is unbound
/// (and every run has been told) before the control file and the device
/// list go.
struct EchoModule {
    _reg: Registration<EchoDriver>,
    _file: Pin<KBox<File<Control>>>,
    _bench: Pin<KBox<File<Control>>>,
    _dir: Dir,
    _list: DeviceList,
}

impl kernel::Module for EchoModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: Called once, before anything uses the lock.
        unsafe { DEVICES.init() };
        let dir = Dir::new(c"rvmbus_echo");
        let file = KBox::pin_init(
            dir.read_write_callback_file(
                c"run",
                pin_init!(Control {
                    last <- new_mutex!(KVec::new()),
                }),
                &show,
                &start_run,
            ),
            GFP_KERNEL,
        )?;
        let bench = KBox::pin_init(
            dir.read_write_callback_file(
                c"bench",
                pin_init!(Control {
                    last <- new_mutex!(KVec::new()),
                }),
                &show,
                &start_bench,
            ),
            GFP_KERNEL,
        )?;
        let reg = Registration::new(module)?;
        Ok(Self {
            _reg: reg,
            _file: file,
            _bench: bench,
            _dir: dir,
            _list: DeviceList,
        })
    }
}
