// SPDX-License-Identifier: GPL-2.0

//! RNDIS, the remote NDIS messages carried inside NVSP `SEND_RNDIS_PKT`
//! messages, and the NDIS objects that netvsc's OID requests carry
//! (`include/linux/rndis.h` for the constants, `drivers/net/hyperv/
//! hyperv_net.h` for the structures).
//!
//! Every RNDIS message starts with an [`RndisHeader`] whose `msg_len` is
//! the length of the whole message; the body follows. Offsets inside a body
//! (`info_buf_offset`, `data_offset`, ...) count from the start of the body,
//! not of the header. None of the C structures has padding except
//! `struct ndis_recv_scale_param`, whose padding is spelled out.

use super::{PackedU32, Wire};

open_enum! {
    /// RNDIS message types (`RNDIS_MSG_*`).
    pub struct RndisMsgType(u32);
    {
        /// A data packet.
        PACKET = 0x0000_0001,
        /// Initialise.
        INIT = 0x0000_0002,
        /// Answer to [`Self::INIT`].
        INIT_C = 0x8000_0002,
        /// Halt.
        HALT = 0x0000_0003,
        /// Query an OID.
        QUERY = 0x0000_0004,
        /// Answer to [`Self::QUERY`].
        QUERY_C = 0x8000_0004,
        /// Set an OID.
        SET = 0x0000_0005,
        /// Answer to [`Self::SET`].
        SET_C = 0x8000_0005,
        /// Reset.
        RESET = 0x0000_0006,
        /// Answer to [`Self::RESET`].
        RESET_C = 0x8000_0006,
        /// A status indication from the device.
        INDICATE = 0x0000_0007,
        /// Keep-alive.
        KEEPALIVE = 0x0000_0008,
        /// Answer to [`Self::KEEPALIVE`].
        KEEPALIVE_C = 0x8000_0008,
    }
}

open_enum! {
    /// RNDIS and NDIS status codes (`RNDIS_STATUS_*`).
    pub struct RndisStatus(u32);
    {
        /// Success.
        SUCCESS = 0,
        /// The link came up.
        MEDIA_CONNECT = 0x4001_000b,
        /// The link went down.
        MEDIA_DISCONNECT = 0x4001_000c,
        /// The link speed changed.
        LINK_SPEED_CHANGE = 0x4001_0013,
        /// The network changed (the guest renews its addresses).
        NETWORK_CHANGE = 0x4001_0018,
        /// A buffer was too short.
        BUFFER_OVERFLOW = 0x8000_0005,
        /// Failure.
        FAILURE = 0xc000_0001,
        /// Not supported.
        NOT_SUPPORTED = 0xc000_00bb,
        /// A malformed packet.
        INVALID_PACKET = 0xc001_000f,
        /// A length does not fit.
        INVALID_LENGTH = 0xc001_0014,
        /// Malformed data.
        INVALID_DATA = 0xc001_0015,
        /// An unknown OID.
        INVALID_OID = 0xc001_0017,
    }
}

open_enum! {
    /// The OIDs netvsc queries or sets (`RNDIS_OID_*`, `OID_*`).
    pub struct Oid(u32);
    {
        /// The largest frame, without the Ethernet header (query).
        GEN_MAXIMUM_FRAME_SIZE = 0x0001_0106,
        /// Link speed in units of 100 bit/s (query).
        GEN_LINK_SPEED = 0x0001_0107,
        /// The receive filter, `NDIS_PACKET_TYPE_*` bits (set).
        GEN_CURRENT_PACKET_FILTER = 0x0001_010e,
        /// 0: connected, 1: disconnected (query).
        GEN_MEDIA_CONNECT_STATUS = 0x0001_0114,
        /// The adapter's friendly name, UTF-16 (query).
        GEN_FRIENDLY_NAME = 0x0002_0216,
        /// A configuration parameter, used to change the MAC (set).
        GEN_RNDIS_CONFIG_PARAMETER = 0x0001_021b,
        /// RSS capabilities (query).
        GEN_RECEIVE_SCALE_CAPABILITIES = 0x0001_0203,
        /// RSS parameters (set).
        GEN_RECEIVE_SCALE_PARAMETERS = 0x0001_0204,
        /// The permanent MAC address (query).
        ETH_PERMANENT_ADDRESS = 0x0101_0101,
        /// The current MAC address (query).
        ETH_CURRENT_ADDRESS = 0x0101_0102,
        /// The multicast list (set).
        ETH_MULTICAST_LIST = 0x0101_0103,
        /// Offload capabilities (query).
        TCP_OFFLOAD_HARDWARE_CAPABILITIES = 0xfc01_020d,
        /// Offload parameters (set).
        TCP_OFFLOAD_PARAMETERS = 0xfc01_020c,
        /// Encapsulation offload (set or query).
        OFFLOAD_ENCAPSULATION = 0x0101_010a,
    }
}

open_enum! {
    /// Per-packet information types (`enum ndis_per_pkt_info_type`).
    pub struct PpiType(u32);
    {
        /// Checksum information.
        TCPIP_CHKSUM = 0,
        /// IPsec.
        IPSEC = 1,
        /// Large send offload.
        TCP_LARGESEND = 2,
        /// Classification handle.
        CLASSIFICATION_HANDLE = 3,
        /// Scatter/gather list.
        SG_LIST = 5,
        /// IEEE 802.1Q tag.
        IEEE_8021Q = 6,
        /// Original packet information.
        ORIGINAL = 7,
        /// The RSS hash value.
        NBL_HASH_VALUE = 8,
        /// Short packet padding.
        SHORT_PKT_PADINFO = 11,
    }
}

/// `RNDIS_MAJOR_VERSION`.
pub const RNDIS_MAJOR_VERSION: u32 = 1;
/// `RNDIS_MINOR_VERSION`.
pub const RNDIS_MINOR_VERSION: u32 = 0;
/// `RNDIS_DF_CONNECTIONLESS`.
pub const RNDIS_DF_CONNECTIONLESS: u32 = 1;
/// `RNDIS_MEDIUM_802_3`.
pub const RNDIS_MEDIUM_802_3: u32 = 0;
/// The `internal` bit of [`RndisPerPacketInfo::ppi_type`].
pub const PPI_INTERNAL: u32 = 1 << 31;

/// `NDIS_OBJECT_TYPE_OFFLOAD`.
pub const NDIS_OBJECT_TYPE_OFFLOAD: u8 = 0xa7;
/// `NDIS_OBJECT_TYPE_RSS_CAPABILITIES`.
pub const NDIS_OBJECT_TYPE_RSS_CAPABILITIES: u8 = 0x88;
/// `NDIS_OBJECT_TYPE_RSS_PARAMETERS`.
pub const NDIS_OBJECT_TYPE_RSS_PARAMETERS: u8 = 0x89;
/// `NDIS_OFFLOAD_PARAMETERS_REVISION_1`.
pub const NDIS_OFFLOAD_REVISION_1: u8 = 1;
/// `NDIS_RECEIVE_SCALE_CAPABILITIES_REVISION_2`.
pub const NDIS_RSS_CAPS_REVISION_2: u8 = 2;
/// `NDIS_OFFLOAD_SIZE_6_0`: `struct ndis_offload` up to `ipsecv2`.
pub const NDIS_OFFLOAD_SIZE_6_0: usize = 112;

wire_struct! {
    /// The first two words of `struct rndis_message`.
    pub struct RndisHeader, size 8;
    {
        /// An [`RndisMsgType`].
        pub msg_type: RndisMsgType,
        /// The whole message's length, this header included.
        pub msg_len: u32,
    }
}

wire_struct! {
    /// `struct rndis_initialize_request`.
    pub struct RndisInitRequest, size 16;
    {
        /// Request id, echoed.
        pub req_id: u32,
        /// RNDIS major version.
        pub major_ver: u32,
        /// RNDIS minor version.
        pub minor_ver: u32,
        /// Largest message the guest takes.
        pub max_xfer_size: u32,
    }
}

wire_struct! {
    /// `struct rndis_initialize_complete`.
    pub struct RndisInitComplete, size 44;
    {
        /// Request id.
        pub req_id: u32,
        /// An [`RndisStatus`].
        pub status: RndisStatus,
        /// RNDIS major version.
        pub major_ver: u32,
        /// RNDIS minor version.
        pub minor_ver: u32,
        /// [`RNDIS_DF_CONNECTIONLESS`].
        pub dev_flags: u32,
        /// [`RNDIS_MEDIUM_802_3`].
        pub medium: u32,
        /// Packets per message the host takes.
        pub max_pkt_per_msg: u32,
        /// Largest message the host takes.
        pub max_xfer_size: u32,
        /// log2 of the packet alignment.
        pub pkt_alignment_factor: u32,
        /// Call managers only.
        pub af_list_offset: u32,
        /// Call managers only.
        pub af_list_size: u32,
    }
}

wire_struct! {
    /// `struct rndis_halt_request`, `struct rndis_keepalive_request`.
    pub struct RndisRequestId, size 4;
    {
        /// Request id.
        pub req_id: u32,
    }
}

wire_struct! {
    /// `struct rndis_query_request` and `struct rndis_set_request` (the
    /// same layout; the information buffer follows).
    pub struct RndisOidRequest, size 20;
    {
        /// Request id.
        pub req_id: u32,
        /// An [`Oid`].
        pub oid: Oid,
        /// Length of the information buffer.
        pub info_buflen: u32,
        /// Its offset, from the start of this structure.
        pub info_buf_offset: u32,
        /// Zero.
        pub dev_vc_handle: u32,
    }
}

wire_struct! {
    /// `struct rndis_query_complete`.
    pub struct RndisQueryComplete, size 16;
    {
        /// Request id.
        pub req_id: u32,
        /// An [`RndisStatus`].
        pub status: RndisStatus,
        /// Length of the answer.
        pub info_buflen: u32,
        /// Its offset, from the start of this structure.
        pub info_buf_offset: u32,
    }
}

wire_struct! {
    /// `struct rndis_set_complete`, `struct rndis_keepalive_complete`.
    pub struct RndisStatusComplete, size 8;
    {
        /// Request id.
        pub req_id: u32,
        /// An [`RndisStatus`].
        pub status: RndisStatus,
    }
}

wire_struct! {
    /// `struct rndis_reset_complete`.
    pub struct RndisResetComplete, size 8;
    {
        /// An [`RndisStatus`].
        pub status: RndisStatus,
        /// Whether addressing was reset.
        pub addressing_reset: u32,
    }
}

wire_struct! {
    /// `struct rndis_indicate_status`.
    pub struct RndisIndicateStatus, size 12;
    {
        /// The [`RndisStatus`] indicated.
        pub status: RndisStatus,
        /// Length of the status buffer.
        pub status_buflen: u32,
        /// Its offset, from the start of this structure.
        pub status_buf_offset: u32,
    }
}

wire_struct! {
    /// `struct rndis_packet`.
    pub struct RndisPacket, size 36;
    {
        /// Offset of the frame, from the start of this structure.
        pub data_offset: u32,
        /// Length of the frame.
        pub data_len: u32,
        /// Out-of-band data (unused by netvsc).
        pub oob_data_offset: u32,
        /// Out-of-band data length.
        pub oob_data_len: u32,
        /// Out-of-band elements.
        pub num_oob_data_elements: u32,
        /// Offset of the per-packet information.
        pub per_pkt_info_offset: u32,
        /// Its length.
        pub per_pkt_info_len: u32,
        /// Zero for connectionless data.
        pub vc_handle: u32,
        /// Reserved.
        pub reserved: u32,
    }
}

wire_struct! {
    /// `struct rndis_per_packet_info`; the value follows at `ppi_offset`
    /// from the start of this structure.
    pub struct RndisPerPacketInfo, size 12;
    {
        /// This element's size, value included.
        pub size: u32,
        /// A [`PpiType`] in bits 0..31 and [`PPI_INTERNAL`].
        pub ppi_type: u32,
        /// Offset of the value.
        pub ppi_offset: u32,
    }
}

wire_struct! {
    /// `struct ndis_obj_header` (packed).
    pub struct NdisObjectHeader, size 4;
    {
        /// `NDIS_OBJECT_TYPE_*`.
        pub obj_type: u8,
        /// Revision.
        pub revision: u8,
        /// Size of the object, this header included.
        pub size: u16,
    }
}

wire_struct! {
    /// `struct ndis_recv_scale_cap` (packed).
    pub struct NdisRssCaps, size 18;
    {
        /// The header.
        pub hdr: NdisObjectHeader,
        /// `NDIS_RSS_CAPS_*`.
        pub cap_flag: PackedU32,
        /// Interrupt messages.
        pub num_int_msg: PackedU32,
        /// Receive queues (channels) the host can use.
        pub num_recv_que: PackedU32,
        /// Indirection table entries.
        pub num_indirect_tabent: u16,
    }
}

wire_struct! {
    /// `struct ndis_recv_scale_param` (not packed: two holes).
    pub struct NdisRssParams, size 40;
    {
        /// The header.
        pub hdr: NdisObjectHeader,
        /// `NDIS_RSS_PARAM_FLAG_*`.
        pub flag: u16,
        /// Base CPU.
        pub base_cpu_number: u16,
        /// Hash function and types.
        pub hashinfo: u32,
        /// Indirection table size in bytes.
        pub indirect_tabsize: u16,
        /// C padding.
        pub pad0: u16,
        /// Indirection table offset from the header.
        pub indirect_taboffset: u32,
        /// Hash key size.
        pub hashkey_size: u16,
        /// C padding.
        pub pad1: u16,
        /// Hash key offset from the header.
        pub hashkey_offset: u32,
        /// Processor masks offset.
        pub processor_masks_offset: u32,
        /// Processor masks.
        pub num_processor_masks: u32,
        /// Processor mask entry size.
        pub processor_masks_entry_size: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_sizes_and_offsets() {
        // RNDIS_MESSAGE_SIZE(struct rndis_packet) is 44, the PPI element 12.
        assert_eq!(RndisHeader::SIZE + RndisPacket::SIZE, 44);
        assert_eq!(RndisInitComplete::SIZE, 11 * 4);
        assert_eq!(NdisRssParams::FIELDS[4].1, 12);
        assert_eq!(NdisRssParams::FIELDS[5].1, 14);
        assert_eq!(NdisRssParams::FIELDS[6].1, 16);
        assert_eq!(NdisRssParams::FIELDS[8].1, 22);
        assert_eq!(NdisRssParams::FIELDS[9].1, 24);
        assert_eq!(
            Oid::ETH_PERMANENT_ADDRESS.name(),
            Some("ETH_PERMANENT_ADDRESS")
        );
        assert_eq!(Oid(0x1234).name(), None);
    }
}
