// SPDX-License-Identifier: GPL-2.0

//! The channels by relid, for the interrupt handler (Linux's
//! `vmbus_connection.channels[]`): an array indexed by relid, bounded by
//! the protocol's maximum (`proto::types::MAX_RELIDS`, the bits of the
//! event flags), so that an event finds its channel in O(1) without the
//! connection's lock.
//!
//! The connection keeps it under a spinlock with interrupts off (see
//! `Connection::relids`): the interrupt handler looks channels up under
//! it, and the message work and the device work change it under it. A
//! channel taken out is returned to the caller, which drops it after the
//! lock is released (a channel's drop may sleep).

use kernel::{prelude::*, sync::Arc};

use super::channel::Channel;
use crate::proto::types::{Relid, MAX_RELIDS};

/// The channels by relid.
///
/// # Invariants
///
/// `slots` has exactly `MAX_RELIDS` entries, so every [`Relid`] indexes it.
pub(crate) struct RelidTable {
    slots: KVec<Option<Arc<Channel>>>,
}

impl RelidTable {
    /// An empty table (allocates its `MAX_RELIDS` slots).
    pub(crate) fn new() -> Result<Self> {
        // CAST: `MAX_RELIDS` is 2048.
        let n = MAX_RELIDS as usize;
        let mut slots = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            slots.push(None, GFP_KERNEL)?;
        }
        // INVARIANT: `n` slots were pushed.
        Ok(Self { slots })
    }

    /// The channel with `relid`, if any.
    pub(crate) fn get(&self, relid: Relid) -> Option<&Arc<Channel>> {
        self.slots.get(relid.index()).and_then(Option::as_ref)
    }

    /// Puts `ch` at `relid`; returns the channel that was there.
    pub(crate) fn insert(&mut self, relid: Relid, ch: Arc<Channel>) -> Option<Arc<Channel>> {
        self.slots.get_mut(relid.index())?.replace(ch)
    }

    /// Takes `ch` out of the slot `relid`, if it is there (another channel
    /// that took the relid over stays).
    pub(crate) fn remove(&mut self, relid: Relid, ch: &Arc<Channel>) -> Option<Arc<Channel>> {
        let slot = self.slots.get_mut(relid.index())?;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, ch)) {
            slot.take()
        } else {
            None
        }
    }
}
