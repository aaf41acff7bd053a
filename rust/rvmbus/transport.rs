// SPDX-License-Identifier: GPL-2.0

//! What the bus needs from a transport to the host.
//!
//! The VMBus protocol above the transport is the same on real Hyper-V and on
//! the ivshmem test transport; only how a message is posted, an event
//! signalled, the SynIC programmed and the guest interrupted differs. The
//! connection ([`crate::connection`]) owns the SynIC pages and hands their
//! addresses to the transport; the transport calls
//! [`crate::connection::Connection::kick`] from its interrupt handler.

use kernel::prelude::*;

/// Hyper-V's name for the status of a hypercall.
pub(crate) use crate::proto::ivshmem::HvStatus;

/// A transport to the host.
///
/// Every method is called in process context and may sleep.
pub(crate) trait Transport: Send + Sync {
    /// A short name for logs and sysfs (`"hyperv"`, `"ivshmem"`).
    fn name(&self) -> &'static str;

    /// The number of virtual processors the host can interrupt; SynIC
    /// set-up is done for CPUs `0..vcpus()` only.
    fn vcpus(&self) -> u32;

    /// The hypervisor's virtual processor index of `cpu`, which messages
    /// and channels name as their target.
    fn vp_index(&self, cpu: u32) -> u32 {
        cpu
    }

    /// Programs the SynIC of `cpu`: message page at `simp`, event flags
    /// page at `siefp` (guest physical addresses), and the VMBus SINT
    /// routed to the transport's interrupt. `enable == false` undoes it.
    fn synic_setup(&self, cpu: u32, simp: u64, siefp: u64, enable: bool) -> Result<HvStatus>;

    /// Posts a message (`HvPostMessage`): `input` is the post-message
    /// input (connection id, message type, payload size, payload).
    fn post_message(&self, input: &[u8; 256]) -> Result<HvStatus>;

    /// Signals an event (`HvSignalEvent`) on `connection_id`.
    fn signal_event(&self, connection_id: u32) -> Result<HvStatus>;

    /// End of message on `cpu`: the host may deliver the next message.
    fn eom(&self, cpu: u32) -> Result<HvStatus>;

    /// Tells the host that this guest driver is going away.
    fn detach(&self) -> Result<HvStatus>;
}
