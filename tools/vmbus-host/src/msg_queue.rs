// SPDX-License-Identifier: GPL-2.0

//! The bounded queue of guest-posted messages waiting for the VMBus server.
//! Like Hyper-V's per-connection message buffers: when it is full,
//! HvPostMessage fails with `INSUFFICIENT_BUFFERS` and the guest retries.

use std::collections::VecDeque;

use crate::server::GuestMessage;

/// Default capacity.
pub const DEFAULT_CAPACITY: usize = 16;

/// The queue is full.
#[derive(Debug, PartialEq, Eq)]
pub struct QueueFull;

/// A FIFO of at most `capacity` messages.
pub struct MsgQueue {
    q: VecDeque<GuestMessage>,
    capacity: usize,
    accepted: u64,
    refused: u64,
}

impl MsgQueue {
    /// An empty queue holding at most `capacity` messages.
    pub fn new(capacity: usize) -> Self {
        Self {
            q: VecDeque::with_capacity(capacity),
            capacity,
            accepted: 0,
            refused: 0,
        }
    }

    /// Appends `m`, or refuses it when full.
    pub fn push(&mut self, m: GuestMessage) -> Result<(), QueueFull> {
        if self.q.len() >= self.capacity {
            self.refused += 1;
            return Err(QueueFull);
        }
        self.accepted += 1;
        self.q.push_back(m);
        Ok(())
    }

    /// Takes the oldest message.
    pub fn pop(&mut self) -> Option<GuestMessage> {
        self.q.pop_front()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Drops everything waiting.
    pub fn clear(&mut self) {
        self.q.clear();
    }

    /// (accepted, refused) so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.accepted, self.refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(t: u32) -> GuestMessage {
        GuestMessage {
            vcpu: 0,
            connection_id: 4,
            message_type: t,
            payload: vec![],
        }
    }

    #[test]
    fn bounded_fifo() {
        let mut q = MsgQueue::new(2);
        q.push(m(1)).unwrap();
        q.push(m(2)).unwrap();
        assert_eq!(q.push(m(3)), Err(QueueFull));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop().unwrap().message_type, 1);
        q.push(m(4)).unwrap();
        assert_eq!(q.pop().unwrap().message_type, 2);
        assert_eq!(q.pop().unwrap().message_type, 4);
        assert!(q.pop().is_none());
        assert_eq!(q.counts(), (3, 1));
        q.push(m(5)).unwrap();
        q.clear();
        assert!(q.is_empty());
    }
}
