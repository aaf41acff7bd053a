// SPDX-License-Identifier: GPL-2.0

//! Hostile channel messages: how offers are bent and what is injected
//! before them when the guest asks for offers (see [`Mode`]).

use vmbus_proto::ivshmem::HvStatus;
use vmbus_proto::message::{GuestMessage, HostMessage, Offer};
use vmbus_proto::types::Relid;
use vmbus_proto::wire::channel_msg::OfferChannel;
use vmbus_proto::wire::packet::PacketType;
use vmbus_proto::wire::Guid;

use super::hostile::Mode;
use super::VmbusHost;
use crate::server::GuestCtx;

/// The type of the message `unknown-message-type` sends.
pub const UNKNOWN_TYPE: u32 = 99;
/// Length `wrong-message-size` cuts offers to.
pub const SHORT_OFFER: usize = 64;
/// Extra messages `message-flood` sends.
pub const FLOOD: usize = 100;
/// The first monitor id `out-of-range-monitor-id` uses.
pub const BAD_MONITOR_ID: u8 = 200;
/// Posts of each message `post-busy` refuses before it takes one.
pub const BUSY_TRIES: u8 = 3;

/// Packets `ic-garbage` sends.
pub const GARBAGE_PACKETS: u64 = 200;

/// Filler pairs `pending-race` posts.
pub const RACE_PAIRS: u64 = 200;

fn field(name: &str) -> Option<usize> {
    OfferChannel::FIELDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, o)| *o)
}

fn set(bytes: &mut [u8], name: &str, value: &[u8]) {
    if let Some(dst) = field(name).and_then(|o| bytes.get_mut(o..o + value.len())) {
        dst.copy_from_slice(value);
    }
}

/// The payload of the slot modes' fillers: a message of [`UNKNOWN_TYPE`].
fn filler() -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&UNKNOWN_TYPE.to_le_bytes());
    b
}

impl VmbusHost {
    /// Posts an offer, bent by the enabled modes. A monitored channel is
    /// described in the guest's monitor page first (`monitor::describe`).
    pub(super) fn send_offer(&mut self, guest: &mut GuestCtx<'_>, o: Offer) -> bool {
        if let (Some(id), Some(c)) = (o.monitor_id, self.conn) {
            if c.monitor_page2 != 0 {
                if let Err(e) =
                    super::monitor::describe(guest.mem, c.monitor_page2, id, o.connection_id)
                {
                    crate::log_warn!("vmbus: monitor page of relid {}: {e:?}", o.relid.get());
                }
            }
        }
        let enc = HostMessage::Offer(o).encode();
        let mut b = enc.as_bytes().to_vec();
        if self
            .hostile
            .is_for(Mode::OutOfRangeMonitorId, o.relid.get())
        {
            let id = BAD_MONITOR_ID.saturating_add(o.relid.get().min(55) as u8);
            set(&mut b, "monitorid", &[id]);
            set(&mut b, "monitor_flags", &[1]);
        }
        if self.hostile.is_for(Mode::WrongMessageSize, o.relid.get()) {
            b.truncate(SHORT_OFFER);
        }
        self.post_raw(guest, "OFFER_CHANNEL", Some(o.relid), &b)
    }

    fn post_raw(
        &mut self,
        guest: &mut GuestCtx<'_>,
        name: &str,
        relid: Option<Relid>,
        b: &[u8],
    ) -> bool {
        match self.conn {
            Some(c) => self.post_bytes(guest, c.vcpu, c.sint, name, relid, b),
            None => false,
        }
    }

    /// A message of [`UNKNOWN_TYPE`], which the guest drops, posted without
    /// a trace line of its own (the slot modes post thousands).
    fn post_filler(&mut self, guest: &mut GuestCtx<'_>) -> bool {
        let Some(c) = self.conn else {
            return false;
        };
        let ok = guest
            .post_to_guest(c.vcpu, c.sint, super::VMBUS_HV_MESSAGE_TYPE, &filler())
            .is_ok();
        if ok {
            self.stats.fillers += 1;
        }
        ok
    }

    /// The hypervisor's answer to a post of `payload` under the post modes.
    pub(super) fn hostile_post_status(&mut self, payload: &[u8]) -> Option<HvStatus> {
        let m = GuestMessage::decode(payload).ok();
        if self.hostile.is(Mode::PostBusy) {
            if self.busy_refused < BUSY_TRIES {
                self.busy_refused += 1;
                let contact = matches!(m, Some(GuestMessage::InitiateContact(_)));
                return Some(match self.busy_refused {
                    1 => HvStatus::INSUFFICIENT_BUFFERS,
                    2 => HvStatus::INSUFFICIENT_MEMORY,
                    _ if contact => HvStatus::INSUFFICIENT_MEMORY,
                    _ => HvStatus::INVALID_CONNECTION_ID,
                });
            }
            self.busy_refused = 0;
        }
        let refuse = match m {
            Some(GuestMessage::OpenChannel(o))
                if self.hostile.is_for(Mode::PostRefuse, o.relid.get()) =>
            {
                &mut self.refuse_left.0
            }
            Some(GuestMessage::CloseChannel { relid })
                if self.hostile.is_for(Mode::PostRefuse, relid.get()) =>
            {
                &mut self.refuse_left.1
            }
            _ => return None,
        };
        std::mem::replace(refuse, false).then_some(HvStatus::ACCESS_DENIED)
    }

    /// `ic-garbage`'s periodic part: one packet too short for an IC
    /// message on each open channel the mode is on for, up to
    /// [`GARBAGE_PACKETS`] in all.
    pub(super) fn ic_garbage(&mut self, guest: &mut GuestCtx<'_>) {
        if !self.hostile.is(Mode::IcGarbage) || self.garbage_sent >= GARBAGE_PACKETS {
            return;
        }
        let targets: Vec<Relid> = self
            .channels
            .iter()
            .filter(|c| {
                matches!(c.state, super::channels::ChannelState::Open { .. })
                    && self.hostile.is_for(Mode::IcGarbage, c.relid.get())
            })
            .map(|c| c.relid)
            .collect();
        for r in targets {
            let sent = self.with_device(guest, r, |_, io| {
                io.send(PacketType::DATA_INBAND, 0, 0, &[&[0u8; 8]]).is_ok()
            });
            if sent == Some(true) {
                self.garbage_sent += 1;
            }
        }
    }

    /// The slot modes' periodic part: `pending-race` flips MessagePending
    /// on busy slots and posts its filler pairs while the guest's SINT is
    /// idle; `slot-flood` has the SynIC queue a filler behind every last
    /// waiting message, and starts it with one.
    pub(super) fn slot_modes(&mut self, guest: &mut GuestCtx<'_>) {
        let race = self.hostile.is(Mode::PendingRace);
        guest.synic.set_pending_race(race);
        let Some(c) = self.conn else {
            return;
        };
        if race && self.race_pairs < RACE_PAIRS && guest.synic.sint_idle(c.vcpu, c.sint) {
            // The first goes into the slot, the second waits behind it.
            if self.post_filler(guest) && self.post_filler(guest) {
                self.race_pairs += 1;
            }
        }
        if self.hostile.is(Mode::SlotFlood) {
            guest.synic.set_flood(Some((
                c.vcpu,
                c.sint,
                super::VMBUS_HV_MESSAGE_TYPE,
                &filler(),
            )));
            if guest.synic.sint_idle(c.vcpu, c.sint) {
                self.post_filler(guest);
            }
        } else {
            guest.synic.set_flood(None);
        }
    }

    /// What the enabled modes send when the guest asks for offers, before
    /// the real offers.
    pub(super) fn inject_before_offers(&mut self, guest: &mut GuestCtx<'_>) {
        let first = self.channels.iter().next().map(|c| c.offer());
        if self.hostile.is(Mode::UnknownMessageType) {
            let mut b = UNKNOWN_TYPE.to_le_bytes().to_vec();
            b.extend_from_slice(&[0; 12]);
            self.post_raw(guest, "HOSTILE-UNKNOWN-TYPE", None, &b);
        }
        if self.hostile.is(Mode::MessageFlood) {
            let b = HostMessage::AllOffersDelivered.encode();
            for _ in 0..FLOOD {
                self.post_raw(guest, "ALL_OFFERS_DELIVERED", None, b.as_bytes());
            }
        }
        if let (true, Some(o)) = (self.hostile.is(Mode::BogusOffer), first) {
            let mut b = HostMessage::Offer(o).encode().as_bytes().to_vec();
            set(&mut b, "child_relid", &0u32.to_le_bytes());
            self.post_raw(guest, "OFFER_CHANNEL", None, &b);
        }
        if let (true, Some(mut o)) = (self.hostile.is(Mode::DuplicateRelid), first) {
            o.offer.if_instance = Guid::from_fields(0xbad0_bad0, 0xdddd, 0, [0xdd; 8]);
            self.send_offer(guest, o);
        }
    }
}
