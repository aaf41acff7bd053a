// SPDX-License-Identifier: GPL-2.0

//! Suspend to RAM and s2idle: the connection and its channels stay as they
//! are, but what the host signalled while the guest slept may have left no
//! interrupt behind.
//!
//! The host sets a channel's event flag and interrupts the guest; it does
//! so only when the ring goes from empty to not empty. An interrupt that
//! comes while the guest sleeps is lost: QEMU resets the devices when it
//! wakes the guest, and the ivshmem device drops an MSI-X message until the
//! guest's PCI core has enabled MSI-X again. The flag stays set and the
//! ring stays not empty, so the host never signals that channel again. The
//! root device's resume callback (`pm.c`, after the transport's device
//! resumed: it is the root's PM supplier) therefore takes the event flags
//! and the message slots once, as an interrupt would.

use crate::bus;

/// The root device's resume callback after suspend to RAM or s2idle
/// (`pm.c`). Process context.
#[no_mangle]
extern "C" fn rvmbus_rust_sleep_resume() -> i32 {
    if let Some(c) = bus::active() {
        c.kick();
    }
    0
}
