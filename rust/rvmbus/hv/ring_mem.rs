// SPDX-License-Identifier: GPL-2.0

//! The ring memory of a channel as a driver of the hv_vmbus interface
//! owns it: `vmbus_alloc_ring()` and `vmbus_free_ring()` (`ring_mem.c`),
//! with `vmbus_connect_ring()` and `vmbus_disconnect_ring()` opening and
//! closing the channel on it any number of times. `vmbus_open()` and
//! `vmbus_close()` are the two pairs together, as in hv_vmbus.
//!
//! `uio_hv_generic` is the driver that needs them apart: it allocates the
//! ring at probe, offers it to user space (its `txrx_rings` map and the
//! channel's `ring` file, both mapping the pages by physical address), and
//! opens the channel only when user space opens its device. The memory is
//! one block of physically contiguous pages ([`SharedPages`]), both rings
//! in it, outbound first, as Linux lays it out (`ringbuffer_page`,
//! `ringbuffer_send_offset`).
//!
//! The binding holds one reference to the block and the core another
//! while the host may use it (from the open until the host tore the ring's
//! GPADL down), so `vmbus_free_ring()` on a channel whose close the host
//! never confirmed leaves the pages with the core, never freed.
//!
//! Context: process context; takes the binding's `ring` mutex.

use core::ffi::{c_int, c_void};

use kernel::{prelude::*, sync::Arc};

use super::binding::{borrow, HvBinding, PAGE, RING_MAX, RING_MIN};
use crate::bus::connection::{Connection, RingBytes};

impl HvBinding {
    /// `vmbus_alloc_ring()`: rings of `send` and `recv` bytes, control page
    /// included, as hv_vmbus counts them (hv_sock's two differ); returns
    /// the block's kernel address and its pages.
    fn alloc_ring(&self, send: u32, recv: u32) -> Result<(*mut c_void, u32)> {
        for n in [send, recv] {
            if !(RING_MIN..=RING_MAX).contains(&n) || n % PAGE != 0 {
                return Err(EINVAL);
            }
        }
        let mut ring = self.ring.lock();
        if ring.is_some() {
            return Err(EBUSY);
        }
        // The core counts the data area: one control page less.
        // CAST: Each at most 2 MiB.
        let data = RingBytes {
            out: (send - PAGE) as usize,
            inb: (recv - PAGE) as usize,
        };
        let mem = Connection::alloc_rings(data)?;
        let addr = mem.virt(0)?;
        // CAST: At most `MAX_PAGES` (1024) pages.
        let pages = (mem.len() / PAGE as usize) as u32;
        *ring = Some((mem, data));
        Ok((addr, pages))
    }

    /// `vmbus_free_ring()`: gives up the binding's reference to the ring
    /// memory. `uio_hv_generic` frees it in its `remove()` even while user
    /// space still has the channel open (after a rescind): the core's own
    /// reference keeps the pages until the host gave them back, where
    /// hv_vmbus would free pages the host still uses.
    fn free_ring(&self) {
        let mem = self.ring.lock().take();
        drop(mem);
    }
}

/// `vmbus_alloc_ring()`: the block's kernel address to `*addr` and its
/// pages to `*pages`.
///
/// # Safety
///
/// `b` is a binding reference of `rvmbus_hv_rust_bind`, still held;
/// `addr` and `pages` are writable; process context.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_alloc_ring(
    b: *mut c_void,
    send: u32,
    recv: u32,
    addr: *mut *mut c_void,
    pages: *mut u32,
) -> c_int {
    if addr.is_null() || pages.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: Guaranteed by the caller.
    let b: Arc<HvBinding> = unsafe { borrow(b) }.into();
    match b.alloc_ring(send, recv) {
        Ok((a, n)) => {
            // SAFETY: Both are writable (caller's contract).
            unsafe {
                addr.write(a);
                pages.write(n);
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `vmbus_free_ring()`.
///
/// # Safety
///
/// As for [`rvmbus_hv_rust_alloc_ring`].
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_free_ring(b: *mut c_void) {
    // SAFETY: Guaranteed by the caller.
    unsafe { borrow(b) }.free_ring();
}
