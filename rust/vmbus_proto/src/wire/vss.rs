// SPDX-License-Identifier: GPL-2.0

//! Volume shadow copy (VSS) messages, the body of an IC message of type
//! `VSS` (`include/uapi/linux/hyperv.h`). The guest answers an operation
//! in the same buffer; its verdict is the IC header's status.

use super::Wire;

/// Hot-backup answer flag: the guest cannot recover automatically
/// (`VSS_HBU_NO_AUTO_RECOVERY`).
pub const VSS_HBU_NO_AUTO_RECOVERY: u32 = 5;

open_enum! {
    /// `enum hv_vss_op`.
    pub struct VssOp(u8);
    {
        /// Create a shadow copy.
        CREATE = 0,
        /// Delete a shadow copy.
        DELETE = 1,
        /// Ask whether the guest can take a hot backup.
        HOT_BACKUP = 2,
        /// Ask for disk management information.
        GET_DM_INFO = 3,
        /// The backup completed.
        BU_COMPLETE = 4,
        /// Freeze the guest's file systems.
        FREEZE = 5,
        /// Thaw them.
        THAW = 6,
        /// Automatic recovery.
        AUTO_RECOVER = 7,
    }
}

wire_struct! {
    /// `struct hv_vss_msg`: the operation (its first byte; the guest's
    /// daemon reuses the first four bytes as an error code internally) and
    /// the feature flags.
    pub struct VssMsg, size 12;
    {
        /// [`VssOp`].
        pub operation: VssOp,
        /// Reserved.
        pub reserved: [u8; 7],
        /// Feature flags (`VSS_HBU_*`) in a hot-backup answer.
        pub flags: u32,
    }
}
