// SPDX-License-Identifier: GPL-2.0

//! Hostile modes: named ways to misbehave on purpose, switchable at run
//! time (`hostile MODE on [RELID]|off`) and at start (`--hostile MODE`).
//! Each one changes the bytes the guest sees; README.md says exactly how.
//! Modes that bend one channel's messages or packets can be limited to one
//! relid, so that a test can check that the guest's other channels carry
//! on.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One way to misbehave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Publish an out-of-range, unaligned write index in the host → guest
    /// ring instead of the next packet's end.
    CorruptRingIndices,
    /// Host → guest packets whose descriptor claims more bytes than the
    /// ring holds.
    OversizedPacket,
    /// Host → guest packets whose write index is published after the
    /// descriptor only (no payload, no trailer).
    TruncatedPacket,
    /// Host → guest packets whose descriptor has `offset8 = 1` (the payload
    /// would start inside the descriptor).
    MisalignedPacket,
    /// An extra `OFFER_CHANNEL` with relid 0 before the real offers.
    BogusOffer,
    /// An extra `OFFER_CHANNEL` reusing the first channel's relid with
    /// another instance GUID.
    DuplicateRelid,
    /// Offers with monitor ids 200 and up (valid ids are below 128).
    OutOfRangeMonitorId,
    /// A message of type 99 before the offers.
    UnknownMessageType,
    /// `OFFER_CHANNEL` messages cut to 64 bytes.
    WrongMessageSize,
    /// 100 extra `ALL_OFFERS_DELIVERED` before the offers.
    MessageFlood,
    /// The guest's vector raised 64 times per poll, with no event flag set.
    InterruptFlood,
    /// Never answer VMBus messages.
    Silent,
    /// Exit with status 3 right after posting an accepting
    /// `VERSION_RESPONSE`.
    DieMidHandshake,
    /// Answer `OPEN_CHANNEL` with `RESCIND_CHANNEL_OFFER` (no
    /// `OPEN_CHANNEL_RESULT`).
    RescindMidOpen,
    /// `GPADL_CREATED` with `STATUS_UNSUCCESSFUL` for every GPADL.
    GpadlFail,
    /// `OPEN_CHANNEL_RESULT` with `STATUS_UNSUCCESSFUL` for every open.
    OpenFail,
    /// Answer `CLOSE_CHANNEL` with `RESCIND_CHANNEL_OFFER` (the guest is
    /// then tearing the ring GPADL down, which is still answered).
    RescindOnClose,
    /// Whenever a message must wait behind a busy slot, flip
    /// MessagePending on and off until the guest frees the slot (see
    /// `Synic::set_pending_race`), and post filler messages in pairs
    /// (the second one waits behind the first) for 200 such races.
    PendingRace,
    /// Keep filler messages waiting behind the slot for as long as the
    /// mode is on: the guest finds a new message after every EOM.
    SlotFlood,
    /// Fail each message's first three posts with the statuses a busy
    /// hypervisor gives (`INSUFFICIENT_BUFFERS`, `INSUFFICIENT_MEMORY`,
    /// then `INVALID_CONNECTION_ID`, which `INITIATE_CONTACT` gets as
    /// `INSUFFICIENT_MEMORY` instead), and take the fourth.
    PostBusy,
    /// Fail the first post of `OPEN_CHANNEL` and the first of
    /// `CLOSE_CHANNEL` after being switched on with `ACCESS_DENIED`, a
    /// status not worth another try.
    PostRefuse,
    /// Refuse every version in `VERSION_RESPONSE`.
    RejectVersions,
    /// Send 200 in-band packets of 8 zero bytes (shorter than an IC
    /// message's headers) on an open channel, one per poll.
    IcGarbage,
    /// Never answer `GPADL_TEARDOWN` of a rescinded channel's GPADL (the
    /// host keeps the guest's ring memory).
    KeepGpadls,
    /// Before answering `OPEN_CHANNEL` (with success), write an
    /// out-of-range, unaligned write index into the guest → host ring's
    /// control page, which the guest owns.
    BadRingAtOpen,
    /// Read and answer the guest's packets but never publish the read
    /// index of the guest → host ring: the guest sees its ring fill up and
    /// never get room back.
    HoldRingSpace,
    /// Take `DATA_USING_GPA_DIRECT` packets off the ring and never answer
    /// them (nor say that the pages they name were let go).
    IgnoreGpaDirect,
}

impl Mode {
    /// All modes, in `hostile list` order.
    pub const ALL: [Mode; 27] = [
        Mode::CorruptRingIndices,
        Mode::OversizedPacket,
        Mode::TruncatedPacket,
        Mode::MisalignedPacket,
        Mode::BogusOffer,
        Mode::DuplicateRelid,
        Mode::OutOfRangeMonitorId,
        Mode::UnknownMessageType,
        Mode::WrongMessageSize,
        Mode::MessageFlood,
        Mode::InterruptFlood,
        Mode::Silent,
        Mode::DieMidHandshake,
        Mode::RescindMidOpen,
        Mode::GpadlFail,
        Mode::OpenFail,
        Mode::RescindOnClose,
        Mode::PendingRace,
        Mode::SlotFlood,
        Mode::PostBusy,
        Mode::PostRefuse,
        Mode::RejectVersions,
        Mode::IcGarbage,
        Mode::KeepGpadls,
        Mode::BadRingAtOpen,
        Mode::HoldRingSpace,
        Mode::IgnoreGpaDirect,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::CorruptRingIndices => "corrupt-ring-indices",
            Mode::OversizedPacket => "oversized-packet",
            Mode::TruncatedPacket => "truncated-packet",
            Mode::MisalignedPacket => "misaligned-packet",
            Mode::BogusOffer => "bogus-offer",
            Mode::DuplicateRelid => "duplicate-relid",
            Mode::OutOfRangeMonitorId => "out-of-range-monitor-id",
            Mode::UnknownMessageType => "unknown-message-type",
            Mode::WrongMessageSize => "wrong-message-size",
            Mode::MessageFlood => "message-flood",
            Mode::InterruptFlood => "interrupt-flood",
            Mode::Silent => "silent",
            Mode::DieMidHandshake => "die-mid-handshake",
            Mode::RescindMidOpen => "rescind-mid-open",
            Mode::GpadlFail => "gpadl-fail",
            Mode::OpenFail => "open-fail",
            Mode::RescindOnClose => "rescind-on-close",
            Mode::PendingRace => "pending-race",
            Mode::SlotFlood => "slot-flood",
            Mode::PostBusy => "post-busy",
            Mode::PostRefuse => "post-refuse",
            Mode::RejectVersions => "reject-versions",
            Mode::IcGarbage => "ic-garbage",
            Mode::KeepGpadls => "keep-gpadls",
            Mode::BadRingAtOpen => "bad-ring-at-open",
            Mode::HoldRingSpace => "hold-ring-space",
            Mode::IgnoreGpaDirect => "ignore-gpa-direct",
        }
    }

    /// One line on what the mode does, for `--help`.
    pub fn describe(self) -> &'static str {
        match self {
            Mode::CorruptRingIndices => {
                "host -> guest rings get an out-of-range, unaligned write index"
            }
            Mode::OversizedPacket => {
                "packets whose descriptor claims more bytes than the ring holds"
            }
            Mode::TruncatedPacket => {
                "the write index is published after the descriptor only (no payload)"
            }
            Mode::MisalignedPacket => "packets whose payload would start inside the descriptor",
            Mode::BogusOffer => "an extra OFFER_CHANNEL with relid 0 before the real offers",
            Mode::DuplicateRelid => "an extra offer reusing the first relid with another instance",
            Mode::OutOfRangeMonitorId => "offers with monitor ids of 200 and up (valid: below 128)",
            Mode::UnknownMessageType => "a message of type 99 before the offers",
            Mode::WrongMessageSize => "OFFER_CHANNEL messages cut to 64 bytes",
            Mode::MessageFlood => "100 extra ALL_OFFERS_DELIVERED before the offers",
            Mode::InterruptFlood => {
                "the guest's vector raised 64 times per poll, no event flag set"
            }
            Mode::Silent => "never answer VMBus messages",
            Mode::DieMidHandshake => "exit (status 3) right after an accepting VERSION_RESPONSE",
            Mode::RescindMidOpen => "answer OPEN_CHANNEL with a rescind instead of its result",
            Mode::GpadlFail => "GPADL_CREATED with STATUS_UNSUCCESSFUL for every GPADL",
            Mode::OpenFail => "OPEN_CHANNEL_RESULT with STATUS_UNSUCCESSFUL for every open",
            Mode::RescindOnClose => {
                "answer CLOSE_CHANNEL with a rescind (the teardown is answered)"
            }
            Mode::PendingRace => {
                "flip MessagePending on busy slots until the guest frees them; 200 filler pairs"
            }
            Mode::SlotFlood => "a filler behind every last waiting message: every EOM brings one",
            Mode::PostBusy => "each message's first three posts refused with busy statuses",
            Mode::PostRefuse => "the first OPEN_CHANNEL and CLOSE_CHANNEL posts refused for good",
            Mode::RejectVersions => "every version refused in VERSION_RESPONSE",
            Mode::IcGarbage => "200 in-band packets too short for an IC message",
            Mode::KeepGpadls => "GPADL_TEARDOWN of a rescinded channel never answered",
            Mode::BadRingAtOpen => {
                "an out-of-range write index in the guest's ring header before the open's answer"
            }
            Mode::HoldRingSpace => {
                "guest packets answered, but the read index never published (the ring fills)"
            }
            Mode::IgnoreGpaDirect => "GPA-direct packets taken off the ring and never answered",
        }
    }

    /// Whether the mode can be limited to one channel.
    pub fn is_per_channel(self) -> bool {
        self.is_ring_mode()
            || matches!(
                self,
                Mode::OutOfRangeMonitorId
                    | Mode::WrongMessageSize
                    | Mode::RescindMidOpen
                    | Mode::GpadlFail
                    | Mode::OpenFail
                    | Mode::RescindOnClose
                    | Mode::PostRefuse
                    | Mode::IcGarbage
                    | Mode::BadRingAtOpen
                    | Mode::HoldRingSpace
                    | Mode::IgnoreGpaDirect
            )
    }

    /// Whether the mode changes host → guest ring writes.
    pub fn is_ring_mode(self) -> bool {
        matches!(
            self,
            Mode::CorruptRingIndices
                | Mode::OversizedPacket
                | Mode::TruncatedPacket
                | Mode::MisalignedPacket
        )
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Mode::ALL
            .iter()
            .copied()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown hostile mode {s:?} (see hostile list)"))
    }
}

/// The enabled modes, each for every channel (`None`) or for one relid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hostile {
    on: BTreeMap<Mode, Option<u32>>,
}

impl Hostile {
    /// With `modes` enabled for every channel.
    pub fn new(modes: &[Mode]) -> Self {
        Self {
            on: modes.iter().map(|m| (*m, None)).collect(),
        }
    }

    /// Whether `m` is enabled (for any channel).
    pub fn is(&self, m: Mode) -> bool {
        self.on.contains_key(&m)
    }

    /// Whether `m` is enabled for channel `relid`.
    pub fn is_for(&self, m: Mode, relid: u32) -> bool {
        self.on
            .get(&m)
            .is_some_and(|scope| scope.is_none_or(|r| r == relid))
    }

    /// Enables `m` for every channel, or for `relid` only.
    pub fn enable(&mut self, m: Mode, relid: Option<u32>) -> Result<(), String> {
        if relid.is_some() && !m.is_per_channel() {
            return Err(format!("{m} is not a per-channel mode"));
        }
        self.on.insert(m, relid);
        Ok(())
    }

    /// Disables `m`.
    pub fn disable(&mut self, m: Mode) {
        self.on.remove(&m);
    }

    /// The first ring mode enabled for channel `relid`.
    pub fn ring_mode_for(&self, relid: u32) -> Option<Mode> {
        self.on
            .keys()
            .copied()
            .find(|m| m.is_ring_mode() && self.is_for(*m, relid))
    }

    /// `hostile list` lines.
    pub fn list(&self) -> Vec<String> {
        Mode::ALL
            .iter()
            .map(|m| match self.on.get(m) {
                None => format!("{m} off"),
                Some(None) => format!("{m} on"),
                Some(Some(r)) => format!("{m} on relid {r}"),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Mode::ALL {
            assert_eq!(m.name().parse::<Mode>(), Ok(m));
        }
        assert!("nice".parse::<Mode>().is_err());
        let mut h = Hostile::new(&[Mode::Silent]);
        assert!(h.is(Mode::Silent));
        assert!(h.is_for(Mode::Silent, 7));
        h.enable(Mode::OversizedPacket, None).unwrap();
        assert_eq!(h.ring_mode_for(3), Some(Mode::OversizedPacket));
        h.disable(Mode::Silent);
        assert!(h.list().contains(&"silent off".to_string()));
    }

    #[test]
    fn per_channel_scope() {
        let mut h = Hostile::default();
        h.enable(Mode::GpadlFail, Some(5)).unwrap();
        assert!(h.is(Mode::GpadlFail));
        assert!(h.is_for(Mode::GpadlFail, 5));
        assert!(!h.is_for(Mode::GpadlFail, 4));
        h.enable(Mode::TruncatedPacket, Some(4)).unwrap();
        assert_eq!(h.ring_mode_for(4), Some(Mode::TruncatedPacket));
        assert_eq!(h.ring_mode_for(5), None);
        assert!(h.list().contains(&"gpadl-fail on relid 5".to_string()));
        assert!(h.enable(Mode::Silent, Some(4)).is_err());
        assert!(!h.is(Mode::Silent));
    }
}
