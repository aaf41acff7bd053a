// SPDX-License-Identifier: GPL-2.0

//! Monitored notification: the guest signals a channel with a monitor id
//! by setting bit `id % 32` of `trigger_group[id / 32].pending` in its
//! guest → host monitor page (the second page of `INITIATE_CONTACT`, which
//! Linux calls `monitor_pages[1]`). The host polls the bits of the open
//! monitored channels, clears the ones it saw atomically, and treats each
//! as a signal.
//!
//! The page also has, per monitor id, the connection id the host signals
//! for it (`parameter`) and how long a set bit may wait to be seen
//! (`latency`). The guest never writes them, yet Linux shows them in sysfs
//! (`client_monitor_conn_id`, `client_monitor_latency`, `latency`): they
//! are the host's to fill in. This host does so when it offers a monitored
//! channel, with the channel's connection id and its polling period. The
//! host → guest page (the first) is not used: the host writes nothing there.

use vmbus_proto::types::{MonitorId, Relid};
use vmbus_proto::wire::monitor::{
    latency_offset, parameter_offset, pending_offset, CONNECTION_ID_MASK, MONITOR_IDS_PER_GROUP,
};

use crate::guest_mem::{MemError, MemRegion};

/// Polling period while a monitored channel is open.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(1);

/// [`POLL`] in the monitor page's latency unit, 100 ns.
pub const LATENCY_100NS: u16 = 10_000;

const _: () = assert!(POLL.as_nanos() == LATENCY_100NS as u128 * 100);

/// Writes the parameter (connection id, flag number 0) and the latency of
/// monitor id `id` into the monitor page at `page`.
pub fn describe(
    mem: &MemRegion,
    page: u64,
    id: MonitorId,
    connection_id: u32,
) -> Result<(), MemError> {
    let id = usize::from(id.get());
    let param = page + parameter_offset(id) as u64;
    mem.write_u32(param, connection_id & CONNECTION_ID_MASK)?;
    // The flag number and the reserved half-word.
    mem.write_u32(param + 4, 0)?;
    mem.write(
        page + latency_offset(id) as u64,
        &LATENCY_100NS.to_le_bytes(),
    )
}

/// Clears and returns the triggered channels among `watched` (monitor id,
/// relid) in the monitor page at `page`.
pub fn take_triggers(mem: &MemRegion, page: u64, watched: &[(MonitorId, Relid)]) -> Vec<Relid> {
    let mut hit = Vec::new();
    for &(id, relid) in watched {
        let id = usize::from(id.get());
        let bit = id % MONITOR_IDS_PER_GROUP;
        let addr = page + (pending_offset(id / MONITOR_IDS_PER_GROUP) + bit / 8) as u64;
        let mask = 1u8 << (bit % 8);
        let mut now = [0u8];
        // Look first: the common case (no trigger) costs no atomic write.
        if mem.read(addr, &mut now).is_err() || now[0] & mask == 0 {
            continue;
        }
        if mem
            .fetch_and_u8(addr, !mask)
            .is_ok_and(|old| old & mask != 0)
        {
            hit.push(relid);
        }
    }
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_a_monitor_id() {
        let m = MemRegion::anonymous(8192).unwrap();
        let page = 4096;
        m.write_u32(page + 0x440 + 37 * 8 + 4, 0xffff_ffff).unwrap();
        describe(&m, page, MonitorId::new(37).unwrap(), 0x1_0004).unwrap();
        assert_eq!(m.read_u32(page + 0x440 + 37 * 8).unwrap(), 0x1_0004);
        assert_eq!(m.read_u32(page + 0x440 + 37 * 8 + 4).unwrap(), 0);
        let mut lat = [0u8; 2];
        m.read(page + 0x240 + 37 * 2, &mut lat).unwrap();
        assert_eq!(u16::from_le_bytes(lat), 10_000);
        // Nothing else: the neighbours and the pending bits stay zero.
        assert_eq!(m.read_u32(page + 0x440 + 36 * 8).unwrap(), 0);
        assert_eq!(m.read_u32(page + 8 + 8).unwrap(), 0);
    }

    #[test]
    fn clears_only_seen_bits() {
        let m = MemRegion::anonymous(8192).unwrap();
        let page = 4096;
        // Ids 3 and 33 triggered, and 34 that nobody watches.
        m.write_u32(page + 8, 1 << 3).unwrap();
        m.write_u32(page + 16, (1 << 1) | (1 << 2)).unwrap();
        let w = |id, r| (MonitorId::new(id).unwrap(), Relid::new(r).unwrap());
        let hit = take_triggers(&m, page, &[w(3, 4), w(33, 7), w(5, 9)]);
        assert_eq!(hit, vec![Relid::new(4).unwrap(), Relid::new(7).unwrap()]);
        assert_eq!(m.read_u32(page + 8).unwrap(), 0);
        assert_eq!(m.read_u32(page + 16).unwrap(), 1 << 2);
        assert!(take_triggers(&m, page, &[w(3, 4)]).is_empty());
    }
}
