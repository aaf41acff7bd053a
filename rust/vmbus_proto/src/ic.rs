// SPDX-License-Identifier: GPL-2.0

//! The integration component (IC) framework: the message envelope (pipe
//! header, IC header, body) and version negotiation, for both sides.
//!
//! The host opens an IC channel by sending a `NEGOTIATE` request that lists
//! the framework versions and the message versions it speaks
//! ([`build_negotiate_request`]). The guest picks the highest framework
//! version and the highest message version it shares with the host and
//! answers in place with exactly one of each, or with zero counts when there
//! is no common version ([`answer_negotiate`]); the host reads the choice
//! back with [`parse_negotiate_response`]. Every IC answer carries the
//! request's transaction id and the flags `TRANSACTION | RESPONSE`.
//!
//! ```
//! use vmbus_proto::ic::{answer_negotiate, build_negotiate_request, parse_negotiate_response};
//! use vmbus_proto::wire::ic::IcVersion;
//!
//! let fw = [IcVersion::new(1, 0), IcVersion::new(3, 0)];
//! let msg = [IcVersion::new(1, 0), IcVersion::new(3, 0)];
//! let mut buf = [0u8; 128];
//! let n = build_negotiate_request(&mut buf, &fw, &msg, 1).unwrap();
//! let mut resp = [0u8; 128];
//! let (m, chosen) = answer_negotiate(&buf[..n], &mut resp, &[IcVersion::new(3, 0)], &msg).unwrap();
//! assert_eq!(chosen, Some((IcVersion::new(3, 0), IcVersion::new(3, 0))));
//! assert_eq!(parse_negotiate_response(&resp[..m]).unwrap(), chosen);
//! ```

use super::wire::ic::{
    IcMsgHdr, IcMsgNegotiate, IcMsgType, IcVersion, VmbusPipeHdr, ICMSGHDRFLAG_REQUEST,
    ICMSGHDRFLAG_RESPONSE, ICMSGHDRFLAG_TRANSACTION, IC_VERSION_NEGOTIATION_MAX_VER_COUNT,
};
use super::wire::Wire;

/// Bytes before an IC body: the pipe header and the IC header.
pub const ICMSG_HDR_SIZE: usize = VmbusPipeHdr::SIZE + IcMsgHdr::SIZE;
/// IC status: success (`S_OK`).
pub const HV_S_OK: u32 = 0;
/// IC status: failure (`E_FAIL`).
pub const HV_E_FAIL: u32 = 0x8000_4005;
/// Flags of a host request.
pub const REQUEST_FLAGS: u8 = ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_REQUEST;
/// Flags of a guest response.
pub const RESPONSE_FLAGS: u8 = ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_RESPONSE;
/// The IC body size of a negotiate answer: the counts and two versions.
pub const NEGOTIATE_RESPONSE_BODY: usize = IcMsgNegotiate::SIZE + 2 * IcVersion::SIZE;

/// Why an IC message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcError {
    /// Shorter than the headers (and, for a negotiate message, its counts
    /// and versions).
    Truncated,
    /// More versions than [`IC_VERSION_NEGOTIATION_MAX_VER_COUNT`].
    TooManyVersions {
        /// Framework versions announced.
        frame: u16,
        /// Message versions announced.
        msg: u16,
    },
    /// Not a `NEGOTIATE` message.
    NotNegotiate(IcMsgType),
    /// A negotiate answer with counts other than 0/0 or 1/1.
    BadAnswer,
    /// The output buffer is too small, or a body too large for the header.
    BufferTooSmall,
}

/// An IC message in a packet's in-band payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcMessage<'a> {
    /// The pipe header.
    pub pipe: VmbusPipeHdr,
    /// The IC header.
    pub hdr: IcMsgHdr,
    /// Everything after the headers (may include padding).
    pub body: &'a [u8],
}

/// Splits an IC message into headers and body.
pub fn parse(buf: &[u8]) -> Result<IcMessage<'_>, IcError> {
    let mut off = 0;
    let pipe = VmbusPipeHdr::get(buf, &mut off).ok_or(IcError::Truncated)?;
    let hdr = IcMsgHdr::get(buf, &mut off).ok_or(IcError::Truncated)?;
    let body = buf.get(off..).ok_or(IcError::Truncated)?;
    Ok(IcMessage { pipe, hdr, body })
}

/// Writes the headers and `body` into `buf`; `hdr.icmsgsize` is set to the
/// body length. Returns the message length.
pub fn encode(buf: &mut [u8], hdr: &IcMsgHdr, body: &[u8]) -> Result<usize, IcError> {
    let total = ICMSG_HDR_SIZE
        .checked_add(body.len())
        .ok_or(IcError::BufferTooSmall)?;
    let mut h = *hdr;
    h.icmsgsize = u16::try_from(body.len()).map_err(|_| IcError::BufferTooSmall)?;
    let pipe = VmbusPipeHdr {
        flags: 0,
        msgsize: u32::try_from(total - VmbusPipeHdr::SIZE).map_err(|_| IcError::BufferTooSmall)?,
    };
    let out = buf.get_mut(..total).ok_or(IcError::BufferTooSmall)?;
    let mut off = 0;
    pipe.put(out, &mut off).ok_or(IcError::BufferTooSmall)?;
    h.put(out, &mut off).ok_or(IcError::BufferTooSmall)?;
    out.get_mut(off..)
        .ok_or(IcError::BufferTooSmall)?
        .copy_from_slice(body);
    Ok(total)
}

/// A host request header of `msgtype` with the given versions.
pub fn request_header(
    msgtype: IcMsgType,
    framework: IcVersion,
    message: IcVersion,
    transaction_id: u8,
) -> IcMsgHdr {
    IcMsgHdr {
        icverframe: framework,
        icmsgtype: msgtype,
        icvermsg: message,
        icmsgsize: 0,
        status: HV_S_OK,
        ictransaction_id: transaction_id,
        icflags: REQUEST_FLAGS,
        reserved: [0; 2],
    }
}

/// The versions listed in a negotiate message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions<'a> {
    raw: &'a [u8],
}

impl Versions<'_> {
    /// How many.
    pub fn len(&self) -> usize {
        self.raw.len() / IcVersion::SIZE
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The versions, in message order.
    pub fn iter(&self) -> impl Iterator<Item = IcVersion> + '_ {
        self.raw
            .chunks_exact(IcVersion::SIZE)
            .filter_map(IcVersion::read_from)
    }
}

/// A decoded negotiate message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiate<'a> {
    /// The IC header.
    pub hdr: IcMsgHdr,
    /// Framework versions.
    pub frame: Versions<'a>,
    /// Message versions.
    pub msg: Versions<'a>,
}

/// Decodes a negotiate message (request or answer): counts bounded by
/// Linux's limit, all versions present.
pub fn parse_negotiate(buf: &[u8]) -> Result<Negotiate<'_>, IcError> {
    let m = parse(buf)?;
    if m.hdr.icmsgtype != IcMsgType::NEGOTIATE {
        return Err(IcError::NotNegotiate(m.hdr.icmsgtype));
    }
    let n = IcMsgNegotiate::read_from(m.body).ok_or(IcError::Truncated)?;
    let (f, g) = (n.icframe_vercnt, n.icmsg_vercnt);
    let max = IC_VERSION_NEGOTIATION_MAX_VER_COUNT;
    if usize::from(f) > max || usize::from(g) > max {
        return Err(IcError::TooManyVersions { frame: f, msg: g });
    }
    let fl = usize::from(f) * IcVersion::SIZE;
    let gl = usize::from(g) * IcVersion::SIZE;
    let rest = m
        .body
        .get(IcMsgNegotiate::SIZE..)
        .ok_or(IcError::Truncated)?;
    let frame = rest.get(..fl).ok_or(IcError::Truncated)?;
    let msg = rest.get(fl..fl + gl).ok_or(IcError::Truncated)?;
    Ok(Negotiate {
        hdr: m.hdr,
        frame: Versions { raw: frame },
        msg: Versions { raw: msg },
    })
}

fn put_versions(out: &mut [u8], off: &mut usize, vs: &[IcVersion]) -> Result<(), IcError> {
    for v in vs {
        v.put(out, off).ok_or(IcError::BufferTooSmall)?;
    }
    Ok(())
}

/// Host side: builds a `NEGOTIATE` request offering `frame` framework
/// versions and `msg` message versions. Returns its length.
pub fn build_negotiate_request(
    buf: &mut [u8],
    frame: &[IcVersion],
    msg: &[IcVersion],
    transaction_id: u8,
) -> Result<usize, IcError> {
    let max = IC_VERSION_NEGOTIATION_MAX_VER_COUNT;
    let (fc, mc) = (
        u16::try_from(frame.len()).map_err(|_| IcError::BufferTooSmall)?,
        u16::try_from(msg.len()).map_err(|_| IcError::BufferTooSmall)?,
    );
    if frame.len() > max || msg.len() > max {
        return Err(IcError::TooManyVersions { frame: fc, msg: mc });
    }
    let mut body = [0u8; IcMsgNegotiate::SIZE + 2 * IC_VERSION_NEGOTIATION_MAX_VER_COUNT * 4];
    let mut off = 0;
    IcMsgNegotiate {
        icframe_vercnt: fc,
        icmsg_vercnt: mc,
        reserved: 0,
    }
    .put(&mut body, &mut off)
    .ok_or(IcError::BufferTooSmall)?;
    put_versions(&mut body, &mut off, frame)?;
    put_versions(&mut body, &mut off, msg)?;
    let top = |vs: &[IcVersion]| vs.iter().copied().max_by_key(|v| (v.major, v.minor));
    let hdr = request_header(
        IcMsgType::NEGOTIATE,
        top(frame).unwrap_or(IcVersion::new(0, 0)),
        top(msg).unwrap_or(IcVersion::new(0, 0)),
        transaction_id,
    );
    encode(buf, &hdr, body.get(..off).ok_or(IcError::BufferTooSmall)?)
}

/// The highest version in both `offered` and `supported`.
fn highest_common(offered: Versions<'_>, supported: &[IcVersion]) -> Option<IcVersion> {
    offered
        .iter()
        .filter(|v| supported.contains(v))
        .max_by_key(|v| (v.major, v.minor))
}

/// Guest side: answers the negotiate `request` into `out`, choosing the
/// highest common framework and message versions among `frame` and `msg`.
/// Returns the answer's length and the chosen (framework, message)
/// versions, `None` when there is no common pair (the answer then carries
/// zero counts, as Linux sends it).
///
/// The answer is the request with its counts and first two versions
/// replaced, `icmsgsize` set to [`NEGOTIATE_RESPONSE_BODY`] and the flags
/// set to [`RESPONSE_FLAGS`]; it is at least as long as the request.
pub fn answer_negotiate(
    request: &[u8],
    out: &mut [u8],
    frame: &[IcVersion],
    msg: &[IcVersion],
) -> Result<(usize, Option<(IcVersion, IcVersion)>), IcError> {
    let n = parse_negotiate(request)?;
    let chosen = match (highest_common(n.frame, frame), highest_common(n.msg, msg)) {
        (Some(f), Some(m)) => Some((f, m)),
        _ => None,
    };
    let len = request.len().max(ICMSG_HDR_SIZE + NEGOTIATE_RESPONSE_BODY);
    let dst = out.get_mut(..len).ok_or(IcError::BufferTooSmall)?;
    dst.fill(0);
    dst.get_mut(..request.len())
        .ok_or(IcError::BufferTooSmall)?
        .copy_from_slice(request);
    let mut hdr = n.hdr;
    hdr.icmsgsize = NEGOTIATE_RESPONSE_BODY as u16;
    hdr.icflags = RESPONSE_FLAGS;
    let count = u16::from(chosen.is_some());
    let (f, m) = chosen.unwrap_or((IcVersion::new(0, 0), IcVersion::new(0, 0)));
    let mut off = VmbusPipeHdr::SIZE;
    hdr.put(dst, &mut off).ok_or(IcError::BufferTooSmall)?;
    IcMsgNegotiate {
        icframe_vercnt: count,
        icmsg_vercnt: count,
        reserved: 0,
    }
    .put(dst, &mut off)
    .ok_or(IcError::BufferTooSmall)?;
    put_versions(dst, &mut off, &[f, m])?;
    Ok((len, chosen))
}

/// Host side: reads the guest's negotiate answer. `Ok(None)`: the guest
/// found no common version.
pub fn parse_negotiate_response(buf: &[u8]) -> Result<Option<(IcVersion, IcVersion)>, IcError> {
    let m = parse(buf)?;
    if m.hdr.icmsgtype != IcMsgType::NEGOTIATE {
        return Err(IcError::NotNegotiate(m.hdr.icmsgtype));
    }
    let n = IcMsgNegotiate::read_from(m.body).ok_or(IcError::Truncated)?;
    match (n.icframe_vercnt, n.icmsg_vercnt) {
        (0, 0) => Ok(None),
        (1, 1) => {
            let mut off = IcMsgNegotiate::SIZE;
            let f = IcVersion::get(m.body, &mut off).ok_or(IcError::Truncated)?;
            let v = IcVersion::get(m.body, &mut off).ok_or(IcError::Truncated)?;
            Ok(Some((f, v)))
        }
        _ => Err(IcError::BadAnswer),
    }
}

/// Turns a request in `buf` into its answer in place: the status and the
/// flags [`RESPONSE_FLAGS`] (what a guest does for heartbeat, shutdown and
/// time sync after acting on the body).
pub fn make_response(buf: &mut [u8], status: u32) -> Result<(), IcError> {
    let m = parse(buf)?;
    let mut hdr = m.hdr;
    hdr.status = status;
    hdr.icflags = RESPONSE_FLAGS;
    let mut off = VmbusPipeHdr::SIZE;
    hdr.put(buf, &mut off).ok_or(IcError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: IcVersion = IcVersion::new(1, 0);
    const V3: IcVersion = IcVersion::new(3, 0);
    const V31: IcVersion = IcVersion::new(3, 1);
    const V32: IcVersion = IcVersion::new(3, 2);

    #[test]
    fn request_layout() {
        let mut b = [0u8; 64];
        let n = build_negotiate_request(&mut b, &[V1, V3], &[V1, V3, V31], 5).unwrap();
        assert_eq!(n, ICMSG_HDR_SIZE + 8 + 5 * 4);
        let m = parse(&b[..n]).unwrap();
        assert_eq!(m.pipe.msgsize as usize, n - 8);
        assert_eq!(m.hdr.icmsgtype, IcMsgType::NEGOTIATE);
        assert_eq!(m.hdr.icflags, REQUEST_FLAGS);
        assert_eq!(m.hdr.ictransaction_id, 5);
        assert_eq!(usize::from(m.hdr.icmsgsize), n - ICMSG_HDR_SIZE);
        let p = parse_negotiate(&b[..n]).unwrap();
        assert!(p.frame.iter().eq([V1, V3]));
        assert!(p.msg.iter().eq([V1, V3, V31]));
    }

    #[test]
    fn picks_highest_common_like_linux() {
        let mut b = [0u8; 64];
        let n = build_negotiate_request(&mut b, &[V1, V3], &[V1, V3, V31, V32], 0).unwrap();
        let mut r = [0u8; 64];
        // Linux's shutdown lists: fw {3.0, 1.0}, msg {3.2, 3.1, 3.0, 1.0}.
        let (len, c) = answer_negotiate(&b[..n], &mut r, &[V3, V1], &[V32, V31, V3, V1]).unwrap();
        assert_eq!(len, n);
        assert_eq!(c, Some((V3, V32)));
        let a = parse(&r[..len]).unwrap();
        assert_eq!(a.hdr.icflags, RESPONSE_FLAGS);
        assert_eq!(usize::from(a.hdr.icmsgsize), NEGOTIATE_RESPONSE_BODY);
        assert_eq!(parse_negotiate_response(&r[..len]), Ok(Some((V3, V32))));
        // Older guest: only 1.0 messages.
        let (_, c) = answer_negotiate(&b[..n], &mut r, &[V3, V1], &[V1]).unwrap();
        assert_eq!(c, Some((V3, V1)));
    }

    #[test]
    fn no_common_version_gives_zero_counts() {
        let mut b = [0u8; 64];
        let n = build_negotiate_request(&mut b, &[V1], &[V1], 0).unwrap();
        let mut r = [0u8; 64];
        let (len, c) = answer_negotiate(&b[..n], &mut r, &[V3], &[V1]).unwrap();
        assert_eq!(c, None);
        assert_eq!(len, ICMSG_HDR_SIZE + NEGOTIATE_RESPONSE_BODY);
        assert_eq!(parse_negotiate_response(&r[..len]), Ok(None));
    }

    #[test]
    fn malformed() {
        let mut b = [0u8; 64];
        assert_eq!(parse(&b[..27]), Err(IcError::Truncated));
        let n = build_negotiate_request(&mut b, &[V1, V3], &[V1], 0).unwrap();
        assert_eq!(parse_negotiate(&b[..n - 1]), Err(IcError::Truncated));
        // Too many versions.
        b[ICMSG_HDR_SIZE] = 101;
        assert_eq!(
            parse_negotiate(&b[..n]),
            Err(IcError::TooManyVersions { frame: 101, msg: 1 })
        );
        // Not a negotiate message.
        b[12] = 1;
        assert_eq!(
            parse_negotiate(&b[..n]),
            Err(IcError::NotNegotiate(IcMsgType::HEARTBEAT))
        );
        // An answer with two versions each.
        let n = build_negotiate_request(&mut b, &[V1, V3], &[V1, V3], 0).unwrap();
        assert_eq!(parse_negotiate_response(&b[..n]), Err(IcError::BadAnswer));
        let mut small = [0u8; 30];
        assert_eq!(
            answer_negotiate(&b[..n], &mut small, &[V1], &[V1]),
            Err(IcError::BufferTooSmall)
        );
    }

    #[test]
    fn response_in_place() {
        let mut b = [0u8; 96];
        let hdr = request_header(IcMsgType::HEARTBEAT, V3, V3, 9);
        let n = encode(&mut b, &hdr, &[0u8; 40]).unwrap();
        make_response(&mut b[..n], HV_E_FAIL).unwrap();
        let m = parse(&b[..n]).unwrap();
        assert_eq!(m.hdr.status, HV_E_FAIL);
        assert_eq!(m.hdr.icflags, RESPONSE_FLAGS);
        assert_eq!(m.hdr.ictransaction_id, 9);
        assert_eq!(m.body.len(), 40);
    }
}
