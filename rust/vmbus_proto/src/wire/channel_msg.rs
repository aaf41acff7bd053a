// SPDX-License-Identifier: GPL-2.0

//! VMBus channel messages: the payloads of SynIC messages of type
//! [`super::synic::HvMessageType::CHANNEL`].
//!
//! Every message starts with a [`ChannelMessageHeader`] that names its
//! [`MessageType`]. The structures here are the fixed parts as Linux defines
//! them; variable parts (GPADL ranges and PFNs) follow the fixed part as
//! `u64` words and are handled by `super::super::message`.

use super::{Guid, Wire};

/// Bytes of user-defined data in an offer or an open request.
pub const MAX_USER_DEFINED_BYTES: usize = 120;
/// Bytes of user-defined data left to a pipe offer after the pipe mode.
pub const MAX_PIPE_USER_DEFINED_BYTES: usize = 116;

open_enum! {
    /// `enum vmbus_channel_message_type`.
    pub struct MessageType(u32);
    {
        /// Never sent.
        INVALID = 0,
        /// Host → guest: a channel offer.
        OFFER_CHANNEL = 1,
        /// Host → guest: an offer is withdrawn.
        RESCIND_CHANNEL_OFFER = 2,
        /// Guest → host: send me all offers.
        REQUEST_OFFERS = 3,
        /// Host → guest: the initial offers have all been sent.
        ALL_OFFERS_DELIVERED = 4,
        /// Guest → host: open a channel.
        OPEN_CHANNEL = 5,
        /// Host → guest: result of an open.
        OPEN_CHANNEL_RESULT = 6,
        /// Guest → host: close a channel.
        CLOSE_CHANNEL = 7,
        /// Guest → host: first message of a GPADL.
        GPADL_HEADER = 8,
        /// Guest → host: a continuation of a GPADL.
        GPADL_BODY = 9,
        /// Host → guest: a GPADL was created.
        GPADL_CREATED = 10,
        /// Guest → host: tear down a GPADL.
        GPADL_TEARDOWN = 11,
        /// Host → guest: a GPADL was torn down.
        GPADL_TORNDOWN = 12,
        /// Guest → host: the guest is done with a rescinded relid.
        RELID_RELEASED = 13,
        /// Guest → host: connect with a protocol version.
        INITIATE_CONTACT = 14,
        /// Host → guest: answer to `INITIATE_CONTACT`.
        VERSION_RESPONSE = 15,
        /// Guest → host: disconnect.
        UNLOAD = 16,
        /// Host → guest: the disconnect is complete.
        UNLOAD_RESPONSE = 17,
        /// Guest → host: hv_sock connect request (4.0).
        TL_CONNECT_REQUEST = 21,
        /// Guest → host: retarget a channel's interrupt (4.1).
        MODIFY_CHANNEL = 22,
        /// Host → guest: result of an hv_sock connect request (4.1).
        TL_CONNECT_RESULT = 23,
        /// Host → guest: result of `MODIFY_CHANNEL` (5.3).
        MODIFY_CHANNEL_RESPONSE = 24,
    }
}

/// Offer flag: the device enumerates a device interface.
pub const OFFER_FLAG_ENUMERATE_DEVICE_INTERFACE: u16 = 0x0001;
/// Offer flag: the ring buffer must be in encrypted (confidential) memory.
pub const OFFER_FLAG_CONFIDENTIAL_RING_BUFFER: u16 = 0x0002;
/// Offer flag: GPA direct packets and extra GPADLs must be confidential.
pub const OFFER_FLAG_CONFIDENTIAL_EXTERNAL_MEMORY: u16 = 0x0004;
/// Offer flag: the user-defined area holds a pipe mode (hv_sock).
pub const OFFER_FLAG_NAMED_PIPE_MODE: u16 = 0x0010;
/// Offer flag: a loopback offer.
pub const OFFER_FLAG_LOOPBACK: u16 = 0x0100;
/// Offer flag: a parent offer.
pub const OFFER_FLAG_PARENT: u16 = 0x0200;
/// Offer flag: the host asks for monitored notification.
pub const OFFER_FLAG_REQUEST_MONITORED_NOTIFICATION: u16 = 0x0400;
/// Offer flag: an hv_sock provider offer.
pub const OFFER_FLAG_TLNPI_PROVIDER: u16 = 0x2000;

/// Pipe mode: byte stream.
pub const PIPE_TYPE_BYTE: u32 = 0;
/// Pipe mode: messages.
pub const PIPE_TYPE_MESSAGE: u32 = 4;

/// GPADL type in `open`'s user data: ring buffer.
pub const GPADL_TYPE_RING_BUFFER: u32 = 1;

/// Feature flag in `INITIATE_CONTACT` (6.0): confidential channels.
pub const FEATURE_FLAG_CONFIDENTIAL_CHANNELS: u32 = 0x10;

wire_struct! {
    /// `struct vmbus_channel_message_header`.
    pub struct ChannelMessageHeader, size 8;
    {
        /// The message type.
        pub msgtype: MessageType,
        /// Padding, zero.
        pub padding: u32,
    }
}

impl ChannelMessageHeader {
    /// A header for `msgtype`.
    pub const fn new(msgtype: MessageType) -> Self {
        Self {
            msgtype,
            padding: 0,
        }
    }
}

wire_struct! {
    /// `struct vmbus_channel_offer`: the device description in an offer.
    ///
    /// The 120-byte `user_def` is C's union of `std.user_def` and
    /// `pipe.{pipe_mode, user_def}`; see [`ChannelOffer::pipe_mode`].
    pub struct ChannelOffer, size 176;
    {
        /// The device class.
        pub if_type: Guid,
        /// The device instance.
        pub if_instance: Guid,
        /// Reserved (a `u64` in C).
        pub reserved1: [u8; 8],
        /// Reserved (a `u64` in C).
        pub reserved2: [u8; 8],
        /// `OFFER_FLAG_*`.
        pub chn_flags: u16,
        /// MMIO space the device wants, in MiB.
        pub mmio_megabytes: u16,
        /// User-defined data.
        pub user_def: [u8; MAX_USER_DEFINED_BYTES],
        /// Zero for a primary channel, non-zero for a sub-channel.
        pub sub_channel_index: u16,
        /// Reserved.
        pub reserved3: u16,
    }
}

impl ChannelOffer {
    /// The pipe mode (the first `u32` of the user-defined area) if the offer
    /// is a named-pipe offer.
    pub fn pipe_mode(&self) -> Option<u32> {
        if self.chn_flags & OFFER_FLAG_NAMED_PIPE_MODE == 0 {
            return None;
        }
        u32::read_from(&self.user_def)
    }
}

wire_struct! {
    /// `struct vmbus_channel_offer_channel` (`OFFER_CHANNEL`).
    pub struct OfferChannel, size 196;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The device description.
        pub offer: ChannelOffer,
        /// The channel's relid.
        pub child_relid: u32,
        /// The monitor id (valid if `monitor_flags` bit 0 is set).
        pub monitorid: u8,
        /// Bit 0: `monitor_allocated`.
        pub monitor_flags: u8,
        /// Bit 0: `is_dedicated_interrupt`.
        pub interrupt_flags: u16,
        /// The connection id the guest signals the channel on.
        pub connection_id: u32,
    }
}

wire_struct! {
    /// `struct vmbus_channel_rescind_offer` (`RESCIND_CHANNEL_OFFER`).
    pub struct RescindOffer, size 12;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The relid withdrawn.
        pub child_relid: u32,
    }
}

wire_struct! {
    /// `struct vmbus_channel_open_channel` (`OPEN_CHANNEL`).
    pub struct OpenChannel, size 148;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The channel to open.
        pub child_relid: u32,
        /// An id that makes this open request unique.
        pub openid: u32,
        /// The GPADL of both ring buffers.
        pub ringbuffer_gpadlhandle: u32,
        /// The virtual processor to interrupt for host → guest traffic.
        pub target_vp: u32,
        /// Page offset of the host → guest ring inside the GPADL.
        pub downstream_ringbuffer_pageoffset: u32,
        /// Data passed to the host endpoint.
        pub userdata: [u8; MAX_USER_DEFINED_BYTES],
    }
}

wire_struct! {
    /// `struct vmbus_channel_open_result` (`OPEN_CHANNEL_RESULT`).
    pub struct OpenResult, size 20;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The channel.
        pub child_relid: u32,
        /// The `openid` of the request.
        pub openid: u32,
        /// Zero on success.
        pub status: u32,
    }
}

wire_struct! {
    /// `struct vmbus_channel_modifychannel_response`
    /// (`MODIFY_CHANNEL_RESPONSE`).
    pub struct ModifyChannelResponse, size 16;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The channel.
        pub child_relid: u32,
        /// Zero on success.
        pub status: u32,
    }
}

wire_struct! {
    /// `struct vmbus_channel_close_channel` (`CLOSE_CHANNEL`).
    pub struct CloseChannel, size 12;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The channel.
        pub child_relid: u32,
    }
}

wire_struct! {
    /// The fixed part of `struct vmbus_channel_gpadl_header`
    /// (`GPADL_HEADER`); `range_buflen` bytes of [`GpaRange`]s and PFNs
    /// follow, as many as fit in the message.
    pub struct GpadlHeader, size 20;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The channel the GPADL belongs to.
        pub child_relid: u32,
        /// The GPADL handle chosen by the guest.
        pub gpadl: u32,
        /// Bytes of range data (all ranges with their PFNs).
        pub range_buflen: u16,
        /// Number of ranges.
        pub rangecount: u16,
    }
}

wire_struct! {
    /// `struct gpa_range` without its PFN array: a range of guest physical
    /// memory. `pfn_array` follows, one `u64` per page the range touches.
    pub struct GpaRange, size 8;
    {
        /// Length of the range in bytes.
        pub byte_count: u32,
        /// Offset of the range in its first page.
        pub byte_offset: u32,
    }
}

wire_struct! {
    /// The fixed part of `struct vmbus_channel_gpadl_body` (`GPADL_BODY`);
    /// more range data follows as `u64` words.
    pub struct GpadlBody, size 16;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// Message number (Linux leaves it zero).
        pub msgnumber: u32,
        /// The GPADL handle.
        pub gpadl: u32,
    }
}

wire_struct! {
    /// `struct vmbus_channel_gpadl_created` (`GPADL_CREATED`).
    pub struct GpadlCreated, size 20;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The channel.
        pub child_relid: u32,
        /// The GPADL handle.
        pub gpadl: u32,
        /// Zero on success.
        pub creation_status: u32,
    }
}

wire_struct! {
    /// `struct vmbus_channel_gpadl_teardown` (`GPADL_TEARDOWN`).
    pub struct GpadlTeardown, size 16;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The channel.
        pub child_relid: u32,
        /// The GPADL handle.
        pub gpadl: u32,
    }
}

wire_struct! {
    /// `struct vmbus_channel_gpadl_torndown` (`GPADL_TORNDOWN`).
    pub struct GpadlTorndown, size 12;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The GPADL handle.
        pub gpadl: u32,
    }
}

wire_struct! {
    /// `struct vmbus_channel_relid_released` (`RELID_RELEASED`).
    pub struct RelidReleased, size 12;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The relid released.
        pub child_relid: u32,
    }
}

wire_struct! {
    /// `struct vmbus_channel_initiate_contact` (`INITIATE_CONTACT`).
    ///
    /// `interrupt_page_or_target_info` is C's union: before 5.0 the guest
    /// physical address of the interrupt page, from 5.0 on a [`TargetInfo`].
    pub struct InitiateContact, size 40;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The version asked for, `major << 16 | minor`.
        pub vmbus_version_requested: u32,
        /// The virtual processor the host sends messages to.
        pub target_vcpu: u32,
        /// Interrupt page GPA, or [`TargetInfo`] from 5.0 on.
        pub interrupt_page_or_target_info: u64,
        /// GPA of the host → guest monitor page.
        pub monitor_page1: u64,
        /// GPA of the guest → host monitor page.
        pub monitor_page2: u64,
    }
}

/// The 5.0+ reading of [`InitiateContact::interrupt_page_or_target_info`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TargetInfo {
    /// The SINT the host sends messages on.
    pub msg_sint: u8,
    /// The VTL the host sends messages to.
    pub msg_vtl: u8,
    /// Feature flags (6.0), `FEATURE_FLAG_*`.
    pub feature_flags: u32,
}

impl TargetInfo {
    /// Packs into the union's `u64` (bytes: sint, vtl, two reserved, flags).
    pub const fn to_u64(self) -> u64 {
        self.msg_sint as u64 | (self.msg_vtl as u64) << 8 | (self.feature_flags as u64) << 32
    }

    /// Unpacks from the union's `u64`; the reserved bytes are ignored.
    pub const fn from_u64(v: u64) -> Self {
        Self {
            msg_sint: (v & 0xff) as u8,
            msg_vtl: ((v >> 8) & 0xff) as u8,
            feature_flags: (v >> 32) as u32,
        }
    }
}

wire_struct! {
    /// `struct vmbus_channel_version_response` (`VERSION_RESPONSE`).
    ///
    /// Hosts at 6.0 may append a `u32` of supported features (20 bytes).
    pub struct VersionResponse, size 16;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// Non-zero if the requested version is accepted.
        pub version_supported: u8,
        /// Connection state, zero on success.
        pub connection_state: u8,
        /// Padding.
        pub padding: u16,
        /// From 5.0 on: the connection id for later messages.
        pub msg_conn_id: u32,
    }
}

wire_struct! {
    /// A message that is a bare header: `REQUEST_OFFERS`,
    /// `ALL_OFFERS_DELIVERED`, `UNLOAD` and `UNLOAD_RESPONSE`.
    pub struct EmptyMessage, size 8;
    {
        /// The header.
        pub header: ChannelMessageHeader,
    }
}

wire_struct! {
    /// `struct vmbus_channel_tl_connect_request` (`TL_CONNECT_REQUEST`).
    pub struct TlConnectRequest, size 40;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The guest's endpoint id.
        pub guest_endpoint_id: Guid,
        /// The host service id.
        pub host_service_id: Guid,
    }
}

wire_struct! {
    /// `TL_CONNECT_RESULT` (not in Linux's headers; layout as OpenVMM and
    /// Hyper-V send it).
    pub struct TlConnectResult, size 44;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The guest's endpoint id.
        pub guest_endpoint_id: Guid,
        /// The host service id.
        pub host_service_id: Guid,
        /// An NTSTATUS, zero on success.
        pub status: u32,
    }
}

wire_struct! {
    /// `struct vmbus_channel_modifychannel` (`MODIFY_CHANNEL`).
    pub struct ModifyChannel, size 16;
    {
        /// The header.
        pub header: ChannelMessageHeader,
        /// The channel.
        pub child_relid: u32,
        /// The new target virtual processor.
        pub target_vp: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_info_packing() {
        let t = TargetInfo {
            msg_sint: 2,
            msg_vtl: 0,
            feature_flags: FEATURE_FLAG_CONFIDENTIAL_CHANNELS,
        };
        assert_eq!(t.to_u64(), 0x0000_0010_0000_0002);
        assert_eq!(TargetInfo::from_u64(t.to_u64() | 0xffff_0000), t);
    }

    #[test]
    fn offer_offsets() {
        let mut o = OfferChannel::zeroed();
        o.header = ChannelMessageHeader::new(MessageType::OFFER_CHANNEL);
        o.offer.sub_channel_index = 0x1234;
        o.child_relid = 0xaabbccdd;
        o.monitorid = 7;
        o.monitor_flags = 1;
        o.interrupt_flags = 1;
        o.connection_id = 0x11223344;
        let mut b = [0u8; 196];
        assert_eq!(o.write_to(&mut b), Some(196));
        assert_eq!(b[0], 1);
        assert_eq!(&b[8 + 172..8 + 174], &[0x34, 0x12]);
        assert_eq!(&b[184..188], &[0xdd, 0xcc, 0xbb, 0xaa]);
        assert_eq!(b[188], 7);
        assert_eq!(b[189], 1);
        assert_eq!(&b[192..196], &[0x44, 0x33, 0x22, 0x11]);
        assert_eq!(OfferChannel::read_from(&b), Some(o));
    }

    #[test]
    fn names() {
        assert_eq!(MessageType::UNLOAD.name(), Some("UNLOAD"));
        assert_eq!(MessageType(99).name(), None);
    }
}
