// SPDX-License-Identifier: GPL-2.0

//! NVSP messages: parsing what the guest's netvsc sends, building what the
//! host answers, and version negotiation.
//!
//! [`parse`] takes the payload of a VMBus packet, checks that it holds the
//! header and the whole body of the message type it announces, and returns
//! a typed [`NvspMessage`]; unknown types are returned as
//! [`NvspMessage::Other`] so that the caller decides. [`encode`] builds a
//! message of exactly [`NVSP_MESSAGE_SIZE`] bytes, the size Linux sends
//! and expects.
//!
//! ```
//! use vmbus_proto::nvsp::{encode, parse, NvspMessage};
//! use vmbus_proto::wire::nvsp::{NvspInit, NvspMsgType, NVSP_VERSION_61};
//!
//! let init = NvspInit { min_protocol_ver: NVSP_VERSION_61, max_protocol_ver: NVSP_VERSION_61 };
//! let m = encode(NvspMsgType::INIT, &init).unwrap();
//! assert_eq!(parse(&m), Ok(NvspMessage::Init(init)));
//! ```

use super::wire::nvsp::{
    NvspBufferGpadl, NvspHeader, NvspIndirectionTable, NvspInit, NvspMsgType, NvspNdisConfig,
    NvspNdisVersion, NvspRevokeBuffer, NvspRndisPacket, NvspRndisPacketComplete,
    NvspSubchannelRequest, NvspSwitchDataPath, NVSP_MESSAGE_SIZE, NVSP_VERSION_1, NVSP_VERSION_2,
    NVSP_VERSION_4, NVSP_VERSION_5, NVSP_VERSION_6, NVSP_VERSION_61,
};
use super::wire::Wire;

/// The NVSP versions Linux's netvsc offers, oldest first.
pub const KNOWN_VERSIONS: [u32; 6] = [
    NVSP_VERSION_1,
    NVSP_VERSION_2,
    NVSP_VERSION_4,
    NVSP_VERSION_5,
    NVSP_VERSION_6,
    NVSP_VERSION_61,
];

/// Why an NVSP message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NvspError {
    /// Shorter than the header.
    NoHeader,
    /// Shorter than the body of its type.
    Truncated(NvspMsgType),
}

/// A parsed NVSP message from the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NvspMessage {
    /// `NVSP_MSG_TYPE_INIT`.
    Init(NvspInit),
    /// `NVSP_MSG1_TYPE_SEND_NDIS_VER`.
    NdisVersion(NvspNdisVersion),
    /// `NVSP_MSG1_TYPE_SEND_RECV_BUF`.
    SendReceiveBuffer(NvspBufferGpadl),
    /// `NVSP_MSG1_TYPE_REVOKE_RECV_BUF`.
    RevokeReceiveBuffer(NvspRevokeBuffer),
    /// `NVSP_MSG1_TYPE_SEND_SEND_BUF`.
    SendSendBuffer(NvspBufferGpadl),
    /// `NVSP_MSG1_TYPE_REVOKE_SEND_BUF`.
    RevokeSendBuffer(NvspRevokeBuffer),
    /// `NVSP_MSG1_TYPE_SEND_RNDIS_PKT`.
    RndisPacket(NvspRndisPacket),
    /// `NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE`.
    RndisPacketComplete(NvspRndisPacketComplete),
    /// `NVSP_MSG2_TYPE_SEND_NDIS_CONFIG`.
    NdisConfig(NvspNdisConfig),
    /// `NVSP_MSG4_TYPE_SWITCH_DATA_PATH`.
    SwitchDataPath(NvspSwitchDataPath),
    /// `NVSP_MSG5_TYPE_SUBCHANNEL`.
    Subchannel(NvspSubchannelRequest),
    /// `NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE`.
    IndirectionTable(NvspIndirectionTable),
    /// Any other type; only the header was read.
    Other(NvspMsgType),
}

fn body<T: Wire>(t: NvspMsgType, b: &[u8]) -> Result<T, NvspError> {
    b.get(NvspHeader::SIZE..)
        .and_then(T::read_from)
        .ok_or(NvspError::Truncated(t))
}

/// Parses an NVSP message (the payload of a VMBus packet, which may carry
/// padding after the message).
pub fn parse(b: &[u8]) -> Result<NvspMessage, NvspError> {
    let h = NvspHeader::read_from(b).ok_or(NvspError::NoHeader)?;
    let t = h.msg_type;
    Ok(match t {
        NvspMsgType::INIT => NvspMessage::Init(body(t, b)?),
        NvspMsgType::SEND_NDIS_VERSION => NvspMessage::NdisVersion(body(t, b)?),
        NvspMsgType::SEND_RECV_BUF => NvspMessage::SendReceiveBuffer(body(t, b)?),
        NvspMsgType::REVOKE_RECV_BUF => NvspMessage::RevokeReceiveBuffer(body(t, b)?),
        NvspMsgType::SEND_SEND_BUF => NvspMessage::SendSendBuffer(body(t, b)?),
        NvspMsgType::REVOKE_SEND_BUF => NvspMessage::RevokeSendBuffer(body(t, b)?),
        NvspMsgType::SEND_RNDIS_PKT => NvspMessage::RndisPacket(body(t, b)?),
        NvspMsgType::SEND_RNDIS_PKT_COMPLETE => NvspMessage::RndisPacketComplete(body(t, b)?),
        NvspMsgType::SEND_NDIS_CONFIG => NvspMessage::NdisConfig(body(t, b)?),
        NvspMsgType::SWITCH_DATA_PATH => NvspMessage::SwitchDataPath(body(t, b)?),
        NvspMsgType::SUBCHANNEL => NvspMessage::Subchannel(body(t, b)?),
        NvspMsgType::SEND_INDIRECTION_TABLE => NvspMessage::IndirectionTable(body(t, b)?),
        other => NvspMessage::Other(other),
    })
}

/// Builds an NVSP message of `msg_type` with `body`, zero-padded to
/// [`NVSP_MESSAGE_SIZE`]; `None` if the body is larger than a message.
pub fn encode<T: Wire>(msg_type: NvspMsgType, body: &T) -> Option<[u8; NVSP_MESSAGE_SIZE]> {
    let mut m = [0u8; NVSP_MESSAGE_SIZE];
    let mut off = 0;
    NvspHeader { msg_type }.put(&mut m, &mut off)?;
    body.put(&mut m, &mut off)?;
    Some(m)
}

/// Builds the host's `SEND_INDIRECTION_TABLE` (NVSP 5): which channel the
/// guest sends each of its hash buckets on. The entries follow a whole
/// [`NVSP_MESSAGE_SIZE`]-byte message and `offset` says so: Linux takes
/// the table from there for NVSP 6 and older whatever `offset` says (an
/// old host put it elsewhere), and from `offset` for newer versions.
/// Returns the length, or `None` if `buf` is too small.
pub fn encode_indirection_table(buf: &mut [u8], entries: &[u32]) -> Option<usize> {
    let t = NvspIndirectionTable {
        count: u32::try_from(entries.len()).ok()?,
        offset: NVSP_MESSAGE_SIZE as u32,
    };
    let m = encode(NvspMsgType::SEND_INDIRECTION_TABLE, &t)?;
    buf.get_mut(..NVSP_MESSAGE_SIZE)?.copy_from_slice(&m);
    let mut off = NVSP_MESSAGE_SIZE;
    for e in entries {
        e.put(buf, &mut off)?;
    }
    Some(off)
}

/// The version the host accepts for an `INIT` of `[min, max]`: the newest
/// of `supported` inside the range, if any. Linux asks for one version at a
/// time, newest first, and falls back when the host refuses.
pub fn negotiate(init: NvspInit, supported: &[u32]) -> Option<u32> {
    supported
        .iter()
        .copied()
        .filter(|v| (init.min_protocol_ver..=init.max_protocol_ver).contains(v))
        .max()
}

/// The NDIS version netvsc announces with an NVSP version (6.1 up to NVSP
/// 4, 6.30 from NVSP 5), as `(major, minor)`.
pub fn ndis_version_for(nvsp: u32) -> (u32, u32) {
    if nvsp <= NVSP_VERSION_4 {
        (6, 1)
    } else {
        (6, 30)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::nvsp::{NvspStatus, NvspSubchannelComplete, SUBCHANNEL_ALLOCATE};

    #[test]
    fn every_message_round_trips() {
        let g = NvspBufferGpadl {
            gpadl_handle: crate::wire::PackedU32::new(7),
            id: 0xcafe,
        };
        let m = encode(NvspMsgType::SEND_RECV_BUF, &g).unwrap();
        assert_eq!(parse(&m), Ok(NvspMessage::SendReceiveBuffer(g)));
        let m = encode(NvspMsgType::SEND_SEND_BUF, &g).unwrap();
        assert_eq!(parse(&m), Ok(NvspMessage::SendSendBuffer(g)));
        let r = NvspRndisPacket {
            channel_type: 1,
            send_buf_section_index: 3,
            send_buf_section_size: 100,
        };
        let m = encode(NvspMsgType::SEND_RNDIS_PKT, &r).unwrap();
        assert_eq!(parse(&m), Ok(NvspMessage::RndisPacket(r)));
        let s = NvspSubchannelRequest {
            op: SUBCHANNEL_ALLOCATE,
            num_subchannels: 3,
        };
        let m = encode(NvspMsgType::SUBCHANNEL, &s).unwrap();
        assert_eq!(parse(&m), Ok(NvspMessage::Subchannel(s)));
        let c = NvspSubchannelComplete {
            status: NvspStatus::SUCCESS,
            num_subchannels: 3,
        };
        let m = encode(NvspMsgType::SUBCHANNEL, &c).unwrap();
        assert_eq!(&m[4..8], &1u32.to_le_bytes());
        let m = encode(NvspMsgType(999), &0u32).unwrap();
        assert_eq!(parse(&m), Ok(NvspMessage::Other(NvspMsgType(999))));
    }

    #[test]
    fn short_messages() {
        assert_eq!(parse(&[1, 0]), Err(NvspError::NoHeader));
        let m = encode(NvspMsgType::INIT, &0u32).unwrap();
        assert_eq!(parse(&m[..8]), Err(NvspError::Truncated(NvspMsgType::INIT)));
        assert!(parse(&m[..12]).is_ok());
        let m = encode(NvspMsgType::SEND_NDIS_CONFIG, &0u32).unwrap();
        assert_eq!(
            parse(&m[..19]),
            Err(NvspError::Truncated(NvspMsgType::SEND_NDIS_CONFIG))
        );
    }

    #[test]
    fn indirection_table() {
        let mut b = [0u8; 128];
        let n = encode_indirection_table(&mut b, &[0, 1, 2, 0]).unwrap();
        assert_eq!(n, 40 + 16);
        let NvspMessage::IndirectionTable(t) = parse(&b[..n]).unwrap() else {
            panic!()
        };
        assert_eq!((t.count, t.offset), (4, 40));
        assert_eq!(&b[44..48], &1u32.to_le_bytes());
        assert!(encode_indirection_table(&mut b[..50], &[0; 4]).is_none());
    }

    #[test]
    fn negotiation() {
        let one = |v| NvspInit {
            min_protocol_ver: v,
            max_protocol_ver: v,
        };
        assert_eq!(
            negotiate(one(NVSP_VERSION_61), &KNOWN_VERSIONS),
            Some(NVSP_VERSION_61)
        );
        assert_eq!(negotiate(one(NVSP_VERSION_61), &KNOWN_VERSIONS[..4]), None);
        assert_eq!(negotiate(one(3), &KNOWN_VERSIONS), None);
        let range = NvspInit {
            min_protocol_ver: NVSP_VERSION_1,
            max_protocol_ver: NVSP_VERSION_5,
        };
        assert_eq!(negotiate(range, &KNOWN_VERSIONS), Some(NVSP_VERSION_5));
        let inverted = NvspInit {
            min_protocol_ver: NVSP_VERSION_5,
            max_protocol_ver: NVSP_VERSION_1,
        };
        assert_eq!(negotiate(inverted, &KNOWN_VERSIONS), None);
        assert_eq!(ndis_version_for(NVSP_VERSION_4), (6, 1));
        assert_eq!(ndis_version_for(NVSP_VERSION_6), (6, 30));
    }
}
