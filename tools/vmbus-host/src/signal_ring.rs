// SPDX-License-Identifier: GPL-2.0

//! The host's end of the signal ring (`vmbus_proto::ivshmem::signal`):
//! the guest's `HvSignalEvent`s, one connection id per entry, drained
//! before the mailboxes are served.
//!
//! The guest writes `HEAD`, `OVERFLOWS` and the entries; the host only
//! `TAIL`. Everything the guest wrote is read once and checked: a `HEAD`
//! further ahead than the ring holds is taken as an overflow (every open
//! channel is signalled) and the ring starts again from there.

use std::sync::atomic::{fence, Ordering};

use vmbus_proto::ivshmem::{self, signal};

use crate::guest_mem::{MemError, MemRegion};

/// One signal taken out of the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// `HvSignalEvent` on this connection id.
    Connection(u32),
    /// Signals were lost (the ring was full, or the guest broke it):
    /// every open channel must be looked at.
    All,
}

/// The host's view of the signal ring of one guest.
#[derive(Debug)]
pub struct SignalRing {
    /// Byte offset of the ring in the shared memory.
    base: u64,
    /// The guest's overflow count when the host last looked.
    overflows_seen: u32,
    /// Counters: entries taken, and overflows seen.
    pub taken: u64,
    pub overflows: u64,
}

impl SignalRing {
    /// The ring after `num_mailboxes` mailboxes.
    pub fn new(num_mailboxes: u32) -> Option<Self> {
        Some(Self {
            base: ivshmem::signal_offset(num_mailboxes)? as u64,
            overflows_seen: 0,
            taken: 0,
            overflows: 0,
        })
    }

    fn at(&self, off: usize) -> u64 {
        self.base + off as u64
    }

    /// Takes whatever the ring holds as already seen: a new guest driver
    /// (HELLO) starts with an empty ring, wherever the last one left it.
    pub fn resync(&mut self, shm: &MemRegion) -> Result<(), MemError> {
        let head = shm.read_u32(self.at(signal::HEAD))?;
        self.overflows_seen = shm.read_u32(self.at(signal::OVERFLOWS))?;
        shm.write_u32(self.at(signal::TAIL), head)
    }

    /// Takes every signal the guest wrote since the last call, in order,
    /// and hands each to `f`; then publishes the new `TAIL`. Returns how
    /// many it handed over.
    pub fn drain(&mut self, shm: &MemRegion, mut f: impl FnMut(Signal)) -> Result<usize, MemError> {
        let mut n = 0;
        let overflows = shm.read_u32(self.at(signal::OVERFLOWS))?;
        let head = shm.read_u32(self.at(signal::HEAD))?;
        let tail = shm.read_u32(self.at(signal::TAIL))?;
        // Pairs with the guest's write barrier before HEAD.
        fence(Ordering::Acquire);
        let mut all = overflows != self.overflows_seen;
        self.overflows_seen = overflows;
        match signal::pending(head, tail) {
            Some(k) => {
                for i in 0..k {
                    let idx = tail.wrapping_add(i);
                    let conn = shm.read_u32(self.at(signal::entry(idx)))?;
                    f(Signal::Connection(conn));
                    n += 1;
                }
            }
            None => all = true,
        }
        self.taken += n as u64;
        if all {
            self.overflows += 1;
            f(Signal::All);
            n += 1;
        }
        if head != tail {
            // The entries are read before the guest may reuse them.
            fence(Ordering::Release);
            shm.write_u32(self.at(signal::TAIL), head)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shm() -> MemRegion {
        MemRegion::anonymous(0x2000).unwrap()
    }

    fn push(shm: &MemRegion, r: &SignalRing, head: &mut u32, conn: u32) {
        shm.write_u32(r.at(signal::entry(*head)), conn).unwrap();
        *head = head.wrapping_add(1);
        shm.write_u32(r.at(signal::HEAD), *head).unwrap();
    }

    #[test]
    fn drains_in_order_and_wraps() {
        let m = shm();
        let mut r = SignalRing::new(2).unwrap();
        // Start near the wrap of the indices, as a long-running guest would.
        let mut head = u32::MAX - 2;
        m.write_u32(r.at(signal::HEAD), head).unwrap();
        r.resync(&m).unwrap();
        for c in [10, 11, 12, 13, 14] {
            push(&m, &r, &mut head, c);
        }
        let mut got = Vec::new();
        assert_eq!(r.drain(&m, |s| got.push(s)).unwrap(), 5);
        let want: Vec<_> = [10, 11, 12, 13, 14].map(Signal::Connection).into();
        assert_eq!(got, want);
        assert_eq!(m.read_u32(r.at(signal::TAIL)).unwrap(), head);
        got.clear();
        assert_eq!(r.drain(&m, |s| got.push(s)).unwrap(), 0);
    }

    #[test]
    fn overflow_and_broken_head_signal_everything() {
        let m = shm();
        let mut r = SignalRing::new(2).unwrap();
        r.resync(&m).unwrap();
        m.write_u32(r.at(signal::OVERFLOWS), 1).unwrap();
        let mut got = Vec::new();
        r.drain(&m, |s| got.push(s)).unwrap();
        assert_eq!(got, vec![Signal::All]);
        // A head further ahead than the ring holds.
        m.write_u32(r.at(signal::HEAD), signal::SLOTS + 5).unwrap();
        got.clear();
        r.drain(&m, |s| got.push(s)).unwrap();
        assert_eq!(got, vec![Signal::All]);
        assert_eq!(m.read_u32(r.at(signal::TAIL)).unwrap(), signal::SLOTS + 5);
    }
}
