// SPDX-License-Identifier: GPL-2.0

//! File copy (fcopy) messages, the body of an IC message of type `FCOPY`
//! (`include/uapi/linux/hyperv.h`): the host starts a file, writes it in
//! fragments and completes (or cancels) it. The guest answers each message
//! in the same buffer; its verdict is the IC header's status.

use super::{PackedU64, Wire};

/// UTF-16 units of a file or directory name (`W_MAX_PATH`).
pub const W_MAX_PATH: usize = 260;
/// Bytes of one fragment (`DATA_FRAGMENT`).
pub const DATA_FRAGMENT: usize = 6 * 1024;

/// Copy flag: replace an existing file.
pub const OVER_WRITE: u32 = 1;
/// Copy flag: create the directory if it is missing.
pub const CREATE_PATH: u32 = 2;

open_enum! {
    /// `enum hv_fcopy_op`.
    pub struct FcopyOp(u32);
    {
        /// Create the file.
        START_FILE_COPY = 0,
        /// Write a fragment.
        WRITE_TO_FILE = 1,
        /// Close the file.
        COMPLETE_FCOPY = 2,
        /// Remove the file being copied.
        CANCEL_FCOPY = 3,
    }
}

wire_struct! {
    /// `struct hv_fcopy_hdr`.
    pub struct FcopyHdr, size 36;
    {
        /// [`FcopyOp`].
        pub operation: FcopyOp,
        /// Unused.
        pub service_id0: [u8; 16],
        /// Unused.
        pub service_id1: [u8; 16],
    }
}

wire_struct! {
    /// `struct hv_start_fcopy`: names are UTF-16LE with a NUL terminator.
    pub struct StartFcopy, size 1088;
    {
        /// `START_FILE_COPY`.
        pub hdr: FcopyHdr,
        /// The file's name.
        pub file_name: [u16; W_MAX_PATH],
        /// The directory it goes to.
        pub path_name: [u16; W_MAX_PATH],
        /// `OVER_WRITE`, `CREATE_PATH`.
        pub copy_flags: u32,
        /// The file's size.
        pub file_size: PackedU64,
    }
}

wire_struct! {
    /// `struct hv_do_fcopy`: one fragment.
    pub struct DoFcopy, size 6196;
    {
        /// `WRITE_TO_FILE`.
        pub hdr: FcopyHdr,
        /// Padding.
        pub pad: u32,
        /// Where the fragment goes in the file.
        pub offset: PackedU64,
        /// Bytes of `data` in use.
        pub size: u32,
        /// The fragment.
        pub data: [u8; DATA_FRAGMENT],
    }
}
