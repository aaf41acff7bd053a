// SPDX-License-Identifier: GPL-2.0

//! The per-channel copy of a received packet that Linux's VMBus drivers
//! read through the hv_vmbus interface: `hv_pkt_iter_first()`,
//! `__hv_pkt_iter_next()` and `vmbus_recvpacket()` /
//! `vmbus_recvpacket_raw()`.
//!
//! The receiver copies each packet once out of the ring into a buffer of
//! its own and parses it there ([`super::packet::parse`]); [`RxPacket`]
//! records where the parsed packet's payload lies in that copy. An
//! [`RxCursor`] holds at most one such packet between the driver's
//! calls, as hv_vmbus leaves the current packet in the ring until the
//! driver moves on:
//!
//! - `hv_pkt_iter_first()` returns the held packet, or the next one the
//!   receiver copies and [`RxCursor::hold`]s; a packet returned and not
//!   passed on is returned again.
//! - `__hv_pkt_iter_next()` must name the held packet
//!   ([`RxCursor::advance`]), which is dropped; the next is copied. A call
//!   that names another packet is refused, and drops the held one too.
//! - `vmbus_recvpacket()` hands the held packet's payload (or all of it,
//!   raw) to the driver's buffer when it fits ([`RxCursor::take`]), and
//!   keeps it, reporting its length, when it does not.
//!
//! Trust: the copy is the receiver's own memory, but its lengths came from
//! the host. Before a driver gets a pointer to the packet, its descriptor
//! is checked again in the copy ([`RxCursor::desc`]): `len8 * 8` is the
//! copied length and `offset8 * 8` the payload's offset, so the inline
//! `hv_pkt_data()` and `hv_pkt_datalen()` of `<linux/hyperv.h>`, which read
//! the descriptor again, stay inside the copy. A held packet that fails a
//! check is dropped, never handed out.
//!
//! ```
//! use vmbus_proto::packet::{encode_inband, parse};
//! use vmbus_proto::rx_copy::{RxCursor, RxPacket};
//! use vmbus_proto::wire::packet::PacketType;
//!
//! let mut copy = [0u8; 64];
//! let n = encode_inband(&mut copy, PacketType::DATA_INBAND, 0, 9, b"data").unwrap();
//! let p = parse(&copy[..n]).unwrap();
//! let mut cur = RxCursor::new();
//! cur.hold(RxPacket::of(&p, n));
//! assert_eq!(cur.desc(&copy), Ok(Some(n)));
//! let d = cur.take(&copy, false, 64).unwrap().unwrap();
//! assert_eq!(&copy[d.start..d.start + 4], b"data");
//! assert!(!cur.is_holding());
//! ```

use super::packet::{Packet, PacketKind};
use super::wire::packet::{PacketType, VmPacketDescriptor};
use super::wire::Wire;

/// A packet the receiver copied and parsed: where its payload lies in the
/// copy, which starts with the packet's descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxPacket {
    /// Packet type (a completion is [`PacketType::COMP`]).
    pub ptype: PacketType,
    /// Offset of the payload in the copy.
    pub offset: usize,
    /// Payload length.
    pub len: usize,
    /// Transaction id.
    pub trans_id: u64,
}

impl RxPacket {
    /// The record of `p`, parsed from the first `total` bytes of the copy
    /// (the packet's `len8 * 8`).
    pub fn of(p: &Packet<'_>, total: usize) -> Self {
        let ptype = match p.kind {
            PacketKind::Completion => PacketType::COMP,
            _ => p.desc.ptype,
        };
        Self {
            ptype,
            offset: total.saturating_sub(p.payload.len()),
            len: p.payload.len(),
            trans_id: p.desc.trans_id,
        }
    }
}

/// Errors of the driver's calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxError {
    /// `__hv_pkt_iter_next()` named a packet that is not the held one
    /// (none is held, or the driver's pointer is another).
    NotCurrent,
    /// The held packet's descriptor does not match the copy; it was
    /// dropped.
    Broken,
    /// The driver's buffer is shorter than the packet, which stays held.
    TooSmall {
        /// The packet's length (what the driver would receive).
        len: usize,
        /// Its transaction id.
        trans_id: u64,
    },
}

/// Where a packet handed to a driver's buffer lies in the copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Start in the copy (0 for a raw receive: the descriptor too).
    pub start: usize,
    /// Length.
    pub len: usize,
    /// Transaction id.
    pub trans_id: u64,
}

/// The packet held between a driver's calls on one channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxCursor {
    held: Option<RxPacket>,
}

impl RxCursor {
    /// A cursor that holds nothing.
    pub const fn new() -> Self {
        Self { held: None }
    }

    /// Whether a packet is held.
    pub fn is_holding(&self) -> bool {
        self.held.is_some()
    }

    /// The held packet.
    pub fn held(&self) -> Option<&RxPacket> {
        self.held.as_ref()
    }

    /// Holds `p`, the packet just copied to the start of the copy.
    pub fn hold(&mut self, p: RxPacket) {
        self.held = Some(p);
    }

    /// Drops the held packet (a channel closed or reset).
    pub fn clear(&mut self) {
        self.held = None;
    }

    /// `__hv_pkt_iter_next()`: drops the held packet, which the driver's
    /// pointer must name (`is_current`).
    ///
    /// A pointer that names another packet is refused
    /// ([`RxError::NotCurrent`]), and the held packet is dropped all the
    /// same. Its ring space was released when it was copied, so the ring
    /// no longer shows it: kept, it would be a packet that Linux's
    /// `hv_end_read()`, which looks only at the ring, cannot see, and a
    /// driver that waits for the interrupt of unread packets would wait
    /// forever. hv_vmbus's own iterator moves past the packet in that case
    /// as well.
    pub fn advance(&mut self, is_current: bool) -> Result<(), RxError> {
        let held = self.held.take();
        if held.is_none() || !is_current {
            return Err(RxError::NotCurrent);
        }
        Ok(())
    }

    /// The held packet's length in `copy` (its descriptor starts the
    /// copy), after checking the descriptor there again; `None` when none
    /// is held. A packet that fails the check is dropped
    /// ([`RxError::Broken`]).
    pub fn desc(&mut self, copy: &[u8]) -> Result<Option<usize>, RxError> {
        let Some(p) = self.held else {
            return Ok(None);
        };
        match check(copy, &p) {
            Some(total) => Ok(Some(total)),
            None => {
                self.held = None;
                Err(RxError::Broken)
            }
        }
    }

    /// `vmbus_recvpacket()` (`raw`: `vmbus_recvpacket_raw()`): the held
    /// packet's payload (raw: all of it) for a driver's buffer of `cap`
    /// bytes, after which nothing is held; `None` when none is held. A
    /// packet longer than `cap` stays held ([`RxError::TooSmall`]); one
    /// whose descriptor does not match the copy is dropped
    /// ([`RxError::Broken`]).
    pub fn take(
        &mut self,
        copy: &[u8],
        raw: bool,
        cap: usize,
    ) -> Result<Option<Delivery>, RxError> {
        let Some(total) = self.desc(copy)? else {
            return Ok(None);
        };
        let Some(p) = self.held else {
            return Ok(None);
        };
        let (start, len) = if raw { (0, total) } else { (p.offset, p.len) };
        if len > cap {
            return Err(RxError::TooSmall {
                len,
                trans_id: p.trans_id,
            });
        }
        self.held = None;
        Ok(Some(Delivery {
            start,
            len,
            trans_id: p.trans_id,
        }))
    }
}

/// The packet's total length when `copy` starts with a descriptor whose
/// `len8 * 8` is `p`'s end (`offset + len`, within `copy`), whose
/// `offset8 * 8` is `p`'s offset and whose `offset8 <= len8`.
fn check(copy: &[u8], p: &RxPacket) -> Option<usize> {
    let total = p.offset.checked_add(p.len)?;
    let bytes = copy.get(..total)?;
    let d = VmPacketDescriptor::read_from(bytes)?;
    let (offset8, len8) = (usize::from(d.offset8), usize::from(d.len8));
    (len8 * 8 == total && offset8 <= len8 && offset8 * 8 == p.offset).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{encode_inband, parse};

    fn copied(trans_id: u64, payload: &[u8]) -> ([u8; 128], RxPacket) {
        let mut copy = [0u8; 128];
        let n =
            encode_inband(&mut copy, PacketType::DATA_INBAND, 0, trans_id, payload).expect("fits");
        let p = RxPacket::of(&parse(&copy[..n]).expect("parses"), n);
        (copy, p)
    }

    #[test]
    fn first_returns_the_held_packet_again() {
        let (copy, p) = copied(3, b"abc");
        let mut c = RxCursor::new();
        assert_eq!(c.desc(&copy), Ok(None));
        c.hold(p);
        assert_eq!(c.desc(&copy), Ok(Some(24)));
        assert_eq!(c.desc(&copy), Ok(Some(24)));
        assert_eq!(p.offset, 16);
        assert_eq!(p.len, 8);
    }

    #[test]
    fn next_must_name_the_held_packet() {
        let (_, p) = copied(3, b"abc");
        let mut c = RxCursor::new();
        assert_eq!(c.advance(true), Err(RxError::NotCurrent), "nothing held");
        c.hold(p);
        assert_eq!(c.advance(true), Ok(()));
        assert!(!c.is_holding());
    }

    #[test]
    fn a_refused_next_drops_the_held_packet() {
        let (copy, p) = copied(3, b"abc");
        let mut c = RxCursor::new();
        c.hold(p);
        assert_eq!(c.advance(false), Err(RxError::NotCurrent));
        assert!(!c.is_holding(), "dropped on a wrong pointer");
        // The next `hv_pkt_iter_first()` finds nothing held: the receiver
        // copies the next packet from the ring.
        assert_eq!(c.desc(&copy), Ok(None));
        assert_eq!(c.take(&copy, true, 128), Ok(None));
    }

    #[test]
    fn a_descriptor_that_disagrees_is_dropped() {
        let (mut copy, p) = copied(3, b"abcdefgh");
        let mut c = RxCursor::new();
        // len8 no longer the copied length.
        copy[4] = 9;
        c.hold(p);
        assert_eq!(c.desc(&copy), Err(RxError::Broken));
        assert!(!c.is_holding());
        // A record beyond the copy.
        let (copy, mut p) = copied(3, b"x");
        p.len = 1 << 20;
        c.hold(p);
        assert_eq!(c.desc(&copy), Err(RxError::Broken));
        // offset8 beyond len8.
        let (mut copy, p) = copied(3, b"x");
        copy[2] = 4;
        c.hold(p);
        assert_eq!(c.desc(&copy), Err(RxError::Broken));
        // An overflowing record.
        c.hold(RxPacket {
            offset: usize::MAX,
            len: 2,
            ..p
        });
        assert_eq!(c.take(&copy, false, 64), Err(RxError::Broken));
    }

    #[test]
    fn receive_keeps_a_packet_too_long_for_the_buffer() {
        let (copy, p) = copied(77, b"0123456789");
        let mut c = RxCursor::new();
        c.hold(p);
        assert_eq!(
            c.take(&copy, false, 8),
            Err(RxError::TooSmall {
                len: 16,
                trans_id: 77
            })
        );
        assert_eq!(
            c.take(&copy, true, 16),
            Err(RxError::TooSmall {
                len: 32,
                trans_id: 77
            })
        );
        assert_eq!(
            c.take(&copy, true, 32),
            Ok(Some(Delivery {
                start: 0,
                len: 32,
                trans_id: 77
            }))
        );
        assert_eq!(c.take(&copy, true, 32), Ok(None));
    }

    #[test]
    fn completion_type_is_kept() {
        let mut copy = [0u8; 64];
        let n = encode_inband(&mut copy, PacketType::COMP, 0, 5, b"done").expect("fits");
        let p = RxPacket::of(&parse(&copy[..n]).expect("parses"), n);
        assert_eq!(p.ptype, PacketType::COMP);
        assert_eq!(p.trans_id, 5);
    }
}
