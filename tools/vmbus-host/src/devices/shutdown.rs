// SPDX-License-Identifier: GPL-2.0

//! The shutdown IC: after negotiation, `shutdown-guest [poweroff|reboot]`
//! sends a shutdown request (flags 0 power off, 2 reboot), and
//! `shutdown-guest flags N` one with any flags (Linux's hv_utils refuses
//! values other than 0 to 5 with `HV_E_FAIL`); the guest's answer status
//! is counted and shown as `last_status`.

use vmbus_proto::packet::Packet;
use vmbus_proto::wire::ic::{IcMsgType, IcVersion, ShutdownMsgData};
use vmbus_proto::wire::Wire;

use super::ic_link::{IcEvent, IcLink};
use super::{ChannelIo, Device};
use crate::server::ControlResult;

/// Message versions offered.
pub const VERSIONS: &[IcVersion] = &[
    IcVersion::new(1, 0),
    IcVersion::new(3, 0),
    IcVersion::new(3, 1),
    IcVersion::new(3, 2),
];
/// Shutdown flag: reboot.
pub const FLAG_REBOOT: u32 = 2;

/// The shutdown backend.
pub struct Shutdown {
    ic: IcLink,
    requests: u64,
    ok: u64,
    failed: u64,
    last_status: u64,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            ic: IcLink::new(VERSIONS),
            requests: 0,
            ok: 0,
            failed: 0,
            last_status: 0,
        }
    }
}

impl Device for Shutdown {
    fn on_open(&mut self, io: &mut ChannelIo<'_>) {
        self.ic.open(io);
    }

    fn on_packet(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>) {
        if let IcEvent::Answer(m) = self.ic.on_packet(io.relid.get(), pkt) {
            self.last_status = u64::from(m.hdr.status);
            if m.hdr.status == 0 {
                self.ok += 1;
            } else {
                self.failed += 1;
            }
            crate::log_info!(
                "shutdown: relid {}: the guest answered status {:#x}",
                io.relid.get(),
                m.hdr.status
            );
        }
    }

    fn on_close(&mut self) {
        self.ic.close();
    }

    fn control(
        &mut self,
        io: &mut ChannelIo<'_>,
        cmd: &str,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> Option<ControlResult> {
        if cmd != "shutdown-guest" {
            return None;
        }
        let (flags, what) = match args {
            [] | ["poweroff"] => (0, "poweroff"),
            ["reboot"] => (FLAG_REBOOT, "reboot"),
            ["flags", n] => match n.parse::<u32>() {
                Ok(f) => (f, "raw-flags"),
                Err(_) => return Some(Err(format!("bad flags {n:?}"))),
            },
            _ => return Some(Err("usage: shutdown-guest [reboot|poweroff|flags N]".into())),
        };
        let mut m = ShutdownMsgData::zeroed();
        m.flags = flags;
        let mut body = vec![0u8; ShutdownMsgData::SIZE];
        if m.write_to(&mut body).is_none() || !self.ic.request(io, IcMsgType::SHUTDOWN, &body) {
            return Some(Err(format!(
                "the shutdown channel (relid {}) has not negotiated",
                io.relid.get()
            )));
        }
        self.requests += 1;
        out.push(format!(
            "sent a {what} request (flags {flags}) on relid {}; the answer shows in stats",
            io.relid.get()
        ));
        Some(Ok(()))
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("negotiated", u64::from(self.ic.msg_version().is_some())),
            ("requests", self.requests),
            ("ok", self.ok),
            ("failed", self.failed),
            ("last_status", self.last_status),
            ("bad", self.ic.bad),
        ]
    }
}
