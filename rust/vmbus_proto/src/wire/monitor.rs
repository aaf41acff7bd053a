// SPDX-License-Identifier: GPL-2.0

//! The monitor page of the monitored notification facility (MNF).
//!
//! The guest allocates two monitor pages and names them in
//! `INITIATE_CONTACT`: the first for host → guest, the second for guest →
//! host. A channel with a monitor id `m` uses group `m / 32`, bit `m % 32`:
//! instead of a hypercall, the guest sets that bit in
//! `trigger_group[group].pending` of the second page and the host polls it.

use super::Wire;

/// Number of trigger groups.
pub const MONITOR_GROUPS: usize = 4;
/// Monitor ids per group.
pub const MONITOR_IDS_PER_GROUP: usize = 32;
/// Number of monitor ids: valid ids are below this.
pub const MAX_MONITOR_ID: usize = MONITOR_GROUPS * MONITOR_IDS_PER_GROUP;

/// Byte offset in the monitor page of the `pending` word of `group`.
pub const fn pending_offset(group: usize) -> usize {
    8 + group * 8
}

/// Byte offset in the monitor page of the latency of monitor id `id`.
pub const fn latency_offset(id: usize) -> usize {
    0x240 + id * 2
}

/// Byte offset in the monitor page of the parameter (connection id and
/// flag number) of monitor id `id`.
pub const fn parameter_offset(id: usize) -> usize {
    0x440 + id * 8
}

/// The bits of a parameter's `connectionid` word that hold the id (the
/// rest is reserved).
pub const CONNECTION_ID_MASK: u32 = 0x00ff_ffff;

wire_struct! {
    /// `union hv_monitor_trigger_group`.
    pub struct MonitorTriggerGroup, size 8;
    {
        /// Pending bits, set by the signalling side.
        pub pending: u32,
        /// Armed bits.
        pub armed: u32,
    }
}

wire_struct! {
    /// `struct hv_monitor_parameter`.
    pub struct MonitorParameter, size 8;
    {
        /// The connection id to signal.
        pub connectionid: u32,
        /// The event flag number.
        pub flagnumber: u16,
        /// Reserved, zero.
        pub rsvdz: u16,
    }
}

wire_struct! {
    /// `struct hv_monitor_page`.
    pub struct MonitorPage, size 4096;
    {
        /// Bits 0..4: group enable.
        pub trigger_state: u32,
        /// Reserved.
        pub rsvdz1: u32,
        /// The trigger groups.
        pub trigger_group: [MonitorTriggerGroup; MONITOR_GROUPS],
        /// Reserved.
        pub rsvdz2: [u64; 3],
        /// Next check time per monitor id.
        pub next_checktime: [[i32; MONITOR_IDS_PER_GROUP]; MONITOR_GROUPS],
        /// Latency per monitor id, in 100 ns units.
        pub latency: [[u16; MONITOR_IDS_PER_GROUP]; MONITOR_GROUPS],
        /// Reserved.
        pub rsvdz3: [u64; 32],
        /// Parameters per monitor id.
        pub parameter: [[MonitorParameter; MONITOR_IDS_PER_GROUP]; MONITOR_GROUPS],
        /// Reserved.
        pub rsvdz4: [u8; 1984],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        let mut p = MonitorPage::zeroed();
        p.trigger_group[2].pending = 0xa5;
        p.latency[1][3] = 0x77;
        p.parameter[3][31].connectionid = 0x0012_3456;
        p.parameter[3][31].flagnumber = 0x99;
        let mut b = [0u8; 4096];
        p.write_to(&mut b).unwrap();
        assert_eq!(b[pending_offset(2)], 0xa5);
        assert_eq!(b[latency_offset(32 + 3)], 0x77);
        let at = parameter_offset(3 * 32 + 31);
        assert_eq!(b[at..at + 4], 0x0012_3456u32.to_le_bytes());
        assert_eq!(b[at + 4], 0x99);
    }
}
