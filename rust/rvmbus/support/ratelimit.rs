// SPDX-License-Identifier: GPL-2.0

//! Rate limiting of log lines caused by the host.
//!
//! A host that misbehaves in a loop must not flood the guest's log: the
//! first [`BURST`] lines in each [`INTERVAL_MS`] window are printed, the
//! rest are counted and reported when the next window opens.

use kernel::{
    prelude::*,
    sync::atomic::{ordering::Relaxed, Atomic},
};

/// Lines allowed per window.
const BURST: u32 = 10;
/// The window.
const INTERVAL_MS: i64 = 5000;

/// A log rate limiter; usable from any context.
pub(crate) struct Ratelimit {
    window_start_ms: Atomic<i64>,
    used: Atomic<u32>,
    suppressed: Atomic<u32>,
}

impl Ratelimit {
    /// A limiter with a fresh window.
    pub(crate) const fn new() -> Self {
        Self {
            window_start_ms: Atomic::new(0),
            used: Atomic::new(0),
            suppressed: Atomic::new(0),
        }
    }

    /// Whether the caller may print a line now.
    pub(crate) fn allow(&self) -> bool {
        let now = crate::support::shim::ktime_ns() / 1_000_000;
        let start = self.window_start_ms.load(Relaxed);
        if now - start > INTERVAL_MS && self.window_start_ms.cmpxchg(start, now, Relaxed).is_ok() {
            self.used.store(0, Relaxed);
            let s = self.suppressed.xchg(0, Relaxed);
            if s != 0 {
                pr_warn!("{} messages about the host suppressed\n", s);
            }
        }
        if self.used.fetch_add(1, Relaxed) < BURST {
            true
        } else {
            self.suppressed.add(1, Relaxed);
            false
        }
    }
}
