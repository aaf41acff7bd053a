// SPDX-License-Identifier: GPL-2.0

//! The real transport: Hyper-V's SynIC and hypercalls (C half:
//! `hv_shim.c`).
//!
//! The SynIC of every CPU is programmed through its MSRs (on that CPU), the
//! VMBus SINT is routed to `HYPERVISOR_CALLBACK_VECTOR` whose handler the
//! kernel's Hyper-V core lets one driver install, messages are posted with
//! `HvPostMessage` through the per-CPU hypercall input page, and events are
//! signalled with the fast `HvSignalEvent` hypercall.
//!
//! Loading refuses, leaving nothing behind, when the guest is not on
//! Hyper-V, when the hypervisor offers no SynIC, in the partitions whose
//! SynIC pages are not the guest's to give (isolated VMs, a paravisor, the
//! root partition: [`partition_facts`], decided by
//! [`PartitionFacts::refusal`]), or when another VMBus driver (the C
//! `hv_vmbus`) already owns the `vmbus` bus: the bus is registered before
//! the interrupt handler is installed, so rvmbus never takes the vector
//! from a driver that has it. The checks come first by construction:
//! [`HvBus::start`], the only way to a connection over Hyper-V (and so to
//! SynIC pages and hypercalls), takes the [`Admitted`] that only
//! [`admit`] gives.
//!
//! When the kernel goes away under the bus, the Hyper-V core calls the
//! kexec handler (from `machine_shutdown`, other CPUs still running) or
//! the crash handler (from `crash_shutdown`, interrupts off): both unload
//! the connection by polling ([`Session::quiesce`]); a crash turns off only
//! the SynIC of the CPU that crashed, as Linux's `hv_crash_handler` does,
//! since no other CPU can be asked.

use core::ffi::c_void;

use kernel::{prelude::*, sync::Arc};

use super::{HvStatus, Session, Transport, Upper};
use crate::{
    proto::partition::PartitionFacts,
    support::{c_context::CContext, shim},
};

mod ffi {
    use core::ffi::c_void;

    extern "C" {
        pub(super) fn rvmbus_hv_usable() -> bool;
        pub(super) fn rvmbus_hv_partition_facts() -> u8;
        pub(super) fn rvmbus_hv_vtl() -> u8;
        pub(super) fn rvmbus_hv_synic_setup(cpu: u32, simp: u64, siefp: u64, enable: bool) -> i32;
        pub(super) fn rvmbus_hv_synic_off_now(cpu: u32, may_ipi: bool) -> i32;
        pub(super) fn rvmbus_hv_eom_now(cpu: u32, may_ipi: bool) -> i32;
        pub(super) fn rvmbus_hv_post_message(input: *const c_void, len: usize) -> u16;
        pub(super) fn rvmbus_hv_signal_event(connection_id: u32) -> u16;
        pub(super) fn rvmbus_hv_eom(cpu: u32) -> i32;
        pub(super) fn rvmbus_hv_vp_index(cpu: u32) -> u32;
        pub(super) fn rvmbus_hv_attach(ctx: *mut c_void);
        pub(super) fn rvmbus_hv_detach();
        #[cfg(CONFIG_KUNIT)]
        pub(super) fn rvmbus_hv_isr_for_test(ctx: *mut c_void) -> i32;
    }
}

/// Whether this guest runs on Hyper-V with a SynIC the transport can use.
fn usable() -> bool {
    // SAFETY: Reads state the Hyper-V core set up at boot.
    unsafe { ffi::rvmbus_hv_usable() }
}

/// What the Hyper-V core found at boot about the partition this guest runs
/// in: isolated (confidential), with a paravisor, or the root partition.
/// Outside Hyper-V, none of these.
pub(crate) fn partition_facts() -> PartitionFacts {
    // SAFETY: Reads state the Hyper-V core set up at boot. The shim's
    // flags (`RVMBUS_HV_*` in `hv_shim.h`) are those of `PartitionFacts`.
    PartitionFacts::from_bits(unsafe { ffi::rvmbus_hv_partition_facts() })
}

/// Proof that this guest may drive VMBus over Hyper-V: [`admit`] found a
/// usable SynIC and a partition that [`PartitionFacts::refusal`] does not
/// refuse. Only `admit` makes one, and [`HvBus::start`] takes it.
pub(crate) struct Admitted(());

/// Checks, touching nothing, that this guest may drive VMBus over
/// Hyper-V; logs why not and fails with `ENODEV` when it may not.
pub(crate) fn admit() -> Result<Admitted> {
    if !usable() {
        pr_err!(
            "running on Hyper-V, but the hypervisor offers no usable SynIC or hypercall page\n"
        );
        return Err(ENODEV);
    }
    if let Some(why) = partition_facts().refusal() {
        pr_err!(
            "not driving this Hyper-V partition's VMBus: {}\n",
            why.message()
        );
        return Err(ENODEV);
    }
    Ok(Admitted(()))
}

/// The Hyper-V transport, made only for a partition [`admit`] admitted.
pub(crate) struct HvTransport {
    _admitted: Admitted,
}

fn errno(r: i32) -> Result {
    if r == 0 {
        Ok(())
    } else {
        Err(Error::from_errno(r))
    }
}

impl Transport for HvTransport {
    fn name(&self) -> &'static str {
        "hyperv"
    }

    fn vcpus(&self) -> u32 {
        shim::nr_cpu_ids()
    }

    fn vp_index(&self, cpu: u32) -> u32 {
        if cpu >= shim::nr_cpu_ids() {
            return cpu;
        }
        // SAFETY: `cpu` is a possible CPU id, the index of `hv_vp_index`.
        unsafe { ffi::rvmbus_hv_vp_index(cpu) }
    }

    fn vtl(&self) -> u8 {
        // SAFETY: Reads a field the Hyper-V core set at boot.
        unsafe { ffi::rvmbus_hv_vtl() }
    }

    fn synic_setup(&self, cpu: u32, simp: u64, siefp: u64, enable: bool) -> Result<HvStatus> {
        if !shim::cpu_online(cpu) {
            // Only the CPU itself can reach its SynIC MSRs; the caller
            // keeps the pages of one it could not turn off.
            return Err(EAGAIN);
        }
        // SAFETY: `cpu` is online; the pages are the connection's, which
        // outlive the set-up (it is undone before they are freed).
        errno(unsafe { ffi::rvmbus_hv_synic_setup(cpu, simp, siefp, enable) })?;
        Ok(HvStatus::SUCCESS)
    }

    fn post_message(&self, input: &[u8; 256]) -> Result<HvStatus> {
        // SAFETY: `input` is 256 readable bytes; the shim copies them into
        // the hypercall input page with interrupts off.
        Ok(HvStatus(u32::from(unsafe {
            ffi::rvmbus_hv_post_message(input.as_ptr().cast::<c_void>(), input.len())
        })))
    }

    fn signal_event(&self, connection_id: u32) -> Result<HvStatus> {
        // SAFETY: A fast hypercall with a value argument.
        Ok(HvStatus(u32::from(unsafe {
            ffi::rvmbus_hv_signal_event(connection_id)
        })))
    }

    fn eom(&self, cpu: u32) -> Result<HvStatus> {
        // SAFETY: Writes the EOM MSR on `cpu` (an IPI if it is another).
        errno(unsafe { ffi::rvmbus_hv_eom(cpu) })?;
        Ok(HvStatus::SUCCESS)
    }

    fn detach(&self) -> Result<HvStatus> {
        Ok(HvStatus::SUCCESS)
    }

    fn post_message_now(&self, input: &[u8; 256]) -> Result<HvStatus> {
        // The hypercall never sleeps.
        self.post_message(input)
    }

    fn eom_now(&self, cpu: u32, may_ipi: bool) -> Result<HvStatus> {
        if cpu >= shim::nr_cpu_ids() {
            return Err(EINVAL);
        }
        // SAFETY: `cpu` is a possible CPU id; the shim writes the MSR here
        // if this is `cpu`, sends an IPI only when `may_ipi` and interrupts
        // are on, and never sleeps.
        errno(unsafe { ffi::rvmbus_hv_eom_now(cpu, may_ipi) })?;
        Ok(HvStatus::SUCCESS)
    }

    fn synic_off_now(&self, cpu: u32, may_ipi: bool) -> Result<HvStatus> {
        if cpu >= shim::nr_cpu_ids() {
            return Err(EINVAL);
        }
        // SAFETY: As in `eom_now`; the SynIC is turned off, which only
        // stops the host from writing the connection's pages.
        errno(unsafe { ffi::rvmbus_hv_synic_off_now(cpu, may_ipi) })?;
        Ok(HvStatus::SUCCESS)
    }
}

/// The bus over Hyper-V while the module is loaded.
pub(crate) struct HvBus {
    session: Arc<dyn Session>,
    // The interrupt handler's context, held only for C, which reads it
    // through the pointer given to `rvmbus_hv_attach`; drops after
    // `drop()` detached it, which waits for running handlers.
    _handler: CContext<dyn Session>,
}

impl HvBus {
    /// Installs the interrupt handler and starts the bus of `U`, in a
    /// partition [`admit`] admitted.
    pub(crate) fn start<U: Upper>(admitted: Admitted) -> Result<Self> {
        let transport = HvTransport {
            _admitted: admitted,
        };
        let session = U::session(Arc::new(transport, GFP_KERNEL)?)?;
        let handler = CContext::new(session.clone())?;
        // SAFETY: The context stays live until `rvmbus_hv_detach` returns:
        // `drop` detaches before `handler` drops.
        unsafe { ffi::rvmbus_hv_attach(handler.as_ptr()) };
        let this = Self {
            session,
            _handler: handler,
        };
        // On failure, dropping `this` detaches the handler.
        this.session.start(None)?;
        Ok(this)
    }
}

impl Drop for HvBus {
    fn drop(&mut self) {
        self.session.end();
        // SAFETY: Undoes `rvmbus_hv_attach`; after it returns no handler
        // runs with the context.
        unsafe { ffi::rvmbus_hv_detach() };
    }
}

/// For KUnit: runs the vector's handler once, in hard IRQ context with
/// interrupts off as HYPERVISOR_CALLBACK_VECTOR runs it, with `session`
/// attached as [`HvBus::start`] attaches its own (`None`: nothing
/// attached). `EBUSY` while a bus is attached; `EINVAL` if the handler did
/// not run in hard IRQ context with interrupts off.
#[cfg(CONFIG_KUNIT)]
pub(crate) fn interrupt_for_test(session: Option<Arc<dyn Session>>) -> Result {
    let ctx = session.map(CContext::new).transpose()?;
    let ptr = ctx.as_ref().map_or(core::ptr::null_mut(), CContext::as_ptr);
    // SAFETY: `ptr` is null or the context `ctx`, live until the end of
    // this function; the shim detaches it and waits for the handler
    // (synchronize_rcu) before it returns.
    errno(unsafe { ffi::rvmbus_hv_isr_for_test(ptr) })
}

/// The interrupt on HYPERVISOR_CALLBACK_VECTOR (hard IRQ context).
///
/// # Safety
///
/// `ctx` is null or the pointer `HvBus::start` gave `rvmbus_hv_attach`,
/// called before `rvmbus_hv_detach` returned.
#[no_mangle]
unsafe extern "C" fn rvmbus_rust_hv_interrupt(ctx: *mut c_void) {
    // SAFETY: Guaranteed by the caller: the live context of an `HvBus`,
    // which keeps it until detach (which waits for running handlers).
    if let Some(session) = unsafe { CContext::<dyn Session>::get(ctx) } {
        session.interrupt();
    }
}

/// The kexec handler (`crash == false`) or the crash handler of the
/// Hyper-V core: the kernel goes away under the bus. Never sleeps.
///
/// # Safety
///
/// As for [`rvmbus_rust_hv_interrupt`]: `ctx` is null or the live context
/// `HvBus::start` attached, read under RCU before detach returned.
#[no_mangle]
unsafe extern "C" fn rvmbus_rust_hv_way_out(ctx: *mut c_void, crash: bool) {
    // SAFETY: Guaranteed by the caller, as for the interrupt.
    if let Some(session) = unsafe { CContext::<dyn Session>::get(ctx) } {
        session.quiesce(crash);
    }
}
