// SPDX-License-Identifier: GPL-2.0

//! rvmbus: a Linux guest VMBus bus driver.
//!
//! The crate root holds only module declarations and the `module!` macro; the
//! bus itself starts in [`bus`].

// The protocol crate serves the host too, so the guest leaves parts unused.
#[allow(unused_attributes, missing_docs, dead_code, unreachable_pub)]
#[path = "../vmbus_proto/src/lib.rs"]
mod proto;

mod bus;
mod channel;
mod classes;
mod connection;
mod ctl;
mod driver;
mod hyperv;
mod ivshmem;
mod kunit;
mod mailbox;
mod pathtime;
mod ratelimit;
mod ring;
mod shim;
mod shmem;
mod synic;
mod sysfs;
mod transport;
mod workqueues;

kernel::prelude::module! {
    type: bus::RvmbusModule,
    name: "rvmbus",
    authors: ["rvmbus developers"],
    description: "VMBus bus driver for Hyper-V and Azure guests, written in Rust",
    license: "GPL",
}
