// SPDX-License-Identifier: GPL-2.0

//! rvmbus_heartbeat: a sample VMBus driver for the heartbeat integration
//! component. The host sends a heartbeat request with a sequence number
//! every few seconds; the guest answers with the number plus one, which is
//! how Hyper-V and Azure see that the guest is alive.

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
    ic::{HeartbeatMsgData, IcMsgType, IcVersion},
    Wire,
};
use vmbus::{Device, Driver, Packet, Registration};

kernel::prelude::module! {
    type: HeartbeatModule,
    name: "rvmbus_heartbeat",
    authors: ["rvmbus developers"],
    description: "Sample VMBus driver: answers the host's heartbeats",
    license: "GPL",
    alias: ["vmbus:394f16571591784eab55382f3bd5422d"],
}

/// The heartbeat class, 57164f39-9115-4e78-ab55-382f3bd5422d.
const HEARTBEAT_CLASS: vmbus::Guid = vmbus::guid(
    0x57164f39,
    0x9115,
    0x4e78,
    [0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d],
);

/// Message versions, as Linux's hv_utils offers them.
const VERSIONS: &[IcVersion] = &[IcVersion::new(1, 0), IcVersion::new(3, 0)];

/// Log every this many heartbeats.
const LOG_EVERY: u64 = 10;

struct Heartbeat {
    ic: ic::IcChannel,
    beats: Atomic<u64>,
}

struct HeartbeatDriver;

impl Driver for HeartbeatDriver {
    type Data = Heartbeat;
    const NAME: &'static CStr = c"rvmbus_heartbeat";
    const IDS: &'static [vmbus::Guid] = &[HEARTBEAT_CLASS];

    fn probe(_dev: &Device) -> Result<Pin<KBox<Heartbeat>>> {
        Ok(KBox::pin(
            Heartbeat {
                ic: ic::IcChannel::new("heartbeat", VERSIONS),
                beats: Atomic::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    fn start(_hb: &Heartbeat, dev: &Device) -> Result {
        dev.open(ic::RING_BYTES)
    }

    fn packet(hb: &Heartbeat, dev: &Device, pkt: &Packet<'_>) {
        hb.ic.on_packet(dev, pkt, |req| {
            if req.msgtype != IcMsgType::HEARTBEAT {
                return ic::unknown("heartbeat", req.msgtype);
            }
            let Some(mut m) = HeartbeatMsgData::read_from(req.body) else {
                return proto::ic::HV_E_FAIL;
            };
            m.seq_num = m.seq_num.wrapping_add(1);
            if m.write_to(req.body).is_none() {
                return proto::ic::HV_E_FAIL;
            }
            let n = hb.beats.fetch_add(1, Relaxed) + 1;
            if n == 1 || n % LOG_EVERY == 0 {
                pr_info!("heartbeat {} answered (sequence {})\n", n, m.seq_num);
            }
            ic::OK
        });
    }

    fn suspend(hb: &Heartbeat, _dev: &Device) -> Result {
        pr_info!("suspended after {} heartbeats\n", hb.beats.load(Relaxed));
        Ok(())
    }

    fn remove(hb: Pin<KBox<Heartbeat>>, _dev: &Device) {
        pr_info!(
            "removed after {} heartbeats ({} packets refused)\n",
            hb.beats.load(Relaxed),
            hb.ic.refused.load(Relaxed)
        );
    }
}

struct HeartbeatModule {
    _reg: Registration<HeartbeatDriver>,
}

impl kernel::Module for HeartbeatModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _reg: Registration::new(module)?,
        })
    }
}
