// SPDX-License-Identifier: GPL-2.0

//! The channel table under `inner`: the entries of the channels the host
//! offered, and `by_relid`, which finds a relid's entry in O(1) as Linux's
//! `relid2channel` does. Offers, rescinds and releases (`channel_mgmt`)
//! and hibernation (`hibernate`) add and take out entries through the
//! functions here, which keep the index right.
//!
//! Context: process context, with `inner` held.

use super::*;

/// A channel in the table.
pub(super) struct Entry {
    pub(super) chan: Arc<Channel>,
    pub(super) state: ChannelState,
    /// The ring memory, its GPADL and the pages it covers, while the host
    /// may use it.
    pub(super) ring: Option<(GpadlId, Arc<SharedPages>, usize)>,
    /// The ring sizes of the last open.
    pub(super) ring_bytes: RingBytes,
    /// What hibernation must restore (see `hibernate.rs`).
    pub(super) hib: hibernate::Saved,
}

/// A `by_relid` slot without an entry.
const NO_ENTRY: u16 = u16::MAX;

impl Entry {
    /// Whether this is the entry of `relid`: not suspended (a suspended
    /// channel's relid is the host's old one) and offered under it.
    pub(super) fn has_relid(&self, relid: Relid) -> bool {
        !matches!(self.state, ChannelState::Suspended(_)) && self.chan.info().relid == relid
    }
}

impl Inner {
    /// The channel with `relid`, in O(1). A channel suspended for
    /// hibernation has no relid until the host offers it again.
    pub(super) fn find(&mut self, relid: Relid) -> Option<&mut Entry> {
        let i = self.find_index(relid)?;
        self.channels.get_mut(i)
    }

    /// Where the channel with `relid` is in the table, in O(1).
    pub(super) fn find_index(&self, relid: Relid) -> Option<usize> {
        let i = usize::from(*self.by_relid.get(relid.index())?);
        self.channels
            .get(i)
            .filter(|e| e.has_relid(relid))
            .map(|_| i)
    }

    /// Notes where entry `i` is, under its relid.
    pub(super) fn index(&mut self, i: usize) {
        let Some(e) = self.channels.get(i) else {
            return;
        };
        let relid = e.chan.info().relid;
        if let (Some(slot), Ok(v)) = (self.by_relid.get_mut(relid.index()), u16::try_from(i)) {
            *slot = v;
        }
    }

    /// Rebuilds `by_relid` after entries moved: O(channels).
    pub(super) fn reindex(&mut self) {
        for slot in self.by_relid.iter_mut() {
            *slot = NO_ENTRY;
        }
        // Suspended entries first, so that a live entry with the same
        // (reused) relid wins.
        for pass in [true, false] {
            for i in 0..self.channels.len() {
                let suspended = self
                    .channels
                    .get(i)
                    .is_some_and(|e| matches!(e.state, ChannelState::Suspended(_)));
                if suspended == pass {
                    self.index(i);
                }
            }
        }
    }

    /// Adds an entry to the table.
    pub(super) fn push_entry(&mut self, e: Entry) -> Result {
        if self.channels.len() >= usize::from(NO_ENTRY) {
            return Err(ENOSPC);
        }
        self.channels.push(e, GFP_KERNEL)?;
        self.index(self.channels.len() - 1);
        Ok(())
    }

    /// Takes entry `i` out of the table.
    pub(super) fn remove_entry(&mut self, i: usize) -> Option<Entry> {
        let e = self.channels.remove(i).ok()?;
        if i < self.channels.len() {
            self.reindex();
        }
        Some(e)
    }

    /// Takes the last entry out of the table (the others stay where they
    /// are).
    pub(super) fn pop_entry(&mut self) -> Option<Entry> {
        self.channels.pop()
    }

    /// The protocol state of the channel with `relid`, if it is known.
    pub(super) fn state_of(&mut self, relid: Relid) -> Option<ChannelState> {
        self.find(relid).map(|e| e.state)
    }
}

/// A `by_relid` with every slot empty.
pub(super) fn empty_index() -> Result<KVec<u16>> {
    // CAST: `MAX_RELIDS` is 2048.
    let n = crate::proto::types::MAX_RELIDS as usize;
    let mut by_relid = KVec::with_capacity(n, GFP_KERNEL)?;
    for _ in 0..n {
        by_relid.push(NO_ENTRY, GFP_KERNEL)?;
    }
    Ok(by_relid)
}
