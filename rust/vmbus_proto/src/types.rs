// SPDX-License-Identifier: GPL-2.0

//! Validated identifiers: relids, GPADL handles, monitor ids, and the
//! fixed-capacity word list that carries GPADL range data.

use super::wire::monitor::MAX_MONITOR_ID;
use super::wire::synic::HV_EVENT_FLAGS_COUNT;

/// Relids must be below this: a relid is a bit number in the 2048-bit
/// channel event flags.
pub const MAX_RELIDS: u32 = HV_EVENT_FLAGS_COUNT as u32;

/// A channel's relid, known to be in `1..MAX_RELIDS`.
///
/// # Invariants
///
/// The value is non-zero and below [`MAX_RELIDS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Relid(u32);

impl Relid {
    /// Validates a relid.
    ///
    /// ```
    /// # use vmbus_proto::types::Relid;
    /// assert!(Relid::new(1).is_some());
    /// assert!(Relid::new(0).is_none());
    /// assert!(Relid::new(2048).is_none());
    /// ```
    pub const fn new(v: u32) -> Option<Self> {
        if v == 0 || v >= MAX_RELIDS {
            None
        } else {
            // INVARIANT: checked just above.
            Some(Self(v))
        }
    }

    /// The value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The value as an index (below [`MAX_RELIDS`]).
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A GPADL handle, known to be non-zero.
///
/// # Invariants
///
/// The value is non-zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GpadlId(u32);

impl GpadlId {
    /// Validates a GPADL handle.
    pub const fn new(v: u32) -> Option<Self> {
        if v == 0 {
            None
        } else {
            // INVARIANT: checked just above.
            Some(Self(v))
        }
    }

    /// The value.
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// A monitor id, known to be below [`MAX_MONITOR_ID`].
///
/// # Invariants
///
/// The value is below [`MAX_MONITOR_ID`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonitorId(u8);

impl MonitorId {
    /// Validates a monitor id.
    pub const fn new(v: u8) -> Option<Self> {
        if (v as usize) < MAX_MONITOR_ID {
            // INVARIANT: checked just above.
            Some(Self(v))
        } else {
            None
        }
    }

    /// The value.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The trigger group (`id / 32`).
    pub const fn group(self) -> usize {
        self.0 as usize / 32
    }

    /// The bit in the trigger group (`id % 32`).
    pub const fn bit(self) -> u32 {
        self.0 as u32 % 32
    }
}

/// Up to `N` `u64` words without allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Words<const N: usize> {
    len: usize,
    words: [u64; N],
}

impl<const N: usize> Words<N> {
    /// The capacity.
    pub const CAPACITY: usize = N;

    /// An empty list.
    pub const fn new() -> Self {
        Self {
            len: 0,
            words: [0; N],
        }
    }

    /// A list holding a copy of `w`, or `None` if `w` is longer than `N`.
    pub fn from_slice(w: &[u64]) -> Option<Self> {
        let mut s = Self::new();
        s.words.get_mut(..w.len())?.copy_from_slice(w);
        s.len = w.len();
        Some(s)
    }

    /// Appends a word; returns `false` if the list is full.
    pub fn push(&mut self, w: u64) -> bool {
        match self.words.get_mut(self.len) {
            Some(slot) => {
                *slot = w;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The words.
    pub fn as_slice(&self) -> &[u64] {
        self.words.get(..self.len).unwrap_or(&[])
    }

    /// The number of words.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Default for Words<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for Words<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice().iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        let mut w = Words::<2>::new();
        assert!(w.push(1));
        assert!(w.push(2));
        assert!(!w.push(3));
        assert_eq!(w.as_slice(), &[1, 2]);
        assert!(Words::<2>::from_slice(&[1, 2, 3]).is_none());
    }

    #[test]
    fn monitor_id() {
        let m = MonitorId::new(127).unwrap();
        assert_eq!((m.group(), m.bit()), (3, 31));
        assert!(MonitorId::new(128).is_none());
        assert!(GpadlId::new(0).is_none());
    }
}

/// Up to `N` actions produced by one state machine step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actions<T: Copy, const N: usize> {
    len: usize,
    items: [Option<T>; N],
}

impl<T: Copy, const N: usize> Actions<T, N> {
    /// No actions.
    pub const fn none() -> Self {
        Self {
            len: 0,
            items: [None; N],
        }
    }

    /// One action.
    pub fn one(a: T) -> Self {
        let mut s = Self::none();
        s.push(a);
        s
    }

    /// Appends an action; the state machines never push more than `N`,
    /// and an extra one is dropped rather than panicking.
    pub fn push(&mut self, a: T) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = Some(a);
            self.len += 1;
        }
    }

    /// The number of actions.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The actions, in order.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.items.iter().take(self.len).filter_map(|a| *a)
    }

    /// The action at `i`.
    pub fn get(&self, i: usize) -> Option<T> {
        self.items.get(i).copied().flatten()
    }
}
