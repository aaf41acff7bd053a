// SPDX-License-Identifier: GPL-2.0

//! The file copy exchange as the host speaks it: [`encode_start`], then
//! [`encode_write`] for each fragment of at most [`DATA_FRAGMENT`] bytes,
//! then [`encode_op`] with `COMPLETE_FCOPY` (or `CANCEL_FCOPY`). The guest
//! answers each message in place; [`parse_answer`] checks that an answer
//! names the operation asked (its verdict is the IC header's status).
//!
//! ```
//! use vmbus_proto::fcopy::{encode_start, encode_write, parse_answer};
//! use vmbus_proto::wire::fcopy::{FcopyOp, CREATE_PATH};
//!
//! let mut buf = [0u8; 6196];
//! let n = encode_start(&mut buf, "a.txt", "/tmp", CREATE_PATH, 5).unwrap();
//! assert_eq!(parse_answer(&buf[..n], FcopyOp::START_FILE_COPY), Ok(()));
//! let n = encode_write(&mut buf, 0, b"hello").unwrap();
//! assert_eq!(n, 6196);
//! ```

use core::mem::offset_of;

use super::utf16::{put_utf16, Utf16Error};
use super::wire::fcopy::{DoFcopy, FcopyHdr, FcopyOp, StartFcopy, DATA_FRAGMENT, W_MAX_PATH};
use super::wire::{PackedU64, Wire};

/// Why a file copy message could not be encoded or was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FcopyError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// A name does not fit [`W_MAX_PATH`] units with its terminator.
    NameTooLong,
    /// A fragment larger than [`DATA_FRAGMENT`].
    FragmentTooLarge(usize),
    /// An answer shorter than the header.
    Truncated(usize),
    /// The answer is for another operation than the one asked.
    WrongOp {
        /// The operation asked.
        want: FcopyOp,
        /// The operation in the answer.
        got: FcopyOp,
    },
}

fn header(op: FcopyOp) -> FcopyHdr {
    let mut h = FcopyHdr::zeroed();
    h.operation = op;
    h
}

fn name(s: &str, out: &mut [u8]) -> Result<(), FcopyError> {
    put_utf16(s, out).map(|_| ()).map_err(|e| match e {
        Utf16Error::TooLong => FcopyError::NameTooLong,
        _ => FcopyError::BufferTooSmall,
    })
}

/// Encodes a `START_FILE_COPY` of `file_name` into the directory
/// `path_name`; returns its length.
pub fn encode_start(
    buf: &mut [u8],
    file_name: &str,
    path_name: &str,
    copy_flags: u32,
    file_size: u64,
) -> Result<usize, FcopyError> {
    let out = buf
        .get_mut(..StartFcopy::SIZE)
        .ok_or(FcopyError::BufferTooSmall)?;
    let mut m = StartFcopy::zeroed();
    m.hdr = header(FcopyOp::START_FILE_COPY);
    m.copy_flags = copy_flags;
    m.file_size = PackedU64::new(file_size);
    m.write_to(out).ok_or(FcopyError::BufferTooSmall)?;
    let names = 2 * W_MAX_PATH;
    let f = offset_of!(StartFcopy, file_name);
    name(
        file_name,
        out.get_mut(f..f + names)
            .ok_or(FcopyError::BufferTooSmall)?,
    )?;
    let p = offset_of!(StartFcopy, path_name);
    name(
        path_name,
        out.get_mut(p..p + names)
            .ok_or(FcopyError::BufferTooSmall)?,
    )?;
    Ok(StartFcopy::SIZE)
}

/// Encodes a `WRITE_TO_FILE` of `data` at `offset`; returns its length
/// (the whole structure, as Hyper-V sends it).
pub fn encode_write(buf: &mut [u8], offset: u64, data: &[u8]) -> Result<usize, FcopyError> {
    if data.len() > DATA_FRAGMENT {
        return Err(FcopyError::FragmentTooLarge(data.len()));
    }
    let out = buf
        .get_mut(..DoFcopy::SIZE)
        .ok_or(FcopyError::BufferTooSmall)?;
    out.fill(0);
    let mut off = 0;
    header(FcopyOp::WRITE_TO_FILE)
        .put(out, &mut off)
        .ok_or(FcopyError::BufferTooSmall)?;
    let mut off = offset_of!(DoFcopy, offset);
    PackedU64::new(offset)
        .put(out, &mut off)
        .ok_or(FcopyError::BufferTooSmall)?;
    // The length fits u32: it is at most DATA_FRAGMENT.
    (data.len() as u32)
        .put(out, &mut off)
        .ok_or(FcopyError::BufferTooSmall)?;
    let d = offset_of!(DoFcopy, data);
    out.get_mut(d..d + data.len())
        .ok_or(FcopyError::BufferTooSmall)?
        .copy_from_slice(data);
    Ok(DoFcopy::SIZE)
}

/// Encodes a message that is only a header (`COMPLETE_FCOPY`,
/// `CANCEL_FCOPY`); returns its length.
pub fn encode_op(buf: &mut [u8], op: FcopyOp) -> Result<usize, FcopyError> {
    header(op).write_to(buf).ok_or(FcopyError::BufferTooSmall)
}

/// Checks that an answer names `want`.
pub fn parse_answer(body: &[u8], want: FcopyOp) -> Result<(), FcopyError> {
    let h = FcopyHdr::read_from(body).ok_or(FcopyError::Truncated(body.len()))?;
    if h.operation != want {
        return Err(FcopyError::WrongOp {
            want,
            got: h.operation,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fcopy::{CREATE_PATH, OVER_WRITE};

    #[test]
    fn start_bytes() {
        let mut buf = [0xffu8; 1100];
        let n = encode_start(&mut buf, "f", "/d", OVER_WRITE | CREATE_PATH, 0x1_0000_0002).unwrap();
        assert_eq!(n, 1088);
        assert_eq!(&buf[..4], &[0, 0, 0, 0]);
        assert!(buf[4..36].iter().all(|&b| b == 0));
        assert_eq!(&buf[36..40], &[b'f', 0, 0, 0]);
        assert_eq!(&buf[556..562], &[b'/', 0, b'd', 0, 0, 0]);
        assert_eq!(&buf[1076..1080], &[3, 0, 0, 0]);
        assert_eq!(&buf[1080..1088], &[2, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(buf[1088], 0xff, "nothing written past the message");
    }

    #[test]
    fn write_bytes() {
        let mut buf = [0xffu8; 6200];
        let n = encode_write(&mut buf, 0x1234, b"abc").unwrap();
        assert_eq!(n, 6196);
        assert_eq!(&buf[..4], &[1, 0, 0, 0]);
        assert_eq!(&buf[36..40], &[0; 4]);
        assert_eq!(&buf[40..48], &[0x34, 0x12, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&buf[48..52], &[3, 0, 0, 0]);
        assert_eq!(&buf[52..56], &[b'a', b'b', b'c', 0]);
        assert_eq!(
            encode_write(&mut buf, 0, &[0; DATA_FRAGMENT + 1]),
            Err(FcopyError::FragmentTooLarge(DATA_FRAGMENT + 1))
        );
        assert_eq!(
            encode_write(&mut buf[..6195], 0, b""),
            Err(FcopyError::BufferTooSmall)
        );
    }

    #[test]
    fn names_too_long() {
        let mut buf = [0u8; 1088];
        let long = [b'n'; W_MAX_PATH];
        let long = core::str::from_utf8(&long).unwrap();
        assert_eq!(
            encode_start(&mut buf, long, "/", 0, 0),
            Err(FcopyError::NameTooLong)
        );
        assert_eq!(
            encode_start(&mut buf, "f", long, 0, 0),
            Err(FcopyError::NameTooLong)
        );
        assert!(encode_start(&mut buf, &long[1..], "/", 0, 0).is_ok());
        assert_eq!(
            encode_start(&mut buf[..100], "f", "/", 0, 0),
            Err(FcopyError::BufferTooSmall)
        );
    }

    #[test]
    fn answers() {
        let mut buf = [0u8; 40];
        let n = encode_op(&mut buf, FcopyOp::COMPLETE_FCOPY).unwrap();
        assert_eq!(n, 36);
        assert_eq!(parse_answer(&buf[..n], FcopyOp::COMPLETE_FCOPY), Ok(()));
        assert_eq!(
            parse_answer(&buf[..n], FcopyOp::CANCEL_FCOPY),
            Err(FcopyError::WrongOp {
                want: FcopyOp::CANCEL_FCOPY,
                got: FcopyOp::COMPLETE_FCOPY
            })
        );
        assert_eq!(
            parse_answer(&buf[..35], FcopyOp::COMPLETE_FCOPY),
            Err(FcopyError::Truncated(35))
        );
        assert_eq!(
            encode_op(&mut buf[..35], FcopyOp::CANCEL_FCOPY),
            Err(FcopyError::BufferTooSmall)
        );
    }
}
