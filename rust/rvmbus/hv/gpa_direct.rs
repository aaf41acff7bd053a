// SPDX-License-Identifier: GPL-2.0

//! `vmbus_sendpacket_mpb_desc()` (`gpa_direct.c`): the ranges of a
//! driver's `struct vmbus_packet_mpb_array`, checked and sent by the core
//! as one GPA-direct packet with a completion requested.
//!
//! The driver gives its ranges as `struct hv_mpb_array` entries one after
//! the other: a word of length (low half) and offset in the first page
//! (high half), then the frame numbers of every page the range spans.
//! They must fill the words exactly, each offset must be inside a page and
//! each range must name exactly `pages_spanned(offset, len)` frames
//! (`vmbus_proto` checks the last again as it encodes); anything else is
//! `EINVAL` and nothing is sent.
//!
//! Context: any; never sleeps (its buffers come from the atomic pool).

use core::ffi::{c_int, c_void};

use kernel::{prelude::*, sync::atomic::ordering::Relaxed};

use super::binding::{borrow, errno, live, HvBinding};
use crate::proto::{gpadl::pages_spanned, wire::channel_msg::GpaRange};

/// The most ranges one packet may carry (netvsc's `MAX_PAGE_BUFFER_COUNT`
/// is 32; the descriptor it fills has room for no more).
const MAX_RANGES: usize = 64;

/// The most words a descriptor's ranges may take: a 16 MiB transfer's
/// frames and a range word each, far beyond what a ring packet can hold.
const MAX_WORDS: usize = 8192;

/// Splits `words` into `count` ranges, each a [`GpaRange`] and its frames.
fn split_ranges(words: &[u64], count: usize) -> Result<KVec<(GpaRange, &[u64])>> {
    if count == 0 || count > MAX_RANGES {
        return Err(EINVAL);
    }
    let mut out = KVec::with_capacity(count, GFP_ATOMIC)?;
    let mut rest = words;
    for _ in 0..count {
        let (&w, tail) = rest.split_first().ok_or(EINVAL)?;
        // CAST: The two halves of the entry's first word, as
        // `struct hv_mpb_array` lays them out (little-endian).
        let (byte_count, byte_offset) = (w as u32, (w >> 32) as u32);
        let n = pages_spanned(byte_offset, byte_count).ok_or(EINVAL)?;
        let (pfns, tail) = tail.split_at_checked(n).ok_or(EINVAL)?;
        out.push(
            (
                GpaRange {
                    byte_count,
                    byte_offset,
                },
                pfns,
            ),
            GFP_ATOMIC,
        )?;
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(EINVAL);
    }
    Ok(out)
}

impl HvBinding {
    /// Sends the GPA-direct packet.
    fn send_gpa(&self, words: &[u64], count: usize, payload: &[u8], trans_id: u64) -> Result {
        if !live::sends(self.live.load(Relaxed)) {
            return Err(ENODEV);
        }
        let ranges = split_ranges(words, count)?;
        self.chan
            .send_gpa_direct(&*self.conn, &ranges, payload, trans_id, true)
    }
}

/// `vmbus_sendpacket_mpb_desc()`'s packet.
///
/// # Safety
///
/// `b` is a binding reference of `rvmbus_hv_rust_bind`, still held;
/// `words` points to `nwords` readable `u64`s and `data` to `datalen`
/// readable bytes (the driver's contract with
/// `vmbus_sendpacket_mpb_desc()`), neither changed during the call;
/// any context.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_send_gpa(
    b: *mut c_void,
    words: *const c_void,
    nwords: u32,
    rangecount: u32,
    data: *const c_void,
    datalen: u32,
    trans_id: u64,
) -> c_int {
    if words.is_null() || (datalen > 0 && data.is_null()) {
        return EINVAL.to_errno();
    }
    // CAST: A `u32` fits `usize` on the kernel's 64-bit targets.
    let (nwords, count, datalen) = (nwords as usize, rangecount as usize, datalen as usize);
    if nwords > MAX_WORDS {
        return EINVAL.to_errno();
    }
    // Copied word by word: the descriptor is `__packed` and may sit at any
    // address (netvsc builds it on its stack).
    let mut copy = match KVec::with_capacity(nwords, GFP_ATOMIC) {
        Ok(v) => v,
        Err(e) => return Error::from(e).to_errno(),
    };
    let src = words.cast::<u64>();
    for i in 0..nwords {
        // SAFETY: `words` holds `nwords` readable words (caller's
        // contract) and `i < nwords`; read unaligned, see above.
        let w = unsafe { src.add(i).read_unaligned() };
        if copy.push(w, GFP_ATOMIC).is_err() {
            return ENOMEM.to_errno();
        }
    }
    let payload: &[u8] = if datalen == 0 {
        &[]
    } else {
        // SAFETY: `data` holds `datalen` readable bytes (caller's contract).
        unsafe { core::slice::from_raw_parts(data.cast::<u8>(), datalen) }
    };
    // SAFETY: Guaranteed by the caller.
    errno(unsafe { borrow(b) }.send_gpa(&copy, count, payload, trans_id))
}
