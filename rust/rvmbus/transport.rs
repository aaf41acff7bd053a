// SPDX-License-Identifier: GPL-2.0

//! What the bus needs from a transport to the host.
//!
//! The VMBus protocol above the transport is the same on real Hyper-V and on
//! the ivshmem test transport; only how a message is posted, an event
//! signalled and the guest interrupted differs.

use kernel::prelude::*;

/// Hyper-V's name for the status of a hypercall.
pub(crate) use crate::proto::ivshmem::HvStatus;

/// A transport to the host.
pub(crate) trait Transport: Send + Sync {
    /// A short name for logs and sysfs (`"hyperv"`, `"ivshmem"`).
    fn name(&self) -> &'static str;

    /// Tells the host that this guest driver is going away.
    fn detach(&self) -> Result<HvStatus>;
}
