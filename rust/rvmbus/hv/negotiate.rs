// SPDX-License-Identifier: GPL-2.0

//! `vmbus_prep_negotiate_resp()`: the integration components' version
//! negotiation, which hv_vmbus exports for hv_utils (channel_mgmt.c), done
//! by `vmbus_proto`'s IC framework (`proto::ic::answer_negotiate`).
//!
//! The driver hands over the host's `NEGOTIATE` request in its receive
//! buffer and its own framework and message versions; the buffer is
//! copied once, the answer is made by `vmbus_proto` and written back in
//! place, and the driver sends it. Differences from hv_vmbus, none of
//! which a driver in Linux depends on:
//!
//! - The highest version both sides list is chosen; hv_vmbus takes the
//!   first of the driver's list that the host offers, which is the same
//!   for the decreasing lists its kernel-doc asks for and every driver
//!   passes.
//! - A request that is truncated, lists more than
//!   `IC_VERSION_NEGOTIATION_MAX_VER_COUNT` versions or is not a
//!   `NEGOTIATE` message is answered with zero counts (as hv_vmbus does for
//!   the first two) and a rate-limited log line; the chosen versions are
//!   then 0.
//! - Nothing is written beyond `buflen` (hv_vmbus writes both chosen
//!   versions even after a shorter request).

use core::ffi::c_int;

use kernel::prelude::*;

use crate::{
    proto::{
        ic::{answer_negotiate, ICMSG_HDR_SIZE, NEGOTIATE_RESPONSE_BODY},
        wire::{
            ic::{IcMsgNegotiate, IcVersion, IC_VERSION_NEGOTIATION_MAX_VER_COUNT},
            Wire,
        },
    },
    support::ratelimit::Ratelimit,
};

/// The longest negotiate request: the headers, the counts and the most
/// versions of both kinds.
const MAX_REQUEST: usize = ICMSG_HDR_SIZE
    + IcMsgNegotiate::SIZE
    + 2 * IC_VERSION_NEGOTIATION_MAX_VER_COUNT * IcVersion::SIZE;

/// Rate limit of the log lines about refused requests.
static WARN: Ratelimit = Ratelimit::new();

/// A driver's version list (`major << 16 | minor` each).
///
/// # Safety
///
/// `v` points to `n` readable `int`s when `n > 0`.
unsafe fn versions(v: *const c_int, n: c_int) -> Result<KVec<IcVersion>> {
    // CAST: Checked non-negative and bounded first.
    let n = usize::try_from(n).map_err(|_| EINVAL)?;
    if n > IC_VERSION_NEGOTIATION_MAX_VER_COUNT || (n > 0 && v.is_null()) {
        return Err(EINVAL);
    }
    let mut out = KVec::with_capacity(n, GFP_ATOMIC)?;
    for i in 0..n {
        // SAFETY: `i < n` (caller's contract).
        let x = unsafe { v.add(i).read() };
        // CAST: The two halves of the driver's number, as hv_vmbus splits it.
        let ver = IcVersion::new((x >> 16) as u16, (x & 0xffff) as u16);
        out.push(ver, GFP_ATOMIC)?;
    }
    Ok(out)
}

/// Packs a version as hv_vmbus reports it.
fn packed(v: IcVersion) -> c_int {
    (c_int::from(v.major) << 16) | c_int::from(v.minor)
}

/// `vmbus_prep_negotiate_resp()` on the `buflen` bytes at `buf`; true when
/// both sides share a framework and a message version.
///
/// # Safety
///
/// `buf` points to `buflen` writable bytes; `fw` and `srv` to `fw_cnt` and
/// `srv_cnt` readable `int`s; `nego_fw` and `nego_srv` are null or
/// writable (the driver's contract with `vmbus_prep_negotiate_resp()`).
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_negotiate(
    buf: *mut u8,
    buflen: u32,
    fw: *const c_int,
    fw_cnt: c_int,
    srv: *const c_int,
    srv_cnt: c_int,
    nego_fw: *mut c_int,
    nego_srv: *mut c_int,
) -> bool {
    if buf.is_null() {
        return false;
    }
    // CAST: A `u32` fits `usize`.
    let buflen = buflen as usize;
    // SAFETY: `fw` holds `fw_cnt` ints, `srv` `srv_cnt` (caller's contract).
    let lists = unsafe { versions(fw, fw_cnt) }.and_then(|f| {
        // SAFETY: As above.
        unsafe { versions(srv, srv_cnt) }.map(|s| (f, s))
    });
    let Ok((fw, srv)) = lists else {
        return false;
    };
    // The host's request, copied once.
    let n = buflen.min(MAX_REQUEST);
    let Ok(mut req) = KVec::from_elem(0u8, n, GFP_ATOMIC) else {
        return false;
    };
    // SAFETY: `buf` holds `buflen >= n` bytes (caller's contract); `req`
    // is ours.
    unsafe { core::ptr::copy_nonoverlapping(buf, req.as_mut_ptr(), n) };
    let out_len = n.max(ICMSG_HDR_SIZE + NEGOTIATE_RESPONSE_BODY);
    let Ok(mut out) = KVec::from_elem(0u8, out_len, GFP_ATOMIC) else {
        return false;
    };
    let (answer, chosen) = match answer_negotiate(&req, &mut out, &fw, &srv) {
        Ok((len, chosen)) => (out.get(..len).unwrap_or(&[]), chosen),
        Err(e) => {
            if WARN.allow() {
                pr_warn!("IC negotiate request refused: {:?}\n", e);
            }
            // No common version: zero counts, where the request has room.
            let mut off = ICMSG_HDR_SIZE;
            let zero = IcMsgNegotiate::zeroed();
            let _ = zero.put(&mut req, &mut off);
            (req.get(..n).unwrap_or(&[]), None)
        }
    };
    let w = answer.len().min(buflen);
    // SAFETY: `buf` holds `buflen >= w` writable bytes; `answer` is ours.
    unsafe { core::ptr::copy_nonoverlapping(answer.as_ptr(), buf, w) };
    let (f, m) = chosen.map_or((0, 0), |(f, m)| (packed(f), packed(m)));
    // SAFETY: Each is null or writable (caller's contract).
    unsafe {
        if !nego_fw.is_null() {
            nego_fw.write(f);
        }
        if !nego_srv.is_null() {
            nego_srv.write(m);
        }
    }
    chosen.is_some()
}
