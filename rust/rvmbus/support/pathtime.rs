// SPDX-License-Identifier: GPL-2.0

//! Where a data-path round trip spends its time: module-wide counters of
//! the guest's hops, for the in-guest benchmark's profile
//! (`Documentation/benchmarks.rst`).
//!
//! Each hop adds its duration in nanoseconds and a count: the time a
//! transport signal call takes (on ivshmem a mailbox round trip to the host
//! process), the time from the transport's interrupt to the message work,
//! the time from a channel's interrupt to its tasklet, the time a Rust
//! driver's callbacks take in that tasklet (the default: no work item lies
//! between the interrupt and the driver), and, with `rust_cb_work=1` only,
//! the time from the tasklet to the driver's packet work.
//! The ctl file's `path` command prints them; the benchmark takes the
//! difference around each run and divides by its packets.
//!
//! A stamp marks the start of a hop that ends in another context: the first
//! mark wins until the end takes it, so several interrupts that one work
//! run serves are timed from the first.

use kernel::sync::atomic::{ordering::Relaxed, Atomic};

/// The total time and count of one hop.
pub(crate) struct Hop {
    ns: Atomic<u64>,
    count: Atomic<u64>,
}

impl Hop {
    const fn new() -> Self {
        Self {
            ns: Atomic::new(0),
            count: Atomic::new(0),
        }
    }

    /// Adds one pass that started at `start` (from [`now`]).
    pub(crate) fn add_since(&self, start: u64) {
        self.ns.add(now().saturating_sub(start), Relaxed);
        self.count.add(1, Relaxed);
    }

    /// Adds `n` events that are counted, not timed (the ns stays).
    pub(crate) fn count(&self, n: u64) {
        self.count.add(n, Relaxed);
    }

    fn load(&self) -> (u64, u64) {
        (self.count.load(Relaxed), self.ns.load(Relaxed))
    }
}

/// The start of a hop that another context ends; 0 when none is pending.
pub(crate) struct Stamp(Atomic<u64>);

impl Stamp {
    pub(crate) const fn new() -> Self {
        Self(Atomic::new(0))
    }

    /// Marks the start now, unless a start is already pending. Any context.
    pub(crate) fn mark(&self) {
        let _ = self.0.cmpxchg(0, now().max(1), Relaxed);
    }

    /// Ends the pending hop, if any, into `hop`.
    pub(crate) fn end(&self, hop: &Hop) {
        let start = self.0.xchg(0, Relaxed);
        if start != 0 {
            hop.add_since(start);
        }
    }
}

/// The monotonic clock in nanoseconds.
pub(crate) fn now() -> u64 {
    // CAST: The monotonic clock starts at boot and is never negative.
    crate::support::shim::ktime_ns().max(0) as u64
}

/// Transport signal calls for channels that are not monitored (on ivshmem
/// a mailbox round trip: doorbell, the host serves the signal, the guest
/// polls for the answer).
pub(crate) static SIGNAL: Hop = Hop::new();
/// Polls of a mailbox answer that found none and slept (counted only).
pub(crate) static MAILBOX_SLEEPS: Hop = Hop::new();
/// The transport's interrupt to the start of the message work.
pub(crate) static IRQ_TO_WORK: Hop = Hop::new();
/// A channel's event, found in the interrupt handler, to the start of the
/// channel's tasklet (`irq_events=1`).
pub(crate) static IRQ_TO_TASKLET: Hop = Hop::new();
/// A channel's event handed on (in its tasklet) to the start of its Rust
/// driver's packet work: only with `rust_cb_work=1`, the old path. With
/// the default it stays 0: the tasklet calls the driver itself.
pub(crate) static KICK_TO_DRIVER: Hop = Hop::new();
/// A Rust driver's packets and completions handed out in the channel's
/// tasklet (the default, `rust_cb_work=0`): runs, and the time they took,
/// driver callbacks included.
pub(crate) static TASKLET_DISPATCH: Hop = Hop::new();

/// One line for the ctl file: `NAME=COUNT/NS` per hop.
pub(crate) fn describe(out: &mut impl core::fmt::Write) -> core::fmt::Result {
    for (name, hop) in [
        ("signal", &SIGNAL),
        ("mailbox_sleeps", &MAILBOX_SLEEPS),
        ("irq_to_work", &IRQ_TO_WORK),
        ("irq_to_tasklet", &IRQ_TO_TASKLET),
        ("kick_to_driver", &KICK_TO_DRIVER),
        ("tasklet_dispatch", &TASKLET_DISPATCH),
    ] {
        let (count, ns) = hop.load();
        write!(out, "{}={}/{} ", name, count, ns)?;
    }
    writeln!(out, "now={}", now())
}
