// SPDX-License-Identifier: GPL-2.0

//! What the channel structure's ring fields (`outbound`, `inbound`) say
//! while a driver of the hv_vmbus interface has the channel open:
//! `ring_info.c` fills them from [`rvmbus_hv_rust_rings`], so that
//! `<linux/hyperv.h>`'s inline helpers read the core's real rings.
//!
//! Context: process context (`vmbus_open()`), after the open succeeded.

use core::{ffi::c_void, ptr};

use super::binding::borrow;

/// `struct rvmbus_hv_rings` (hv_vmbus.h; our own, not the kernel's).
#[repr(C)]
struct RingsOut {
    out_ctrl: *mut c_void,
    in_ctrl: *mut c_void,
    out_bytes: u32,
    in_bytes: u32,
}

// `RVMBUS_HV_RINGS_SIZE`, which ring_info.c asserts too.
const _: () = assert!(core::mem::size_of::<RingsOut>() == 24);

/// Writes the control pages and sizes of the binding's open rings to
/// `*out` (null pointers and zero sizes while the channel is closed).
///
/// # Safety
///
/// `b` is a binding reference of `rvmbus_hv_rust_bind`, still held; `out`
/// is writable.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_rings(b: *mut c_void, out: *mut c_void) {
    let mut r = RingsOut {
        out_ctrl: ptr::null_mut(),
        in_ctrl: ptr::null_mut(),
        out_bytes: 0,
        in_bytes: 0,
    };
    // SAFETY: Guaranteed by the caller.
    let b = unsafe { borrow(b) };
    if let Some(rings) = &*b.chan.io.lock() {
        if let Ok([(o, ob), (i, ib)]) = rings.control_pages() {
            // A ring is at most a few MiB (`SharedPages`' largest block).
            if let (Ok(ob), Ok(ib)) = (u32::try_from(ob), u32::try_from(ib)) {
                r = RingsOut {
                    out_ctrl: o,
                    in_ctrl: i,
                    out_bytes: ob,
                    in_bytes: ib,
                };
            }
        }
    }
    // SAFETY: `out` is a writable `struct rvmbus_hv_rings` (caller's
    // contract), whose layout `RingsOut` repeats (size asserted on both
    // sides).
    unsafe { out.cast::<RingsOut>().write(r) };
}
