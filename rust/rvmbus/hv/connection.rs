// SPDX-License-Identifier: GPL-2.0

//! What the hv_vmbus interface offers of the connection itself
//! (`connection.c`): the addresses behind `vmbus_connection.int_page` and
//! `monitor_pages[]`, `vmbus_proto_version`, `vmbus_set_event()`,
//! `vmbus_device_unregister()` and `vmbus_send_tl_connect_request()`.
//! `uio_hv_generic` is the user of the first ones: it maps the interrupt
//! and monitor pages to user space, signals the host when user space asks,
//! and has its device removed when the host rescinds the channel. hv_sock
//! asks the host for connections, and has each connection's device removed
//! when its socket is gone.
//!
//! Context: `vmbus_set_event()` any (it never sleeps); the others process
//! context.

use core::ffi::{c_int, c_void};

use kernel::{
    prelude::*,
    sync::{atomic::ordering::Acquire, Arc, ArcBorrow},
};

use super::binding::{borrow, live, HvBinding};
use crate::{
    bus::{self, channel::Channel},
    proto::wire::Guid,
};

impl HvBinding {
    /// `vmbus_set_event()`: signals the host for the channel while it is
    /// open and not rescinded (then the host has nothing to look at).
    fn set_event(&self) {
        if self.live.load(Acquire) == live::OPEN {
            let _ = self.conn.signal_channel(&self.chan);
        }
    }
}

/// `vmbus_set_event()`.
///
/// # Safety
///
/// `b` is a binding reference of `rvmbus_hv_rust_bind`, still held; any
/// context.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_set_event(b: *mut c_void) {
    // SAFETY: Guaranteed by the caller.
    unsafe { borrow(b) }.set_event();
}

/// The kernel addresses of the connection's interrupt page and its two
/// monitor pages to `out[0..3]` (null pointers without a connection).
///
/// # Safety
///
/// `out` points to three writable pointers; process context.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_conn_pages(out: *mut *mut c_void) {
    if out.is_null() {
        return;
    }
    let pages = bus::active().map_or([core::ptr::null_mut(); 3], |c| c.signal_pages());
    for (i, p) in pages.into_iter().enumerate() {
        // SAFETY: `out` holds three writable pointers (caller's contract)
        // and `i` is below three.
        unsafe { out.add(i).write(p) };
    }
}

/// `vmbus_device_unregister()`: has the device of the primary channel
/// behind `ctx` removed by the device work (its driver's `remove()` runs
/// there), as a rescind would; the channel stays offered.
///
/// # Safety
///
/// `ctx` is a bus device's channel reference (sysfs.c's `rdev->ctx`),
/// held for the call; process context.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_device_unregister(ctx: *mut c_void) {
    if ctx.is_null() {
        return;
    }
    let raw = ctx.cast::<Channel>().cast_const();
    // SAFETY: `raw` is from `Arc::into_raw` and its reference is held for
    // the call (caller's contract); the clone is ours.
    let chan: Arc<Channel> = unsafe { ArcBorrow::from_raw(raw) }.into();
    if let Some(conn) = bus::active() {
        conn.unregister_device(&chan);
    }
}

/// The channel that a binding drives, as the key of its `channels/<relid>/`
/// directory (sysfs.c: the directory's context is the same pointer).
///
/// # Safety
///
/// As for [`rvmbus_hv_rust_set_event`].
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_chan_key(b: *mut c_void) -> *const c_void {
    // SAFETY: Guaranteed by the caller.
    Arc::as_ptr(&unsafe { borrow(b) }.chan).cast::<c_void>()
}

/// `vmbus_proto_version`: the negotiated version as `major << 16 | minor`,
/// 0 without a connection.
#[no_mangle]
extern "C" fn rvmbus_hv_rust_proto_version() -> u32 {
    bus::active().map_or(0, |c| c.version())
}

/// `vmbus_send_tl_connect_request()`: 0, or a negative errno.
///
/// # Safety
///
/// `endpoint` and `service` each point to 16 readable bytes; process
/// context.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_tl_connect(endpoint: *const u8, service: *const u8) -> c_int {
    if endpoint.is_null() || service.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: Each points to 16 readable bytes (caller's contract).
    let (e, s) = unsafe {
        (
            endpoint.cast::<[u8; 16]>().read(),
            service.cast::<[u8; 16]>().read(),
        )
    };
    match bus::active() {
        Some(c) => match c.send_tl_connect_request(Guid(e), Guid(s)) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        },
        None => ENOTCONN.to_errno(),
    }
}
