// SPDX-License-Identifier: GPL-2.0

//! NVSP, the network virtual service protocol that Linux's `hv_netvsc`
//! speaks with the host's network switch over a VMBus channel
//! (`drivers/net/hyperv/hyperv_net.h`, a driver-private header).
//!
//! Every NVSP message is a [`NvspHeader`] followed by one message body; the
//! C side declares the whole as `struct nvsp_message`, a packed union whose
//! size is [`NVSP_MESSAGE_SIZE`], and Linux always sends that many bytes.
//! All the C structures are `__packed`, so none of the structures below has
//! padding; their sizes were checked by hand against the C declarations
//! (see `layout_sizes` in the tests).

use super::{PackedU32, Wire};

/// `sizeof(struct nvsp_message)`: the header and the largest body (the
/// NVSP 6 PD API completion, 36 bytes).
pub const NVSP_MESSAGE_SIZE: usize = 40;

/// `NVSP_PROTOCOL_VERSION_1`.
pub const NVSP_VERSION_1: u32 = 2;
/// `NVSP_PROTOCOL_VERSION_2`.
pub const NVSP_VERSION_2: u32 = 0x30002;
/// `NVSP_PROTOCOL_VERSION_4`.
pub const NVSP_VERSION_4: u32 = 0x40000;
/// `NVSP_PROTOCOL_VERSION_5`.
pub const NVSP_VERSION_5: u32 = 0x50000;
/// `NVSP_PROTOCOL_VERSION_6`.
pub const NVSP_VERSION_6: u32 = 0x60000;
/// `NVSP_PROTOCOL_VERSION_61`.
pub const NVSP_VERSION_61: u32 = 0x60001;

/// The transfer page set id of the receive buffer
/// (`NETVSC_RECEIVE_BUFFER_ID`).
pub const RECEIVE_BUFFER_ID: u16 = 0xcafe;
/// The id of the send buffer (`NETVSC_SEND_BUFFER_ID`).
pub const SEND_BUFFER_ID: u16 = 0;
/// The send-buffer section index that means "no section: the data is in
/// GPA ranges" (`NETVSC_INVALID_INDEX`).
pub const INVALID_SECTION_INDEX: u32 = 0xffff_ffff;

/// `channel_type` of an RNDIS packet: a data frame (`RMC_DATA`).
pub const RNDIS_CHANNEL_DATA: u32 = 0;
/// `channel_type` of an RNDIS packet: a control message (`RMC_CONTROL`).
pub const RNDIS_CHANNEL_CONTROL: u32 = 1;

/// `NVSP_SUBCHANNEL_ALLOCATE`.
pub const SUBCHANNEL_ALLOCATE: u32 = 1;

open_enum! {
    /// `enum nvsp_msg_type` (the values Linux sends or expects).
    pub struct NvspMsgType(u32);
    {
        /// No message.
        NONE = 0,
        /// Version negotiation request.
        INIT = 1,
        /// Version negotiation answer.
        INIT_COMPLETE = 2,
        /// The guest's NDIS version.
        SEND_NDIS_VERSION = 100,
        /// The receive buffer's GPADL.
        SEND_RECV_BUF = 101,
        /// Answer to [`Self::SEND_RECV_BUF`].
        SEND_RECV_BUF_COMPLETE = 102,
        /// The guest takes the receive buffer back.
        REVOKE_RECV_BUF = 103,
        /// The send buffer's GPADL.
        SEND_SEND_BUF = 104,
        /// Answer to [`Self::SEND_SEND_BUF`].
        SEND_SEND_BUF_COMPLETE = 105,
        /// The guest takes the send buffer back.
        REVOKE_SEND_BUF = 106,
        /// An RNDIS message (in a send-buffer section, GPA ranges or
        /// receive-buffer ranges).
        SEND_RNDIS_PKT = 107,
        /// Completion of [`Self::SEND_RNDIS_PKT`].
        SEND_RNDIS_PKT_COMPLETE = 108,
        /// The guest's MTU and capabilities (NVSP 2 and later).
        SEND_NDIS_CONFIG = 125,
        /// VF association (NVSP 4).
        SEND_VF_ASSOCIATION = 128,
        /// Switch between the synthetic and the VF data path (NVSP 4).
        SWITCH_DATA_PATH = 129,
        /// Sub-channel request and its answer (NVSP 5).
        SUBCHANNEL = 133,
        /// The host's receive indirection table (NVSP 5).
        SEND_INDIRECTION_TABLE = 134,
    }
}

open_enum! {
    /// `enum nvsp_stat`.
    pub struct NvspStatus(u32);
    {
        /// No status.
        NONE = 0,
        /// Success.
        SUCCESS = 1,
        /// Failure.
        FAIL = 2,
        /// The version is newer than the host speaks.
        PROTOCOL_TOO_NEW = 3,
        /// The version is older than the host speaks.
        PROTOCOL_TOO_OLD = 4,
        /// A malformed RNDIS packet.
        INVALID_RNDIS_PKT = 5,
        /// Busy.
        BUSY = 6,
        /// The protocol is not supported.
        PROTOCOL_UNSUPPORTED = 7,
    }
}

wire_struct! {
    /// `struct nvsp_message_header`.
    pub struct NvspHeader, size 4;
    {
        /// The message type.
        pub msg_type: NvspMsgType,
    }
}

wire_struct! {
    /// `struct nvsp_message_init`.
    pub struct NvspInit, size 8;
    {
        /// Oldest version the guest accepts.
        pub min_protocol_ver: u32,
        /// Newest version the guest accepts.
        pub max_protocol_ver: u32,
    }
}

wire_struct! {
    /// `struct nvsp_message_init_complete`.
    pub struct NvspInitComplete, size 12;
    {
        /// The version chosen.
        pub negotiated_protocol_ver: u32,
        /// Longest MDL chain the host takes.
        pub max_mdl_chain_len: u32,
        /// An [`NvspStatus`] value.
        pub status: NvspStatus,
    }
}

wire_struct! {
    /// `struct nvsp_1_message_send_ndis_version`.
    pub struct NvspNdisVersion, size 8;
    {
        /// NDIS major version.
        pub ndis_major_ver: u32,
        /// NDIS minor version.
        pub ndis_minor_ver: u32,
    }
}

wire_struct! {
    /// `struct nvsp_1_message_send_receive_buffer` and
    /// `struct nvsp_1_message_send_send_buffer` (the same layout).
    pub struct NvspBufferGpadl, size 6;
    {
        /// The GPADL that describes the buffer (packed: the structure is
        /// 6 bytes long).
        pub gpadl_handle: PackedU32,
        /// The buffer id ([`RECEIVE_BUFFER_ID`], [`SEND_BUFFER_ID`]).
        pub id: u16,
    }
}

wire_struct! {
    /// `struct nvsp_1_receive_buffer_section`.
    pub struct NvspRecvSection, size 16;
    {
        /// Start of the section in the buffer.
        pub offset: u32,
        /// Size of one sub-allocation.
        pub sub_alloc_size: u32,
        /// Number of sub-allocations.
        pub num_sub_allocs: u32,
        /// End of the section.
        pub end_offset: u32,
    }
}

wire_struct! {
    /// `struct nvsp_1_message_send_receive_buffer_complete` with the one
    /// section Linux requires.
    pub struct NvspRecvBufComplete, size 24;
    {
        /// An [`NvspStatus`] value.
        pub status: NvspStatus,
        /// Number of sections (1).
        pub num_sections: u32,
        /// The section.
        pub section: NvspRecvSection,
    }
}

wire_struct! {
    /// `struct nvsp_1_message_revoke_receive_buffer` and
    /// `struct nvsp_1_message_revoke_send_buffer`.
    pub struct NvspRevokeBuffer, size 2;
    {
        /// The buffer id.
        pub id: u16,
    }
}

wire_struct! {
    /// `struct nvsp_1_message_send_send_buffer_complete`.
    pub struct NvspSendBufComplete, size 8;
    {
        /// An [`NvspStatus`] value.
        pub status: NvspStatus,
        /// The size of one send section.
        pub section_size: u32,
    }
}

wire_struct! {
    /// `struct nvsp_1_message_send_rndis_packet`.
    pub struct NvspRndisPacket, size 12;
    {
        /// [`RNDIS_CHANNEL_DATA`] or [`RNDIS_CHANNEL_CONTROL`].
        pub channel_type: u32,
        /// The send-buffer section, or [`INVALID_SECTION_INDEX`].
        pub send_buf_section_index: u32,
        /// The bytes used in that section.
        pub send_buf_section_size: u32,
    }
}

wire_struct! {
    /// `struct nvsp_1_message_send_rndis_packet_complete`.
    pub struct NvspRndisPacketComplete, size 4;
    {
        /// An [`NvspStatus`] value.
        pub status: NvspStatus,
    }
}

wire_struct! {
    /// `struct nvsp_2_send_ndis_config`.
    pub struct NvspNdisConfig, size 16;
    {
        /// The guest's MTU, Ethernet header included.
        pub mtu: u32,
        /// Reserved.
        pub reserved: u32,
        /// `struct nvsp_2_vsc_capability` bits (`NDIS_CONFIG_CAP_*`).
        pub capability: u64,
    }
}

/// Capability bit: IEEE 802.1Q tagging.
pub const NDIS_CONFIG_CAP_IEEE8021Q: u64 = 1 << 3;
/// Capability bit: SR-IOV.
pub const NDIS_CONFIG_CAP_SRIOV: u64 = 1 << 2;
/// Capability bit: teaming (link speed updates).
pub const NDIS_CONFIG_CAP_TEAMING: u64 = 1 << 5;
/// Capability bit: receive segment coalescing.
pub const NDIS_CONFIG_CAP_RSC: u64 = 1 << 7;

wire_struct! {
    /// `struct nvsp_4_sw_datapath`.
    pub struct NvspSwitchDataPath, size 4;
    {
        /// 0: synthetic, 1: VF.
        pub active_datapath: u32,
    }
}

wire_struct! {
    /// `struct nvsp_5_subchannel_request`.
    pub struct NvspSubchannelRequest, size 8;
    {
        /// [`SUBCHANNEL_ALLOCATE`].
        pub op: u32,
        /// Sub-channels wanted.
        pub num_subchannels: u32,
    }
}

wire_struct! {
    /// `struct nvsp_5_subchannel_complete`.
    pub struct NvspSubchannelComplete, size 8;
    {
        /// An [`NvspStatus`] value.
        pub status: NvspStatus,
        /// Sub-channels offered.
        pub num_subchannels: u32,
    }
}

wire_struct! {
    /// `struct nvsp_5_send_indirect_table`: `count` u32 channel numbers
    /// follow at `offset` bytes from the start of the NVSP message.
    pub struct NvspIndirectionTable, size 8;
    {
        /// Entries.
        pub count: u32,
        /// Where they start, from the NVSP header.
        pub offset: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sizes of the C structures, counted from
    /// `drivers/net/hyperv/hyperv_net.h` (every one is `__packed`).
    #[test]
    fn layout_sizes() {
        assert_eq!(NvspHeader::SIZE, 4);
        assert_eq!(NvspInit::SIZE, 8);
        assert_eq!(NvspInitComplete::SIZE, 12);
        assert_eq!(NvspBufferGpadl::SIZE, 6);
        assert_eq!(NvspRecvBufComplete::SIZE, 8 + NvspRecvSection::SIZE);
        assert_eq!(NvspNdisConfig::FIELDS[2].1, 8);
        // The largest body, nvsp_6_pd_api_comp: op, status and the 28-byte
        // queue-create answer.
        assert_eq!(NVSP_MESSAGE_SIZE, NvspHeader::SIZE + 4 + 4 + 28);
    }
}
