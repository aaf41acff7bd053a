// SPDX-License-Identifier: GPL-2.0

//! Where a storage request's time goes in the host: the profile that
//! `make bench-virtio` prints (Documentation/benchmarks.rst, "Linux's
//! drivers against virtio"). Per kind of SRB (reads, writes, the rest),
//! the host adds up the nanoseconds of each stretch of a request:
//!
//! - `gap`: from the host's last completion (written to the ring, the
//!   guest signalled if it was owed a signal) to the doorbell wake-up that
//!   brought this request: the time outside the host (the guest's
//!   interrupt, its completion and next submission, its signal, and the
//!   host process being woken). Only for the first request of a wake-up
//!   with a completion less than [`MAX_GAP`] before it (a longer one is
//!   the guest being idle, not a request's way).
//! - `wake`: the doorbell wake-up (the host's `poll` returned) to the
//!   request parsed, for the first request of a wake-up.
//! - `srb`: parsed to the completion built, the disk I/O not counted (the
//!   data buffer's ranges checked, the copies to and from guest RAM).
//! - `disk`: the reads and writes of the backing file.
//! - `send`: the completion built to written into the guest's ring and
//!   the guest signalled (when the ring's rules call for a signal).
//! - `signal`: the part of `send` in the signal to the guest (the event
//!   flag set and the interrupt raised: a write to QEMU's eventfd, which
//!   may hand the CPU to the QEMU thread it wakes).
//!
//! The control socket's `stats` prints them as
//! `storage_prof.KIND.NAME=VALUE`, and the process's context switches
//! (`getrusage`) as `storage_prof.proc.nvcsw` (it waited) and
//! `storage_prof.proc.nivcsw` (the kernel took the CPU from it). The host is single-threaded; the
//! state is the thread's. The cost is a few `Instant::now()` per request.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

/// The longest `gap` counted.
pub const MAX_GAP: Duration = Duration::from_millis(10);

/// The kind of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// READ(6/10/12/16).
    Read = 0,
    /// WRITE(6/10/12/16).
    Write = 1,
    /// Every other SRB.
    Other = 2,
}

impl Kind {
    /// The kind of a SCSI operation code.
    pub fn of_opcode(op: u8) -> Self {
        match op {
            0x08 | 0x28 | 0xa8 | 0x88 => Self::Read,
            0x0a | 0x2a | 0xaa | 0x8a => Self::Write,
            _ => Self::Other,
        }
    }

    const NAMES: [&'static str; 3] = ["read", "write", "other"];
}

/// The totals of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requests completed.
    pub requests: u64,
    /// Requests that were the first of a doorbell wake-up.
    pub woken: u64,
    /// Of those, with a completion before them (`gap` counted).
    pub gaps: u64,
    /// Completions after which the guest was signalled.
    pub signals: u64,
    /// Nanoseconds, see the module's description.
    pub gap_ns: u64,
    /// Nanoseconds.
    pub wake_ns: u64,
    /// Nanoseconds.
    pub srb_ns: u64,
    /// Nanoseconds.
    pub disk_ns: u64,
    /// Nanoseconds.
    pub send_ns: u64,
    /// Nanoseconds.
    pub signal_ns: u64,
}

/// The request being served.
#[derive(Clone, Copy, Debug)]
struct Current {
    kind: Kind,
    parsed: Instant,
    disk_ns: u64,
    built: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    wake: Option<Instant>,
    last_out: Option<Instant>,
    cur: Option<Current>,
    signalled: bool,
    signal_ns: u64,
    totals: [Totals; 3],
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
    static DIRECT_IO: Cell<bool> = const { Cell::new(true) };
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A doorbell woke the host.
pub fn woken() {
    let now = Instant::now();
    STATE.with_borrow_mut(|s| s.wake = Some(now));
}

/// The host waits again: a wake-up that brought no request is
/// forgotten.
pub fn idle() {
    STATE.with_borrow_mut(|s| s.wake = None);
}

/// A request of `kind` was parsed and is served now.
pub fn parsed(kind: Kind) {
    let now = Instant::now();
    STATE.with_borrow_mut(|s| {
        let t = &mut s.totals[kind as usize];
        if let Some(w) = s.wake.take() {
            t.woken += 1;
            t.wake_ns = t
                .wake_ns
                .saturating_add(ns(now.saturating_duration_since(w)));
            if let Some(l) = s.last_out.filter(|&l| l <= w && w - l <= MAX_GAP) {
                t.gaps += 1;
                t.gap_ns = t.gap_ns.saturating_add(ns(w - l));
            }
        }
        s.signalled = false;
        s.signal_ns = 0;
        s.cur = Some(Current {
            kind,
            parsed: now,
            disk_ns: 0,
            built: None,
        });
    });
}

/// The backing file was read or written from `start` until now.
pub fn disk_since(start: Instant) {
    let d = ns(start.elapsed());
    STATE.with_borrow_mut(|s| {
        if let Some(c) = &mut s.cur {
            c.disk_ns = c.disk_ns.saturating_add(d);
        }
    });
}

/// The request's completion is built.
pub fn built() {
    let now = Instant::now();
    STATE.with_borrow_mut(|s| {
        if let Some(c) = &mut s.cur {
            c.built = Some(now);
        }
    });
}

/// The host signalled the guest, from `start` until now.
pub fn signalled(start: Instant) {
    let d = ns(start.elapsed());
    STATE.with_borrow_mut(|s| {
        s.signalled = true;
        s.signal_ns = s.signal_ns.saturating_add(d);
    });
}

/// The packets a device produced were written (the guest signalled if
/// owed): ends the request being served, if it was built.
pub fn sent() {
    let now = Instant::now();
    STATE.with_borrow_mut(|s| {
        let Some(c) = s.cur else {
            return;
        };
        let Some(b) = c.built else {
            return;
        };
        let t = &mut s.totals[c.kind as usize];
        t.requests += 1;
        t.signals += u64::from(s.signalled);
        t.signal_ns = t.signal_ns.saturating_add(s.signal_ns);
        t.disk_ns = t.disk_ns.saturating_add(c.disk_ns);
        let work = ns(b.saturating_duration_since(c.parsed));
        t.srb_ns = t.srb_ns.saturating_add(work.saturating_sub(c.disk_ns));
        t.send_ns = t
            .send_ns
            .saturating_add(ns(now.saturating_duration_since(b)));
        s.cur = None;
        s.last_out = Some(now);
    });
}

/// The totals of `kind`.
pub fn totals(kind: Kind) -> Totals {
    STATE.with_borrow(|s| s.totals[kind as usize])
}

/// Whether reads and writes of the backing file go straight to and from
/// guest RAM (`true`, the default) or through a host buffer (the host
/// before 2026-12-06; the control command `storage-io copy`, for the
/// benchmark's comparison).
pub fn direct_io() -> bool {
    DIRECT_IO.get()
}

/// Sets [`direct_io`].
pub fn set_direct_io(on: bool) {
    DIRECT_IO.set(on);
}

/// `storage_prof.KIND.NAME=VALUE` lines for `stats`.
pub fn lines(out: &mut Vec<String>) {
    out.push(format!("storage_prof.direct_io={}", u8::from(direct_io())));
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage() writes a `struct rusage` into the buffer it is
    // given, which is one.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) } == 0 {
        // SAFETY: getrusage() succeeded, so it filled the struct (and
        // zeroed is a valid `rusage` anyway).
        let ru = unsafe { ru.assume_init() };
        out.push(format!("storage_prof.proc.nvcsw={}", ru.ru_nvcsw));
        out.push(format!("storage_prof.proc.nivcsw={}", ru.ru_nivcsw));
    }
    for (i, name) in Kind::NAMES.iter().enumerate() {
        let t = STATE.with_borrow(|s| s.totals[i]);
        for (k, v) in [
            ("requests", t.requests),
            ("woken", t.woken),
            ("gaps", t.gaps),
            ("signals", t.signals),
            ("gap_ns", t.gap_ns),
            ("wake_ns", t.wake_ns),
            ("srb_ns", t.srb_ns),
            ("disk_ns", t.disk_ns),
            ("send_ns", t.send_ns),
            ("signal_ns", t.signal_ns),
        ] {
            out.push(format!("storage_prof.{name}.{k}={v}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_per_wake() {
        woken();
        parsed(Kind::Read);
        disk_since(Instant::now());
        built();
        signalled(Instant::now());
        sent();
        woken();
        parsed(Kind::Read);
        built();
        sent();
        // A second request of the same wake-up: no wake, no gap.
        parsed(Kind::Write);
        built();
        sent();
        // A wake-up that brought nothing is not counted to the next one.
        woken();
        idle();
        parsed(Kind::Write);
        built();
        sent();
        let r = totals(Kind::Read);
        assert_eq!((r.requests, r.woken, r.gaps, r.signals), (2, 2, 1, 1));
        let w = totals(Kind::Write);
        assert_eq!((w.requests, w.woken, w.gaps, w.signals), (2, 0, 0, 0));
        // Packets without a built request end nothing.
        sent();
        assert_eq!(totals(Kind::Write).requests, 2);
        let mut out = Vec::new();
        lines(&mut out);
        assert!(out.contains(&"storage_prof.read.requests=2".to_string()));
        assert!(out
            .iter()
            .any(|l| l.starts_with("storage_prof.proc.nivcsw=")));
        assert_eq!(Kind::of_opcode(0x28), Kind::Read);
        assert_eq!(Kind::of_opcode(0x8a), Kind::Write);
        assert_eq!(Kind::of_opcode(0x00), Kind::Other);
    }
}
