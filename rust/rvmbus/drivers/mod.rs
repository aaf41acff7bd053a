// SPDX-License-Identifier: GPL-2.0

//! The interfaces that drivers bind through: rvmbus's own driver ABI
//! (`rvmbus_api.h`, which the safe Rust API of `rust/rvmbus_api` wraps),
//! with its driver-model plumbing in `driver.c`.
//!
//! Above the bus core: imports `crate::bus`, `crate::support` and
//! `crate::proto` only, and implements the core's
//! [`crate::bus::channel::ChannelDriver`] for each binding.

pub(crate) mod rust_abi;
