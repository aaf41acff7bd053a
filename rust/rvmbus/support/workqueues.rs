// SPDX-License-Identifier: GPL-2.0

//! rvmbus's own workqueues: one ordered queue for host messages and events,
//! one for device add/remove, and one for drivers' packet callbacks. They
//! are created at module load and destroyed (which waits for every queued
//! item) at module unload, so no work item can run module code after the
//! module is gone.

use kernel::{prelude::*, workqueue::Queue};

mod ffi {
    extern "C" {
        pub(super) fn rvmbus_shim_wq_init() -> i32;
        pub(super) fn rvmbus_shim_wq_msg() -> *mut kernel::bindings::workqueue_struct;
        pub(super) fn rvmbus_shim_wq_dev() -> *mut kernel::bindings::workqueue_struct;
        pub(super) fn rvmbus_shim_wq_chan() -> *mut kernel::bindings::workqueue_struct;
        pub(super) fn rvmbus_shim_wq_flush();
        pub(super) fn rvmbus_shim_wq_exit();
    }
}

/// The workqueues, for as long as the module is loaded.
pub(crate) struct Workqueues;

impl Workqueues {
    /// Creates the queues.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: Called once, at module init; undone in `drop`.
        match unsafe { ffi::rvmbus_shim_wq_init() } {
            0 => Ok(Self),
            e => Err(Error::from_errno(e)),
        }
    }
}

impl Drop for Workqueues {
    fn drop(&mut self) {
        // SAFETY: The queues exist (`new` succeeded); destroying them waits
        // for every queued item.
        unsafe { ffi::rvmbus_shim_wq_exit() };
    }
}

/// The ordered message and event queue.
pub(crate) fn messages() -> &'static Queue {
    // SAFETY: The queue is created before any device can bind and
    // destroyed after every device unbound (`Workqueues` is the first field
    // the module creates and the last it drops).
    unsafe { Queue::from_raw(ffi::rvmbus_shim_wq_msg()) }
}

/// The device add/remove queue.
pub(crate) fn devices() -> &'static Queue {
    // SAFETY: As for `messages`.
    unsafe { Queue::from_raw(ffi::rvmbus_shim_wq_dev()) }
}

/// The queue of drivers' packet callbacks (one work item per bound
/// device).
pub(crate) fn channels() -> &'static Queue {
    // SAFETY: As for `messages`.
    unsafe { Queue::from_raw(ffi::rvmbus_shim_wq_chan()) }
}

/// Waits until every queued item has run.
pub(crate) fn flush() {
    // SAFETY: The queues exist while the module is loaded.
    unsafe { ffi::rvmbus_shim_wq_flush() }
}
