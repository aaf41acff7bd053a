// SPDX-License-Identifier: GPL-2.0

//! The server's data path: servicing an open channel when the guest
//! signals it (HvSignalEvent on its connection id, or its monitor bit),
//! handing packets to the channel's device, writing the device's packets
//! into the host → guest ring and signalling the guest the Hyper-V way
//! (2.4 and later: the channel's relid bit in the SINT 2 event flags of the
//! channel's target vCPU; before: the relid bit in the guest's interrupt
//! page and event flag 0). Every packet is traced as
//! `g2h|h2g <relid> <packet type> <hex>`.

use vmbus_proto::packet::parse;
use vmbus_proto::types::{MonitorId, Relid};
use vmbus_proto::version::Version;
use vmbus_proto::wire::packet::{PacketType, VmPacketDescriptor};
use vmbus_proto::wire::synic::VMBUS_MESSAGE_SINT;
use vmbus_proto::wire::Wire;

use super::channels::{ChannelState, Channels};
use super::hostile::Mode;
use super::VmbusHost;
use crate::devices::{self, ChannelIo, Device, SubchannelHost};
use crate::log::Level;
use crate::log_limited;
use crate::server::GuestCtx;
use crate::trace::Dir;

/// Packets read per pass before the queue is flushed again.
const MAX_BATCH: usize = 64;

/// The packet type's name for the trace.
pub fn packet_name(p: &[u8]) -> String {
    match VmPacketDescriptor::read_from(p) {
        Some(d) => d
            .ptype
            .name()
            .map_or_else(|| format!("PKT-{}", d.ptype.0), str::to_string),
        None => "PKT-SHORT".into(),
    }
}

/// Adds sub-channels of `parent`'s instance.
struct SubOffers<'a> {
    channels: &'a mut Channels,
    parent: Relid,
    added: Vec<Relid>,
}

impl SubchannelHost for SubOffers<'_> {
    fn offer_subchannels(&mut self, n: u16) -> u16 {
        let Some(p) = self.channels.get(self.parent).copied() else {
            return 0;
        };
        let mut count = 0;
        for _ in 0..n {
            let index = self.channels.next_sub_index(p.instance);
            if index == 0 {
                break;
            }
            match self
                .channels
                .insert(p.kind, p.instance, index, p.signalling)
            {
                Ok(r) => {
                    self.added.push(r);
                    count += 1;
                }
                Err(_) => break,
            }
        }
        count
    }
}

impl VmbusHost {
    /// Creates the backend of a new channel.
    pub(super) fn attach_device(&mut self, relid: Relid) {
        if let Some(c) = self.channels.get(relid) {
            let d = self
                .storage_device(c)
                .unwrap_or_else(|| devices::create(c.kind, self.opts.devices));
            self.devices.insert(relid.get(), d);
        }
    }

    /// Sends the offer of `relid` if the guest asked for offers.
    pub(super) fn offer_now(&mut self, guest: &mut GuestCtx<'_>, relid: Relid) -> bool {
        if !(self.offers_requested && self.conn.is_some()) {
            return false;
        }
        let Some(o) = self.channels.get(relid).map(|c| c.offer()) else {
            return false;
        };
        if self.send_offer(guest, o) {
            self.stats.offers += 1;
        }
        if let Some(c) = self.channels.get_mut(relid) {
            c.sent = true;
        }
        true
    }

    /// Runs `f` on the device of `relid`, then offers the sub-channels it
    /// asked for and sends the packets it produced.
    pub(super) fn with_device<R>(
        &mut self,
        guest: &mut GuestCtx<'_>,
        relid: Relid,
        f: impl FnOnce(&mut dyn Device, &mut ChannelIo<'_>) -> R,
    ) -> Option<R> {
        let mem = guest.mem;
        let can_offer = self.offers_requested && self.conn.is_some();
        let queued = self.rings.get(&relid.get()).map_or(0, |r| r.queued());
        let dev = self.devices.get_mut(&relid.get())?;
        let mut subs = SubOffers {
            channels: &mut self.channels,
            parent: relid,
            added: Vec::new(),
        };
        let host: Option<&mut dyn SubchannelHost> = if can_offer { Some(&mut subs) } else { None };
        let mut io = ChannelIo::new(relid, mem, host)
            .with_gpadls(&self.gpadls)
            .with_queued(queued);
        let r = f(dev.as_mut(), &mut io);
        let notes = io.take_notes();
        let packets = io.into_packets();
        let added = subs.added;
        for sub in added {
            let index = self.channels.get(sub).map_or(0, |c| c.sub_index);
            match self
                .devices
                .get_mut(&relid.get())
                .and_then(|d| d.subchannel_device(index))
            {
                Some(d) => {
                    self.devices.insert(sub.get(), d);
                }
                None => self.attach_device(sub),
            }
            self.offer_now(guest, sub);
        }
        for p in packets {
            self.send_packet(guest, relid, p);
        }
        crate::prof::sent();
        for (dir, kind) in notes {
            guest.trace.event(dir, Some(relid.get()), kind, &[]);
        }
        Some(r)
    }

    /// Writes (or queues) one packet to the guest.
    fn send_packet(&mut self, guest: &mut GuestCtx<'_>, relid: Relid, p: Vec<u8>) {
        let Some(rings) = self.rings.get_mut(&relid.get()) else {
            return;
        };
        guest
            .trace
            .event(Dir::H2g, Some(relid.get()), &packet_name(&p), &p);
        self.stats.packets_out += 1;
        let r = rings.send(guest.mem, self.hostile.ring_mode_for(relid.get()), p);
        self.after_write(guest, relid, r);
    }

    fn after_write(
        &mut self,
        guest: &mut GuestCtx<'_>,
        relid: Relid,
        r: Result<super::datapath::Kick, String>,
    ) {
        if r.as_ref().is_ok_and(|k| k.new_wait) {
            self.stats.ring_waits += 1;
        }
        match r {
            Ok(k) if k.signal => self.signal_channel(guest, relid),
            Ok(_) => {}
            Err(e) => self.ring_failed(relid, "host → guest", &e),
        }
    }

    fn ring_failed(&mut self, relid: Relid, which: &str, e: &str) {
        self.stats.ring_errors += 1;
        log_limited!(
            Level::Warn,
            "vmbus: relid {}: {which} ring is corrupt ({e}); the channel's data path stopped",
            relid.get()
        );
    }

    /// Interrupts the guest for `relid` the way the negotiated version
    /// expects.
    pub(super) fn signal_channel(&mut self, guest: &mut GuestCtx<'_>, relid: Relid) {
        let (Some(conn), Some(c)) = (self.conn, self.channels.get(relid)) else {
            return;
        };
        let Some(target_vp) = c.serviced_vp() else {
            return;
        };
        let sint = u32::from(VMBUS_MESSAGE_SINT);
        let start = std::time::Instant::now();
        let r = if conn.version.0 >= Version::WIN8.0 {
            guest.signal_guest(target_vp, sint, relid.get())
        } else {
            if conn.interrupt_page != 0 {
                let at = conn.interrupt_page + u64::from(relid.get() / 8);
                let _ = guest.mem.fetch_or_u8(at, 1 << (relid.get() % 8));
            }
            guest.signal_guest(target_vp, sint, 0)
        };
        self.stats.signals_out += 1;
        crate::prof::signalled(start);
        if let Err(e) = r {
            log_limited!(
                Level::Warn,
                "vmbus: relid {}: cannot signal: {e}",
                relid.get()
            );
        }
    }

    /// The guest signalled `relid` (or the host polls it): retry queued
    /// packets, then read and answer everything in the guest's ring.
    pub(super) fn service_channel(&mut self, guest: &mut GuestCtx<'_>, relid: Relid) {
        self.service_channel_counted(guest, relid);
    }

    /// [`Self::service_channel`] for a guest signal: counts the signal as
    /// unneeded if it found nothing to do.
    fn service_signalled(&mut self, guest: &mut GuestCtx<'_>, relid: Relid) {
        if !self.service_channel_counted(guest, relid) {
            self.stats.signals_unneeded += 1;
        }
    }

    /// Services `relid`; false if there was nothing to do (no packet to
    /// read, none waiting to be written). An hv_sock connection may then
    /// send more, or be rescinded (see `hvsock_serviced`).
    fn service_channel_counted(&mut self, guest: &mut GuestCtx<'_>, relid: Relid) -> bool {
        let busy = self.service_rings(guest, relid);
        if self.is_hvsock(relid) {
            self.hvsock_serviced(guest, relid);
        }
        busy
    }

    /// Flushes and reads `relid`'s rings until the guest's ring is empty.
    fn service_rings(&mut self, guest: &mut GuestCtx<'_>, relid: Relid) -> bool {
        let mut busy = self.rings.get(&relid.get()).is_some_and(|r| r.queued() > 0);
        loop {
            let Some(rings) = self.rings.get_mut(&relid.get()) else {
                return busy;
            };
            let r = rings.flush(guest.mem, self.hostile.ring_mode_for(relid.get()));
            self.after_write(guest, relid, r);
            let Some(rings) = self.rings.get_mut(&relid.get()) else {
                return busy;
            };
            let hold = self.hostile.is_for(Mode::HoldRingSpace, relid.get());
            let (packets, kick, more) = match rings.read(guest.mem, MAX_BATCH, hold) {
                Ok(x) => x,
                Err(e) => {
                    self.ring_failed(relid, "guest → host", &e);
                    return true;
                }
            };
            if kick.signal {
                self.signal_channel(guest, relid);
            }
            let n = packets.len();
            busy |= n > 0;
            for p in packets {
                self.stats.packets_in += 1;
                guest
                    .trace
                    .event(Dir::G2h, Some(relid.get()), &packet_name(&p), &p);
                match parse(&p) {
                    Ok(pkt)
                        if pkt.desc.ptype == PacketType::DATA_USING_GPA_DIRECT
                            && self.hostile.is_for(Mode::IgnoreGpaDirect, relid.get()) =>
                    {
                        self.stats.gpa_direct_ignored += 1;
                    }
                    Ok(pkt) => {
                        self.with_device(guest, relid, |d, io| d.on_packet(io, &pkt));
                    }
                    Err(e) => {
                        self.stats.bad_packets += 1;
                        log_limited!(
                            Level::Warn,
                            "vmbus: relid {}: bad packet: {e:?}",
                            relid.get()
                        );
                    }
                }
            }
            // Read again when more came during the batch: the guest saw
            // its interrupts masked (or the ring not empty) and did not
            // signal, so nothing else would make the host look. That holds
            // also when the batch found the ring empty (a signal whose
            // packet an earlier batch already took, and a packet written
            // while this batch had the mask set). Not when nothing could be
            // read because the host's own queue is full: the guest's
            // reads, which free room and signal, end that.
            let full = self
                .rings
                .get(&relid.get())
                .is_some_and(|r| r.queued() >= super::datapath::QUEUE_HIGH);
            if full || (n < MAX_BATCH && !more) {
                return busy;
            }
        }
    }

    /// HvSignalEvent from the guest: the channel on `connection_id`, or,
    /// for pre-2.4 guests signalling the shared connection, every open
    /// channel. `false` if no open channel uses the connection id.
    pub(super) fn guest_signal(&mut self, guest: &mut GuestCtx<'_>, connection_id: u32) -> bool {
        self.stats.signals_in += 1;
        if connection_id == super::VMBUS_EVENT_CONNECTION_ID && self.conn.is_some() {
            for r in self.open_relids() {
                self.service_channel(guest, r);
            }
            return true;
        }
        match self.channels.open_by_connection(connection_id) {
            Some(r) => {
                self.service_signalled(guest, r);
                true
            }
            None => false,
        }
    }

    /// The channels whose rings the host services: the open ones, and
    /// those rescinded while open that the guest has not closed yet.
    pub(super) fn open_relids(&self) -> Vec<Relid> {
        self.channels
            .iter()
            .filter(|c| c.serviced_vp().is_some())
            .map(|c| c.relid)
            .collect()
    }

    /// Open channels with a monitor id (with a monitor page to poll), none
    /// while polling is held.
    pub(super) fn monitored(&self) -> Vec<(MonitorId, Relid)> {
        if self.monitor_hold || self.conn.is_none_or(|c| c.monitor_page2 == 0) {
            return Vec::new();
        }
        self.channels
            .iter()
            .filter(|c| c.serviced_vp().is_some())
            .filter_map(|c| c.monitor_id.map(|m| (m, c.relid)))
            .collect()
    }

    /// Periodic data-path work: monitor triggers, queued packets, device
    /// ticks, interrupt flood.
    pub(super) fn poll_channels(&mut self, guest: &mut GuestCtx<'_>) {
        let watched = self.monitored();
        if let (Some(c), false) = (self.conn, watched.is_empty()) {
            for r in super::monitor::take_triggers(guest.mem, c.monitor_page2, &watched) {
                self.stats.monitor_triggers += 1;
                self.service_signalled(guest, r);
            }
        }
        for r in self.open_relids() {
            // Queued packets wait for the guest's signal where the guest
            // owes one (`ChannelRings::poll_needed`). Under
            // `hold-ring-space` the guest sees its ring never empty and
            // stops signalling (it signals only a ring that was empty):
            // the host looks at the ring on every poll instead.
            if self
                .rings
                .get(&r.get())
                .is_some_and(|x| x.poll_needed(guest.mem))
                || self.hostile.is_for(Mode::HoldRingSpace, r.get())
            {
                self.service_channel(guest, r);
            }
            self.with_device(guest, r, |d, io| d.tick(io));
        }
        if self.hostile.is(Mode::InterruptFlood) {
            if let Some(c) = self.conn {
                for _ in 0..64 {
                    if guest.raise(c.vcpu).is_err() {
                        break;
                    }
                }
            }
        }
    }

    /// The channel opened: attach the rings and tell the device.
    pub(super) fn start_channel(
        &mut self,
        guest: &mut GuestCtx<'_>,
        relid: Relid,
        rings: super::datapath::ChannelRings,
    ) {
        self.rings.insert(relid.get(), rings);
        self.with_device(guest, relid, |d, io| d.on_open(io));
    }

    /// The host takes `relid` away (a rescind): its backend answers what
    /// the guest had sent, and an open channel's rings stay serviced (see
    /// [`Self::end_draining`]): the guest's driver may still be sending
    /// and waits in its `remove()` for the completion of every send
    /// (Linux's `hv_netvsc`). The caller marks the channel rescinded.
    pub(super) fn keep_draining(&mut self, guest: &mut GuestCtx<'_>, relid: Relid) {
        if self.rings.contains_key(&relid.get()) {
            self.service_channel(guest, relid);
        }
        let open = self.channels.get(relid).and_then(|c| match c.state {
            ChannelState::Open {
                ring_gpadl,
                target_vp,
                ..
            } if self.rings.contains_key(&relid.get()) => Some(super::channels::Draining {
                ring_gpadl,
                target_vp,
            }),
            _ => None,
        });
        match (open, self.channels.get_mut(relid)) {
            (Some(d), Some(c)) => c.draining = Some(d),
            _ => self.stop_channel(relid),
        }
    }

    /// The guest is done with rescinded channel `relid` (it closed it,
    /// tore down its ring GPADL or released it): the host stops servicing
    /// its rings.
    pub(super) fn end_draining(&mut self, relid: Relid) {
        if let Some(c) = self.channels.get_mut(relid) {
            c.draining = None;
        }
        self.stop_channel(relid);
    }

    /// The channel closed (close, rescind, unload): detach the rings.
    pub(super) fn stop_channel(&mut self, relid: Relid) {
        if self.rings.remove(&relid.get()).is_some() {
            if let Some(d) = self.devices.get_mut(&relid.get()) {
                d.on_close();
            }
        }
    }
}
