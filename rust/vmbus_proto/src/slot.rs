// SPDX-License-Identifier: GPL-2.0

//! Taking a message out of a SynIC message slot: the guest's half of
//! Hyper-V's one-message-per-slot protocol.
//!
//! The host writes a message into a free slot (message type not
//! [`HvMessageType::NONE`]). When another message waits behind one the
//! guest has not taken yet, the host sets MessagePending in the slot's
//! header, at any moment while the slot is busy, and then delivers the
//! waiting message only when the guest writes EOM. So the guest must, in
//! this order (what Linux's `vmbus_on_msg_dpc` and `vmbus_signal_eom` do):
//!
//! 1. copy the whole slot: once it is free the host may write it again;
//! 2. free the slot (message type NONE);
//! 3. issue a full barrier, so that the store of step 2 is visible to the
//!    host before the load of step 4;
//! 4. read MessagePending from the slot itself, not from the copy: the host
//!    may have set it after step 1 and before step 2, and it then waits for
//!    an EOM that a guest reading its copy would never send;
//! 5. write EOM if it was set.
//!
//! [`take`] does steps 1 to 4 over a [`SlotMem`], which the kernel glue
//! implements over the shared page (the host's writes are concurrent, so
//! every access is a raw copy or an atomic) and the tests implement over a
//! model that lets the host act between any two of the guest's accesses.
//!
//! ```
//! use vmbus_proto::slot::{take, SlotMem};
//! use vmbus_proto::wire::synic::HV_MESSAGE_SIZE;
//! use core::cell::Cell;
//!
//! struct Slot(Cell<u32>, Cell<u8>);
//! impl SlotMem for Slot {
//!     fn message_type(&self) -> u32 { self.0.get() }
//!     fn copy(&self, out: &mut [u8; HV_MESSAGE_SIZE]) { out[0] = self.0.get() as u8 }
//!     fn free(&self) { self.0.set(0) }
//!     fn full_barrier(&self) {}
//!     fn message_flags(&self) -> u8 { self.1.get() }
//! }
//!
//! let slot = Slot(Cell::new(1), Cell::new(1));
//! let t = take(&slot).unwrap();
//! assert!(t.eom);
//! assert!(take(&slot).is_none());
//! ```

use super::wire::synic::{HvMessageType, HV_MESSAGE_FLAG_PENDING, HV_MESSAGE_SIZE};

/// One SynIC message slot as the guest sees it.
pub trait SlotMem {
    /// Loads the message type (with acquire ordering: the rest of the slot
    /// is read after it).
    fn message_type(&self) -> u32;
    /// Copies the whole slot into `out`.
    fn copy(&self, out: &mut [u8; HV_MESSAGE_SIZE]);
    /// Stores [`HvMessageType::NONE`] as the message type (with release
    /// ordering: the copy is complete before the host may reuse the slot).
    fn free(&self);
    /// A full memory barrier: earlier stores are visible before later
    /// loads.
    fn full_barrier(&self);
    /// Loads the header's message flags byte.
    fn message_flags(&self) -> u8;
}

/// A message taken out of its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// The copy of the whole slot, to be validated before use.
    pub bytes: [u8; HV_MESSAGE_SIZE],
    /// The host set MessagePending: the guest must write EOM.
    pub eom: bool,
}

/// Takes the message in `slot`, if there is one, in the order the module
/// documentation gives; the caller writes EOM when [`Taken::eom`] is set.
pub fn take<M: SlotMem + ?Sized>(slot: &M) -> Option<Taken> {
    if slot.message_type() == HvMessageType::NONE.0 {
        return None;
    }
    let mut bytes = [0u8; HV_MESSAGE_SIZE];
    slot.copy(&mut bytes);
    slot.free();
    slot.full_barrier();
    let eom = slot.message_flags() & HV_MESSAGE_FLAG_PENDING != 0;
    Some(Taken { bytes, eom })
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    /// A slot and a host that posts one more message before the guest's
    /// access number `host_at` (counted from 0), the way Hyper-V does: into
    /// the slot if it is free, else queued with MessagePending set (an
    /// atomic step on the slot's header, so it sees the type as it is).
    struct Model {
        ty: Cell<u32>,
        flags: Cell<u8>,
        payload: Cell<u8>,
        accesses: Cell<u32>,
        host_at: u32,
        /// The host queued its message and waits for an EOM.
        queued: Cell<bool>,
    }

    impl Model {
        fn new(host_at: u32) -> Self {
            Self {
                ty: Cell::new(1),
                flags: Cell::new(0),
                payload: Cell::new(0xa1),
                accesses: Cell::new(0),
                host_at,
                queued: Cell::new(false),
            }
        }

        fn host_maybe(&self) {
            let n = self.accesses.get();
            self.accesses.set(n + 1);
            if n != self.host_at {
                return;
            }
            if self.ty.get() == 0 {
                self.ty.set(1);
                self.flags.set(0);
                self.payload.set(0xb2);
            } else {
                self.flags.set(self.flags.get() | HV_MESSAGE_FLAG_PENDING);
                self.queued.set(true);
            }
        }
    }

    impl SlotMem for Model {
        fn message_type(&self) -> u32 {
            self.host_maybe();
            self.ty.get()
        }
        fn copy(&self, out: &mut [u8; HV_MESSAGE_SIZE]) {
            self.host_maybe();
            out[0] = self.ty.get() as u8;
            out[5] = self.flags.get();
            out[16] = self.payload.get();
        }
        fn free(&self) {
            self.host_maybe();
            self.ty.set(0);
        }
        fn full_barrier(&self) {
            self.host_maybe();
        }
        fn message_flags(&self) -> u8 {
            self.host_maybe();
            self.flags.get()
        }
    }

    /// Wherever the host's post falls, no message is stranded: one the host
    /// queued gets its EOM, one it delivered into the freed slot is there
    /// for the next take, and the taken copy is the first message.
    #[test]
    fn host_posting_between_any_two_accesses() {
        for host_at in 0..8 {
            let m = Model::new(host_at);
            let t = take(&m).unwrap();
            assert_eq!(t.bytes[16], 0xa1, "host at access {host_at}");
            if m.queued.get() {
                assert!(t.eom, "host at access {host_at}: queued, no EOM");
            } else if m.ty.get() != 0 {
                assert!(!t.eom, "host at access {host_at}");
                let next = take(&m).unwrap();
                assert_eq!(next.bytes[16], 0xb2);
            }
        }
    }

    #[test]
    fn empty_slot_is_left_alone() {
        let m = Model::new(u32::MAX);
        m.ty.set(0);
        assert!(take(&m).is_none());
        assert_eq!(m.accesses.get(), 1);
    }
}
