// SPDX-License-Identifier: GPL-2.0

//! Hibernation's entry points: the freeze, thaw and restore callbacks of
//! the vmbus root device (`pm.c`, which runs them after every device's
//! freeze and before any device's thaw or restore), and the PM link from
//! the transport's device to that root device.
//!
//! What freeze and resume do to the connection is the core's
//! (`crate::bus::connection`, its `hibernate` part).

use kernel::{device::Device, prelude::*};

use crate::{bus, support::shim};

mod ffi {
    extern "C" {
        pub(super) fn rvmbus_pm_link(supplier: *mut core::ffi::c_void) -> i32;
        pub(super) fn rvmbus_pm_unlink();
    }
}

/// Makes `dev` (the transport's device) a PM supplier of the vmbus root
/// device: frozen after it, thawed and restored before it.
pub(crate) fn link(dev: &Device) {
    let raw = core::ptr::from_ref(dev)
        .cast::<core::ffi::c_void>()
        .cast_mut();
    // SAFETY: `Device` is a transparent wrapper of `struct device`, alive
    // for the call; the link holds its own reference.
    let r = unsafe { ffi::rvmbus_pm_link(raw) };
    if r != 0 {
        pr_warn!(
            "no PM link to the transport device ({}); hibernation may lose interrupts\n",
            r
        );
    }
}

/// Undoes [`link`].
pub(crate) fn unlink() {
    // SAFETY: Always allowed; a no-op without a link.
    unsafe { ffi::rvmbus_pm_unlink() };
}

/// The root device's freeze callback (`pm.c`).
#[no_mangle]
extern "C" fn rvmbus_rust_hib_freeze() -> i32 {
    if let Some(c) = bus::active() {
        c.hib_freeze(shim::timeout_ms());
    }
    // A failed unload is logged; the channels are closed either way and
    // thaw reconnects.
    0
}

/// The root device's thaw and restore callback (`pm.c`).
#[no_mangle]
extern "C" fn rvmbus_rust_hib_restore() -> i32 {
    match bus::active() {
        Some(c) => match c.hib_resume(shim::timeout_ms()) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        },
        None => 0,
    }
}
