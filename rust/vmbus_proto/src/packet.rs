// SPDX-License-Identifier: GPL-2.0

//! Packets inside a ring: parsing a copied-out packet and building packets
//! to write.
//!
//! [`parse`] works on the copy [`super::ring::RingConsumer::read_packet`]
//! made and checks every count and offset against the copy's length. The
//! builders produce the bytes [`super::ring::RingProducer::write`] takes.
//!
//! ```
//! use vmbus_proto::packet::{encode_inband, parse, PacketKind};
//! use vmbus_proto::wire::packet::PacketType;
//!
//! let mut buf = [0u8; 64];
//! let n = encode_inband(&mut buf, PacketType::DATA_INBAND, 0, 7, b"hello").unwrap();
//! assert_eq!(n, 24);
//! let p = parse(&buf[..n]).unwrap();
//! assert_eq!(p.kind, PacketKind::Inband);
//! assert_eq!(&p.payload[..5], b"hello");
//! ```

use super::gpadl::{pages_spanned, range_word, GpadlError};
use super::wire::channel_msg::GpaRange;
use super::wire::packet::{
    GpaDirectHeader, PacketType, TransferPageHeader, TransferPageRange, VmPacketDescriptor,
};
use super::wire::{Wire, HV_PAGE_SIZE};

/// Packet errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketError {
    /// The buffer is shorter than the descriptor or its lengths say.
    Truncated,
    /// The descriptor's lengths are inconsistent.
    BadDescriptor,
    /// A range count does not fit the header area.
    BadRangeCount,
    /// The GPA ranges are malformed.
    BadRanges(GpadlError),
    /// The output buffer is too small or the packet too large.
    TooLarge,
}

/// Transfer page ranges of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferRanges<'a> {
    raw: &'a [u8],
}

impl TransferRanges<'_> {
    /// The number of ranges.
    pub fn len(&self) -> usize {
        self.raw.len() / TransferPageRange::SIZE
    }

    /// Whether there are no ranges.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The ranges.
    pub fn iter(&self) -> impl Iterator<Item = TransferPageRange> + '_ {
        self.raw
            .chunks_exact(TransferPageRange::SIZE)
            .filter_map(TransferPageRange::read_from)
    }
}

/// What a packet carries besides its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PacketKind<'a> {
    /// In-band data.
    Inband,
    /// A completion.
    Completion,
    /// Data in transfer pages.
    TransferPages {
        /// The transfer page set.
        pageset_id: u16,
        /// Whether the sender owns the set.
        sender_owns_set: bool,
        /// The ranges.
        ranges: TransferRanges<'a>,
    },
    /// Data in guest physical ranges.
    GpaDirect(GpaDirectRanges<'a>),
    /// Another type; only the descriptor and payload are parsed.
    Other(PacketType),
}

/// The validated ranges of a GPA-direct packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpaDirectRanges<'a> {
    count: u32,
    raw: &'a [u8],
}

/// One range of a GPA-direct packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpaDirectRange<'a> {
    /// Length in bytes.
    pub byte_count: u32,
    /// Offset in the first page.
    pub byte_offset: u32,
    pfn_bytes: &'a [u8],
}

impl<'a> GpaDirectRange<'a> {
    /// The number of pages.
    pub fn page_count(&self) -> usize {
        self.pfn_bytes.len() / 8
    }

    /// The pages.
    pub fn pfns(&self) -> impl Iterator<Item = u64> + 'a {
        self.pfn_bytes.chunks_exact(8).filter_map(u64::read_from)
    }
}

impl<'a> GpaDirectRanges<'a> {
    /// Checks `count` ranges in `raw`, which they must use exactly.
    fn new(count: u32, raw: &'a [u8]) -> Result<Self, PacketError> {
        let s = Self { count, raw };
        let mut it = s.iter();
        for _ in 0..count {
            it.step()?;
        }
        if !it.raw.is_empty() {
            return Err(PacketError::BadRanges(GpadlError::BadLength));
        }
        Ok(s)
    }

    /// The number of ranges.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The ranges.
    pub fn iter(&self) -> GpaDirectIter<'a> {
        GpaDirectIter {
            left: self.count,
            raw: self.raw,
        }
    }
}

/// An iterator over [`GpaDirectRanges`].
#[derive(Clone, Debug)]
pub struct GpaDirectIter<'a> {
    left: u32,
    raw: &'a [u8],
}

impl<'a> GpaDirectIter<'a> {
    fn step(&mut self) -> Result<GpaDirectRange<'a>, PacketError> {
        let bad = |e| PacketError::BadRanges(e);
        let r = GpaRange::read_from(self.raw).ok_or(bad(GpadlError::BadLength))?;
        if r.byte_count == 0 || r.byte_offset as usize >= HV_PAGE_SIZE {
            return Err(bad(GpadlError::BadRange));
        }
        let n = pages_spanned(r.byte_offset, r.byte_count)
            .and_then(|n| n.checked_mul(8))
            .ok_or(bad(GpadlError::BadRange))?;
        let rest = self
            .raw
            .get(GpaRange::SIZE..)
            .ok_or(bad(GpadlError::BadLength))?;
        if n > rest.len() {
            return Err(bad(GpadlError::BadLength));
        }
        let (pfn_bytes, rest) = rest.split_at(n);
        self.raw = rest;
        self.left = self.left.saturating_sub(1);
        Ok(GpaDirectRange {
            byte_count: r.byte_count,
            byte_offset: r.byte_offset,
            pfn_bytes,
        })
    }
}

impl<'a> Iterator for GpaDirectIter<'a> {
    type Item = GpaDirectRange<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.step().ok()
    }
}

/// A parsed packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The descriptor.
    pub desc: VmPacketDescriptor,
    /// The type-specific part.
    pub kind: PacketKind<'a>,
    /// The payload: from `offset8 * 8` to `len8 * 8`.
    pub payload: &'a [u8],
}

/// Parses a packet copied out of a ring (`len8 * 8` bytes).
pub fn parse(buf: &[u8]) -> Result<Packet<'_>, PacketError> {
    let desc = VmPacketDescriptor::read_from(buf).ok_or(PacketError::Truncated)?;
    let len = usize::from(desc.len8) * 8;
    let off = usize::from(desc.offset8) * 8;
    if len < VmPacketDescriptor::SIZE || off < VmPacketDescriptor::SIZE || off > len {
        return Err(PacketError::BadDescriptor);
    }
    let pkt = buf.get(..len).ok_or(PacketError::Truncated)?;
    let payload = pkt.get(off..).ok_or(PacketError::BadDescriptor)?;
    let headers = pkt.get(..off).ok_or(PacketError::BadDescriptor)?;
    let kind = match desc.ptype {
        PacketType::DATA_INBAND => PacketKind::Inband,
        PacketType::COMP => PacketKind::Completion,
        PacketType::DATA_USING_XFER_PAGES => {
            let h = TransferPageHeader::read_from(headers).ok_or(PacketError::BadRangeCount)?;
            let n = (h.range_cnt as usize)
                .checked_mul(TransferPageRange::SIZE)
                .ok_or(PacketError::BadRangeCount)?;
            let end = TransferPageHeader::SIZE
                .checked_add(n)
                .ok_or(PacketError::BadRangeCount)?;
            let raw = headers
                .get(TransferPageHeader::SIZE..end)
                .ok_or(PacketError::BadRangeCount)?;
            PacketKind::TransferPages {
                pageset_id: h.xfer_pageset_id,
                sender_owns_set: h.sender_owns_set != 0,
                ranges: TransferRanges { raw },
            }
        }
        PacketType::DATA_USING_GPA_DIRECT => {
            let h = GpaDirectHeader::read_from(headers).ok_or(PacketError::BadRangeCount)?;
            let raw = headers
                .get(GpaDirectHeader::SIZE..)
                .ok_or(PacketError::BadRangeCount)?;
            PacketKind::GpaDirect(GpaDirectRanges::new(h.range_cnt, raw)?)
        }
        t => PacketKind::Other(t),
    };
    Ok(Packet {
        desc,
        kind,
        payload,
    })
}

/// Rounds up to a multiple of 8.
pub const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

fn len8(n: usize) -> Result<u16, PacketError> {
    u16::try_from(n / 8).map_err(|_| PacketError::TooLarge)
}

/// The descriptor of an in-band packet with `payload_len` bytes of payload,
/// and how many zero bytes of padding follow the payload: a sender that
/// writes the packet in parts (descriptor, payload, padding) needs no
/// buffer for the whole packet.
pub fn inband_header(
    ptype: PacketType,
    flags: u16,
    trans_id: u64,
    payload_len: usize,
) -> Result<([u8; VmPacketDescriptor::SIZE], usize), PacketError> {
    let padded = payload_len.checked_add(7).ok_or(PacketError::TooLarge)? & !7;
    let total = VmPacketDescriptor::SIZE
        .checked_add(padded)
        .ok_or(PacketError::TooLarge)?;
    let d = VmPacketDescriptor {
        ptype,
        offset8: len8(VmPacketDescriptor::SIZE)?,
        len8: len8(total)?,
        flags,
        trans_id,
    };
    let mut hdr = [0u8; VmPacketDescriptor::SIZE];
    d.write_to(&mut hdr).ok_or(PacketError::TooLarge)?;
    Ok((hdr, padded - payload_len))
}

/// Builds a packet with a bare descriptor and `payload` (padded to 8
/// bytes) into `buf`; returns its length.
pub fn encode_inband(
    buf: &mut [u8],
    ptype: PacketType,
    flags: u16,
    trans_id: u64,
    payload: &[u8],
) -> Result<usize, PacketError> {
    let total = VmPacketDescriptor::SIZE
        .checked_add(align8(payload.len()))
        .ok_or(PacketError::TooLarge)?;
    let out = buf.get_mut(..total).ok_or(PacketError::TooLarge)?;
    let d = VmPacketDescriptor {
        ptype,
        offset8: len8(VmPacketDescriptor::SIZE)?,
        len8: len8(total)?,
        flags,
        trans_id,
    };
    d.write_to(out).ok_or(PacketError::TooLarge)?;
    let (body, pad) = out
        .get_mut(VmPacketDescriptor::SIZE..)
        .ok_or(PacketError::TooLarge)?
        .split_at_mut(payload.len());
    body.copy_from_slice(payload);
    pad.fill(0);
    Ok(total)
}

/// Builds a GPA-direct packet: `ranges` (each a range header and its
/// PFNs), then `payload`. Returns its length.
pub fn encode_gpa_direct(
    buf: &mut [u8],
    flags: u16,
    trans_id: u64,
    ranges: &[(GpaRange, &[u64])],
    payload: &[u8],
) -> Result<usize, PacketError> {
    let mut words: usize = 0;
    for (r, pfns) in ranges {
        if pages_spanned(r.byte_offset, r.byte_count) != Some(pfns.len()) {
            return Err(PacketError::BadRanges(GpadlError::BadRange));
        }
        words = words
            .checked_add(1 + pfns.len())
            .ok_or(PacketError::TooLarge)?;
    }
    let off = words
        .checked_mul(8)
        .and_then(|w| w.checked_add(GpaDirectHeader::SIZE))
        .ok_or(PacketError::TooLarge)?;
    let total = off
        .checked_add(align8(payload.len()))
        .ok_or(PacketError::TooLarge)?;
    let out = buf.get_mut(..total).ok_or(PacketError::TooLarge)?;
    let h = GpaDirectHeader {
        d: VmPacketDescriptor {
            ptype: PacketType::DATA_USING_GPA_DIRECT,
            offset8: len8(off)?,
            len8: len8(total)?,
            flags,
            trans_id,
        },
        reserved: 0,
        range_cnt: u32::try_from(ranges.len()).map_err(|_| PacketError::TooLarge)?,
    };
    let mut pos = 0;
    h.put(out, &mut pos).ok_or(PacketError::TooLarge)?;
    for (r, pfns) in ranges {
        range_word(*r)
            .put(out, &mut pos)
            .ok_or(PacketError::TooLarge)?;
        for p in pfns.iter() {
            p.put(out, &mut pos).ok_or(PacketError::TooLarge)?;
        }
    }
    let (body, pad) = out
        .get_mut(off..)
        .ok_or(PacketError::TooLarge)?
        .split_at_mut(payload.len());
    body.copy_from_slice(payload);
    pad.fill(0);
    Ok(total)
}

/// Builds a transfer-page packet: the header, `ranges` (offsets into the
/// transfer page set `pageset_id`), then `payload`. Returns its length.
pub fn encode_transfer_pages(
    buf: &mut [u8],
    flags: u16,
    trans_id: u64,
    pageset_id: u16,
    ranges: &[TransferPageRange],
    payload: &[u8],
) -> Result<usize, PacketError> {
    let off = ranges
        .len()
        .checked_mul(TransferPageRange::SIZE)
        .and_then(|n| n.checked_add(TransferPageHeader::SIZE))
        .map(align8)
        .ok_or(PacketError::TooLarge)?;
    let total = off
        .checked_add(align8(payload.len()))
        .ok_or(PacketError::TooLarge)?;
    let out = buf.get_mut(..total).ok_or(PacketError::TooLarge)?;
    out.fill(0);
    let h = TransferPageHeader {
        d: VmPacketDescriptor {
            ptype: PacketType::DATA_USING_XFER_PAGES,
            offset8: len8(off)?,
            len8: len8(total)?,
            flags,
            trans_id,
        },
        xfer_pageset_id: pageset_id,
        sender_owns_set: 0,
        reserved: 0,
        range_cnt: u32::try_from(ranges.len()).map_err(|_| PacketError::TooLarge)?,
    };
    let mut pos = 0;
    h.put(out, &mut pos).ok_or(PacketError::TooLarge)?;
    for r in ranges {
        r.put(out, &mut pos).ok_or(PacketError::TooLarge)?;
    }
    out.get_mut(off..off + payload.len())
        .ok_or(PacketError::TooLarge)?
        .copy_from_slice(payload);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::super::wire::packet::PACKET_FLAG_COMPLETION_REQUESTED;
    use super::*;

    #[test]
    fn inband_and_completion() {
        let mut b = [0u8; 64];
        let n = encode_inband(&mut b, PacketType::COMP, 0, 9, &[1; 9]).unwrap();
        assert_eq!(n, 32);
        let p = parse(&b[..n]).unwrap();
        assert_eq!(p.kind, PacketKind::Completion);
        assert_eq!(p.desc.trans_id, 9);
        assert_eq!(p.payload.len(), 16);
        assert!(encode_inband(&mut b, PacketType::COMP, 0, 9, &[1; 49]).is_err());
    }

    #[test]
    fn inband_header_matches_encode_inband() {
        for len in [0usize, 1, 7, 8, 9, 100] {
            let payload = [0x5au8; 100];
            let payload = &payload[..len];
            let mut whole = [0u8; 128];
            let n = encode_inband(&mut whole, PacketType::DATA_INBAND, 1, 42, payload).unwrap();
            let (hdr, pad) = inband_header(PacketType::DATA_INBAND, 1, 42, len).unwrap();
            let mut parts = [0u8; 128];
            parts[..16].copy_from_slice(&hdr);
            parts[16..16 + len].copy_from_slice(payload);
            assert_eq!(16 + len + pad, n);
            assert_eq!(whole[..n], parts[..n]);
        }
        assert_eq!(
            inband_header(PacketType::DATA_INBAND, 0, 0, usize::MAX).unwrap_err(),
            PacketError::TooLarge
        );
    }

    #[test]
    fn gpa_direct_round_trip() {
        let mut b = [0u8; 128];
        let r1 = GpaRange {
            byte_count: 5000,
            byte_offset: 100,
        };
        let n = encode_gpa_direct(
            &mut b,
            PACKET_FLAG_COMPLETION_REQUESTED,
            1,
            &[(r1, &[7, 8])],
            b"xy",
        )
        .unwrap();
        assert_eq!(n, 24 + 24 + 8);
        let p = parse(&b[..n]).unwrap();
        let PacketKind::GpaDirect(ranges) = p.kind else {
            panic!()
        };
        assert_eq!(ranges.count(), 1);
        let r = ranges.iter().next().unwrap();
        assert!(r.pfns().eq([7, 8]));
        assert_eq!(r.page_count(), 2);
        assert_eq!(&p.payload[..2], b"xy");
        // A range count the header area cannot hold.
        b[20] = 2;
        assert!(matches!(parse(&b[..n]), Err(PacketError::BadRanges(_))));
    }

    #[test]
    fn transfer_pages() {
        let mut b = [0u8; 48];
        let h = TransferPageHeader {
            d: VmPacketDescriptor {
                ptype: PacketType::DATA_USING_XFER_PAGES,
                offset8: 5,
                len8: 6,
                flags: 0,
                trans_id: 3,
            },
            xfer_pageset_id: 1,
            sender_owns_set: 0,
            reserved: 0,
            range_cnt: 2,
        };
        h.write_to(&mut b).unwrap();
        TransferPageRange {
            byte_count: 10,
            byte_offset: 20,
        }
        .write_to(&mut b[24..])
        .unwrap();
        let p = parse(&b).unwrap();
        let PacketKind::TransferPages { ranges, .. } = p.kind else {
            panic!()
        };
        assert_eq!(ranges.len(), 2);
        assert_eq!(ranges.iter().next().unwrap().byte_offset, 20);
        b[20] = 3;
        assert_eq!(parse(&b), Err(PacketError::BadRangeCount));
    }

    #[test]
    fn transfer_pages_round_trip() {
        let mut b = [0u8; 96];
        let r = [
            TransferPageRange {
                byte_count: 100,
                byte_offset: 1728,
            },
            TransferPageRange {
                byte_count: 7,
                byte_offset: 0,
            },
        ];
        let n = encode_transfer_pages(&mut b, 1, 42, 0xcafe, &r, b"nvsp").unwrap();
        assert_eq!(n, 24 + 16 + 8);
        let p = parse(&b[..n]).unwrap();
        assert_eq!(p.desc.trans_id, 42);
        let PacketKind::TransferPages {
            pageset_id, ranges, ..
        } = p.kind
        else {
            panic!()
        };
        assert_eq!(pageset_id, 0xcafe);
        assert!(ranges.iter().eq(r));
        assert_eq!(&p.payload[..4], b"nvsp");
        assert_eq!(
            encode_transfer_pages(&mut b[..40], 1, 42, 0xcafe, &r, b"nvsp"),
            Err(PacketError::TooLarge)
        );
    }

    #[test]
    fn bad_descriptors() {
        let mut b = [0u8; 32];
        assert_eq!(parse(&b[..8]), Err(PacketError::Truncated));
        b[4] = 4;
        b[2] = 1;
        assert_eq!(parse(&b), Err(PacketError::BadDescriptor));
        b[2] = 5;
        assert_eq!(parse(&b), Err(PacketError::BadDescriptor));
        b[2] = 2;
        b[4] = 5;
        assert_eq!(parse(&b), Err(PacketError::Truncated));
    }
}
