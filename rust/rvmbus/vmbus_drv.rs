// SPDX-License-Identifier: GPL-2.0

//! The module (`vmbus_drv.c`): picks the transport to the host, registers
//! the `vmbus` bus, and joins the layers: a connection of the bus core over
//! each transport that comes up, the core's device-model changes carried to
//! sysfs, and hibernation's PM link to the transport's device.
//!
//! `transport=auto` (the default) uses Hyper-V when the CPU says the guest
//! runs on it, else an ivshmem device that carries an rvmbus host;
//! `transport=hyperv` and `transport=ivshmem` insist on one. When the chosen
//! transport is not there, or another VMBus driver owns the bus, loading
//! fails with `-ENODEV` (or `-EEXIST`, which the module loader hands to
//! insmod as `-EBUSY`) and a message that says why, and nothing stays
//! registered.

use kernel::{
    device::Device,
    driver, pci,
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc, SetOnce,
    },
};

use crate::{
    bus::{self, channel::Channel, classes, connection::Connection, upcalls},
    debug::ctl,
    hv, pm,
    support::{
        cpuhp,
        shim::{self, TransportParam},
        workqueues::{self, Workqueues},
    },
    sysfs::device as sysfs,
    transport::{
        self,
        hyperv::{self, HvBus},
        ivshmem::{IvshmemDriver, BOUND},
        Session, Transport,
    },
};

/// Joins the layers: starts a connection of the bus core over each
/// transport that comes up, and carries the core's device-model changes to
/// sysfs (and so to the drivers).
struct Vmbus;

/// The core's calls up, for every connection.
static UPPER: Vmbus = Vmbus;

impl transport::Upper for Vmbus {
    fn session(transport: Arc<dyn Transport>) -> Result<Arc<dyn Session>> {
        let conn = Connection::new(transport, &UPPER)?;
        let s: Arc<dyn Session> = Arc::new(
            Live {
                conn,
                pm_linked: Atomic::new(false),
                hotplug: SetOnce::new(),
            },
            GFP_KERNEL,
        )?;
        Ok(s)
    }
}

impl upcalls::Upper for Vmbus {
    fn add_device(&self, ch: &Arc<Channel>, primary: Option<&Arc<Channel>>) -> Result {
        sysfs::add(ch, primary)
    }

    fn remove_device(&self, ch: &Arc<Channel>, primary: Option<&Arc<Channel>>) {
        sysfs::remove(ch, primary)
    }

    fn restore_subchannels(&self, ch: &Arc<Channel>, n: u32) -> Option<Result<u32>> {
        // Only the control file's echo devices have sub-channels that the
        // bus itself asked for.
        if classes::name(&ch.info().if_type) != "rvmbus echo" {
            return None;
        }
        let conn = bus::active()?;
        Some(ctl::request_subchannels(&conn, ch, n))
    }

    fn connected(&self, conn: &Connection) {
        hv::connection::publish(Some(conn));
    }
}

/// A connection over one transport, from its start to its end.
struct Live {
    conn: Arc<Connection>,
    /// The transport's device is linked for hibernation.
    pm_linked: Atomic<bool>,
    /// The connection as the CPU hotplug callbacks' target, from start
    /// until its SynIC is down at the end.
    hotplug: SetOnce<cpuhp::Target>,
}

impl Session for Live {
    fn interrupt(&self) {
        self.conn.kick();
    }

    fn start(&self, dev: Option<&Device>) -> Result {
        // CPUs that come or go from now on are the connection's to set up
        // or take down.
        if !self
            .hotplug
            .populate(cpuhp::Target::new(self.conn.hotplug()?)?)
        {
            return Err(EBUSY);
        }
        // Active before the offers come: drivers bind during connect.
        bus::set_active(Some(self.conn.clone()));
        self.conn.connect(shim::timeout_ms())?;
        if let Some(d) = dev {
            // Hibernation needs this device's interrupts while the bus
            // unloads and reconnects.
            pm::hibernation::link(d);
            self.pm_linked.store(true, Relaxed);
        }
        Ok(())
    }

    fn end(&self) {
        if self.pm_linked.xchg(false, Relaxed) {
            pm::hibernation::unlink();
        }
        bus::set_active(None);
        self.conn.shutdown(shim::timeout_ms());
        // Its devices are gone; its pages go with it.
        hv::connection::publish(None);
        if let Some(t) = self.hotplug.as_ref() {
            t.clear();
        }
    }

    fn quiesce(&self, crash: bool) {
        self.conn.quiesce(crash);
    }
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

/// How the bus reaches the host.
enum Backend {
    /// The ivshmem test transport, through its PCI driver.
    Ivshmem {
        _reg: Pin<KBox<driver::Registration<pci::Adapter<IvshmemDriver<Vmbus>>>>>,
    },
    /// Real Hyper-V.
    HyperV { _bus: HvBus },
}

/// The loaded module. Fields drop in order: the backend (which unloads the
/// connection), then the CPU hotplug state, the bus, the workqueues, and
/// last the audit of shared pages.
pub(crate) struct RvmbusModule {
    _backend: Backend,
    _cpuhp: cpuhp::State,
    _bus: BusType,
    _wq: Workqueues,
    _audit: PageAudit,
}

/// Reports at unload (or when loading fails) whether every shared page was
/// freed or kept for the host (see [`shim::pages_report`]).
struct PageAudit;

impl Drop for PageAudit {
    fn drop(&mut self) {
        shim::pages_report();
    }
}

impl kernel::Module for RvmbusModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: Called once, before anything uses the active connection.
        unsafe { bus::active::init() };
        let want = shim::transport_param()?;
        let on_hyperv = shim::hyperv_present();
        let use_hyperv = match (want, on_hyperv) {
            (TransportParam::HyperV, false) => {
                pr_err!("transport=hyperv, but this guest does not run on Hyper-V (no Hyper-V CPUID signature)\n");
                return Err(ENODEV);
            }
            (TransportParam::HyperV | TransportParam::Auto, true) => true,
            (TransportParam::Ivshmem | TransportParam::Auto, _) => false,
        };
        // Before anything is touched: a partition rvmbus does not drive is
        // refused here, and without the `Admitted` this gives, the Hyper-V
        // backend cannot be started below.
        let admitted = if use_hyperv {
            Some(hyperv::admit()?)
        } else {
            None
        };

        // Reports on the shared pages when the module unloads, or now if
        // loading fails after pages were given to the host.
        let audit = PageAudit;
        let wq = Workqueues::new()?;
        // The bus first: if another VMBus driver owns it, nothing else is
        // touched (in particular not its interrupt vector).
        let bus = BusType::register()?;
        // Before any connection: its CPUs' SynIC follows them from the
        // start.
        let cpuhp = cpuhp::State::register()
            .inspect_err(|e| pr_err!("cannot register a CPU hotplug state ({:?})\n", e))?;
        let backend = if let Some(admitted) = admitted {
            Backend::HyperV {
                _bus: HvBus::start::<Vmbus>(admitted)?,
            }
        } else {
            // PCI probing of devices already present runs synchronously
            // during registration, so `BOUND` is final when it returns.
            let reg = KBox::pin_init(
                driver::Registration::<pci::Adapter<IvshmemDriver<Vmbus>>>::new(c"rvmbus", module),
                GFP_KERNEL,
            )?;
            if BOUND.load(Relaxed) == 0 {
                drop(reg);
                pr_err!("no VMBus host found: this guest does not run on Hyper-V and has no ivshmem device (PCI 1af4:1110) with an rvmbus host behind it\n");
                return Err(ENODEV);
            }
            Backend::Ivshmem { _reg: reg }
        };
        pr_info!(
            "loaded, transport {}\n",
            if use_hyperv { "hyperv" } else { "ivshmem" }
        );
        Ok(Self {
            _backend: backend,
            _cpuhp: cpuhp,
            _bus: bus,
            _wq: wq,
            _audit: audit,
        })
    }
}

impl Drop for RvmbusModule {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
