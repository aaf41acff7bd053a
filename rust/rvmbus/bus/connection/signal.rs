// SPDX-License-Identifier: GPL-2.0

//! Signalling the host for a channel (the interrupt page, the monitor page
//! or `HvSignalEvent`), and the rate-limited logs of the data path.
//!
//! Context: any process context that sends or receives on a channel; no
//! lock of the connection is taken.

use super::*;
use crate::{bus::channel::HostLink, proto::packet::PacketError};

impl Connection {
    /// Tells the host that `ch` has something for it: through the monitor
    /// page if the channel is monitored, else with a signal-event call.
    pub(crate) fn signal_channel(&self, ch: &Channel) -> Result {
        ch.stats.events.add(1, Relaxed);
        let info = ch.info();
        crate::support::trace::setevent(info.relid.get());
        let relid = info.relid.get() as usize;
        if !info.dedicated_interrupt {
            set_bit(&self.int_page, PAGE / 2, relid);
        }
        if let Some(m) = info.monitor_id {
            set_bit(
                &self.monitor,
                PAGE + pending_offset(m.group()),
                m.bit() as usize,
            );
            return Ok(());
        }
        let start = pathtime::now();
        let status = self.transport.signal_event(info.connection_id);
        pathtime::SIGNAL.add_since(start);
        match status? {
            st if st == HvStatus::SUCCESS => Ok(()),
            st => {
                if self.warn.allow() {
                    pr_warn!("signal for channel {} refused: status {:#x}\n", relid, st.0);
                }
                Err(EIO)
            }
        }
    }

    /// The kernel addresses of the interrupt page and of the two monitor
    /// pages (host → guest, guest → host), as Linux's
    /// `vmbus_connection.int_page` and `monitor_pages[]` hold them:
    /// `uio_hv_generic` offers them to user space. They live as long as
    /// the connection.
    pub(crate) fn signal_pages(&self) -> [*mut c_void; 3] {
        let at = |p: &SharedPages, off: usize| p.virt(off).unwrap_or(core::ptr::null_mut());
        [
            at(&self.int_page, 0),
            at(&self.monitor, 0),
            at(&self.monitor, PAGE),
        ]
    }

    /// Logs a broken ring (rate-limited).
    pub(crate) fn warn_ring(&self, relid: u32, what: &str, e: RingError) {
        if self.warn.allow() {
            pr_err!(
                "channel {}: {} failed, ring broken by the host: {:?}\n",
                relid,
                what,
                e
            );
        }
    }

    /// Logs an invalid packet (rate-limited).
    pub(crate) fn warn_packet(&self, relid: u32, e: PacketError) {
        if self.warn.allow() {
            pr_err!("channel {}: invalid packet from the host: {:?}\n", relid, e);
        }
    }
}

/// Sets bit `bit` of the bit array at byte `off` of `pages` (8-byte
/// aligned) with one atomic bit set, as Linux's `sync_set_bit` does on the
/// interrupt and monitor pages: the host reads and clears these words
/// concurrently, and a compare-exchange loop would have to start again each
/// time it did. On x86 the locked instruction is also a full barrier, so
/// the ring writes before it are visible to the host first. KUnit tests it
/// against a concurrent host (`debug/kunit.rs`).
pub(crate) fn set_bit(pages: &SharedPages, off: usize, bit: usize) {
    let Ok(w) = pages.word64(off + (bit / 64) * 8) else {
        return;
    };
    // SAFETY: `w` is an aligned 64-bit word inside `pages`, which outlive
    // the call (`SharedPages::word64`); `set_bit` with a bit number below
    // 64 writes that word only, with one atomic read-modify-write, which is
    // how the host accesses it too.
    unsafe { kernel::bindings::set_bit(bit % 64, w.as_ptr().cast::<usize>()) };
}

impl HostLink for Connection {
    fn signal(&self, ch: &Channel) -> Result {
        self.signal_channel(ch)
    }

    fn ring_broken(&self, relid: u32, what: &str, e: RingError) {
        self.warn_ring(relid, what, e);
    }

    fn bad_packet(&self, relid: u32, e: PacketError) {
        self.warn_packet(relid, e);
    }
}
