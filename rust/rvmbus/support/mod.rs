// SPDX-License-Identifier: GPL-2.0

//! Kernel helpers that every layer uses: the C shim for what Rust's
//! bindings do not reach, the shared-memory barrier, rate-limited logging,
//! rvmbus's workqueues, the trace events, the data path's hop timers, CPU hotplug, and the
//! kernel's ways of going away (restart, kexec, panic).
//!
//! The lowest layer of the glue: its files import only `kernel` and each
//! other.

pub(crate) mod barrier;
pub(crate) mod c_context;
pub(crate) mod cpuhp;
pub(crate) mod pathtime;
pub(crate) mod ratelimit;
pub(crate) mod shim;
pub(crate) mod tasklet;
pub(crate) mod trace;
pub(crate) mod way_out;
pub(crate) mod workqueues;
