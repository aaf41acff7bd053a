// SPDX-License-Identifier: GPL-2.0

//! RNDIS messages: parsing what the guest sends inside NVSP
//! `SEND_RNDIS_PKT` messages and building the host's answers, data packets
//! and status indications.
//!
//! [`parse`] checks the header's `msg_len` against the bytes there are (a
//! length that claims more is an error, bytes after it are ignored), and
//! every offset and length inside the body against `msg_len`, before it
//! returns slices into the message. The builders write into a caller's
//! buffer and return the length written, or `None` if it is too small.
//!
//! ```
//! use vmbus_proto::rndis::{encode_packet, parse, RndisMessage};
//!
//! let mut buf = [0u8; 128];
//! let n = encode_packet(&mut buf, b"frame", &[]).unwrap();
//! let RndisMessage::Packet(p) = parse(&buf[..n]).unwrap() else { panic!() };
//! assert_eq!(p.data, b"frame");
//! ```

use super::wire::rndis::{
    Oid, PpiType, RndisHeader, RndisIndicateStatus, RndisInitComplete, RndisInitRequest,
    RndisMsgType, RndisOidRequest, RndisPacket, RndisPerPacketInfo, RndisQueryComplete,
    RndisRequestId, RndisResetComplete, RndisStatus, RndisStatusComplete, PPI_INTERNAL,
};
use super::wire::Wire;

/// Bytes of an RNDIS data message before the frame when it has no
/// per-packet information.
pub const PACKET_HEADER_SIZE: usize = RndisHeader::SIZE + RndisPacket::SIZE;

/// Why an RNDIS message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RndisError {
    /// Shorter than the header.
    NoHeader,
    /// `msg_len` is shorter than the header or longer than the bytes
    /// there are.
    BadLength {
        /// What the header says.
        msg_len: u32,
        /// What there is.
        available: usize,
    },
    /// `msg_len` is too short for the body of its type.
    Truncated(RndisMsgType),
    /// An offset or length in the body points outside the message.
    BadOffset(RndisMsgType),
    /// A per-packet information element is malformed.
    BadPpi,
}

/// A data packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataPacket<'a> {
    /// The body.
    pub hdr: RndisPacket,
    /// The frame.
    pub data: &'a [u8],
    /// The per-packet information area (see [`ppis`]).
    pub ppi: &'a [u8],
}

/// An OID request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OidRequest<'a> {
    /// The body.
    pub req: RndisOidRequest,
    /// The information buffer.
    pub info: &'a [u8],
}

/// A parsed RNDIS message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RndisMessage<'a> {
    /// `RNDIS_MSG_PACKET`.
    Packet(DataPacket<'a>),
    /// `RNDIS_MSG_INIT`.
    Init(RndisInitRequest),
    /// `RNDIS_MSG_HALT`.
    Halt(RndisRequestId),
    /// `RNDIS_MSG_QUERY`.
    Query(OidRequest<'a>),
    /// `RNDIS_MSG_SET`.
    Set(OidRequest<'a>),
    /// `RNDIS_MSG_RESET` (its body is reserved).
    Reset,
    /// `RNDIS_MSG_KEEPALIVE`.
    Keepalive(RndisRequestId),
    /// Another type; only the header was read.
    Other(RndisMsgType),
}

/// `len` bytes at `off` of `body`, if they are inside it.
fn sub(body: &[u8], off: u32, len: u32) -> Option<&[u8]> {
    let start = usize::try_from(off).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    body.get(start..end)
}

/// Parses the RNDIS message at the start of `b`.
pub fn parse(b: &[u8]) -> Result<RndisMessage<'_>, RndisError> {
    let h = RndisHeader::read_from(b).ok_or(RndisError::NoHeader)?;
    let bad_len = RndisError::BadLength {
        msg_len: h.msg_len,
        available: b.len(),
    };
    let len = usize::try_from(h.msg_len).map_err(|_| bad_len)?;
    if len < RndisHeader::SIZE {
        return Err(bad_len);
    }
    let msg = b.get(..len).ok_or(bad_len)?;
    let body = msg.get(RndisHeader::SIZE..).unwrap_or_default();
    let t = h.msg_type;
    let truncated = RndisError::Truncated(t);
    let bad_off = RndisError::BadOffset(t);
    Ok(match t {
        RndisMsgType::PACKET => {
            let p = RndisPacket::read_from(body).ok_or(truncated)?;
            let data = sub(body, p.data_offset, p.data_len).ok_or(bad_off)?;
            if (p.data_offset as usize) < RndisPacket::SIZE {
                return Err(bad_off);
            }
            let ppi = if p.per_pkt_info_len == 0 {
                &[][..]
            } else {
                if (p.per_pkt_info_offset as usize) < RndisPacket::SIZE {
                    return Err(bad_off);
                }
                sub(body, p.per_pkt_info_offset, p.per_pkt_info_len).ok_or(bad_off)?
            };
            RndisMessage::Packet(DataPacket { hdr: p, data, ppi })
        }
        RndisMsgType::INIT => {
            RndisMessage::Init(RndisInitRequest::read_from(body).ok_or(truncated)?)
        }
        RndisMsgType::HALT => RndisMessage::Halt(RndisRequestId::read_from(body).ok_or(truncated)?),
        RndisMsgType::KEEPALIVE => {
            RndisMessage::Keepalive(RndisRequestId::read_from(body).ok_or(truncated)?)
        }
        RndisMsgType::RESET => RndisMessage::Reset,
        RndisMsgType::QUERY | RndisMsgType::SET => {
            let req = RndisOidRequest::read_from(body).ok_or(truncated)?;
            let info = if req.info_buflen == 0 {
                &[][..]
            } else {
                if (req.info_buf_offset as usize) < RndisOidRequest::SIZE {
                    return Err(bad_off);
                }
                sub(body, req.info_buf_offset, req.info_buflen).ok_or(bad_off)?
            };
            let r = OidRequest { req, info };
            if t == RndisMsgType::QUERY {
                RndisMessage::Query(r)
            } else {
                RndisMessage::Set(r)
            }
        }
        other => RndisMessage::Other(other),
    })
}

/// One per-packet information element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ppi<'a> {
    /// Its type.
    pub ppi_type: PpiType,
    /// Whether it is an internal (RNDIS) type rather than an NDIS one.
    pub internal: bool,
    /// Its value.
    pub value: &'a [u8],
}

/// Iterates over the per-packet information area of a data packet; each
/// element is checked against the area, and a malformed one ends the
/// iteration with an error.
pub fn ppis(area: &[u8]) -> impl Iterator<Item = Result<Ppi<'_>, RndisError>> + '_ {
    let mut rest = area;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let one = (|| {
            let e = RndisPerPacketInfo::read_from(rest)?;
            let size = usize::try_from(e.size).ok()?;
            if size < RndisPerPacketInfo::SIZE || (e.ppi_offset as usize) < RndisPerPacketInfo::SIZE
            {
                return None;
            }
            let elem = rest.get(..size)?;
            let value = elem.get(usize::try_from(e.ppi_offset).ok()?..)?;
            let next = rest.get(size..)?;
            Some((
                Ppi {
                    ppi_type: PpiType(e.ppi_type & !PPI_INTERNAL),
                    internal: e.ppi_type & PPI_INTERNAL != 0,
                    value,
                },
                next,
            ))
        })();
        match one {
            Some((p, next)) => {
                rest = next;
                Some(Ok(p))
            }
            None => {
                rest = &[];
                Some(Err(RndisError::BadPpi))
            }
        }
    })
}

fn finish(buf: &mut [u8], msg_type: RndisMsgType, len: usize) -> Option<usize> {
    let msg_len = u32::try_from(len).ok()?;
    RndisHeader { msg_type, msg_len }.write_to(buf)?;
    Some(len)
}

/// Builds an `RNDIS_MSG_INIT_C`.
pub fn encode_init_complete(buf: &mut [u8], c: &RndisInitComplete) -> Option<usize> {
    let mut off = RndisHeader::SIZE;
    c.put(buf, &mut off)?;
    finish(buf, RndisMsgType::INIT_C, off)
}

/// Builds an `RNDIS_MSG_QUERY_C` with `info` right after the body (no
/// information buffer when `info` is empty).
pub fn encode_query_complete(
    buf: &mut [u8],
    req_id: u32,
    status: RndisStatus,
    info: &[u8],
) -> Option<usize> {
    let c = RndisQueryComplete {
        req_id,
        status,
        info_buflen: u32::try_from(info.len()).ok()?,
        info_buf_offset: if info.is_empty() {
            0
        } else {
            RndisQueryComplete::SIZE as u32
        },
    };
    let mut off = RndisHeader::SIZE;
    c.put(buf, &mut off)?;
    let end = off.checked_add(info.len())?;
    buf.get_mut(off..end)?.copy_from_slice(info);
    finish(buf, RndisMsgType::QUERY_C, end)
}

/// Builds an `RNDIS_MSG_SET_C` or `RNDIS_MSG_KEEPALIVE_C`.
pub fn encode_status_complete(
    buf: &mut [u8],
    msg_type: RndisMsgType,
    req_id: u32,
    status: RndisStatus,
) -> Option<usize> {
    let mut off = RndisHeader::SIZE;
    RndisStatusComplete { req_id, status }.put(buf, &mut off)?;
    finish(buf, msg_type, off)
}

/// Builds an `RNDIS_MSG_RESET_C`.
pub fn encode_reset_complete(buf: &mut [u8], status: RndisStatus) -> Option<usize> {
    let mut off = RndisHeader::SIZE;
    RndisResetComplete {
        status,
        addressing_reset: 0,
    }
    .put(buf, &mut off)?;
    finish(buf, RndisMsgType::RESET_C, off)
}

/// Builds an `RNDIS_MSG_INDICATE` of `status` with `data` as its status
/// buffer.
pub fn encode_indicate(buf: &mut [u8], status: RndisStatus, data: &[u8]) -> Option<usize> {
    let i = RndisIndicateStatus {
        status,
        status_buflen: u32::try_from(data.len()).ok()?,
        status_buf_offset: if data.is_empty() {
            0
        } else {
            RndisIndicateStatus::SIZE as u32
        },
    };
    let mut off = RndisHeader::SIZE;
    i.put(buf, &mut off)?;
    let end = off.checked_add(data.len())?;
    buf.get_mut(off..end)?.copy_from_slice(data);
    finish(buf, RndisMsgType::INDICATE, end)
}

/// Builds an `RNDIS_MSG_PACKET` carrying `frame`, preceded by the given
/// per-packet information elements (type and value, each value padded to
/// 4 bytes).
pub fn encode_packet(buf: &mut [u8], frame: &[u8], ppi: &[(PpiType, &[u8])]) -> Option<usize> {
    let mut off = PACKET_HEADER_SIZE;
    let ppi_start = off;
    for (t, v) in ppi {
        let vlen = v.len().checked_add(3)? & !3;
        let size = RndisPerPacketInfo::SIZE.checked_add(vlen)?;
        let e = RndisPerPacketInfo {
            size: u32::try_from(size).ok()?,
            ppi_type: t.0,
            ppi_offset: RndisPerPacketInfo::SIZE as u32,
        };
        e.put(buf, &mut off)?;
        let end = off.checked_add(vlen)?;
        let dst = buf.get_mut(off..end)?;
        dst.fill(0);
        dst.get_mut(..v.len())?.copy_from_slice(v);
        off = end;
    }
    let ppi_len = off - ppi_start;
    let data_off = off;
    let end = data_off.checked_add(frame.len())?;
    buf.get_mut(data_off..end)?.copy_from_slice(frame);
    let p = RndisPacket {
        data_offset: u32::try_from(data_off - RndisHeader::SIZE).ok()?,
        data_len: u32::try_from(frame.len()).ok()?,
        oob_data_offset: 0,
        oob_data_len: 0,
        num_oob_data_elements: 0,
        per_pkt_info_offset: if ppi_len == 0 {
            0
        } else {
            (ppi_start - RndisHeader::SIZE) as u32
        },
        per_pkt_info_len: u32::try_from(ppi_len).ok()?,
        vc_handle: 0,
        reserved: 0,
    };
    p.write_to(buf.get_mut(RndisHeader::SIZE..)?)?;
    finish(buf, RndisMsgType::PACKET, end)
}

/// Builds an OID request (the guest's side; for tests, fuzz seeds and
/// tools).
pub fn encode_oid_request(
    buf: &mut [u8],
    msg_type: RndisMsgType,
    req_id: u32,
    oid: Oid,
    info: &[u8],
) -> Option<usize> {
    let r = RndisOidRequest {
        req_id,
        oid,
        info_buflen: u32::try_from(info.len()).ok()?,
        info_buf_offset: RndisOidRequest::SIZE as u32,
        dev_vc_handle: 0,
    };
    let mut off = RndisHeader::SIZE;
    r.put(buf, &mut off)?;
    let end = off.checked_add(info.len())?;
    buf.get_mut(off..end)?.copy_from_slice(info);
    finish(buf, msg_type, end)
}

/// Builds a request whose body is one request id (`INIT` takes a full
/// [`RndisInitRequest`] through [`encode_init_request`]).
pub fn encode_id_request(buf: &mut [u8], msg_type: RndisMsgType, req_id: u32) -> Option<usize> {
    let mut off = RndisHeader::SIZE;
    RndisRequestId { req_id }.put(buf, &mut off)?;
    finish(buf, msg_type, off)
}

/// Builds an `RNDIS_MSG_INIT`.
pub fn encode_init_request(buf: &mut [u8], r: &RndisInitRequest) -> Option<usize> {
    let mut off = RndisHeader::SIZE;
    r.put(buf, &mut off)?;
    finish(buf, RndisMsgType::INIT, off)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_with_ppi_round_trips() {
        let mut b = [0u8; 256];
        let hash = 0x1234_5678u32.to_le_bytes();
        let csum = [1u8, 2, 3];
        let n = encode_packet(
            &mut b,
            b"0123456789abcdef",
            &[
                (PpiType::NBL_HASH_VALUE, &hash),
                (PpiType::TCPIP_CHKSUM, &csum),
            ],
        )
        .unwrap();
        let RndisMessage::Packet(p) = parse(&b[..n]).unwrap() else {
            panic!()
        };
        assert_eq!(p.data, b"0123456789abcdef");
        let mut it = ppis(p.ppi);
        let first = it.next().unwrap().unwrap();
        assert_eq!(first.ppi_type, PpiType::NBL_HASH_VALUE);
        assert_eq!(first.value, &hash);
        assert_eq!(&it.next().unwrap().unwrap().value[..3], &csum);
        assert!(it.next().is_none());
    }

    #[test]
    fn lengths_that_lie() {
        let mut b = [0u8; 128];
        let n = encode_packet(&mut b, b"abcd", &[]).unwrap();
        // msg_len larger than the bytes.
        assert!(matches!(
            parse(&b[..n - 1]),
            Err(RndisError::BadLength { .. })
        ));
        // msg_len smaller than the header.
        let mut c = b;
        c[4..8].copy_from_slice(&4u32.to_le_bytes());
        assert!(matches!(parse(&c), Err(RndisError::BadLength { .. })));
        // msg_len too short for the packet body.
        c[4..8].copy_from_slice(&20u32.to_le_bytes());
        assert_eq!(parse(&c), Err(RndisError::Truncated(RndisMsgType::PACKET)));
        // data_len past the end.
        let mut c = b;
        c[12..16].copy_from_slice(&5u32.to_le_bytes());
        assert_eq!(
            parse(&c[..n]),
            Err(RndisError::BadOffset(RndisMsgType::PACKET))
        );
        // data_offset inside the header.
        let mut c = b;
        c[8..12].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(
            parse(&c[..n]),
            Err(RndisError::BadOffset(RndisMsgType::PACKET))
        );
        // A huge offset does not overflow.
        let mut c = b;
        c[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            parse(&c[..n]),
            Err(RndisError::BadOffset(RndisMsgType::PACKET))
        );
        assert_eq!(parse(&b[..7]), Err(RndisError::NoHeader));
    }

    #[test]
    fn bad_ppi() {
        let mut b = [0u8; 128];
        let v = [9u8; 4];
        let n = encode_packet(&mut b, b"x", &[(PpiType::IEEE_8021Q, &v)]).unwrap();
        // The element's size runs past the area.
        b[44..48].copy_from_slice(&64u32.to_le_bytes());
        let RndisMessage::Packet(p) = parse(&b[..n]).unwrap() else {
            panic!()
        };
        {
            let mut it = ppis(p.ppi);
            assert_eq!(it.next(), Some(Err(RndisError::BadPpi)));
            assert_eq!(it.next(), None);
        }
        // A zero size would loop forever if it were accepted.
        b[44..48].copy_from_slice(&0u32.to_le_bytes());
        let RndisMessage::Packet(p) = parse(&b[..n]).unwrap() else {
            panic!()
        };
        assert_eq!(ppis(p.ppi).count(), 1);
    }

    #[test]
    fn control_messages() {
        let mut b = [0u8; 128];
        let n =
            encode_oid_request(&mut b, RndisMsgType::QUERY, 5, Oid::GEN_LINK_SPEED, &[]).unwrap();
        let RndisMessage::Query(q) = parse(&b[..n]).unwrap() else {
            panic!()
        };
        assert_eq!(
            (q.req.req_id, q.req.oid, q.info),
            (5, Oid::GEN_LINK_SPEED, &[][..])
        );
        let n =
            encode_oid_request(&mut b, RndisMsgType::SET, 6, Oid(0xdead), &[1, 2, 3, 4]).unwrap();
        let RndisMessage::Set(s) = parse(&b[..n]).unwrap() else {
            panic!()
        };
        assert_eq!((s.req.oid, s.info), (Oid(0xdead), &[1, 2, 3, 4][..]));
        // An information buffer that points past msg_len.
        b[20..24].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(
            parse(&b[..n]),
            Err(RndisError::BadOffset(RndisMsgType::SET))
        );
        let n = encode_id_request(&mut b, RndisMsgType::KEEPALIVE, 9).unwrap();
        assert_eq!(
            parse(&b[..n]),
            Ok(RndisMessage::Keepalive(RndisRequestId { req_id: 9 }))
        );
        let n = encode_query_complete(&mut b, 5, RndisStatus::SUCCESS, &[1, 2]).unwrap();
        assert_eq!(n, 8 + 16 + 2);
        assert_eq!(&b[16..20], &2u32.to_le_bytes());
        let n = encode_indicate(&mut b, RndisStatus::MEDIA_CONNECT, &[]).unwrap();
        assert_eq!(n, 20);
        assert!(encode_query_complete(&mut b[..20], 5, RndisStatus::SUCCESS, &[1]).is_none());
    }
}
