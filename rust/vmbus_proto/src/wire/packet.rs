// SPDX-License-Identifier: GPL-2.0

//! The ring buffer control page and the packet descriptors inside rings.
//!
//! A channel ring is a control page ([`RingControl`]) followed by the data
//! area. Packets in the data area start with a [`VmPacketDescriptor`], are a
//! multiple of 8 bytes long, and are followed by an 8-byte trailer that
//! holds the packet's start offset in its upper 32 bits.

use super::Wire;

/// Size of the ring control page.
pub const RING_CONTROL_SIZE: usize = 4096;

/// Offsets of the fields of [`RingControl`] that the two sides share.
pub mod control {
    /// `u32`: where the producer writes next, in bytes from the data start.
    pub const WRITE_INDEX: usize = 0;
    /// `u32`: where the consumer reads next.
    pub const READ_INDEX: usize = 4;
    /// `u32`: non-zero while the consumer does not want interrupts.
    pub const INTERRUPT_MASK: usize = 8;
    /// `u32`: free bytes the producer waits for, zero if not waiting.
    pub const PENDING_SEND_SIZE: usize = 12;
    /// `u32`: feature bits, [`super::RING_FEATURE_PENDING_SEND_SIZE`].
    pub const FEATURE_BITS: usize = 64;
}

/// Feature bit: the side that owns this bit uses `pending_send_size`.
pub const RING_FEATURE_PENDING_SEND_SIZE: u32 = 1;

wire_struct! {
    /// `struct hv_ring_buffer` without the flexible data array, for 4 KiB
    /// pages.
    pub struct RingControl, size RING_CONTROL_SIZE;
    {
        /// Producer's offset.
        pub write_index: u32,
        /// Consumer's offset.
        pub read_index: u32,
        /// Consumer's interrupt mask.
        pub interrupt_mask: u32,
        /// Producer's pending send size.
        pub pending_send_sz: u32,
        /// Reserved.
        pub reserved1: [u32; 12],
        /// Feature bits.
        pub feature_bits: u32,
        /// Pads the control page to 4 KiB.
        pub reserved2: [u8; RING_CONTROL_SIZE - 68],
    }
}

open_enum! {
    /// `enum vmbus_packet_type`.
    pub struct PacketType(u16);
    {
        /// Invalid.
        INVALID = 0,
        /// Synchronisation.
        SYNCH = 1,
        /// Add a transfer page set.
        ADD_XFER_PAGESET = 2,
        /// Remove a transfer page set.
        RM_XFER_PAGESET = 3,
        /// Establish a GPADL (in-band).
        ESTABLISH_GPADL = 4,
        /// Tear down a GPADL (in-band).
        TEARDOWN_GPADL = 5,
        /// In-band data.
        DATA_INBAND = 6,
        /// Data in transfer pages.
        DATA_USING_XFER_PAGES = 7,
        /// Data in a GPADL.
        DATA_USING_GPADL = 8,
        /// Data in guest physical ranges.
        DATA_USING_GPA_DIRECT = 9,
        /// Cancel a request.
        CANCEL_REQUEST = 10,
        /// A completion.
        COMP = 11,
        /// Data with an additional packet.
        DATA_USING_ADDITIONAL_PKT = 12,
        /// Additional data.
        ADDITIONAL_DATA = 13,
    }
}

/// Packet flag: the sender wants a completion packet.
pub const PACKET_FLAG_COMPLETION_REQUESTED: u16 = 1;

wire_struct! {
    /// `struct vmpacket_descriptor`: the start of every packet.
    pub struct VmPacketDescriptor, size 16;
    {
        /// The packet type.
        pub ptype: PacketType,
        /// Offset of the payload from the packet start, in 8-byte units.
        pub offset8: u16,
        /// Length of the packet (without trailer), in 8-byte units.
        pub len8: u16,
        /// `PACKET_FLAG_*`.
        pub flags: u16,
        /// Transaction id, echoed in the completion.
        pub trans_id: u64,
    }
}

wire_struct! {
    /// `struct vmtransfer_page_range`.
    pub struct TransferPageRange, size 8;
    {
        /// Length in bytes.
        pub byte_count: u32,
        /// Offset in the transfer page set.
        pub byte_offset: u32,
    }
}

wire_struct! {
    /// `struct vmtransfer_page_packet_header` without its ranges;
    /// `range_cnt` [`TransferPageRange`]s follow.
    pub struct TransferPageHeader, size 24;
    {
        /// The descriptor.
        pub d: VmPacketDescriptor,
        /// The transfer page set.
        pub xfer_pageset_id: u16,
        /// Whether the sender owns the set.
        pub sender_owns_set: u8,
        /// Reserved.
        pub reserved: u8,
        /// Number of ranges.
        pub range_cnt: u32,
    }
}

wire_struct! {
    /// `struct vmdata_gpa_direct` without its ranges; `range_cnt` GPA ranges
    /// (each a [`super::channel_msg::GpaRange`] and its PFNs) follow.
    pub struct GpaDirectHeader, size 24;
    {
        /// The descriptor.
        pub d: VmPacketDescriptor,
        /// Reserved.
        pub reserved: u32,
        /// Number of ranges.
        pub range_cnt: u32,
    }
}

wire_struct! {
    /// `struct hv_page_buffer`: a GPA range of one page, as used by
    /// page-buffer packets.
    pub struct PageBuffer, size 16;
    {
        /// Length in bytes.
        pub len: u32,
        /// Offset in the page.
        pub offset: u32,
        /// The page.
        pub pfn: u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_bytes() {
        let d = VmPacketDescriptor {
            ptype: PacketType::DATA_INBAND,
            offset8: 2,
            len8: 4,
            flags: PACKET_FLAG_COMPLETION_REQUESTED,
            trans_id: 0x0102030405060708,
        };
        let mut b = [0u8; 16];
        d.write_to(&mut b).unwrap();
        assert_eq!(b, [6, 0, 2, 0, 4, 0, 1, 0, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(VmPacketDescriptor::read_from(&b), Some(d));
    }

    #[test]
    fn control_offsets() {
        let mut c = RingControl::zeroed();
        c.write_index = 1;
        c.read_index = 2;
        c.interrupt_mask = 3;
        c.pending_send_sz = 4;
        c.feature_bits = 5;
        let mut b = [0u8; RING_CONTROL_SIZE];
        c.write_to(&mut b).unwrap();
        assert_eq!(b[control::WRITE_INDEX], 1);
        assert_eq!(b[control::READ_INDEX], 2);
        assert_eq!(b[control::INTERRUPT_MASK], 3);
        assert_eq!(b[control::PENDING_SEND_SIZE], 4);
        assert_eq!(b[control::FEATURE_BITS], 5);
    }
}
