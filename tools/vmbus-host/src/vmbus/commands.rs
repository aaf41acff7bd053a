// SPDX-License-Identifier: GPL-2.0

//! The server's newer control commands (`reoffer`, `shutdown-guest`,
//! `hostile`) and the channel messages that need no state machine of their
//! own: `MODIFY_CHANNEL` (`TL_CONNECT_REQUEST` is [`super::hvsock`]'s).

use vmbus_proto::message::HostMessage;
use vmbus_proto::types::Relid;
use vmbus_proto::version::Version;

use super::channels::ChannelState;
use super::hostile::Mode;
use super::offers::DeviceKind;
use super::{VmbusHost, STATUS_UNSUCCESSFUL};
use crate::server::{ControlResult, GuestCtx};

/// NTSTATUS `STATUS_CONNECTION_REFUSED`: the answer to an hv_sock
/// connect to a service the host does not serve.
pub const STATUS_CONNECTION_REFUSED: u32 = 0xc000_0236;

/// Parses a relid argument.
pub fn parse_relid(s: &str) -> Result<Relid, String> {
    let n = crate::commands::parse_num("relid", s)?;
    u32::try_from(n)
        .ok()
        .and_then(Relid::new)
        .ok_or_else(|| format!("bad relid {s:?}"))
}

impl VmbusHost {
    /// Commands beyond `list`, `offer` and `rescind`.
    pub(super) fn control_more(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        cmd: &str,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> Option<ControlResult> {
        match cmd {
            "reoffer" => Some(self.cmd_reoffer(guest, args, out)),
            "shutdown-guest" => Some(self.cmd_shutdown_guest(guest, args, out)),
            "kvp" => Some(self.cmd_ic_device(guest, DeviceKind::Kvp, cmd, args, out)),
            "vss" => Some(self.cmd_ic_device(guest, DeviceKind::Vss, cmd, args, out)),
            "fcopy" => Some(self.cmd_ic_device(guest, DeviceKind::Fcopy, cmd, args, out)),
            "keyboard-type" => {
                Some(self.cmd_ic_device(guest, DeviceKind::Keyboard, cmd, args, out))
            }
            "hostile" => Some(self.cmd_hostile(args, out)),
            "unload-delay" => Some(self.cmd_unload_delay(args, out)),
            "monitor-hold" => Some(self.cmd_monitor_hold(args, out)),
            "echo-burst" => Some(self.cmd_echo_burst(guest, args, out)),
            "nic-link" | "nic-hold" => Some(self.cmd_nic(guest, cmd, args, out)),
            "open-delay" => Some(self.cmd_open_delay(args, out)),
            "hvsock-connect" => Some(self.cmd_hvsock_connect(guest, args, out)),
            _ => None,
        }
    }

    fn cmd_reoffer(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        let [r] = args else {
            return Err("usage: reoffer RELID".into());
        };
        let relid = parse_relid(r)?;
        if self.is_hvsock(relid) {
            return Err(format!(
                "relid {} is an hv_sock connection, which is never offered again",
                relid.get()
            ));
        }
        self.rescind(guest, relid, true, out)
    }

    fn cmd_shutdown_guest(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        let g = guest.ok_or("no guest is connected")?;
        let relid = self
            .channels
            .iter()
            .find(|c| {
                c.kind == DeviceKind::Shutdown && matches!(c.state, ChannelState::Open { .. })
            })
            .map(|c| c.relid)
            .ok_or("no open shutdown channel")?;
        self.with_device(g, relid, |d, io| d.control(io, "shutdown-guest", args, out))
            .flatten()
            .unwrap_or_else(|| Err("the shutdown device did not answer".into()))
    }

    /// `kvp ...`, `vss ...`, `fcopy ...` and `keyboard-type ...`: the
    /// command goes to the first open channel of `kind` (see
    /// `devices::kvp`, `devices::vss`, `devices::fcopy` and
    /// `devices::keyboard`).
    fn cmd_ic_device(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        kind: DeviceKind,
        cmd: &str,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        let g = guest.ok_or("no guest is connected")?;
        let relid = self
            .channels
            .iter()
            .find(|c| c.kind == kind && matches!(c.state, ChannelState::Open { .. }))
            .map(|c| c.relid)
            .ok_or_else(|| format!("no open {kind} channel"))?;
        self.with_device(g, relid, |d, io| d.control(io, cmd, args, out))
            .flatten()
            .unwrap_or_else(|| Err(format!("the {kind} device did not answer")))
    }

    /// `unload-delay MS`: a slow host, answering UNLOAD after `MS`
    /// milliseconds (0: at once).
    fn cmd_unload_delay(&mut self, args: &[&str], out: &mut Vec<String>) -> ControlResult {
        let [ms] = args else {
            return Err("usage: unload-delay MS".into());
        };
        let ms = crate::commands::parse_num("milliseconds", ms)?;
        if ms > 600_000 {
            return Err("at most 600000 ms".into());
        }
        self.unload_delay = std::time::Duration::from_millis(ms);
        out.push(format!("UNLOAD_RESPONSE after {ms} ms"));
        Ok(())
    }

    /// `echo-burst RELID COUNT SIZE`: the open echo channel RELID sends
    /// COUNT unsolicited packets of SIZE bytes (see `devices::echo`).
    fn cmd_echo_burst(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        let [r, rest @ ..] = args else {
            return Err("usage: echo-burst RELID COUNT SIZE".into());
        };
        let g = guest.ok_or("no guest is connected")?;
        let relid = parse_relid(r)?;
        let c = self.known_channel(relid)?;
        if c.kind != DeviceKind::Echo || !matches!(c.state, ChannelState::Open { .. }) {
            return Err(format!("relid {} is not an open echo channel", relid.get()));
        }
        self.with_device(g, relid, |d, io| d.control(io, "echo-burst", rest, out))
            .flatten()
            .unwrap_or_else(|| Err("the echo device did not answer".into()))
    }

    /// `nic-link RELID up|down`: the open network adapter RELID (its
    /// primary channel) changes its link and indicates it to the guest;
    /// `nic-hold RELID MS`: it completes the guest's sends MS ms late
    /// (see `devices::net`).
    fn cmd_nic(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        cmd: &str,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        let usage = || {
            if cmd == "nic-link" {
                "usage: nic-link RELID up|down".to_string()
            } else {
                "usage: nic-hold RELID MS".to_string()
            }
        };
        let [r, rest @ ..] = args else {
            return Err(usage());
        };
        let g = guest.ok_or("no guest is connected")?;
        let relid = parse_relid(r)?;
        let c = self.known_channel(relid)?;
        if c.kind != DeviceKind::Net || !matches!(c.state, ChannelState::Open { .. }) {
            return Err(format!(
                "relid {} is not an open network channel",
                relid.get()
            ));
        }
        self.with_device(g, relid, |d, io| d.control(io, cmd, rest, out))
            .flatten()
            .unwrap_or_else(|| Err("the network device did not answer".into()))
    }

    /// `monitor-hold on|off`: stop or go on polling the guest's monitor
    /// page. While held, a monitored channel's signal stays pending in the
    /// page (its packets wait); `off` takes what came meanwhile at the
    /// next tick.
    fn cmd_monitor_hold(&mut self, args: &[&str], out: &mut Vec<String>) -> ControlResult {
        self.monitor_hold = match args {
            ["on"] => true,
            ["off"] => false,
            _ => return Err("usage: monitor-hold on|off".into()),
        };
        out.push(format!(
            "monitor page polling {}",
            if self.monitor_hold { "held" } else { "on" }
        ));
        Ok(())
    }

    /// `open-delay MS`: a slow host, answering each OPEN_CHANNEL after
    /// `MS` milliseconds (0: at once); answers still due are dropped when
    /// the guest unloads.
    fn cmd_open_delay(&mut self, args: &[&str], out: &mut Vec<String>) -> ControlResult {
        let [ms] = args else {
            return Err("usage: open-delay MS".into());
        };
        let ms = crate::commands::parse_num("milliseconds", ms)?;
        if ms > 600_000 {
            return Err("at most 600000 ms".into());
        }
        self.open_delay = std::time::Duration::from_millis(ms);
        out.push(format!("OPEN_CHANNEL_RESULT after {ms} ms"));
        Ok(())
    }

    fn cmd_hostile(&mut self, args: &[&str], out: &mut Vec<String>) -> ControlResult {
        match args {
            ["list"] => {
                out.extend(self.hostile.list());
                Ok(())
            }
            [m] | [m, "on"] => {
                let m: Mode = m.parse()?;
                self.hostile.enable(m, None)?;
                self.hostile_armed(m);
                out.push(format!("{m} on"));
                Ok(())
            }
            [m, "on", relid] => {
                let m: Mode = m.parse()?;
                let r = crate::commands::parse_num("relid", relid)?;
                let r = u32::try_from(r).map_err(|_| format!("relid {r} out of range"))?;
                self.hostile.enable(m, Some(r))?;
                self.hostile_armed(m);
                out.push(format!("{m} on relid {r}"));
                Ok(())
            }
            [m, "off"] => {
                let m: Mode = m.parse()?;
                self.hostile.disable(m);
                out.push(format!("{m} off"));
                Ok(())
            }
            _ => Err("usage: hostile list | hostile MODE [on [RELID]|off]".into()),
        }
    }

    /// A mode that counts from its start was switched on.
    pub(super) fn hostile_armed(&mut self, m: Mode) {
        match m {
            Mode::PostRefuse => self.refuse_left = (true, true),
            Mode::PostBusy => self.busy_refused = 0,
            Mode::PendingRace => self.race_pairs = 0,
            Mode::IcGarbage => self.garbage_sent = 0,
            _ => {}
        }
    }

    /// `MODIFY_CHANNEL`: Linux sends it from 4.1 on and waits for
    /// `MODIFY_CHANNEL_RESPONSE` from 5.3 on; Hyper-V before 5.3 changes
    /// the target silently. Before 4.1 it is ignored.
    pub(super) fn modify_channel(&mut self, guest: &mut GuestCtx<'_>, relid: Relid, vp: u32) {
        let Some(conn) = self.conn else {
            return;
        };
        if conn.version.0 < Version::V4_1.0 {
            self.refuse(format_args!(
                "MODIFY_CHANNEL before version 4.1 (relid {}); ignored",
                relid.get()
            ));
            return;
        }
        let vp_ok = guest.synic.vcpus_set_up().contains(&vp);
        let changed = match self.channels.get_mut(relid) {
            Some(c) => match &mut c.state {
                ChannelState::Open { target_vp, .. } if vp_ok => {
                    *target_vp = vp;
                    true
                }
                _ => false,
            },
            None => false,
        };
        if changed {
            self.stats.modify_channels += 1;
            crate::log_info!("vmbus: relid {} now targets vCPU {vp}", relid.get());
        } else {
            self.refuse(format_args!(
                "MODIFY_CHANNEL of relid {} to vCPU {vp} refused",
                relid.get()
            ));
        }
        if conn.version.0 >= Version::V5_3.0 {
            let status = if changed { 0 } else { STATUS_UNSUCCESSFUL };
            self.send(guest, &HostMessage::ModifyChannelResponse { relid, status });
        }
    }
}
