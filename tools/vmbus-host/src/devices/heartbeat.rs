// SPDX-License-Identifier: GPL-2.0

//! The heartbeat IC: after negotiation, a heartbeat request every period
//! with a new sequence number; the guest answers with the number plus one.
//! A request still unanswered when the next is due counts as missed; its
//! answer, if it comes while the next request waits, counts as late (a
//! guest slowed down, as a loaded test machine does), not as bad.

use std::time::{Duration, Instant};

use vmbus_proto::packet::Packet;
use vmbus_proto::wire::ic::{HeartbeatMsgData, IcMsgType, IcVersion};
use vmbus_proto::wire::Wire;

use super::ic_link::{IcEvent, IcLink};
use super::{ChannelIo, Device};

/// Message versions offered.
pub const VERSIONS: &[IcVersion] = &[IcVersion::new(1, 0), IcVersion::new(3, 0)];

/// The heartbeat backend.
pub struct Heartbeat {
    ic: IcLink,
    period: Duration,
    next_due: Option<Instant>,
    outstanding: Option<u64>,
    // The last request counted as missed, until its late answer or the
    // next miss.
    overdue: Option<u64>,
    seq: u64,
    sent: u64,
    ok: u64,
    missed: u64,
    late: u64,
    bad: u64,
}

impl Heartbeat {
    /// Heartbeats every `period`.
    pub fn new(period: Duration) -> Self {
        Self {
            ic: IcLink::new(VERSIONS),
            period,
            next_due: None,
            outstanding: None,
            overdue: None,
            seq: 0,
            sent: 0,
            ok: 0,
            missed: 0,
            late: 0,
            bad: 0,
        }
    }

    fn beat(&mut self, io: &mut ChannelIo<'_>) {
        self.overdue = self.outstanding.take();
        if self.overdue.is_some() {
            self.missed += 1;
        }
        self.seq = self.seq.wrapping_add(1);
        let mut body = [0u8; HeartbeatMsgData::SIZE];
        let m = HeartbeatMsgData {
            seq_num: self.seq,
            reserved: [0; 8],
        };
        if m.write_to(&mut body).is_some() && self.ic.request(io, IcMsgType::HEARTBEAT, &body) {
            self.sent += 1;
            self.outstanding = Some(self.seq);
        }
        self.next_due = Some(io.now + self.period);
    }
}

impl Device for Heartbeat {
    fn on_open(&mut self, io: &mut ChannelIo<'_>) {
        self.next_due = None;
        self.outstanding = None;
        self.overdue = None;
        self.ic.open(io);
    }

    fn on_packet(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>) {
        match self.ic.on_packet(io.relid.get(), pkt) {
            IcEvent::Negotiated => self.beat(io),
            IcEvent::Answer(m) => {
                let seq = HeartbeatMsgData::read_from(m.body)
                    .map(|d| d.seq_num)
                    .filter(|_| m.hdr.icmsgtype == IcMsgType::HEARTBEAT && m.hdr.status == 0);
                let answers = |req: Option<u64>| matches!((req, seq), (Some(s), Some(r)) if r == s.wrapping_add(1));
                if answers(self.outstanding) {
                    self.ok += 1;
                    self.outstanding = None;
                } else if answers(self.overdue) {
                    self.late += 1;
                    self.overdue = None;
                } else {
                    self.bad += 1;
                }
            }
            IcEvent::Nothing => {}
        }
    }

    fn on_close(&mut self) {
        self.ic.close();
        self.next_due = None;
        self.outstanding = None;
        self.overdue = None;
    }

    fn tick(&mut self, io: &mut ChannelIo<'_>) {
        if self.next_due.is_some_and(|d| io.now >= d) {
            self.beat(io);
        }
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("negotiated", u64::from(self.ic.msg_version().is_some())),
            ("sent", self.sent),
            ("ok", self.ok),
            ("missed", self.missed),
            ("late", self.late),
            ("bad", self.bad + self.ic.bad),
        ]
    }
}
