// SPDX-License-Identifier: GPL-2.0

//! The safe Rust API for VMBus device drivers on rvmbus.
//!
//! A driver module includes this directory as a module (it is source
//! shared by every driver, not a crate of its own, because out-of-tree
//! Rust modules cannot link against each other's Rust items):
//!
//! ```ignore
//! #[path = "../rust/rvmbus_api/mod.rs"]
//! mod vmbus;
//! ```
//!
//! and implements [`Driver`]. Underneath is the versioned C ABI that
//! `rvmbus.ko` exports (`rust/rvmbus/drivers/rvmbus_api.h`); nothing in this API
//! lets a driver break the ABI's rules:
//!
//! - Callbacks take `&Self::Data`, which the bus keeps alive until
//!   [`Driver::remove`] takes it back by value: no callback can see freed
//!   driver state.
//! - [`Device`] is a counted handle; once the device is removed (or
//!   rescinded, or suspended) every call on it returns an error.
//! - Every [`Device::request`] that returns `Ok` gets exactly one
//!   [`Driver::completion`], with the answer or with an error.
//! - [`Driver::packet`] and [`Driver::completion`] run in softirq context
//!   (the channel's tasklet, as Linux's VMBus callbacks): they must not
//!   sleep, and sends from them never wait for ring space. No callback
//!   runs once suspend, rescind or remove has begun (see [`Driver`]).

#![allow(dead_code, unused_imports)]

mod device;
mod driver;
mod ffi;

pub(crate) use device::{Device, DeviceInfo, Packet, PacketKind};
pub(crate) use driver::{Driver, Registration};

/// A class or instance GUID in wire byte order (`guid_t`).
pub(crate) type Guid = [u8; 16];

/// Builds a [`Guid`] from its text form's fields, as `GUID_INIT` does.
pub(crate) const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> Guid {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}
