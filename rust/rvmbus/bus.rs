// SPDX-License-Identifier: GPL-2.0

//! The module: picks the transport to the host and brings the bus up.
//!
//! `transport=auto` (the default) uses Hyper-V when the CPU says the guest
//! runs on it, else an ivshmem device that carries an rvmbus host. When
//! neither is there, loading fails with `-ENODEV` and a message that says
//! why, and nothing stays registered.

use kernel::{driver, pci, prelude::*, sync::atomic::ordering::Relaxed};

use crate::{
    ivshmem::{IvshmemDriver, BOUND},
    shim::{self, TransportParam},
};

/// The loaded module.
pub(crate) struct RvmbusModule {
    _ivshmem: Pin<KBox<driver::Registration<pci::Adapter<IvshmemDriver>>>>,
}

impl kernel::Module for RvmbusModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
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
        Ok(Self { _ivshmem: reg })
    }
}

impl Drop for RvmbusModule {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
