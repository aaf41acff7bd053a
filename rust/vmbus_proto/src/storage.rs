// SPDX-License-Identifier: GPL-2.0

//! The storage VSP protocol's logic: decoding what a storage guest
//! (Linux's storvsc) sends, and encoding what the host answers.
//!
//! Every guest packet is a `vstor_packet` carried in-band (or as the
//! payload of a GPA-direct packet when an SRB has data). Its size depends
//! on the negotiated protocol version: 64 bytes from 5.1 (win8) on, 48
//! before, when the SRB had no win8 extension. [`parse_request`] checks
//! the length, the operation and, for an SRB, the CDB length, and returns a
//! typed [`Request`] or a typed [`StorError`].

use super::wire::storage::{
    ChannelProperties, ProtocolVersion, VmscsiRequest, VmscsiWin8Extension, VstorOperation,
    VstorPacketHeader, MAX_CDB_LEN, SENSE_BUFFER_SIZE, VERSION_WIN10, VERSION_WIN6, VERSION_WIN7,
    VERSION_WIN8, VERSION_WIN8_1, VSTOR_PACKET_SIZE, WIN8_EXTENSION_SIZE,
};
use super::wire::Wire;

/// The protocol versions this host accepts, newest first.
pub const HOST_VERSIONS: [u16; 5] = [
    VERSION_WIN10,
    VERSION_WIN8_1,
    VERSION_WIN8,
    VERSION_WIN7,
    VERSION_WIN6,
];

/// The size of a `vstor_packet` under protocol `version`.
pub const fn packet_size(version: u16) -> usize {
    if version >= VERSION_WIN8 {
        VSTOR_PACKET_SIZE
    } else {
        VSTOR_PACKET_SIZE - WIN8_EXTENSION_SIZE
    }
}

/// The smallest `vstor_packet` any guest sends.
pub const MIN_PACKET_SIZE: usize = VSTOR_PACKET_SIZE - WIN8_EXTENSION_SIZE;

/// Why a guest packet was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorError {
    /// Shorter than a `vstor_packet` of the negotiated version.
    Truncated {
        /// Bytes received.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// An operation a guest does not send (or one this host does not know).
    UnexpectedOperation(VstorOperation),
    /// An SRB whose CDB length is 0 or more than [`MAX_CDB_LEN`].
    BadCdbLength(u8),
}

impl core::fmt::Display for StorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StorError::Truncated { len, need } => {
                write!(f, "vstor packet of {len} bytes, need {need}")
            }
            StorError::UnexpectedOperation(op) => match op.name() {
                Some(n) => write!(f, "unexpected operation {n}"),
                None => write!(f, "unknown operation {}", op.0),
            },
            StorError::BadCdbLength(n) => write!(f, "CDB length {n}"),
        }
    }
}

/// A validated SCSI request block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Srb {
    /// The request as received (the win8 extension zero when absent).
    pub raw: VmscsiRequest,
    /// The CDB (bytes past its length are zero).
    pub cdb: [u8; MAX_CDB_LEN],
    /// The CDB's length, 1 to [`MAX_CDB_LEN`].
    pub cdb_len: usize,
}

impl Srb {
    /// The CDB's bytes.
    pub fn cdb(&self) -> &[u8] {
        self.cdb.get(..self.cdb_len).unwrap_or(&[])
    }
}

/// A decoded guest request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `BEGIN_INITIALIZATION`.
    BeginInit,
    /// `QUERY_PROTOCOL_VERSION`.
    QueryVersion(ProtocolVersion),
    /// `QUERY_PROPERTIES`.
    QueryProperties,
    /// `END_INITIALIZATION`.
    EndInit,
    /// `CREATE_SUB_CHANNELS` with the count asked for.
    CreateSubChannels(u16),
    /// `FCHBA_DATA` (only a fibre channel host answers it).
    FcHbaData,
    /// `EXECUTE_SRB`.
    ExecuteSrb(Srb),
    /// `RESET_LUN`, `RESET_ADAPTER` or `RESET_BUS`.
    Reset(VstorOperation),
}

/// Decodes a guest packet of a channel whose negotiated packet size is
/// `size` ([`packet_size`]; [`MIN_PACKET_SIZE`] before negotiation).
/// Bytes past `size` are ignored.
pub fn parse_request(b: &[u8], size: usize) -> Result<(VstorPacketHeader, Request), StorError> {
    let need = size.max(MIN_PACKET_SIZE);
    if b.len() < need {
        return Err(StorError::Truncated { len: b.len(), need });
    }
    let mut off = 0;
    let hdr =
        VstorPacketHeader::get(b, &mut off).ok_or(StorError::Truncated { len: b.len(), need })?;
    let body = b.get(off..need).unwrap_or(&[]);
    let req = match hdr.operation {
        VstorOperation::BEGIN_INITIALIZATION => Request::BeginInit,
        VstorOperation::END_INITIALIZATION => Request::EndInit,
        VstorOperation::QUERY_PROPERTIES => Request::QueryProperties,
        VstorOperation::FCHBA_DATA => Request::FcHbaData,
        VstorOperation::QUERY_PROTOCOL_VERSION => Request::QueryVersion(
            ProtocolVersion::read_from(body).ok_or(StorError::Truncated { len: b.len(), need })?,
        ),
        VstorOperation::CREATE_SUB_CHANNELS => {
            Request::CreateSubChannels(u16::read_from(body).unwrap_or(0))
        }
        VstorOperation::EXECUTE_SRB => Request::ExecuteSrb(parse_srb(body)?),
        op @ (VstorOperation::RESET_LUN
        | VstorOperation::RESET_ADAPTER
        | VstorOperation::RESET_BUS) => Request::Reset(op),
        op => return Err(StorError::UnexpectedOperation(op)),
    };
    Ok((hdr, req))
}

/// Decodes an SRB from the union of a `vstor_packet` (36 or 52 bytes).
fn parse_srb(body: &[u8]) -> Result<Srb, StorError> {
    let short = VmscsiRequest::SIZE - WIN8_EXTENSION_SIZE;
    let mut full = [0u8; VmscsiRequest::SIZE];
    let n = body.len().min(VmscsiRequest::SIZE);
    if n < short {
        return Err(StorError::Truncated {
            len: n,
            need: short,
        });
    }
    if let (Some(d), Some(s)) = (full.get_mut(..n), body.get(..n)) {
        d.copy_from_slice(s);
    }
    let raw = VmscsiRequest::read_from(&full).ok_or(StorError::Truncated {
        len: n,
        need: short,
    })?;
    let cdb_len = usize::from(raw.cdb_length);
    if cdb_len == 0 || cdb_len > MAX_CDB_LEN {
        return Err(StorError::BadCdbLength(raw.cdb_length));
    }
    let mut cdb = [0u8; MAX_CDB_LEN];
    if let (Some(d), Some(s)) = (cdb.get_mut(..cdb_len), raw.buf.get(..cdb_len)) {
        d.copy_from_slice(s);
    }
    Ok(Srb { raw, cdb, cdb_len })
}

/// The result of an SRB, for its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SrbResult {
    /// The SRB status, flags included.
    pub srb_status: u8,
    /// The SCSI status.
    pub scsi_status: u8,
    /// Bytes transferred.
    pub data_transfer_length: u32,
    /// The sense data (fixed format), of which `sense_len` bytes are valid.
    pub sense: [u8; SENSE_BUFFER_SIZE],
    /// Valid sense bytes.
    pub sense_len: u8,
}

/// Encodes a `COMPLETE_IO` packet of `size` bytes ([`packet_size`]) into
/// `out` with `status`; `body` is written into the union when given.
/// Returns the length, or `None` if `out` is too short.
pub fn encode_completion(
    out: &mut [u8],
    size: usize,
    status: u32,
    body: CompletionBody<'_>,
) -> Option<usize> {
    let size = size.clamp(MIN_PACKET_SIZE, VSTOR_PACKET_SIZE);
    let b = out.get_mut(..size)?;
    b.fill(0);
    let hdr = VstorPacketHeader {
        operation: VstorOperation::COMPLETE_IO,
        flags: 0,
        status,
    };
    let mut off = 0;
    hdr.put(b, &mut off)?;
    match body {
        CompletionBody::None => {}
        CompletionBody::Version(v) => v.put(b, &mut off)?,
        CompletionBody::Properties(p) => p.put(b, &mut off)?,
        CompletionBody::Srb(srb, r) => {
            let mut s = srb.raw;
            s.srb_status = r.srb_status;
            s.scsi_status = r.scsi_status;
            s.data_transfer_length = r.data_transfer_length;
            // CAST: SENSE_BUFFER_SIZE is 20.
            s.sense_info_length = r.sense_len.min(SENSE_BUFFER_SIZE as u8);
            s.buf = [0; super::wire::storage::SRB_BUF_LEN];
            if let Some(d) = s.buf.get_mut(..SENSE_BUFFER_SIZE) {
                d.copy_from_slice(&r.sense);
            }
            if size < VSTOR_PACKET_SIZE {
                s.win8 = VmscsiWin8Extension::zeroed();
                let mut tmp = [0u8; VmscsiRequest::SIZE];
                s.write_to(&mut tmp)?;
                let n = VmscsiRequest::SIZE - WIN8_EXTENSION_SIZE;
                b.get_mut(off..off + n)?.copy_from_slice(tmp.get(..n)?);
            } else {
                s.put(b, &mut off)?;
            }
        }
    }
    Some(size)
}

/// What a completion carries in its union.
#[derive(Clone, Copy, Debug)]
pub enum CompletionBody<'a> {
    /// Nothing (zeros).
    None,
    /// The protocol version (an answer to `QUERY_PROTOCOL_VERSION`).
    Version(ProtocolVersion),
    /// The channel properties.
    Properties(ChannelProperties),
    /// An SRB's result: the request echoed with its status fields set.
    Srb(&'a Srb, &'a SrbResult),
}

/// Encodes an unsolicited host packet of `operation` (`ENUMERATE_BUS` or
/// `REMOVE_DEVICE`) of `size` bytes into `out`.
pub fn encode_notification(
    out: &mut [u8],
    size: usize,
    operation: VstorOperation,
) -> Option<usize> {
    let size = size.clamp(MIN_PACKET_SIZE, VSTOR_PACKET_SIZE);
    let b = out.get_mut(..size)?;
    b.fill(0);
    VstorPacketHeader {
        operation,
        flags: 0,
        status: 0,
    }
    .write_to(b)?;
    Some(size)
}

/// Whether the host accepts protocol `version` from a guest.
pub fn version_supported(version: u16) -> bool {
    HOST_VERSIONS.contains(&version)
}

#[cfg(test)]
mod tests {
    use super::super::wire::storage::{
        SrbStatus, REQUEST_COMPLETION_FLAG, SRB_STATUS_AUTOSENSE_VALID,
    };
    use super::*;

    fn packet(op: VstorOperation, body: &[u8]) -> [u8; 64] {
        let mut b = [0u8; 64];
        VstorPacketHeader {
            operation: op,
            flags: REQUEST_COMPLETION_FLAG,
            status: 0,
        }
        .write_to(&mut b)
        .unwrap();
        b[12..12 + body.len()].copy_from_slice(body);
        b
    }

    fn srb_packet(cdb: &[u8]) -> [u8; 64] {
        let mut r = VmscsiRequest::zeroed();
        r.length = 52;
        r.cdb_length = cdb.len() as u8;
        r.buf[..cdb.len()].copy_from_slice(cdb);
        r.lun = 2;
        r.data_transfer_length = 4096;
        let mut body = [0u8; 52];
        r.write_to(&mut body).unwrap();
        packet(VstorOperation::EXECUTE_SRB, &body)
    }

    #[test]
    fn decodes_the_init_sequence() {
        let p = packet(VstorOperation::BEGIN_INITIALIZATION, &[]);
        assert_eq!(parse_request(&p, 64).unwrap().1, Request::BeginInit);
        let p = packet(VstorOperation::QUERY_PROTOCOL_VERSION, &[0x02, 0x06, 0, 0]);
        assert_eq!(
            parse_request(&p, 64).unwrap().1,
            Request::QueryVersion(ProtocolVersion {
                major_minor: VERSION_WIN10,
                revision: 0
            })
        );
        let p = packet(VstorOperation::CREATE_SUB_CHANNELS, &[3, 0]);
        assert_eq!(
            parse_request(&p, 64).unwrap().1,
            Request::CreateSubChannels(3)
        );
        let p = packet(VstorOperation::END_INITIALIZATION, &[]);
        assert_eq!(parse_request(&p[..48], 48).unwrap().1, Request::EndInit);
    }

    #[test]
    fn decodes_an_srb() {
        let p = srb_packet(&[0x28, 0, 0, 0, 0, 8, 0, 0, 8, 0]);
        let Request::ExecuteSrb(s) = parse_request(&p, 64).unwrap().1 else {
            panic!("not an SRB");
        };
        assert_eq!(s.cdb(), &[0x28, 0, 0, 0, 0, 8, 0, 0, 8, 0]);
        assert_eq!(s.raw.lun, 2);
        assert_eq!(s.raw.data_transfer_length, 4096);
        // A pre-win8 packet carries the same SRB without the extension.
        let Request::ExecuteSrb(t) = parse_request(&p[..48], 48).unwrap().1 else {
            panic!("not an SRB");
        };
        assert_eq!(t.cdb(), s.cdb());
    }

    #[test]
    fn refuses_bad_packets() {
        let p = srb_packet(&[0x28; 10]);
        assert_eq!(
            parse_request(&p[..47], 48),
            Err(StorError::Truncated { len: 47, need: 48 })
        );
        assert_eq!(
            parse_request(&p[..48], 64),
            Err(StorError::Truncated { len: 48, need: 64 })
        );
        assert_eq!(
            parse_request(&[], 0),
            Err(StorError::Truncated { len: 0, need: 48 })
        );
        let p = srb_packet(&[]);
        assert_eq!(parse_request(&p, 64), Err(StorError::BadCdbLength(0)));
        let mut p = srb_packet(&[0; 16]);
        p[12 + 8] = 17;
        assert_eq!(parse_request(&p, 64), Err(StorError::BadCdbLength(17)));
        for op in [0u32, 1, 2, 11, 14, 0xffff_ffff] {
            let p = packet(VstorOperation(op), &[]);
            assert_eq!(
                parse_request(&p, 64),
                Err(StorError::UnexpectedOperation(VstorOperation(op)))
            );
        }
    }

    #[test]
    fn encodes_completions() {
        let mut out = [0xffu8; 80];
        let n = encode_completion(&mut out, 64, 0, CompletionBody::None).unwrap();
        assert_eq!(n, 64);
        assert_eq!(&out[..12], &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(out[12..64].iter().all(|&b| b == 0));
        let p = srb_packet(&[0x12, 0, 0, 0, 36, 0]);
        let Request::ExecuteSrb(s) = parse_request(&p, 64).unwrap().1 else {
            panic!("not an SRB");
        };
        let mut sense = [0u8; SENSE_BUFFER_SIZE];
        sense[0] = 0x70;
        let r = SrbResult {
            srb_status: SrbStatus::ERROR.0 | SRB_STATUS_AUTOSENSE_VALID,
            scsi_status: 2,
            data_transfer_length: 0,
            sense,
            sense_len: 18,
        };
        let n = encode_completion(&mut out, 48, 0, CompletionBody::Srb(&s, &r)).unwrap();
        assert_eq!(n, 48);
        assert_eq!(out[12 + 2], 0x84);
        assert_eq!(out[12 + 3], 2);
        assert_eq!(out[12 + 9], 18);
        assert_eq!(out[12 + 16], 0x70);
        assert!(encode_completion(&mut out[..40], 48, 0, CompletionBody::None).is_none());
        let n = encode_notification(&mut out, 64, VstorOperation::ENUMERATE_BUS).unwrap();
        assert_eq!((n, out[0]), (64, 11));
    }

    #[test]
    fn versions() {
        assert!(version_supported(VERSION_WIN10));
        assert!(version_supported(VERSION_WIN8_1));
        assert!(!version_supported(0x0603));
        assert_eq!(packet_size(VERSION_WIN8), 64);
        assert_eq!(packet_size(VERSION_WIN7), 48);
    }
}
