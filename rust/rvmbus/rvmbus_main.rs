// SPDX-License-Identifier: GPL-2.0

//! rvmbus: a Linux guest VMBus bus driver.
//!
//! The crate root holds only module declarations and the `module!` macro.
//! The folders are the layers, each importing only from the layers below
//! it (`scripts/layer-check.py` enforces it; Documentation/design.rst
//! draws it):
//!
//! 1. [`support`]: kernel helpers every layer uses (the C shim, rate
//!    limits, workqueues, the data path's hop timers);
//! 2. [`transport`]: Hyper-V and ivshmem behind the `Transport` trait;
//! 3. [`bus`]: the bus core (connection, channel management, channels,
//!    ring buffers, shared pages, SynIC);
//! 4. the interfaces above the core: [`drivers`] (the driver ABI),
//!    [`hv`] (Linux's hv_vmbus driver interface), [`sysfs`] (the bus in
//!    sysfs) and [`pm`] (hibernation);
//! 5. [`debug`]: the control file and the KUnit tests;
//! 6. [`vmbus_drv`]: the module itself, which joins the layers.
//!
//! The protocol crate comes first, below them all.

// The protocol crate serves the host too, so the guest leaves parts unused.
#[allow(unused_attributes, missing_docs, dead_code, unreachable_pub)]
#[path = "../vmbus_proto/src/lib.rs"]
mod proto;

mod bus;
mod debug;
mod drivers;
mod hv;
mod pm;
mod support;
mod sysfs;
mod transport;
mod vmbus_drv;

kernel::prelude::module! {
    type: vmbus_drv::RvmbusModule,
    name: "rvmbus",
    authors: ["rvmbus developers"],
    description: "VMBus bus driver for Hyper-V and Azure guests, written in Rust",
    license: "GPL",
}
