// SPDX-License-Identifier: GPL-2.0

//! The VSS exchange as the host speaks it: a request names an operation
//! ([`encode_request`]); the guest answers in the same buffer, keeping the
//! operation and setting the feature flags of a hot-backup answer
//! ([`parse_answer`]). Whether the operation succeeded is the IC header's
//! status, not part of this body.
//!
//! ```
//! use vmbus_proto::vss::{encode_request, parse_answer};
//! use vmbus_proto::wire::vss::VssOp;
//!
//! let mut buf = [0u8; 12];
//! let n = encode_request(VssOp::FREEZE, &mut buf).unwrap();
//! assert_eq!(parse_answer(&buf[..n], VssOp::FREEZE).unwrap(), 0);
//! ```

use super::wire::vss::{VssMsg, VssOp};
use super::wire::Wire;

/// Why a VSS message could not be encoded or was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VssError {
    /// Shorter than [`VssMsg`].
    Truncated(usize),
    /// The output buffer is too small.
    BufferTooSmall,
    /// The answer is for another operation than the one asked.
    WrongOp {
        /// The operation asked.
        want: VssOp,
        /// The operation in the answer.
        got: VssOp,
    },
}

/// Encodes a request for `op`; returns its length.
pub fn encode_request(op: VssOp, buf: &mut [u8]) -> Result<usize, VssError> {
    let mut m = VssMsg::zeroed();
    m.operation = op;
    m.write_to(buf).ok_or(VssError::BufferTooSmall)
}

/// Reads the answer to a request for `want`; returns its feature flags.
pub fn parse_answer(body: &[u8], want: VssOp) -> Result<u32, VssError> {
    let m = VssMsg::read_from(body).ok_or(VssError::Truncated(body.len()))?;
    if m.operation != want {
        return Err(VssError::WrongOp {
            want,
            got: m.operation,
        });
    }
    Ok(m.flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::vss::VSS_HBU_NO_AUTO_RECOVERY;

    #[test]
    fn request_bytes() {
        let mut buf = [0xffu8; 16];
        assert_eq!(encode_request(VssOp::THAW, &mut buf), Ok(12));
        assert_eq!(&buf[..12], &[6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            encode_request(VssOp::THAW, &mut buf[..11]),
            Err(VssError::BufferTooSmall)
        );
    }

    #[test]
    fn hot_backup_answer() {
        let mut buf = [0u8; 12];
        encode_request(VssOp::HOT_BACKUP, &mut buf).unwrap();
        buf[8..].copy_from_slice(&VSS_HBU_NO_AUTO_RECOVERY.to_le_bytes());
        assert_eq!(
            parse_answer(&buf, VssOp::HOT_BACKUP),
            Ok(VSS_HBU_NO_AUTO_RECOVERY)
        );
    }

    #[test]
    fn malformed_answers() {
        let mut buf = [0u8; 12];
        encode_request(VssOp::FREEZE, &mut buf).unwrap();
        assert_eq!(
            parse_answer(&buf[..11], VssOp::FREEZE),
            Err(VssError::Truncated(11))
        );
        assert_eq!(
            parse_answer(&[], VssOp::FREEZE),
            Err(VssError::Truncated(0))
        );
        assert_eq!(
            parse_answer(&buf, VssOp::THAW),
            Err(VssError::WrongOp {
                want: VssOp::THAW,
                got: VssOp::FREEZE
            })
        );
        buf[0] = 0xee;
        assert_eq!(
            parse_answer(&buf, VssOp::FREEZE),
            Err(VssError::WrongOp {
                want: VssOp::FREEZE,
                got: VssOp(0xee)
            })
        );
    }
}
