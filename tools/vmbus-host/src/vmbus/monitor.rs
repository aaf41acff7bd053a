// SPDX-License-Identifier: GPL-2.0

//! Monitored notification: the guest signals a channel with a monitor id
//! by setting bit `id % 32` of `trigger_group[id / 32].pending` in its
//! guest → host monitor page (the second page of `INITIATE_CONTACT`, which
//! Linux calls `monitor_pages[1]`). The host polls the bits of the open
//! monitored channels, clears the ones it saw atomically, and treats each
//! as a signal.

use vmbus_proto::types::{MonitorId, Relid};
use vmbus_proto::wire::monitor::{pending_offset, MONITOR_IDS_PER_GROUP};

use crate::guest_mem::MemRegion;

/// Polling period while a monitored channel is open.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(1);

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
