// SPDX-License-Identifier: GPL-2.0

//! The request-id table of a channel, as Linux's VMBus drivers use it
//! (`struct vmbus_requestor`, `vmbus_next_request_id()` and
//! `vmbus_request_addr_match()` of the hv_vmbus interface).
//!
//! A driver that asks for a table gets one slot per request it may have
//! outstanding. Each packet it sends with a completion requested takes a
//! free slot, which keeps the driver's own value (usually the address of
//! its request), and carries the slot's id as its transaction id. The
//! host echoes that id in its completion, and the driver turns the id
//! back into its value, which frees the slot.
//!
//! The ids follow Linux exactly: an id is the slot's index plus one, since
//! the host uses transaction id 0 for packets nobody asked for. The free
//! slots form a list threaded through the table itself (a free slot holds
//! the index of the next free one, the last one the table's size), and a
//! bitmap says which slots are in use.
//!
//! Trust: the id in a completion is the host's word. It is checked before
//! it reaches the table: 0, an id beyond the table and the id of a free
//! slot are [`RQST_ERROR`], so a host that invents a completion, repeats
//! one or answers twice gets an error, never another request's value, and
//! never a slot of the free list.
//!
//! The table lives in memory its caller owns (in the kernel module, the
//! arrays of the C `struct vmbus_requestor` that the drivers' own code
//! locks): [`Requestor`] borrows the slots, the bitmap and the head of the
//! free list for one operation, under the caller's lock.
//!
//! ```
//! use vmbus_proto::rqstor::{Requestor, RQST_ADDR_ANY, RQST_ERROR};
//!
//! let (mut slots, mut bits, mut next) = ([0u64; 2], [0u64; 1], 0u64);
//! let mut t = Requestor::new(&mut slots, &mut bits, &mut next).unwrap();
//! t.reset();
//! let id = t.next_id(0xabc);
//! assert_eq!(id, 1);
//! assert_eq!(t.addr_match(7, RQST_ADDR_ANY), RQST_ERROR);
//! assert_eq!(t.addr_match(id, RQST_ADDR_ANY), 0xabc);
//! assert_eq!(t.addr_match(id, RQST_ADDR_ANY), RQST_ERROR);
//! ```

/// `VMBUS_NO_RQSTOR`: the channel has no table (the driver asked for
/// none); its transaction ids are the driver's own values.
pub const NO_RQSTOR: u64 = u64::MAX;

/// `VMBUS_RQST_ERROR`: no id to give (every slot in use), or an id the
/// table does not hold.
pub const RQST_ERROR: u64 = u64::MAX - 1;

/// `VMBUS_RQST_ADDR_ANY`: [`Requestor::addr_match`] frees the slot
/// whatever value it holds.
pub const RQST_ADDR_ANY: u64 = u64::MAX;

/// `VMBUS_RQST_ID_NO_RESPONSE` (netvsc) and `VMBUS_RQST_INIT` (storvsc):
/// a driver's own transaction id for a packet that takes no slot.
pub const RQST_INIT: u64 = u64::MAX - 2;

/// `VMBUS_RQST_RESET` (storvsc): likewise.
pub const RQST_RESET: u64 = u64::MAX - 3;

/// Bits in a word of the in-use bitmap (`unsigned long` on the kernel's
/// 64-bit targets).
const WORD_BITS: usize = 64;

/// The number of bitmap words a table of `size` slots needs
/// (`BITS_TO_LONGS()`).
pub const fn bitmap_words(size: usize) -> usize {
    size.div_ceil(WORD_BITS)
}

/// One channel's request-id table, borrowed for one operation.
///
/// # Invariants
///
/// `in_use` has at least [`bitmap_words`]`(slots.len())` words. When the
/// table was [`Requestor::reset`] and since changed only through this
/// type: a slot whose bit is clear holds the index of the next free slot
/// (or `slots.len()`), `next` is the first free slot (or `slots.len()`
/// when every slot is in use), and every free slot is on that list once.
pub struct Requestor<'a> {
    slots: &'a mut [u64],
    in_use: &'a mut [u64],
    next: &'a mut u64,
}

impl<'a> Requestor<'a> {
    /// The table over `slots` (`req_arr`), the bitmap `in_use`
    /// (`req_bitmap`) and the head of the free list `next`
    /// (`next_request_id`); `None` when the bitmap is too short for the
    /// slots.
    pub fn new(slots: &'a mut [u64], in_use: &'a mut [u64], next: &'a mut u64) -> Option<Self> {
        if in_use.len() < bitmap_words(slots.len()) {
            return None;
        }
        Some(Self {
            slots,
            in_use,
            next,
        })
    }

    /// The number of slots.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// Makes every slot free, each naming the next (the state of a table
    /// that was just allocated).
    pub fn reset(&mut self) {
        for (i, s) in self.slots.iter_mut().enumerate() {
            // CAST: A slot index fits a `u64`.
            *s = i as u64 + 1;
        }
        self.in_use.fill(0);
        *self.next = 0;
    }

    /// Whether slot `i` is in use (false beyond the table).
    pub fn in_use(&self, i: usize) -> bool {
        i < self.slots.len()
            && self
                .in_use
                .get(i / WORD_BITS)
                .is_some_and(|w| w & (1 << (i % WORD_BITS)) != 0)
    }

    fn set_in_use(&mut self, i: usize, on: bool) {
        if let Some(w) = self.in_use.get_mut(i / WORD_BITS) {
            let bit = 1u64 << (i % WORD_BITS);
            if on {
                *w |= bit;
            } else {
                *w &= !bit;
            }
        }
    }

    /// The number of slots in use.
    pub fn outstanding(&self) -> usize {
        (0..self.slots.len()).filter(|&i| self.in_use(i)).count()
    }

    /// `vmbus_next_request_id()`: takes the first free slot for `value`
    /// and returns its id (index + 1), or [`RQST_ERROR`] when every slot
    /// is in use.
    ///
    /// A head of the free list that names a slot in use (a table not
    /// changed through this type) is [`RQST_ERROR`] too, where Linux
    /// would overwrite that slot.
    pub fn next_id(&mut self, value: u64) -> u64 {
        let Ok(slot) = usize::try_from(*self.next) else {
            return RQST_ERROR;
        };
        if self.in_use(slot) {
            return RQST_ERROR;
        }
        let Some(s) = self.slots.get_mut(slot) else {
            // Every slot is in use.
            return RQST_ERROR;
        };
        *self.next = *s;
        *s = value;
        self.set_in_use(slot, true);
        // CAST: A slot index fits a `u64`.
        slot as u64 + 1
    }

    /// `__vmbus_request_addr_match()`: the value of the slot that the
    /// host's `trans_id` names, or [`RQST_ERROR`] when `trans_id` is 0,
    /// beyond the table or names a free slot. The slot is freed when
    /// `want` is [`RQST_ADDR_ANY`] or the value it holds; otherwise it
    /// stays in use and its value is returned all the same (the caller
    /// sees that it differs from `want`).
    pub fn addr_match(&mut self, trans_id: u64, want: u64) -> u64 {
        // Id 0 is the host's unsolicited packet; id `n` is slot `n - 1`.
        let Some(slot) = trans_id
            .checked_sub(1)
            .and_then(|s| usize::try_from(s).ok())
        else {
            return RQST_ERROR;
        };
        if !self.in_use(slot) {
            return RQST_ERROR;
        }
        let head = *self.next;
        let Some(s) = self.slots.get_mut(slot) else {
            return RQST_ERROR;
        };
        let value = *s;
        if want == RQST_ADDR_ANY || want == value {
            // Freed: back on the front of the free list.
            *s = head;
            // CAST: A slot index fits a `u64`.
            *self.next = slot as u64;
            self.set_in_use(slot, false);
        }
        value
    }

    /// `vmbus_request_addr()`: [`Requestor::addr_match`] with
    /// [`RQST_ADDR_ANY`].
    pub fn addr(&mut self, trans_id: u64) -> u64 {
        self.addr_match(trans_id, RQST_ADDR_ANY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Table {
        slots: [u64; 70],
        bits: [u64; 2],
        next: u64,
        size: usize,
    }

    impl Table {
        fn new(size: usize) -> Self {
            let mut t = Self {
                slots: [0; 70],
                bits: [0; 2],
                next: 0,
                size,
            };
            t.get().reset();
            t
        }

        fn get(&mut self) -> Requestor<'_> {
            Requestor::new(&mut self.slots[..self.size], &mut self.bits, &mut self.next)
                .expect("bitmap long enough")
        }
    }

    #[test]
    fn ids_are_index_plus_one_until_full() {
        let mut t = Table::new(3);
        let mut r = t.get();
        assert_eq!(r.next_id(10), 1);
        assert_eq!(r.next_id(20), 2);
        assert_eq!(r.next_id(30), 3);
        assert_eq!(r.next_id(40), RQST_ERROR);
        assert_eq!(r.outstanding(), 3);
    }

    #[test]
    fn freed_slot_is_reused_first() {
        let mut t = Table::new(4);
        let mut r = t.get();
        let a = r.next_id(10);
        let b = r.next_id(20);
        let _c = r.next_id(30);
        assert_eq!(r.addr(b), 20);
        assert_eq!(r.addr(a), 10);
        // Last freed, first reused (Linux's order).
        assert_eq!(r.next_id(50), a);
        assert_eq!(r.next_id(60), b);
        assert_eq!(r.next_id(70), 4);
        assert_eq!(r.next_id(80), RQST_ERROR);
    }

    #[test]
    fn host_ids_are_checked() {
        let mut t = Table::new(2);
        let mut r = t.get();
        let a = r.next_id(10);
        assert_eq!(r.addr(0), RQST_ERROR, "unsolicited");
        assert_eq!(r.addr(2), RQST_ERROR, "a free slot");
        assert_eq!(r.addr(3), RQST_ERROR, "beyond the table");
        assert_eq!(r.addr(u64::MAX), RQST_ERROR);
        assert_eq!(r.addr(a), 10);
        assert_eq!(r.addr(a), RQST_ERROR, "answered twice");
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn match_frees_only_on_the_expected_value() {
        let mut t = Table::new(2);
        let mut r = t.get();
        let a = r.next_id(10);
        assert_eq!(r.addr_match(a, 99), 10, "the value, slot kept");
        assert!(r.in_use(0));
        assert_eq!(r.addr_match(a, 10), 10);
        assert!(!r.in_use(0));
    }

    #[test]
    fn driver_values_may_be_the_special_ones() {
        let mut t = Table::new(2);
        let mut r = t.get();
        let a = r.next_id(RQST_INIT);
        let b = r.next_id(RQST_RESET);
        assert_eq!(r.addr_match(b, RQST_RESET), RQST_RESET);
        assert_eq!(r.addr_match(a, RQST_INIT), RQST_INIT);
    }

    #[test]
    fn bitmap_spans_words() {
        let mut t = Table::new(70);
        let mut r = t.get();
        for i in 0..70u64 {
            assert_eq!(r.next_id(i * 3), i + 1);
        }
        assert_eq!(r.next_id(0), RQST_ERROR);
        assert_eq!(r.addr(66), 65 * 3);
        assert!(!r.in_use(65));
        assert!(r.in_use(64));
        assert_eq!(r.next_id(7), 66);
    }

    #[test]
    fn short_bitmap_and_empty_table() {
        let (mut s, mut b, mut n) = ([0u64; 65], [0u64; 1], 0);
        assert!(Requestor::new(&mut s, &mut b, &mut n).is_none());
        let (mut b, mut n) = ([0u64; 0], 0);
        let mut r = Requestor::new(&mut [], &mut b, &mut n).expect("empty table");
        r.reset();
        assert_eq!(r.next_id(1), RQST_ERROR);
        assert_eq!(r.addr(1), RQST_ERROR);
    }

    #[test]
    fn broken_free_list_head_is_refused() {
        let mut t = Table::new(2);
        let a = t.get().next_id(10);
        // The head names the slot in use.
        t.next = a - 1;
        assert_eq!(t.get().next_id(20), RQST_ERROR);
        assert_eq!(t.get().addr(a), 10);
    }
}
