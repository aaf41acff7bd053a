// SPDX-License-Identifier: GPL-2.0

//! The storage VSP protocol (the host side of Linux's
//! `drivers/scsi/storvsc_drv.c`): the `vstor_packet` every storage packet
//! carries in-band, the `vmscsi_request` (SRB) of `EXECUTE_SRB`, and the
//! bodies of the initialisation operations.
//!
//! These structures are private to `storvsc_drv.c`, so bindgen cannot see
//! them through a header; their sizes are asserted here against the numbers
//! storvsc's code implies: a `vstor_packet` is 12 header bytes and a
//! 0x34-byte union (64 in all), the SRB is 52 bytes with its win8
//! extension, and guests older than protocol 5.1 (win8) leave that
//! 16-byte extension off the end of the packet.

use super::Wire;

open_enum! {
    /// `enum vstor_packet_operation`.
    pub struct VstorOperation(u32);
    {
        /// The completion of a request (host to guest).
        COMPLETE_IO = 1,
        /// A device was removed (host to guest; the guest rescans).
        REMOVE_DEVICE = 2,
        /// A SCSI request block.
        EXECUTE_SRB = 3,
        /// Reset a LUN.
        RESET_LUN = 4,
        /// Reset the adapter.
        RESET_ADAPTER = 5,
        /// Reset the bus.
        RESET_BUS = 6,
        /// The start of the initialisation exchange.
        BEGIN_INITIALIZATION = 7,
        /// The end of the initialisation exchange.
        END_INITIALIZATION = 8,
        /// A protocol version the guest proposes.
        QUERY_PROTOCOL_VERSION = 9,
        /// The channel properties.
        QUERY_PROPERTIES = 10,
        /// The bus changed (host to guest; the guest rescans).
        ENUMERATE_BUS = 11,
        /// Fibre channel HBA data.
        FCHBA_DATA = 12,
        /// A request for sub-channels.
        CREATE_SUB_CHANNELS = 13,
    }
}

open_enum! {
    /// The SRB status (`SRB_STATUS_*`), without its flag bits.
    pub struct SrbStatus(u8);
    {
        /// The request is pending (never sent by this host).
        PENDING = 0x00,
        /// Success.
        SUCCESS = 0x01,
        /// Aborted.
        ABORTED = 0x02,
        /// An error; the SCSI status and sense data say which.
        ERROR = 0x04,
        /// The request itself was invalid.
        INVALID_REQUEST = 0x06,
        /// No device at this path and target.
        SELECTION_TIMEOUT = 0x0a,
        /// The data did not fit the buffer.
        DATA_OVERRUN = 0x12,
        /// No such LUN.
        INVALID_LUN = 0x20,
        /// The host failed internally.
        INTERNAL_ERROR = 0x30,
    }
}

/// SRB status flag: the sense data in the SRB is valid.
pub const SRB_STATUS_AUTOSENSE_VALID: u8 = 0x80;
/// SRB status flag: the queue is frozen.
pub const SRB_STATUS_QUEUE_FROZEN: u8 = 0x40;

/// `vstor_packet.flags`: the guest wants a completion.
pub const REQUEST_COMPLETION_FLAG: u32 = 0x1;
/// Channel properties flag: sub-channels may be requested.
pub const STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL: u32 = 0x1;

/// SRB flag: data flows from the device to the guest.
pub const SRB_FLAGS_DATA_IN: u32 = 0x40;
/// SRB flag: data flows from the guest to the device.
pub const SRB_FLAGS_DATA_OUT: u32 = 0x80;

/// `vmscsi_request.data_in`: the guest writes.
pub const DATA_IN_WRITE: u8 = 0;
/// `vmscsi_request.data_in`: the guest reads.
pub const DATA_IN_READ: u8 = 1;
/// `vmscsi_request.data_in`: no data, or a direction the guest did not know.
pub const DATA_IN_UNKNOWN: u8 = 2;

/// Most CDB bytes an SRB carries (`STORVSC_MAX_CMD_LEN`).
pub const MAX_CDB_LEN: usize = 0x10;
/// Most sense bytes an SRB carries (`STORVSC_SENSE_BUFFER_SIZE`).
pub const SENSE_BUFFER_SIZE: usize = 0x14;
/// Bytes of the CDB/sense union (`STORVSC_MAX_BUF_LEN_WITH_PADDING`).
pub const SRB_BUF_LEN: usize = 0x14;
/// Bytes of the `vstor_packet` union (`buffer[0x34]`).
pub const VSTOR_BODY_LEN: usize = 0x34;

/// Builds a protocol version number from its major and minor parts, as
/// `VMSTOR_PROTO_VERSION` does.
pub const fn proto_version(major: u8, minor: u8) -> u16 {
    // CAST: widening; `u16::from` is not const.
    ((major as u16) << 8) | minor as u16
}

/// Protocol version 2.0 (Windows Server 2008).
pub const VERSION_WIN6: u16 = proto_version(2, 0);
/// Protocol version 4.2 (Windows 7).
pub const VERSION_WIN7: u16 = proto_version(4, 2);
/// Protocol version 5.1 (Windows 8): adds the SRB's win8 extension and
/// sub-channels.
pub const VERSION_WIN8: u16 = proto_version(5, 1);
/// Protocol version 6.0 (Windows 8.1).
pub const VERSION_WIN8_1: u16 = proto_version(6, 0);
/// Protocol version 6.2 (Windows 10).
pub const VERSION_WIN10: u16 = proto_version(6, 2);

wire_struct! {
    /// The win8 extension at the end of `struct vmscsi_request`.
    pub struct VmscsiWin8Extension, size 16;
    {
        /// Reserved.
        pub reserve: u16,
        /// The queue tag.
        pub queue_tag: u8,
        /// The queue action.
        pub queue_action: u8,
        /// `SRB_FLAGS_*`.
        pub srb_flags: u32,
        /// The timeout in seconds.
        pub time_out_value: u32,
        /// The queue sort key.
        pub queue_sort_key: u32,
    }
}

wire_struct! {
    /// `struct vmscsi_request`: one SCSI request block, with its result
    /// fields filled in by the host in the completion.
    pub struct VmscsiRequest, size 52;
    {
        /// The size of this structure as the guest knows it.
        pub length: u16,
        /// The SRB status (host to guest).
        pub srb_status: u8,
        /// The SCSI status (host to guest).
        pub scsi_status: u8,
        /// The port (adapter) number.
        pub port_number: u8,
        /// The path id (SCSI channel).
        pub path_id: u8,
        /// The target id.
        pub target_id: u8,
        /// The LUN.
        pub lun: u8,
        /// The CDB's length.
        pub cdb_length: u8,
        /// The sense buffer's length (guest) or the sense bytes valid
        /// (host).
        pub sense_info_length: u8,
        /// `DATA_IN_*`.
        pub data_in: u8,
        /// Reserved.
        pub reserved: u8,
        /// Bytes of data (guest: the buffer; host: transferred).
        pub data_transfer_length: u32,
        /// The CDB (guest to host) or the sense data (host to guest).
        pub buf: [u8; SRB_BUF_LEN],
        /// Added in protocol 5.1.
        pub win8: VmscsiWin8Extension,
    }
}

wire_struct! {
    /// `struct vmstorage_channel_properties`.
    pub struct ChannelProperties, size 24;
    {
        /// Reserved.
        pub reserved: u32,
        /// Most sub-channels the guest may request.
        pub max_channel_cnt: u16,
        /// Reserved.
        pub reserved1: u16,
        /// `STORAGE_CHANNEL_*`.
        pub flags: u32,
        /// Most bytes of one request.
        pub max_transfer_bytes: u32,
        /// Reserved.
        pub reserved2: u64,
    }
}

wire_struct! {
    /// `struct vmstorage_protocol_version`.
    pub struct ProtocolVersion, size 4;
    {
        /// Major (high byte) and minor (low byte).
        pub major_minor: u16,
        /// Revision (Windows only; Linux sends 0).
        pub revision: u16,
    }
}

wire_struct! {
    /// `struct hv_fc_wwn_packet`.
    pub struct FcWwnPacket, size 36;
    {
        /// Whether the primary port is the active one.
        pub primary_active: u8,
        /// Reserved.
        pub reserved1: [u8; 3],
        /// Primary port WWN.
        pub primary_port_wwn: [u8; 8],
        /// Primary node WWN.
        pub primary_node_wwn: [u8; 8],
        /// Secondary port WWN.
        pub secondary_port_wwn: [u8; 8],
        /// Secondary node WWN.
        pub secondary_node_wwn: [u8; 8],
    }
}

wire_struct! {
    /// The header of `struct vstor_packet`; its union follows.
    pub struct VstorPacketHeader, size 12;
    {
        /// The operation.
        pub operation: VstorOperation,
        /// `REQUEST_COMPLETION_FLAG`.
        pub flags: u32,
        /// The status (host to guest): 0 is success.
        pub status: u32,
    }
}

/// Bytes of a whole `vstor_packet`.
pub const VSTOR_PACKET_SIZE: usize = VstorPacketHeader::SIZE + VSTOR_BODY_LEN;
/// Bytes the SRB loses before protocol 5.1 (`vmscsi_size_delta`).
pub const WIN8_EXTENSION_SIZE: usize = VmscsiWin8Extension::SIZE;

const _: () = assert!(VmscsiRequest::SIZE == VSTOR_BODY_LEN);
const _: () = assert!(VSTOR_PACKET_SIZE == 64);
const _: () = assert!(ChannelProperties::SIZE <= VSTOR_BODY_LEN);
const _: () = assert!(FcWwnPacket::SIZE <= VSTOR_BODY_LEN);
const _: () = assert!(SENSE_BUFFER_SIZE <= SRB_BUF_LEN && MAX_CDB_LEN <= SRB_BUF_LEN);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_storvsc() {
        // storvsc: sizeof(struct vstor_packet) is 12 + 0x34, and the
        // pre-win8 packet is 16 bytes shorter.
        assert_eq!(VSTOR_PACKET_SIZE, 64);
        assert_eq!(VSTOR_PACKET_SIZE - WIN8_EXTENSION_SIZE, 48);
        assert_eq!(VmscsiRequest::SIZE, 52);
        let offs: &[(&str, usize)] = VmscsiRequest::FIELDS;
        assert!(offs.contains(&("data_transfer_length", 12)));
        assert!(offs.contains(&("buf", 16)));
        assert!(offs.contains(&("win8", 36)));
        assert!(ChannelProperties::FIELDS.contains(&("max_transfer_bytes", 12)));
        assert_eq!(VERSION_WIN10, 0x0602);
        assert_eq!(VERSION_WIN8_1, 0x0600);
        assert_eq!(VERSION_WIN8, 0x0501);
    }

    #[test]
    fn round_trip() {
        let mut r = VmscsiRequest::zeroed();
        r.lun = 3;
        r.data_transfer_length = 0x1234_5678;
        r.buf[0] = 0x28;
        r.win8.srb_flags = SRB_FLAGS_DATA_IN;
        let mut b = [0u8; 52];
        assert_eq!(r.write_to(&mut b), Some(52));
        assert_eq!(b[7], 3);
        assert_eq!(&b[12..16], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(b[16], 0x28);
        assert_eq!(VmscsiRequest::read_from(&b), Some(r));
        assert_eq!(VmscsiRequest::read_from(&b[..51]), None);
    }
}
