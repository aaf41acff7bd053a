// SPDX-License-Identifier: GPL-2.0

//! The decisions of `request_id.c`'s request-id table (`struct
//! vmbus_requestor`): `vmbus_proto`'s [`Requestor`] over the table's own
//! arrays, which `request_id.c` allocates and locks.
//!
//! The host's transaction ids reach the table only through
//! [`Requestor::addr_match`], which refuses 0, ids beyond the table and ids
//! of free slots.
//!
//! Context: any; called with the table's spinlock held (or, for the
//! reset, before the table is in use); never sleeps.

use core::ffi::c_ulong;

use crate::proto::rqstor::{bitmap_words, Requestor, RQST_ERROR};

// The bitmap is `unsigned long` words, read here as `u64`s.
const _: () = assert!(core::mem::size_of::<c_ulong>() == core::mem::size_of::<u64>());

/// The table over the C arrays; `None` when a pointer is null.
///
/// # Safety
///
/// `slots` points to `size` `u64`s, `in_use` to
/// `BITS_TO_LONGS(size)` words and `next` to one `u64`, all writable,
/// not used by anything else for `'a` (the caller holds the table's lock
/// or the table is not yet shared).
unsafe fn table<'a>(
    slots: *mut u64,
    in_use: *mut c_ulong,
    size: u32,
    next: *mut u64,
) -> Option<Requestor<'a>> {
    if slots.is_null() || in_use.is_null() || next.is_null() {
        return None;
    }
    // CAST: A `u32` fits `usize` on the kernel's 64-bit targets.
    let size = size as usize;
    // SAFETY: `slots` holds `size` writable `u64`s, used by nothing else
    // for `'a` (caller's contract).
    let slots = unsafe { core::slice::from_raw_parts_mut(slots, size) };
    // SAFETY: `in_use` holds `BITS_TO_LONGS(size)` writable words of the
    // size of a `u64` (asserted above), used by nothing else for `'a`
    // (caller's contract).
    let in_use =
        unsafe { core::slice::from_raw_parts_mut(in_use.cast::<u64>(), bitmap_words(size)) };
    // SAFETY: `next` is one writable `u64` (caller's contract).
    let next = unsafe { &mut *next };
    Requestor::new(slots, in_use, next)
}

/// Makes every slot of the table free.
///
/// # Safety
///
/// As [`table`]'s.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_rqst_reset(
    slots: *mut u64,
    in_use: *mut c_ulong,
    size: u32,
    next: *mut u64,
) {
    // SAFETY: Guaranteed by the caller.
    if let Some(mut t) = unsafe { table(slots, in_use, size, next) } {
        t.reset();
    }
}

/// `vmbus_next_request_id()`: the id of a free slot taken for `value`, or
/// `VMBUS_RQST_ERROR`.
///
/// # Safety
///
/// As [`table`]'s.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_rqst_next(
    slots: *mut u64,
    in_use: *mut c_ulong,
    size: u32,
    next: *mut u64,
    value: u64,
) -> u64 {
    // SAFETY: Guaranteed by the caller.
    match unsafe { table(slots, in_use, size, next) } {
        Some(mut t) => t.next_id(value),
        None => RQST_ERROR,
    }
}

/// `__vmbus_request_addr_match()`: the value of the slot the host's
/// `trans_id` names, or `VMBUS_RQST_ERROR`.
///
/// # Safety
///
/// As [`table`]'s.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_rqst_match(
    slots: *mut u64,
    in_use: *mut c_ulong,
    size: u32,
    next: *mut u64,
    trans_id: u64,
    want: u64,
) -> u64 {
    // SAFETY: Guaranteed by the caller.
    match unsafe { table(slots, in_use, size, next) } {
        Some(mut t) => t.addr_match(trans_id, want),
        None => RQST_ERROR,
    }
}
