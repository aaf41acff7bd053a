// SPDX-License-Identifier: GPL-2.0

//! Kernel helpers that every layer uses: the C shim for what Rust's
//! bindings do not reach, rate-limited logging, rvmbus's workqueues and
//! the data path's hop timers.
//!
//! The lowest layer of the glue: its files import only `kernel` and each
//! other.

pub(crate) mod barrier;
pub(crate) mod pathtime;
pub(crate) mod ratelimit;
pub(crate) mod shim;
pub(crate) mod workqueues;
