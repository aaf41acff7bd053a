// SPDX-License-Identifier: GPL-2.0

//! rvmbus_shutdown: a sample VMBus driver for the shutdown integration
//! component. When the host asks the guest to shut down (Hyper-V's "Shut
//! Down" button, Azure's stop), it answers the request and starts the
//! kernel's orderly power-off (or reboot), which runs the system's own
//! power-off command, as Linux's hv_utils does.

mod ic;
#[allow(unused_attributes, missing_docs, dead_code, unreachable_pub)]
#[path = "../rust/vmbus_proto/src/lib.rs"]
mod proto;
#[path = "../rust/rvmbus_api/mod.rs"]
mod vmbus;

use kernel::{
    prelude::*,
    sync::atomic::{ordering::Relaxed, Atomic},
};

use proto::wire::{
    ic::{IcMsgType, IcVersion, ShutdownMsgData},
    Wire,
};
use vmbus::{Device, Driver, Packet, Registration};

kernel::prelude::module! {
    type: ShutdownModule,
    name: "rvmbus_shutdown",
    authors: ["rvmbus developers"],
    description: "Sample VMBus driver: powers the guest off when the host asks",
    license: "GPL",
    alias: ["vmbus:31600b0e13523449818b38d90ced39db"],
}

mod ffi {
    // `include/linux/reboot.h`: exported functions (not inline) that
    // Rust's bindings do not include.
    extern "C" {
        pub(super) fn orderly_poweroff(force: bool);
        pub(super) fn orderly_reboot();
    }
}

/// The shutdown class, 0e0b6031-5213-4934-818b-38d90ced39db.
const SHUTDOWN_CLASS: vmbus::Guid = vmbus::guid(
    0x0e0b6031,
    0x5213,
    0x4934,
    [0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39, 0xdb],
);

/// Message versions, as Linux's hv_utils offers them (3.2 adds
/// hibernation, which this sample refuses).
const VERSIONS: &[IcVersion] = &[
    IcVersion::new(1, 0),
    IcVersion::new(3, 0),
    IcVersion::new(3, 1),
    IcVersion::new(3, 2),
];

/// What the host asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    None,
    PowerOff,
    Reboot,
}

struct Shutdown {
    ic: ic::IcChannel,
    /// Set once a shutdown was started: later requests are answered but
    /// change nothing.
    started: Atomic<u32>,
}

struct ShutdownDriver;

impl Driver for ShutdownDriver {
    type Data = Shutdown;
    const NAME: &'static CStr = c"rvmbus_shutdown";
    const IDS: &'static [vmbus::Guid] = &[SHUTDOWN_CLASS];

    fn probe(_dev: &Device) -> Result<Pin<KBox<Shutdown>>> {
        Ok(KBox::pin(
            Shutdown {
                ic: ic::IcChannel::new("shutdown", VERSIONS),
                started: Atomic::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    fn start(_s: &Shutdown, dev: &Device) -> Result {
        dev.open(ic::RING_BYTES)
    }

    fn packet(s: &Shutdown, dev: &Device, pkt: &Packet<'_>) {
        let mut action = Action::None;
        s.ic.on_packet(dev, pkt, |req| {
            if req.msgtype != IcMsgType::SHUTDOWN {
                return ic::unknown("shutdown", req.msgtype);
            }
            let Some(m) = ShutdownMsgData::read_from(req.body) else {
                pr_warn!("shutdown request too short ({} bytes)\n", req.body.len());
                return proto::ic::HV_E_FAIL;
            };
            // The values Linux's hv_utils knows: 0 and 1 power off, 2 and
            // 3 restart, 4 and 5 hibernate. Anything else is refused and
            // changes nothing, as there.
            match m.flags {
                0 | 1 => action = Action::PowerOff,
                2 | 3 => action = Action::Reboot,
                4 | 5 => {
                    pr_info!("the host asked for hibernation, which this guest does not do\n");
                    return proto::ic::HV_E_FAIL;
                }
                f => {
                    if ic::host_noise_allowed() {
                        pr_warn!("shutdown: request with unknown flags {:#x} refused\n", f);
                    }
                    return proto::ic::HV_E_FAIL;
                }
            }
            ic::OK
        });
        // Acted on only after the answer went out, as the host expects.
        if action == Action::None || s.started.xchg(1, Relaxed) != 0 {
            return;
        }
        if action == Action::Reboot {
            pr_info!("shutdown: the host asked for a restart; rebooting\n");
            // SAFETY: No preconditions; it queues the kernel's reboot work.
            unsafe { ffi::orderly_reboot() };
        } else {
            pr_info!("shutdown: the host asked for a power-off; powering off\n");
            // SAFETY: No preconditions; it queues the kernel's power-off
            // work.
            unsafe { ffi::orderly_poweroff(true) };
        }
    }
}

struct ShutdownModule {
    _reg: Registration<ShutdownDriver>,
}

impl kernel::Module for ShutdownModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _reg: Registration::new(module)?,
        })
    }
}
