// SPDX-License-Identifier: GPL-2.0

//! SCSI sense data: the sense keys and additional sense codes this target
//! reports, and their fixed-format encoding (SPC-4 4.5.3).

/// A sense key with its additional sense code and qualifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sense {
    /// The sense key.
    pub key: u8,
    /// The additional sense code.
    pub asc: u8,
    /// The additional sense code qualifier.
    pub ascq: u8,
}

/// Sense key: no sense.
pub const KEY_NO_SENSE: u8 = 0x0;
/// Sense key: medium error.
pub const KEY_MEDIUM_ERROR: u8 = 0x3;
/// Sense key: illegal request.
pub const KEY_ILLEGAL_REQUEST: u8 = 0x5;
/// Sense key: data protect.
pub const KEY_DATA_PROTECT: u8 = 0x7;

/// Bytes of fixed-format sense data.
pub const FIXED_SENSE_LEN: usize = 18;

impl Sense {
    /// Builds a sense triple.
    pub const fn new(key: u8, asc: u8, ascq: u8) -> Self {
        Self { key, asc, ascq }
    }

    /// ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE.
    pub const INVALID_OPCODE: Self = Self::new(KEY_ILLEGAL_REQUEST, 0x20, 0x00);
    /// ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE.
    pub const LBA_OUT_OF_RANGE: Self = Self::new(KEY_ILLEGAL_REQUEST, 0x21, 0x00);
    /// ILLEGAL REQUEST, INVALID FIELD IN CDB.
    pub const INVALID_FIELD_IN_CDB: Self = Self::new(KEY_ILLEGAL_REQUEST, 0x24, 0x00);
    /// ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED.
    pub const LUN_NOT_SUPPORTED: Self = Self::new(KEY_ILLEGAL_REQUEST, 0x25, 0x00);
    /// ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST.
    pub const INVALID_FIELD_IN_PARAMETER_LIST: Self = Self::new(KEY_ILLEGAL_REQUEST, 0x26, 0x00);
    /// ILLEGAL REQUEST, PARAMETER LIST LENGTH ERROR.
    pub const PARAMETER_LIST_LENGTH_ERROR: Self = Self::new(KEY_ILLEGAL_REQUEST, 0x1a, 0x00);
    /// ILLEGAL REQUEST, SAVING PARAMETERS NOT SUPPORTED.
    pub const SAVING_PARAMETERS_NOT_SUPPORTED: Self = Self::new(KEY_ILLEGAL_REQUEST, 0x39, 0x00);
    /// DATA PROTECT, WRITE PROTECTED.
    pub const WRITE_PROTECTED: Self = Self::new(KEY_DATA_PROTECT, 0x27, 0x00);
    /// MEDIUM ERROR, UNRECOVERED READ ERROR.
    pub const READ_ERROR: Self = Self::new(KEY_MEDIUM_ERROR, 0x11, 0x00);
    /// MEDIUM ERROR, WRITE ERROR.
    pub const WRITE_ERROR: Self = Self::new(KEY_MEDIUM_ERROR, 0x0c, 0x00);
    /// ILLEGAL REQUEST with the data buffer too small for the command:
    /// reported as INVALID FIELD IN CDB, the transfer length being the
    /// field at fault.
    pub const BUFFER_TOO_SHORT: Self = Self::INVALID_FIELD_IN_CDB;

    /// The fixed-format sense data (response code 0x70, current error).
    pub fn fixed(&self) -> [u8; FIXED_SENSE_LEN] {
        let mut s = [0u8; FIXED_SENSE_LEN];
        s[0] = 0x70;
        s[2] = self.key & 0x0f;
        // The additional sense length: the bytes after byte 7.
        s[7] = (FIXED_SENSE_LEN - 8) as u8;
        s[12] = self.asc;
        s[13] = self.ascq;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_format() {
        let s = Sense::LBA_OUT_OF_RANGE.fixed();
        assert_eq!(s.len(), 18);
        assert_eq!((s[0], s[2], s[7], s[12], s[13]), (0x70, 5, 10, 0x21, 0));
        assert_eq!(Sense::WRITE_PROTECTED.fixed()[2], KEY_DATA_PROTECT);
    }
}
