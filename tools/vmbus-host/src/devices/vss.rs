// SPDX-License-Identifier: GPL-2.0

//! The volume shadow copy (VSS) IC, as a Hyper-V backup drives it: after
//! negotiation (message version 5.0, the only one Linux's hv_vss speaks)
//! the control socket's `vss hot-backup`, `vss freeze` and `vss thaw` send
//! one operation each (one at a time; the others wait). Linux's hv_vss
//! passes freeze and thaw to hv_vss_daemon, which freezes or thaws every
//! writable block-device file system (FIFREEZE/FITHAW), and answers with
//! the daemon's verdict; `vss results` lists the answers, oldest first.

use std::collections::VecDeque;

use vmbus_proto::ic::IcMessage;
use vmbus_proto::packet::Packet;
use vmbus_proto::vss;
use vmbus_proto::wire::ic::{IcMsgType, IcVersion};
use vmbus_proto::wire::vss::{VssMsg, VssOp};
use vmbus_proto::wire::Wire;

use super::ic_link::{IcEvent, IcLink};
use super::{ChannelIo, Device};
use crate::server::ControlResult;

/// Message versions offered.
pub const VERSIONS: &[IcVersion] = &[IcVersion::new(5, 0)];
/// Most answers kept for `vss results`.
pub const MAX_RESULTS: usize = 64;
/// Most operations waiting to be sent.
pub const MAX_QUEUED: usize = 8;

const OPS: &[(&str, VssOp)] = &[
    ("hot-backup", VssOp::HOT_BACKUP),
    ("freeze", VssOp::FREEZE),
    ("thaw", VssOp::THAW),
];

fn op_name(op: VssOp) -> &'static str {
    OPS.iter()
        .find(|(_, o)| *o == op)
        .map_or("unknown", |(n, _)| n)
}

/// The VSS backend.
pub struct Vss {
    ic: IcLink,
    queue: VecDeque<(u64, VssOp)>,
    in_flight: Option<(u64, VssOp)>,
    results: VecDeque<String>,
    next_id: u64,
    requests: u64,
    ok: u64,
    failed: u64,
    bad: u64,
}

impl Default for Vss {
    fn default() -> Self {
        Self {
            ic: IcLink::new(VERSIONS),
            queue: VecDeque::new(),
            in_flight: None,
            results: VecDeque::new(),
            next_id: 1,
            requests: 0,
            ok: 0,
            failed: 0,
            bad: 0,
        }
    }
}

impl Vss {
    fn record(&mut self, line: String) {
        crate::log_info!("vss: {line}");
        if self.results.len() == MAX_RESULTS {
            self.results.pop_front();
        }
        self.results.push_back(line);
    }

    fn pump(&mut self, io: &mut ChannelIo<'_>) {
        if self.in_flight.is_some() || self.ic.msg_version().is_none() {
            return;
        }
        let Some((id, op)) = self.queue.pop_front() else {
            return;
        };
        let mut body = [0u8; VssMsg::SIZE];
        let sent = vss::encode_request(op, &mut body).is_ok()
            && self.ic.request(io, IcMsgType::VSS, &body);
        if sent {
            self.requests += 1;
            self.in_flight = Some((id, op));
        } else {
            let line = format!("vss.{id} {} not-sent", op_name(op));
            self.record(line);
        }
    }

    fn on_answer(&mut self, io: &mut ChannelIo<'_>, m: &IcMessage<'_>) {
        let Some((id, op)) = self.in_flight.take() else {
            self.bad += 1;
            return;
        };
        let head = format!("vss.{id} {} status={:#x}", op_name(op), m.hdr.status);
        let line = if m.hdr.icmsgtype != IcMsgType::VSS {
            self.bad += 1;
            format!("{head} bad=message-type-{}", m.hdr.icmsgtype.0)
        } else {
            match vss::parse_answer(m.body, op) {
                Ok(flags) => {
                    if m.hdr.status == 0 {
                        self.ok += 1;
                    } else {
                        self.failed += 1;
                    }
                    format!("{head} flags={flags:#x}")
                }
                Err(e) => {
                    self.bad += 1;
                    // The error's words joined, so that the line stays one
                    // word per field.
                    format!("{head} bad={}", format!("{e:?}").replace(' ', ""))
                }
            }
        };
        self.record(line);
        self.pump(io);
    }
}

impl Device for Vss {
    fn on_open(&mut self, io: &mut ChannelIo<'_>) {
        self.ic.open(io);
    }

    fn on_packet(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>) {
        match self.ic.on_packet(io.relid.get(), pkt) {
            IcEvent::Negotiated => self.pump(io),
            IcEvent::Answer(m) => self.on_answer(io, &m),
            IcEvent::Nothing => {}
        }
    }

    fn on_close(&mut self) {
        self.ic.close();
        if let Some((id, op)) = self.in_flight.take() {
            let line = format!("vss.{id} {} lost=channel-closed", op_name(op));
            self.record(line);
        }
    }

    fn control(
        &mut self,
        io: &mut ChannelIo<'_>,
        cmd: &str,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> Option<ControlResult> {
        if cmd != "vss" {
            return None;
        }
        let op = match args {
            ["results"] => {
                out.extend(self.results.iter().cloned());
                return Some(Ok(()));
            }
            [name] => OPS.iter().find(|(n, _)| n == name).map(|(_, o)| *o),
            _ => None,
        };
        let Some(op) = op else {
            return Some(Err("usage: vss hot-backup|freeze|thaw|results".into()));
        };
        if self.queue.len() >= MAX_QUEUED {
            return Some(Err(format!("{MAX_QUEUED} operations are waiting already")));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.queue.push_back((id, op));
        out.push(format!(
            "vss.{id} queued on relid {}: {}",
            io.relid.get(),
            op_name(op)
        ));
        self.pump(io);
        Some(Ok(()))
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("negotiated", u64::from(self.ic.msg_version().is_some())),
            ("requests", self.requests),
            ("ok", self.ok),
            ("failed", self.failed),
            ("queued", self.queue.len() as u64),
            ("bad", self.bad + self.ic.bad),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest_mem::MemRegion;
    use vmbus_proto::ic;
    use vmbus_proto::packet::{encode_inband, parse};
    use vmbus_proto::types::Relid;
    use vmbus_proto::wire::packet::PacketType;

    fn payloads(pkts: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        pkts.iter()
            .map(|p| parse(p).unwrap().payload.to_vec())
            .collect()
    }

    /// Feeds the IC message `msg` to `dev`; returns what it sent.
    fn feed(dev: &mut Vss, mem: &MemRegion, msg: &[u8]) -> Vec<Vec<u8>> {
        let mut buf = vec![0u8; msg.len() + 32];
        let n = encode_inband(&mut buf, PacketType::DATA_INBAND, 0, 1, msg).unwrap();
        let pkt = parse(&buf[..n]).unwrap();
        let mut io = ChannelIo::new(Relid::new(5).unwrap(), mem, None);
        dev.on_packet(&mut io, &pkt);
        payloads(io.into_packets())
    }

    fn control(
        dev: &mut Vss,
        mem: &MemRegion,
        args: &[&str],
    ) -> (ControlResult, Vec<String>, Vec<Vec<u8>>) {
        let mut out = Vec::new();
        let mut io = ChannelIo::new(Relid::new(5).unwrap(), mem, None);
        let r = dev.control(&mut io, "vss", args, &mut out).unwrap();
        (r, out, payloads(io.into_packets()))
    }

    /// A device negotiated at message version 5.0.
    fn negotiated(mem: &MemRegion) -> Vss {
        let mut dev = Vss::default();
        let mut io = ChannelIo::new(Relid::new(5).unwrap(), mem, None);
        dev.on_open(&mut io);
        let sent = payloads(io.into_packets());
        let mut resp = vec![0u8; 256];
        let (n, _) =
            ic::answer_negotiate(&sent[0], &mut resp, &[IcVersion::new(3, 0)], VERSIONS).unwrap();
        assert!(feed(&mut dev, mem, &resp[..n]).is_empty());
        dev
    }

    #[test]
    fn freeze_then_thaw_in_order() {
        let mem = MemRegion::anonymous(4096).unwrap();
        let mut dev = negotiated(&mem);
        let (r, out, sent) = control(&mut dev, &mem, &["freeze"]);
        assert_eq!(r, Ok(()));
        assert_eq!(out, ["vss.1 queued on relid 5: freeze"]);
        let (_, _, more) = control(&mut dev, &mem, &["thaw"]);
        assert!(more.is_empty(), "thaw waits for the freeze's answer");
        let body = &sent[0][ic::ICMSG_HDR_SIZE..];
        assert_eq!(body, &[5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut answer = sent[0].clone();
        ic::make_response(&mut answer, 0).unwrap();
        let thaw = feed(&mut dev, &mem, &answer);
        assert_eq!(thaw[0][ic::ICMSG_HDR_SIZE], 6, "the thaw goes out next");
        let mut answer = thaw[0].clone();
        ic::make_response(&mut answer, ic::HV_E_FAIL).unwrap();
        feed(&mut dev, &mem, &answer);
        let (_, res, _) = control(&mut dev, &mem, &["results"]);
        assert_eq!(
            res,
            [
                "vss.1 freeze status=0x0 flags=0x0",
                "vss.2 thaw status=0x80004005 flags=0x0"
            ]
        );
    }

    #[test]
    fn hostile_answers_are_counted() {
        let mem = MemRegion::anonymous(4096).unwrap();
        let mut dev = negotiated(&mem);
        // An answer to nothing.
        let mut stray = vec![0u8; ic::ICMSG_HDR_SIZE + 12];
        let hdr = ic::request_header(
            IcMsgType::VSS,
            IcVersion::new(3, 0),
            IcVersion::new(5, 0),
            0,
        );
        ic::encode(&mut stray, &hdr, &[0; 12]).unwrap();
        ic::make_response(&mut stray, 0).unwrap();
        feed(&mut dev, &mem, &stray);
        // A cut answer, then one for another operation.
        let (_, _, sent) = control(&mut dev, &mem, &["freeze"]);
        let mut cut = sent[0].clone();
        ic::make_response(&mut cut, 0).unwrap();
        cut.truncate(ic::ICMSG_HDR_SIZE + 4);
        let thaw_sent = feed(&mut dev, &mem, &cut);
        assert!(thaw_sent.is_empty());
        let (_, _, sent) = control(&mut dev, &mem, &["thaw"]);
        let mut other = sent[0].clone();
        other[ic::ICMSG_HDR_SIZE] = 9;
        ic::make_response(&mut other, 0).unwrap();
        feed(&mut dev, &mem, &other);
        let (_, res, _) = control(&mut dev, &mem, &["results"]);
        assert!(
            res[0].starts_with("vss.1 freeze status=0x0 bad=Truncated"),
            "{res:?}"
        );
        assert!(
            res[1].starts_with("vss.2 thaw status=0x0 bad=WrongOp"),
            "{res:?}"
        );
        assert!(
            !res[1].contains(' ') || res[1].split(' ').count() == 4,
            "{res:?}"
        );
        assert!(dev.stats().contains(&("bad", 3)));
        assert!(control(&mut dev, &mem, &["explode"]).0.is_err());
    }
}
