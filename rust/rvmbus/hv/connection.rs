// SPDX-License-Identifier: GPL-2.0

//! What the hv_vmbus interface offers of the connection itself
//! (`connection.c`): the addresses behind `vmbus_connection.int_page` and
//! `monitor_pages[]` and `vmbus_proto_version`, set when the connection
//! comes up and cleared when it ends ([`publish`]), `vmbus_set_event()`,
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
    bus::{self, channel::Channel, connection::Connection},
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

mod ffi {
    use core::ffi::c_void;

    extern "C" {
        pub(super) fn rvmbus_hv_conn_set(version: u32, pages: *const *mut c_void);
    }
}

/// Sets what drivers read of the connection: `vmbus_proto_version` (the
/// negotiated version as `major << 16 | minor`) and the kernel addresses
/// of `conn`'s interrupt page and two monitor pages in `vmbus_connection`;
/// or, with `None`, clears them (0 and null pointers). Called once the
/// version is agreed, before the offers are asked for (at connect and at
/// resume from hibernation, [`crate::bus::upcalls::Upper::connected`]),
/// and with `None` once the connection's devices are gone, before its
/// pages are freed (module unload, a failed start). Process context.
pub(crate) fn publish(conn: Option<&Connection>) {
    let (version, pages) = conn.map_or((0, [core::ptr::null_mut(); 3]), |c| {
        (c.version(), c.signal_pages())
    });
    // SAFETY: `pages` holds three pointers, read during the call; they are
    // the connection's pages, which live until it is dropped, and are
    // cleared again (`None`) before that.
    unsafe { ffi::rvmbus_hv_conn_set(version, pages.as_ptr()) };
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
