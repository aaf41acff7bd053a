// SPDX-License-Identifier: GPL-2.0

//! Reading the monitor pages for sysfs: what each page holds for one
//! monitor id, read where Linux's sysfs reads it (the trigger group's
//! `pending` word, the id's `latency` and the connection id of its
//! `parameter`).
//!
//! The host writes these words at any time: each is one atomic load, shown
//! as it is; nothing the guest does depends on them.
//!
//! Context: any; takes no lock.

use super::*;
use crate::proto::{
    types::MonitorId,
    wire::monitor::{latency_offset, parameter_offset, CONNECTION_ID_MASK},
};

/// One of the two monitor pages of `INITIATE_CONTACT`.
#[derive(Clone, Copy)]
pub(crate) enum MonitorPage {
    /// The first page, host → guest (Linux's `monitor_pages[0]`, the
    /// `server_monitor_*` files).
    HostToGuest,
    /// The second page, guest → host, where the guest sets its pending
    /// bits (Linux's `monitor_pages[1]`, the `client_monitor_*` files and
    /// a channel's `pending` and `latency`).
    GuestToHost,
}

/// What one monitor page holds for one monitor id.
#[derive(Clone, Copy, Default)]
pub(crate) struct MonitorSlot {
    /// The `pending` word of the id's trigger group (all 32 ids of the
    /// group, as Linux shows it).
    pub(crate) pending: u32,
    /// The id's latency, in 100 ns units.
    pub(crate) latency: u16,
    /// The connection id in the id's parameter.
    pub(crate) conn_id: u32,
}

impl Connection {
    /// Reads what monitor page `page` holds for monitor id `id`.
    pub(crate) fn monitor_slot(&self, page: MonitorPage, id: MonitorId) -> MonitorSlot {
        let base = match page {
            MonitorPage::HostToGuest => 0,
            MonitorPage::GuestToHost => PAGE,
        };
        let word = |off: usize| {
            self.monitor
                .word32(base + off)
                .map_or(0, |w| w.load(Relaxed))
        };
        let i = usize::from(id.get());
        // The latencies are 16-bit, two to an aligned word (little-endian,
        // as every Hyper-V guest is).
        let at = latency_offset(i);
        let lat_word = word(at & !3);
        let shift = (at & 2) * 8;
        MonitorSlot {
            pending: word(pending_offset(id.group())),
            // CAST: The half-word at `shift`, below 2^16 after the mask.
            latency: ((lat_word >> shift) & 0xffff) as u16,
            conn_id: word(parameter_offset(i)) & CONNECTION_ID_MASK,
        }
    }
}
