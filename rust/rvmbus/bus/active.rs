// SPDX-License-Identifier: GPL-2.0

//! The connection of the loaded module (Linux's global
//! `vmbus_connection`): what the driver interfaces, sysfs writes, the PM
//! callbacks and the control file act on.

use kernel::{prelude::*, sync::Arc};

use super::connection::Connection;

kernel::sync::global_lock! {
    // SAFETY: Initialised by `init` in the module's init, before first use.
    unsafe(uninit) static ACTIVE: Mutex<Option<Arc<Connection>>> = None;
}

/// Makes the lock usable.
///
/// # Safety
///
/// Called once, at module init, before any other function of this file.
pub(crate) unsafe fn init() {
    // SAFETY: Guaranteed by the caller.
    unsafe { ACTIVE.init() };
}

/// The connection that is up, if one is.
pub(crate) fn active() -> Option<Arc<Connection>> {
    ACTIVE.lock().clone()
}

/// Sets or clears the connection that is up.
pub(crate) fn set_active(c: Option<Arc<Connection>>) {
    *ACTIVE.lock() = c;
}
