// SPDX-License-Identifier: GPL-2.0

//! The time sync IC: after negotiation, a time sample with
//! `ICTIMESYNCFLAG_SYNC`, then one with `ICTIMESYNCFLAG_SAMPLE` every
//! period. Message version 4.0 uses the reference-time format
//! (`ictimesync_ref_data`), older versions `ictimesync_data`.
//!
//! A 4.0 sample's `vmreferencetime` is the guest partition's reference
//! counter (`HV_X64_MSR_TIME_REF_COUNT`, 100 ns units) when the sample was
//! taken; the guest adds the time its counter advanced since. A guest of
//! this host has no Hyper-V partition: the counter reads 0 (QEMU answers
//! the MSR with 0 without Hyper-V enlightenments), so the samples say 0
//! and Linux's hv_utils, which computes `parenttime + (now - reference)`,
//! sets the host's time as sent.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vmbus_proto::packet::Packet;
use vmbus_proto::wire::ic::{
    IcMsgType, IcTimesyncData, IcTimesyncRefData, IcVersion, ICTIMESYNCFLAG_SAMPLE,
    ICTIMESYNCFLAG_SYNC, WLTIMEDELTA,
};
use vmbus_proto::wire::{PackedU64, Wire};

use super::ic_link::{IcEvent, IcLink};
use super::{ChannelIo, Device};

/// Message versions offered.
pub const VERSIONS: &[IcVersion] = &[
    IcVersion::new(1, 0),
    IcVersion::new(3, 0),
    IcVersion::new(4, 0),
];

/// Host time in 100 ns units since 1601.
pub fn host_time() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    WLTIMEDELTA + (d.as_nanos() / 100) as u64
}

/// The time sync backend.
pub struct Timesync {
    ic: IcLink,
    period: Duration,
    next_due: Option<Instant>,
    samples: u64,
    answered: u64,
}

impl Timesync {
    /// Samples every `period`.
    pub fn new(period: Duration) -> Self {
        Self {
            ic: IcLink::new(VERSIONS),
            period,
            next_due: None,
            samples: 0,
            answered: 0,
        }
    }

    fn sample(&mut self, io: &mut ChannelIo<'_>, flags: u8) {
        let now = host_time();
        let body = if self.ic.msg_version().is_some_and(|v| v.major >= 4) {
            let mut d = IcTimesyncRefData::zeroed();
            d.parenttime = PackedU64::new(now);
            // The guest's reference counter: 0 without Hyper-V (above).
            d.vmreferencetime = PackedU64::new(0);
            d.flags = flags;
            d.stratum = 2;
            let mut b = vec![0u8; IcTimesyncRefData::SIZE];
            d.write_to(&mut b);
            b
        } else {
            let mut d = IcTimesyncData::zeroed();
            d.parenttime = PackedU64::new(now);
            d.flags = flags;
            let mut b = vec![0u8; IcTimesyncData::SIZE];
            d.write_to(&mut b);
            b
        };
        if self.ic.request(io, IcMsgType::TIMESYNC, &body) {
            self.samples += 1;
        }
        self.next_due = Some(io.now + self.period);
    }
}

impl Device for Timesync {
    fn on_open(&mut self, io: &mut ChannelIo<'_>) {
        self.next_due = None;
        self.ic.open(io);
    }

    fn on_packet(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>) {
        match self.ic.on_packet(io.relid.get(), pkt) {
            IcEvent::Negotiated => self.sample(io, ICTIMESYNCFLAG_SYNC),
            IcEvent::Answer(_) => self.answered += 1,
            IcEvent::Nothing => {}
        }
    }

    fn on_close(&mut self) {
        self.ic.close();
        self.next_due = None;
    }

    fn tick(&mut self, io: &mut ChannelIo<'_>) {
        if self.next_due.is_some_and(|d| io.now >= d) {
            self.sample(io, ICTIMESYNCFLAG_SAMPLE);
        }
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("negotiated", u64::from(self.ic.msg_version().is_some())),
            (
                "version",
                self.ic
                    .msg_version()
                    .map_or(0, |v| u64::from(v.major) << 16 | u64::from(v.minor)),
            ),
            ("samples", self.samples),
            ("answered", self.answered),
            ("bad", self.ic.bad),
        ]
    }
}
