// SPDX-License-Identifier: GPL-2.0

//! Driver-owned GPADLs (`gpadl.c` holds the pages and the exported
//! functions): the GPADL of a driver's buffer made and torn down on the
//! binding's channel by the core (`Connection::driver_gpadl_create`,
//! `Connection::driver_gpadl_teardown`).
//!
//! Context: process context; both wait for the host.

use core::ffi::{c_int, c_void};

use kernel::{prelude::*, sync::atomic::ordering::Relaxed};

use super::binding::{borrow, errno, live};
use crate::proto::types::GpadlId;

/// The most pages of one driver GPADL: 64 MiB, four times hv_netvsc's
/// largest receive buffer.
const MAX_PAGES: usize = 16384;

/// Makes a GPADL of the binding's channel over the `npfn` frames at
/// `pfns`; its id goes to `*id`. On failure `*host_holds` says whether
/// the host may use the pages anyway.
///
/// # Safety
///
/// `b` is a binding reference of `rvmbus_hv_rust_bind`, still held;
/// `pfns` points to `npfn` readable `u64`s; `id` and `host_holds` are
/// writable; process context.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_gpadl_create(
    b: *mut c_void,
    pfns: *const u64,
    npfn: u32,
    id: *mut u32,
    host_holds: *mut bool,
) -> c_int {
    if pfns.is_null() || id.is_null() || host_holds.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: `host_holds` is writable (caller's contract).
    unsafe { host_holds.write(false) };
    // CAST: A `u32` fits `usize` on the kernel's 64-bit targets.
    let n = npfn as usize;
    if n == 0 || n > MAX_PAGES {
        return EINVAL.to_errno();
    }
    // SAFETY: `pfns` holds `npfn` `u64`s, aligned (the C side's array),
    // readable for the call (caller's contract).
    let pfns = unsafe { core::slice::from_raw_parts(pfns, n) };
    // SAFETY: Guaranteed by the caller.
    let b = unsafe { borrow(b) };
    if !live::sends(b.live.load(Relaxed)) {
        return ENODEV.to_errno();
    }
    match b.conn.driver_gpadl_create(&b.chan, pfns) {
        Ok(g) => {
            // SAFETY: `id` is writable (caller's contract).
            unsafe { id.write(g.get()) };
            0
        }
        Err(f) => {
            // SAFETY: As above.
            unsafe { host_holds.write(f.host_holds) };
            f.error.to_errno()
        }
    }
}

/// Tears down the binding's GPADL `id`; 0 when the host gave the pages
/// back.
///
/// # Safety
///
/// `b` is a binding reference of `rvmbus_hv_rust_bind`, still held;
/// process context.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_gpadl_teardown(b: *mut c_void, id: u32) -> c_int {
    let Some(g) = GpadlId::new(id) else {
        return EINVAL.to_errno();
    };
    // SAFETY: Guaranteed by the caller.
    let b = unsafe { borrow(b) };
    errno(b.conn.driver_gpadl_teardown(&b.chan, g))
}
