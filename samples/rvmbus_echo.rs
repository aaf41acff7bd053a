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

#[path = "../rust/rvmbus_api/mod.rs"]
mod vmbus;

use core::fmt::{self, Write};

use kernel::{
    debugfs::{Dir, File},
    new_condvar, new_mutex,
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc, CondVar, Mutex,
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
    payload: KVec<u8>,
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

/// State shared by the driver callbacks and a run.
struct RunState {
    outstanding: KVec<Outstanding>,
    counts: Counts,
    /// The device was removed.
    gone: bool,
}

#[pin_data]
struct Shared {
    relid: u32,
    #[pin]
    state: Mutex<RunState>,
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
        let shared = Arc::pin_init(
            pin_init!(Shared {
                relid,
                state <- new_mutex!(RunState {
                    outstanding: KVec::new(),
                    counts: Counts::default(),
                    gone: false,
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
        // In-band packets are padded to 8 bytes: the answer is the payload
        // and at most 7 bytes of padding.
        let matches = |b: &[u8]| {
            b.len() >= o.payload.len()
                && b.len() - o.payload.len() < 8
                && b.get(..o.payload.len()) == Some(&o.payload[..])
        };
        match result {
            Ok(bytes) if matches(bytes) => {
                st.counts.completed += 1;
                st.counts.bytes += o.payload.len() as u64;
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
        let left = st.outstanding.len();
        drop(st);
        s.changed.notify_all();
        pr_info!(
            "relid {}: echo device removed, {} requests without completion\n",
            s.relid,
            left
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
        let cookie = s.next_cookie.fetch_add(1, Relaxed);
        {
            let mut st = s.state.lock();
            if st.gone {
                break;
            }
            st.outstanding.push(
                Outstanding {
                    cookie,
                    payload: core::mem::take(&mut copy),
                },
                GFP_KERNEL,
            )?;
            st.counts.sent += 1;
        }
        if let Err(e) = dev.request(&payload, cookie, SEND_TIMEOUT_MS) {
            // Not sent, so no completion will come: take it back.
            let mut st = s.state.lock();
            st.outstanding.retain(|o| o.cookie != cookie);
            st.counts.sent -= 1;
            st.counts.failed += 1;
            drop(st);
            pr_info!("relid {}: request failed ({:?}); run stops\n", s.relid, e);
            break;
        }
    }
    let _ = wait_for(s, DRAIN_TIMEOUT_MS, |st| st.outstanding.is_empty());
    let st = s.state.lock();
    let after = st.counts;
    let lost = st.outstanding.len();
    drop(st);
    let d = Counts {
        sent: after.sent - before.sent,
        completed: after.completed - before.completed,
        cancelled: after.cancelled - before.cancelled,
        mismatched: after.mismatched - before.mismatched,
        failed: after.failed - before.failed,
        bytes: after.bytes - before.bytes,
    };
    // CAST: A run lasts far less than 2^63 microseconds.
    let us = start.elapsed().as_micros_ceil() as u64;
    Ok((d, us, lost))
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

/// `write` on the control file: `COUNT SIZE`.
fn start_run(c: &Control, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; 64];
    let n = r.len().min(buf.len());
    r.read_slice(&mut buf[..n])?;
    let text = core::str::from_utf8(&buf[..n]).map_err(|_| EINVAL)?;
    let mut words = text.split_whitespace();
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
        let reg = Registration::new(module)?;
        Ok(Self {
            _reg: reg,
            _file: file,
            _dir: dir,
            _list: DeviceList,
        })
    }
}
