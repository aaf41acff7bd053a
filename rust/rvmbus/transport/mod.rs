// SPDX-License-Identifier: GPL-2.0

//! The transports to the host, and the contract between them and the bus.
//!
//! The VMBus protocol above the transport is the same on real Hyper-V and on
//! the ivshmem test transport; only how a message is posted, an event
//! signalled, the SynIC programmed and the guest interrupted differs.
//!
//! The contract goes both ways, and neither side names the other's types:
//!
//! - down: the bus core calls a [`Transport`] (post, signal, EOM, SynIC
//!   set-up);
//! - up: once a transport is ready it asks the module's [`Upper`] for a
//!   [`Session`] over it, sends the session its interrupts, and ends it
//!   before the transport goes away.
//!
//! This is the lowest layer of the glue but `support`: its files import
//! only `crate::support`, `crate::proto` and each other.

use kernel::{device::Device, prelude::*, sync::Arc};

pub(crate) mod hyperv;
pub(crate) mod ivshmem;
mod mailbox;

/// Hyper-V's name for the status of a hypercall.
pub(crate) use crate::proto::ivshmem::HvStatus;

/// A transport to the host.
///
/// Every method is called in process context and may sleep, except
/// [`Transport::signal_event`] and the way-out methods, which never sleep.
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

    /// The Virtual Trust Level this guest runs at, which INITIATE_CONTACT
    /// names (Hyper-V says which; the test transport has only VTL 0).
    fn vtl(&self) -> u8 {
        0
    }

    /// Programs the SynIC of `cpu`: message page at `simp`, event flags
    /// page at `siefp` (guest physical addresses), and the VMBus SINT
    /// routed to the transport's interrupt. `enable == false` undoes it.
    fn synic_setup(&self, cpu: u32, simp: u64, siefp: u64, enable: bool) -> Result<HvStatus>;

    /// Posts a message (`HvPostMessage`): `input` is the post-message
    /// input (connection id, message type, payload size, payload).
    fn post_message(&self, input: &[u8; 256]) -> Result<HvStatus>;

    /// Signals an event (`HvSignalEvent`) on `connection_id`.
    ///
    /// Context: any (process, softirq or hard IRQ, interrupts on or off);
    /// never sleeps and never waits for the host, as Hyper-V's fast
    /// hypercall does not: the data path signals from drivers' callbacks
    /// and with preemption off.
    fn signal_event(&self, connection_id: u32) -> Result<HvStatus>;

    /// End of message on `cpu`: the host may deliver the next message.
    fn eom(&self, cpu: u32) -> Result<HvStatus>;

    /// Tells the host that this guest driver is going away.
    fn detach(&self) -> Result<HvStatus>;

    // ---- The way out ---------------------------------------------------
    //
    // When the kernel goes away under the bus (kexec, a crash), the
    // connection is unloaded with these: they never sleep, take no lock
    // that a stopped CPU may hold, and wait for the host by polling with a
    // bound, so they also work with interrupts off.

    /// [`Transport::post_message`] on the way out.
    fn post_message_now(&self, input: &[u8; 256]) -> Result<HvStatus>;

    /// [`Transport::eom`] on the way out. `may_ipi`: other CPUs still run
    /// and interrupts are on, so the EOM of another CPU may be sent there
    /// (kexec); without it only the CPU running this can be served.
    fn eom_now(&self, cpu: u32, may_ipi: bool) -> Result<HvStatus>;

    /// Turns the SynIC of `cpu` off on the way out: the VMBus SINT masked,
    /// the message and event flags pages disabled and their addresses
    /// cleared, and (on Hyper-V) the SynIC itself disabled. `may_ipi` as
    /// for [`Transport::eom_now`]; a CPU that cannot be reached is an
    /// error (`EAGAIN`).
    fn synic_off_now(&self, cpu: u32, may_ipi: bool) -> Result<HvStatus>;
}

/// The bus over one transport, as the transport sees it.
pub(crate) trait Session: Send + Sync {
    /// The host posted a message or signalled an event.
    ///
    /// Context: the transport's interrupt handler (hard IRQ); must not
    /// sleep.
    fn interrupt(&self);

    /// Brings the bus up: SynIC, version, offers, devices. `dev` is the
    /// transport's device, if it has one. Whatever it returns,
    /// [`Session::end`] follows before the transport goes away.
    ///
    /// Context: process context, may sleep; the interrupt must already
    /// reach [`Session::interrupt`].
    fn start(&self, dev: Option<&Device>) -> Result;

    /// Takes the bus down (devices removed, UNLOAD, the SynIC set-up
    /// undone) before the transport goes away. Called once, after
    /// [`Session::start`], also when that failed.
    ///
    /// Context: process context, may sleep.
    fn end(&self);

    /// The kernel goes away under the bus (kexec, or a crash when `crash`):
    /// UNLOAD sent and its answer awaited by polling, then the SynIC turned
    /// off, so that the host writes nothing more into this kernel's memory.
    /// Nothing is freed. Runs once; later calls do nothing.
    ///
    /// Context: any (a crash may come in interrupt context, with
    /// interrupts off and other CPUs stopped); never sleeps.
    fn quiesce(&self, crash: bool);
}

/// What starts a bus over a transport: implemented by the module, which
/// builds the connection of the bus core.
pub(crate) trait Upper: 'static {
    /// A session over `transport`; nothing is sent to the host yet.
    fn session(transport: Arc<dyn Transport>) -> Result<Arc<dyn Session>>;
}
