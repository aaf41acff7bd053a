// SPDX-License-Identifier: GPL-2.0

//! Packet iteration: `hv_pkt_iter_first()`, `__hv_pkt_iter_next()` and
//! `hv_pkt_iter_close()` (`packet_iter.c` exports them), over a
//! per-channel copy.
//!
//! hv_vmbus hands a driver a pointer to the packet in place in the inbound
//! ring (or, in confidential VMs, to a copy in `inbound.pkt_buffer`) and
//! moves the read index only at `hv_pkt_iter_close()`. rvmbus always
//! copies: each packet is copied once out of the ring by the core, which
//! validates the ring indices and the descriptor (`vmbus_proto`), and the
//! driver gets a pointer to the copy, the binding's receive buffer. The
//! packet's ring space goes back to the host when the driver moves past it
//! (`next`), so while a driver holds a packet it still counts as unread in
//! the ring, as on hv_vmbus: hv_sock's `poll()` asks the ring
//! (`hv_get_bytes_to_read()`) whether its socket has data. Reasons for the
//! copy:
//!
//! - The host can rewrite ring memory at any time; a descriptor the driver
//!   reads twice in place (`hv_pkt_datalen()` reads `offset8` and `len8`
//!   on every call) could change between reads. The copy cannot.
//! - The core's ring end is the one `vmbus_proto` checks; a second reader
//!   of the same ring with its own private read index would be a second
//!   ring implementation.
//! - Space is given back to the host packet by packet, so a driver that
//!   stops in the middle of a batch (netvsc at the end of its NAPI budget)
//!   holds at most the one packet it has.
//!
//! Semantics, as the drivers use them: `first` returns the packet held in
//! the copy, or copies the next one; `next` drops the held packet, gives
//! its space back and copies the next; `close` has nothing left to commit
//! (the core signals the host when giving space back frees the room it
//! waits for, as `hv_pkt_iter_close()` does). A packet returned by `first` and not
//! passed to `next` is returned again by the next `first`, as on hv_vmbus,
//! where it stays in the ring. The pointer is valid until the next
//! iteration call, receive or close on the channel.
//!
//! Trust: the copy holds exactly the packet's `len8 * 8` bytes, with
//! `offset8 <= len8` (both checked again on the copy before the pointer
//! is handed out), so the inline `hv_pkt_data()` and `hv_pkt_datalen()`
//! stay inside it. The decisions (which packet is held, whether the
//! driver's pointer names it, the check of its descriptor) are
//! `vmbus_proto`'s `rx_copy::RxCursor`, which the `hv-iface` fuzz target
//! drives as the drivers do; this file owns the buffer and the lock.
//!
//! Context: any; never sleeps (the per-channel buffer grows with `GFP_ATOMIC`).

use core::{ffi::c_void, ptr};

use kernel::{prelude::*, sync::atomic::ordering::Relaxed};

use super::binding::{borrow, live, HvBinding, Rx};
use crate::support::ratelimit::Ratelimit;

/// The largest packet copied (a ring's data area is smaller).
const COPY_MAX: usize = 4 << 20;

/// Rate limit of the log lines about iteration misuse.
static WARN: Ratelimit = Ratelimit::new();

impl HvBinding {
    /// Copies the next packet into `rx` if none is held; true when one is
    /// held after.
    fn hold_next(&self, rx: &mut Rx) -> Result<bool> {
        while !rx.cur.is_holding() {
            if rx.buf.is_empty() {
                rx.buf.resize(4096, 0, GFP_ATOMIC)?;
            }
            match self.chan.recv_held(&*self.conn, &mut rx.buf) {
                Ok(Some(p)) => rx.cur.hold(p),
                Ok(None) => return Ok(false),
                Err(e) if e == EMSGSIZE && rx.buf.len() < COPY_MAX => {
                    let n = rx.buf.len() * 2;
                    rx.buf.resize(n, 0, GFP_ATOMIC)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// `hv_pkt_iter_first()` (`advance` false) and `__hv_pkt_iter_next()`
    /// (`advance` true, after the packet at `cur`).
    fn iter(&self, advance: bool, cur: *const c_void) -> Result<*mut c_void> {
        if self.live.load(Relaxed) == live::REMOVED {
            return Err(ENODEV);
        }
        let mut rx = self.rx.lock();
        let rx = &mut *rx;
        if advance {
            let is_current = ptr::eq(cur, rx.buf.as_ptr().cast::<c_void>());
            // A refused next drops the held packet too (the cursor's
            // decision). Either way the dropped packet's ring space goes
            // back to the host now, as Linux's `__hv_pkt_iter_next()`
            // moves past it.
            let r = rx.cur.advance(is_current);
            self.chan.release_rx(&*self.conn);
            if r.is_err() {
                if WARN.allow() {
                    pr_warn!(
                        "channel {}: hv_pkt_iter_next() on a packet that is not the current one\n",
                        self.chan.relid()
                    );
                }
                return Err(EINVAL);
            }
        }
        if !self.hold_next(rx)? {
            return Ok(ptr::null_mut());
        }
        // The descriptor checked again in the copy; a packet that fails
        // is dropped by the cursor, never handed out, and its space goes
        // back.
        match rx.cur.desc(&rx.buf) {
            Ok(Some(_)) => Ok(rx.buf.as_mut_ptr().cast::<c_void>()),
            Ok(None) => Ok(ptr::null_mut()),
            Err(_) => {
                self.chan.release_rx(&*self.conn);
                Err(EIO)
            }
        }
    }
}

/// The next packet of the binding's channel, or null (none, or an error,
/// which the core has logged).
///
/// # Safety
///
/// `b` is a binding reference of `rvmbus_hv_rust_bind`, still held;
/// any context.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_iter(
    b: *mut c_void,
    advance: bool,
    cur: *const c_void,
) -> *mut c_void {
    // SAFETY: Guaranteed by the caller.
    let b = unsafe { borrow(b) };
    b.iter(advance, cur).unwrap_or(ptr::null_mut())
}
