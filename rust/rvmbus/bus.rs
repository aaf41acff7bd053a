// SPDX-License-Identifier: GPL-2.0

//! The module: picks the transport to the host, registers the `vmbus` bus
//! and brings the connection up.
//!
//! `transport=auto` (the default) uses Hyper-V when the CPU says the guest
//! runs on it, else an ivshmem device that carries an rvmbus host. When
//! neither is there, loading fails with `-ENODEV` and a message that says
//! why, and nothing stays registered.

use kernel::{driver, pci, prelude::*, sync::atomic::ordering::Relaxed, sync::Arc};

use crate::{
    connection::Connection,
    ivshmem::{IvshmemDriver, BOUND},
    shim::{self, TransportParam},
    sysfs,
    workqueues::{self, Workqueues},
};

kernel::sync::global_lock! {
    // SAFETY: Initialised in `RvmbusModule::init` before first use.
    unsafe(uninit) static ACTIVE: Mutex<Option<Arc<Connection>>> = None;
}

/// The connection the control file talks to, if one is up.
pub(crate) fn active() -> Option<Arc<Connection>> {
    ACTIVE.lock().clone()
}

/// Sets or clears the connection the control file talks to.
pub(crate) fn set_active(c: Option<Arc<Connection>>) {
    *ACTIVE.lock() = c;
}

/// The `vmbus` bus type while the module is loaded.
struct BusType;

impl BusType {
    fn register() -> Result<Self> {
        sysfs::register().inspect_err(|e| {
            pr_err!(
                "cannot register the vmbus bus ({:?}); is another VMBus driver loaded?\n",
                e
            )
        })?;
        Ok(Self)
    }
}

impl Drop for BusType {
    fn drop(&mut self) {
        // No work item may add a device once the bus is gone.
        workqueues::flush();
        sysfs::unregister();
    }
}

/// The loaded module. Fields drop in order: the PCI driver (which unloads
/// the connection), then the bus, then the workqueues.
pub(crate) struct RvmbusModule {
    _ivshmem: Pin<KBox<driver::Registration<pci::Adapter<IvshmemDriver>>>>,
    _bus: BusType,
    _wq: Workqueues,
}

impl kernel::Module for RvmbusModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: Called once, before anything uses the lock.
        unsafe { ACTIVE.init() };
        let want = shim::transport_param()?;
        let hyperv = shim::hyperv_present();
        match (want, hyperv) {
            (TransportParam::HyperV, false) => {
                pr_err!("transport=hyperv, but this guest does not run on Hyper-V (no Hyper-V CPUID signature)\n");
                return Err(ENODEV);
            }
            (TransportParam::HyperV | TransportParam::Auto, true) => {
                pr_err!("running on Hyper-V, but this build has no hyperv transport yet; use transport=ivshmem for the test transport\n");
                return Err(ENODEV);
            }
            _ => {}
        }

        let wq = Workqueues::new()?;
        let bus = BusType::register()?;
        // PCI probing of devices already present runs synchronously during
        // registration, so `BOUND` is final when it returns.
        let reg = KBox::pin_init(
            driver::Registration::<pci::Adapter<IvshmemDriver>>::new(c"rvmbus", module),
            GFP_KERNEL,
        )?;
        if BOUND.load(Relaxed) == 0 {
            drop(reg);
            pr_err!("no VMBus host found: this guest does not run on Hyper-V and has no ivshmem device (PCI 1af4:1110) with an rvmbus host behind it\n");
            return Err(ENODEV);
        }
        pr_info!("loaded, transport ivshmem\n");
        Ok(Self {
            _ivshmem: reg,
            _bus: bus,
            _wq: wq,
        })
    }
}

impl Drop for RvmbusModule {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
