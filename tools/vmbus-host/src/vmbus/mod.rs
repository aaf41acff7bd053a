// SPDX-License-Identifier: GPL-2.0

//! The VMBus server: version negotiation ([`negotiation`]), offers
//! ([`offers`], [`channels`]), GPADLs ([`gpadl`]), open/close, rescind,
//! relid release and unload, behind [`crate::server::VmbusServer`].
//!
//! Every guest message is decoded by `vmbus_proto`; anything malformed or
//! out of place is logged (rate-limited) and dropped, or answered with a
//! failure status where Hyper-V answers one. Host → guest messages are
//! encoded by `vmbus_proto` and posted into the guest's SynIC slot of the
//! negotiated vCPU and SINT. The trace gets one line per VMBus message,
//! named by its type (`g2h <relid|-> INITIATE_CONTACT <hex>`,
//! `h2g - VERSION_RESPONSE <hex>`); undecodable messages appear as
//! `BAD-<type>`.

pub mod channels;
pub mod commands;
pub mod datapath;
pub mod gpadl;
pub mod hostile;
pub mod hostile_msgs;
pub mod hostile_ring;
pub mod hvsock;
pub mod io;
pub mod monitor;
pub mod negotiation;
pub mod offers;
pub mod ring_mem;
pub mod storage;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vmbus_proto::ivshmem::HvStatus;
use vmbus_proto::message::{peek_type, GuestMessage as Msg, HostMessage, OpenRequest};
use vmbus_proto::types::{GpadlId, Relid};
use vmbus_proto::version::Version;

use crate::log::Level;
use crate::log_limited;
use crate::server::{ControlResult, GuestCtx, GuestMessage, Profile, ResetReason, VmbusServer};
use crate::trace::Dir;

use crate::devices::{Device, DeviceConfig};
use channels::{ChannelState, Channels};
use datapath::ChannelRings;
use gpadl::{Gpadls, Progress};
use hostile::{Hostile, Mode};
use negotiation::Connection;
use offers::{DeviceKind, DeviceSpec, Signalling};

/// The SynIC message type VMBus messages travel in (Linux posts with 1;
/// the host answers with the same).
pub const VMBUS_HV_MESSAGE_TYPE: u32 = 1;
/// NTSTATUS `STATUS_UNSUCCESSFUL`, the failure status of `GPADL_CREATED` and
/// `OPEN_CHANNEL_RESULT`.
pub const STATUS_UNSUCCESSFUL: u32 = 0xc000_0001;
/// The connection id pre-2.4 guests signal every channel on.
pub const VMBUS_EVENT_CONNECTION_ID: u32 = 2;

/// How long a rescind waits for the guest to answer what the device sent
/// it (see `VmbusHost::rescind`).
const RESCIND_GRACE: Duration = Duration::from_secs(2);

/// What the server is configured with besides profile and devices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// Device backend settings.
    pub devices: DeviceConfig,
    /// Hostile modes enabled at start.
    pub hostile: Vec<Mode>,
    /// After each UNLOAD, give every channel a relid it did not have
    /// (tests that a guest matches re-offers by instance GUID).
    pub renumber_after_unload: bool,
    /// Disks (`--disk`), grouped into storage controllers.
    pub disks: Vec<crate::devices::storage::disk::DiskSpec>,
    /// Offer every channel without a monitor id (`--no-monitor`).
    pub no_monitor: bool,
    /// The vsock ports whose hv_sock connections the host accepts and
    /// echoes (`--hvsock-echo PORT`).
    pub hvsock_echo: Vec<u32>,
}

/// Counters (control `stats`, prefixed `vmbus.`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Messages from the guest.
    pub messages_in: u64,
    /// Messages that did not decode.
    pub bad_messages: u64,
    /// Messages that decoded but were refused or ignored.
    pub refused: u64,
    /// Messages posted to the guest.
    pub messages_out: u64,
    /// Posts that failed (SynIC not set up, queue full).
    pub post_failures: u64,
    /// Versions accepted.
    pub versions_accepted: u64,
    /// Versions rejected.
    pub versions_rejected: u64,
    /// Offers sent.
    pub offers: u64,
    /// Rescinds sent.
    pub rescinds: u64,
    /// GPADLs created.
    pub gpadls_created: u64,
    /// GPADLs refused.
    pub gpadls_failed: u64,
    /// GPADLs torn down.
    pub gpadls_torndown: u64,
    /// Opens that succeeded.
    pub opens: u64,
    /// Opens refused.
    pub opens_failed: u64,
    /// Closes.
    pub closes: u64,
    /// Relids released.
    pub released: u64,
    /// Unloads.
    pub unloads: u64,
    /// Packets read from guest rings.
    pub packets_in: u64,
    /// Packets sent (written or queued) to the guest.
    pub packets_out: u64,
    /// Packets that did not parse.
    pub bad_packets: u64,
    /// Rings found corrupt.
    pub ring_errors: u64,
    /// HvSignalEvent calls from the guest.
    pub signals_in: u64,
    /// Channel signals to the guest.
    pub signals_out: u64,
    /// Monitor trigger bits seen.
    pub monitor_triggers: u64,
    /// Guest signals (events and monitor triggers) after which the host
    /// found nothing to do: no packet in the guest's ring and none of its
    /// own waiting for room.
    pub signals_unneeded: u64,
    /// Times a host → guest ring stayed full after pending_send_sz was
    /// set, so that only the guest's signal (or the next tick) could let
    /// the host go on: one per wait, not per retry.
    pub ring_waits: u64,
    /// MODIFY_CHANNEL requests applied.
    pub modify_channels: u64,
    /// TL_CONNECT_REQUESTs (hv_sock connects by the guest).
    pub tl_connects: u64,
    /// TL_CONNECT_REQUESTs refused (no such service).
    pub tl_refused: u64,
    /// Filler messages the slot modes posted.
    pub fillers: u64,
    /// Posts the post modes refused.
    pub posts_refused: u64,
    /// GPA-direct packets the `ignore-gpa-direct` mode left unanswered.
    pub gpa_direct_ignored: u64,
}

/// The VMBus server.
pub struct VmbusHost {
    profile: Profile,
    conn: Option<Connection>,
    offers_requested: bool,
    channels: Channels,
    gpadls: Gpadls,
    stats: Stats,
    devices: BTreeMap<u32, Box<dyn Device>>,
    rings: BTreeMap<u32, ChannelRings>,
    hostile: Hostile,
    opts: ServerOptions,
    /// How long UNLOAD_RESPONSE waits (`unload-delay MS`).
    unload_delay: Duration,
    /// How long OPEN_CHANNEL_RESULT waits (`open-delay MS`).
    open_delay: Duration,
    /// Delayed OPEN_CHANNEL_RESULTs: when each is due, and the message.
    opens_due: Vec<(Instant, HostMessage)>,
    /// Rescinds waiting for the guest's answers (see `rescind`): the
    /// relid, when to rescind anyway, and whether to offer it again.
    rescinds_due: Vec<(Relid, Instant, bool)>,
    /// A delayed UNLOAD_RESPONSE: when, and the vCPU and SINT it goes to.
    unload_due: Option<(Instant, u32, u32)>,
    /// The monitor page is not polled (`monitor-hold on`): a signal
    /// through it stays pending there, for the guest to see in sysfs.
    monitor_hold: bool,
    /// Filler pairs `pending-race` posted.
    race_pairs: u64,
    /// Posts of the current message `post-busy` refused so far.
    busy_refused: u8,
    /// `post-refuse` still refuses an `OPEN_CHANNEL`, a `CLOSE_CHANNEL`.
    refuse_left: (bool, bool),
    /// Packets `ic-garbage` sent.
    garbage_sent: u64,
    /// Storage controllers by number.
    storage: BTreeMap<u8, crate::devices::storage::controller::SharedController>,
    /// hv_sock connections.
    hvsock: hvsock::HvsockState,
}

fn type_name(payload: &[u8]) -> String {
    match peek_type(payload) {
        Ok(t) => t
            .name()
            .map_or_else(|| format!("type-{}", t.0), str::to_string),
        Err(_) => "short".to_string(),
    }
}

/// How a channel is offered under `profile`: QEMU's vmbus-bridge never
/// allocates a monitor id (its offers have `monitor_allocated = 0`, so the
/// guest signals with HvSignalEvent only; seen under KVM's Hyper-V
/// emulation, where neither Linux's hv_vmbus nor rvmbus shows the balloon
/// any monitor file), so the `qemu` profile offers every channel so.
/// `--no-monitor` does so for every profile.
fn offer_signalling(profile: Profile, opts: &ServerOptions, asked: Signalling) -> Signalling {
    Signalling {
        no_monitor: asked.no_monitor || opts.no_monitor || matches!(profile, Profile::Qemu),
        ..asked
    }
}

impl VmbusHost {
    /// A server imitating `profile` with the devices of `devices`, in
    /// order (relids from 1).
    pub fn new(
        profile: Profile,
        devices: &[DeviceSpec],
        opts: ServerOptions,
    ) -> Result<Self, String> {
        let mut channels = Channels::default();
        for d in devices {
            if d.kind == DeviceKind::Storage {
                return Err(
                    "storage controllers come from --disk PATH[,ro][,lun=N][,controller=N]".into(),
                );
            }
            for _ in 0..d.count {
                channels
                    .add_with(d.kind, offer_signalling(profile, &opts, d.signalling))
                    .map_err(|e| format!("cannot add a {} device: {e:?}", d.kind))?;
            }
        }
        let mut host = Self {
            profile,
            conn: None,
            offers_requested: false,
            channels,
            gpadls: Gpadls::default(),
            stats: Stats::default(),
            devices: BTreeMap::new(),
            rings: BTreeMap::new(),
            hostile: Hostile::new(&opts.hostile),
            opts,
            unload_delay: Duration::ZERO,
            open_delay: Duration::ZERO,
            opens_due: Vec::new(),
            rescinds_due: Vec::new(),
            unload_due: None,
            monitor_hold: false,
            race_pairs: 0,
            busy_refused: 0,
            refuse_left: (false, false),
            garbage_sent: 0,
            storage: BTreeMap::new(),
            hvsock: hvsock::HvsockState::default(),
        };
        host.storage = storage::build_controllers(&host.opts.disks)?;
        host.add_storage_channels()?;
        let relids: Vec<Relid> = host.channels.iter().map(|c| c.relid).collect();
        for r in relids {
            host.attach_device(r);
        }
        for m in host.opts.hostile.clone() {
            host.hostile_armed(m);
        }
        Ok(host)
    }

    /// The negotiated connection, if any.
    pub fn connection(&self) -> Option<&Connection> {
        self.conn.as_ref()
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    fn post(&mut self, guest: &mut GuestCtx<'_>, vcpu: u32, sint: u32, msg: &HostMessage) -> bool {
        let enc = msg.encode();
        let name = msg.msgtype().name().unwrap_or("UNKNOWN");
        self.post_bytes(guest, vcpu, sint, name, msg.relid(), enc.as_bytes())
    }

    /// Posts UNLOAD_RESPONSE, the host's last word to this guest: once it
    /// is in the guest's slot, the guest's memory is sealed (nothing more
    /// is written there until the guest hands memory over again).
    fn post_unload_response(&mut self, guest: &mut GuestCtx<'_>, vcpu: u32, sint: u32) {
        let msg = HostMessage::UnloadResponse;
        let enc = msg.encode();
        let name = msg.msgtype().name().unwrap_or("UNKNOWN");
        guest.trace.event(Dir::H2g, None, name, enc.as_bytes());
        match guest.post_last_to_guest(vcpu, sint, VMBUS_HV_MESSAGE_TYPE, enc.as_bytes()) {
            Ok(_) => self.stats.messages_out += 1,
            Err(e) => {
                self.stats.post_failures += 1;
                log_limited!(
                    Level::Warn,
                    "vmbus: cannot post {name} to vCPU {vcpu} SINT {sint}: {e}"
                );
            }
        }
    }

    /// Posts message bytes as they are (hostile modes bend them).
    fn post_bytes(
        &mut self,
        guest: &mut GuestCtx<'_>,
        vcpu: u32,
        sint: u32,
        name: &str,
        relid: Option<Relid>,
        bytes: &[u8],
    ) -> bool {
        guest
            .trace
            .event(Dir::H2g, relid.map(Relid::get), name, bytes);
        match guest.post_to_guest(vcpu, sint, VMBUS_HV_MESSAGE_TYPE, bytes) {
            Ok(_) => {
                self.stats.messages_out += 1;
                true
            }
            Err(e) => {
                self.stats.post_failures += 1;
                log_limited!(
                    Level::Warn,
                    "vmbus: cannot post {name} to vCPU {vcpu} SINT {sint}: {e}"
                );
                false
            }
        }
    }

    /// Posts to the negotiated vCPU and SINT.
    fn send(&mut self, guest: &mut GuestCtx<'_>, msg: &HostMessage) -> bool {
        match self.conn {
            Some(c) => self.post(guest, c.vcpu, c.sint, msg),
            None => false,
        }
    }

    fn refuse(&mut self, what: std::fmt::Arguments<'_>) {
        self.stats.refused += 1;
        log_limited!(Level::Warn, "vmbus: {what}");
    }

    fn reset_connection(&mut self) {
        for r in self.open_relids() {
            self.stop_channel(r);
        }
        self.rings.clear();
        self.opens_due.clear();
        self.hvsock.reset();
        self.conn = None;
        self.offers_requested = false;
        self.channels.reset_connection();
        self.gpadls.clear();
        let channels = &self.channels;
        self.devices
            .retain(|r, _| Relid::new(*r).is_some_and(|r| channels.get(r).is_some()));
    }

    /// Gives every channel a fresh relid, keeping its device.
    fn renumber(&mut self) {
        let moved = self.channels.renumber();
        let mut devices = BTreeMap::new();
        for (old, new) in &moved {
            if let Some(d) = self.devices.remove(&old.get()) {
                devices.insert(new.get(), d);
            }
        }
        self.devices = devices;
        let list: Vec<String> = moved
            .iter()
            .map(|(o, n)| format!("{}->{}", o.get(), n.get()))
            .collect();
        crate::log_info!("vmbus: relids renumbered after UNLOAD: {}", list.join(" "));
    }

    fn initiate_contact(
        &mut self,
        guest: &mut GuestCtx<'_>,
        req: &vmbus_proto::message::ContactRequest,
        connection_id: u32,
    ) {
        if self.conn.is_some() {
            // A new kernel (kexec, kdump) or a reloaded driver starts over
            // without UNLOAD: forget the old connection, as Hyper-V does.
            crate::log_info!("vmbus: INITIATE_CONTACT while connected: starting over");
            self.reset_connection();
        }
        let mut a = negotiation::answer(self.profile, req, connection_id, guest.mem.len());
        if self.hostile.is(Mode::RejectVersions) {
            a.reply = negotiation::rejected();
            a.result = Err(negotiation::ContactError::Unsupported);
        }
        match a.result {
            Ok(c) => {
                self.stats.versions_accepted += 1;
                crate::log_info!(
                    "vmbus: version {} accepted (profile {}), messages to vCPU {} SINT {}, connection id {}",
                    c.version,
                    self.profile,
                    c.vcpu,
                    c.sint,
                    c.msg_conn_id
                );
                self.conn = Some(c);
            }
            Err(e) => {
                self.stats.versions_rejected += 1;
                crate::log_info!(
                    "vmbus: version {} on connection {connection_id} rejected (profile {}): {e:?}",
                    req.version,
                    self.profile
                );
            }
        }
        let reply = HostMessage::VersionResponse(a.reply);
        self.post(guest, a.vcpu, a.sint, &reply);
        if a.result.is_ok() && self.hostile.is(Mode::DieMidHandshake) {
            crate::log_error!("vmbus: hostile die-mid-handshake: exiting with status 3");
            std::process::exit(3);
        }
    }

    fn request_offers(&mut self, guest: &mut GuestCtx<'_>) {
        if self.offers_requested {
            self.refuse(format_args!("REQUEST_OFFERS sent twice; ignored"));
            return;
        }
        self.offers_requested = true;
        self.inject_before_offers(guest);
        let offers: Vec<_> = self
            .channels
            .iter()
            .filter(|c| c.state != ChannelState::Rescinded)
            .map(|c| c.offer())
            .collect();
        for o in offers {
            if self.send_offer(guest, o) {
                self.stats.offers += 1;
            }
            if let Some(c) = self.channels.get_mut(o.relid) {
                c.sent = true;
            }
        }
        self.send(guest, &HostMessage::AllOffersDelivered);
    }

    fn gpadl_result(&mut self, guest: &mut GuestCtx<'_>, relid: Relid, gpadl: GpadlId, ok: bool) {
        let ok = ok && !self.hostile.is_for(Mode::GpadlFail, relid.get());
        if ok {
            self.stats.gpadls_created += 1;
        } else {
            self.stats.gpadls_failed += 1;
        }
        let status = if ok { 0 } else { STATUS_UNSUCCESSFUL };
        self.send(
            guest,
            &HostMessage::GpadlCreated {
                relid,
                gpadl,
                status,
            },
        );
    }

    fn channel_usable(&self, relid: Relid) -> bool {
        self.channels
            .get(relid)
            .is_some_and(|c| c.sent && c.state != ChannelState::Rescinded)
    }

    fn open(&mut self, guest: &mut GuestCtx<'_>, o: &OpenRequest) {
        if self.hostile.is_for(Mode::RescindMidOpen, o.relid.get()) && self.channel_usable(o.relid)
        {
            self.stop_channel(o.relid);
            if let Some(c) = self.channels.get_mut(o.relid) {
                c.state = ChannelState::Rescinded;
            }
            if self.send(guest, &HostMessage::Rescind { relid: o.relid }) {
                self.stats.rescinds += 1;
            }
            return;
        }
        let r = self.check_open(guest, o).and_then(|rings| {
            if self.hostile.is_for(Mode::OpenFail, o.relid.get()) {
                Err("hostile open-fail".to_string())
            } else {
                Ok(rings)
            }
        });
        let mut started = None;
        let status = match r {
            Ok(rings) => {
                if self.hostile.is_for(Mode::BadRingAtOpen, o.relid.get()) {
                    // Out of range for any ring and not 8-byte aligned.
                    rings.scribble_guest_write_index(guest.mem, 0xffff_fff3);
                }
                started = Some(rings);
                if let Some(c) = self.channels.get_mut(o.relid) {
                    c.state = ChannelState::Open {
                        ring_gpadl: o.ring_gpadl,
                        open_id: o.open_id,
                        target_vp: o.target_vp,
                        downstream_page_offset: o.downstream_page_offset,
                    };
                }
                self.stats.opens += 1;
                self.hvsock_opened(o.relid);
                0
            }
            Err(why) => {
                self.stats.opens_failed += 1;
                log_limited!(
                    Level::Warn,
                    "vmbus: open of relid {} refused: {why}",
                    o.relid.get()
                );
                STATUS_UNSUCCESSFUL
            }
        };
        if self.channels.get(o.relid).is_some() {
            let result = HostMessage::OpenResult {
                relid: o.relid,
                open_id: o.open_id,
                status,
            };
            if self.open_delay.is_zero() {
                self.send(guest, &result);
            } else {
                // A slow host: the answer goes out from `poll`.
                self.opens_due
                    .push((Instant::now() + self.open_delay, result));
            }
        }
        if let Some(rings) = started {
            self.start_channel(guest, o.relid, rings);
        }
    }

    fn check_open(&self, guest: &GuestCtx<'_>, o: &OpenRequest) -> Result<ChannelRings, String> {
        let c = self.channels.get(o.relid).ok_or("no such channel")?;
        if !c.sent {
            return Err("channel was not offered".into());
        }
        match c.state {
            ChannelState::Offered => {}
            ChannelState::Open { .. } => return Err("already open".into()),
            ChannelState::Rescinded => return Err("rescinded".into()),
        }
        let g = self
            .gpadls
            .get(o.ring_gpadl)
            .ok_or_else(|| format!("no ring GPADL {:#x}", o.ring_gpadl.get()))?;
        if g.relid != o.relid {
            return Err(format!("ring GPADL belongs to relid {}", g.relid.get()));
        }
        if !g.whole_pages {
            return Err("ring GPADL is not one page-aligned range".into());
        }
        if self.channels.ring_in_use(o.ring_gpadl).is_some() {
            return Err("ring GPADL already in use".into());
        }
        // Each ring: one header page and at least one data page.
        let off = o.downstream_page_offset as usize;
        if off < 2 || g.pages < off + 2 {
            return Err(format!(
                "bad downstream ring offset {off} for {} pages",
                g.pages
            ));
        }
        if !guest.synic.vcpus_set_up().contains(&o.target_vp) {
            return Err(format!("target vCPU {} has no SynIC", o.target_vp));
        }
        ChannelRings::new(guest.mem, g.pfns(), off)
    }

    fn dispatch(&mut self, guest: &mut GuestCtx<'_>, raw: &GuestMessage, m: Msg) {
        if let Msg::InitiateContact(req) = m {
            self.initiate_contact(guest, &req, raw.connection_id);
            return;
        }
        if self.conn.is_none() {
            self.refuse(format_args!(
                "{} before INITIATE_CONTACT; ignored",
                type_name(&raw.payload)
            ));
            return;
        }
        let ram = guest.mem.len();
        match m {
            Msg::InitiateContact(_) => {}
            Msg::RequestOffers => self.request_offers(guest),
            Msg::GpadlHeader {
                relid,
                gpadl,
                range_buflen,
                rangecount,
                data,
            } => {
                if !self.channel_usable(relid) {
                    self.refuse(format_args!(
                        "GPADL_HEADER for unknown or rescinded relid {}",
                        relid.get()
                    ));
                    self.gpadl_result(guest, relid, gpadl, false);
                    return;
                }
                match self.gpadls.header(
                    relid,
                    gpadl,
                    range_buflen,
                    rangecount,
                    data.as_slice(),
                    ram,
                ) {
                    Ok(Progress::Incomplete) => {}
                    Ok(Progress::Created(r)) => self.gpadl_result(guest, r, gpadl, true),
                    Err(e) => {
                        log_limited!(Level::Warn, "vmbus: GPADL {:#x} refused: {e}", gpadl.get());
                        self.gpadl_result(guest, relid, gpadl, false);
                    }
                }
            }
            Msg::GpadlBody { gpadl, data, .. } => {
                match self.gpadls.body(gpadl, data.as_slice(), ram) {
                    Ok(Progress::Incomplete) => {}
                    Ok(Progress::Created(r)) => self.gpadl_result(guest, r, gpadl, true),
                    Err((relid, e)) => {
                        log_limited!(Level::Warn, "vmbus: GPADL {:#x} refused: {e}", gpadl.get());
                        match relid {
                            Some(r) => self.gpadl_result(guest, r, gpadl, false),
                            None => self.stats.refused += 1,
                        }
                    }
                }
            }
            Msg::GpadlTeardown { relid, gpadl }
                if self.hostile.is(Mode::KeepGpadls)
                    && self
                        .channels
                        .get(relid)
                        .is_some_and(|c| c.state == ChannelState::Rescinded) =>
            {
                self.refuse(format_args!(
                    "hostile keep-gpadls: GPADL_TEARDOWN of {:#x} of rescinded relid {} not answered",
                    gpadl.get(),
                    relid.get()
                ));
            }
            Msg::GpadlTeardown { relid, gpadl } => {
                // A rescinded channel's rings the guest gives back without
                // a close (as rvmbus does): the host stops reading them.
                if self
                    .channels
                    .get(relid)
                    .and_then(|c| c.draining)
                    .is_some_and(|d| d.ring_gpadl == gpadl)
                {
                    self.end_draining(relid);
                }
                if let Some(user) = self.channels.ring_in_use(gpadl) {
                    self.refuse(format_args!(
                        "GPADL_TEARDOWN of {:#x}, the ring of open relid {}; ignored",
                        gpadl.get(),
                        user.get()
                    ));
                    return;
                }
                match self.gpadls.teardown(relid, gpadl) {
                    Ok(_) => {
                        self.stats.gpadls_torndown += 1;
                        self.send(guest, &HostMessage::GpadlTorndown { gpadl });
                    }
                    Err(e) => self.refuse(format_args!("GPADL_TEARDOWN: {e}; ignored")),
                }
            }
            Msg::OpenChannel(o) => self.open(guest, &o),
            Msg::CloseChannel { relid } => match self.channels.get_mut(relid) {
                Some(c) if matches!(c.state, ChannelState::Open { .. }) => {
                    c.state = ChannelState::Offered;
                    let (kind, instance, sub_index) = (c.kind, c.instance, c.sub_index);
                    self.stats.closes += 1;
                    self.stop_channel(relid);
                    if kind == DeviceKind::Net && sub_index == 0 {
                        self.rescind_subchannels(guest, instance);
                    }
                    if self.is_hvsock(relid) {
                        self.hvsock_closed(guest, relid);
                    } else if self.hostile.is_for(Mode::RescindOnClose, relid.get()) {
                        if let Some(c) = self.channels.get_mut(relid) {
                            c.state = ChannelState::Rescinded;
                        }
                        if self.send(guest, &HostMessage::Rescind { relid }) {
                            self.stats.rescinds += 1;
                        }
                    }
                }
                Some(c) if c.state == ChannelState::Rescinded => {
                    // Linux closes rescinded channels: the host stops
                    // servicing the rings it kept for the guest.
                    self.stats.closes += 1;
                    self.end_draining(relid);
                }
                _ => self.refuse(format_args!(
                    "CLOSE_CHANNEL of relid {} that is not open; ignored",
                    relid.get()
                )),
            },
            Msg::RelidReleased { relid } => match self.channels.get(relid) {
                Some(c) if c.state == ChannelState::Rescinded => {
                    self.end_draining(relid);
                    self.channels.remove(relid);
                    self.devices.remove(&relid.get());
                    self.gpadls.drop_channel(relid);
                    self.hvsock_released(relid);
                    self.stats.released += 1;
                    crate::log_info!("vmbus: relid {} released", relid.get());
                }
                _ => self.refuse(format_args!(
                    "RELID_RELEASED of relid {} that was not rescinded; ignored",
                    relid.get()
                )),
            },
            Msg::Unload if self.conn.is_some_and(|c| !c.version.has_unload()) => {
                // Windows Server 2012 (2.4) does not know UNLOAD: no answer,
                // and it keeps what the guest gave it.
                self.refuse(format_args!(
                    "UNLOAD at version {}, which has no UNLOAD; ignored",
                    self.conn.map_or(Version::WIN8, |c| c.version)
                ));
            }
            Msg::Unload => {
                self.stats.unloads += 1;
                let conn = self.conn;
                self.reset_connection();
                if self.opts.renumber_after_unload {
                    self.renumber();
                }
                if let Some(c) = conn {
                    if self.unload_delay.is_zero() {
                        self.post_unload_response(guest, c.vcpu, c.sint);
                    } else {
                        // A slow host: the answer goes out from `poll`.
                        self.unload_due =
                            Some((Instant::now() + self.unload_delay, c.vcpu, c.sint));
                    }
                }
                crate::log_info!("vmbus: guest unloaded");
            }
            Msg::ModifyChannel { relid, target_vp } => self.modify_channel(guest, relid, target_vp),
            Msg::TlConnectRequest {
                endpoint_id,
                service_id,
            } => self.tl_connect(guest, endpoint_id, service_id),
        }
    }

    fn cmd_list(&self, out: &mut Vec<String>) {
        for c in self.channels.iter() {
            out.push(format!(
                "relid={} type={} class={} instance={} monitor={} conn={} state={}{}",
                c.relid.get(),
                c.kind,
                c.kind.class(),
                c.instance,
                c.monitor_id
                    .map_or_else(|| "-".to_string(), |m| m.get().to_string()),
                c.offer().connection_id,
                c.state,
                if c.state == ChannelState::Rescinded {
                    " (waiting for RELID_RELEASED)"
                } else {
                    ""
                }
            ));
            if let (Some(l), Some(d)) = (out.last_mut(), self.devices.get(&c.relid.get())) {
                if c.sub_index != 0 {
                    l.push_str(&format!(" sub={}", c.sub_index));
                }
                for (k, v) in d.stats() {
                    l.push_str(&format!(" {k}={v}"));
                }
            }
        }
    }

    fn cmd_offer(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        let [kind] = args else {
            return Err("usage: offer heartbeat|shutdown|timesync|echo|net".into());
        };
        let kind: DeviceKind = kind.parse()?;
        if kind == DeviceKind::Storage {
            return Err(
                "a storage controller comes with a disk: disk-add PATH[,ro][,lun=N][,controller=N]"
                    .into(),
            );
        }
        let relid = self.channels.add_with(
            kind,
            offer_signalling(self.profile, &self.opts, Signalling::default()),
        );
        self.announce(guest, relid, out)
    }

    /// Gives a just-added channel its device and offers it if the guest
    /// asked for offers.
    fn announce(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        added: Result<Relid, channels::AddError>,
        out: &mut Vec<String>,
    ) -> ControlResult {
        let relid = added.map_err(|e| format!("cannot add a channel: {e:?}"))?;
        self.attach_device(relid);
        out.push(format!("relid {}", relid.get()));
        if let Some(g) = guest {
            if self.offer_now(g, relid) {
                out.push("offered to the guest".into());
            }
        }
        Ok(())
    }

    /// The guest closed the primary channel of a network adapter, or the
    /// host rescinds a primary channel: its sub-channels go, rescinded (the
    /// guest answers `RELID_RELEASED`), as on Hyper-V. netvsc asks for sub-channels again when it opens the
    /// adapter next and takes only indices below the count it asked for; a
    /// sub-channel kept from before would make the new ones numbered past
    /// it, which netvsc ignores, and its probe would wait for them forever.
    fn rescind_subchannels(&mut self, guest: &mut GuestCtx<'_>, instance: vmbus_proto::wire::Guid) {
        let subs: Vec<Relid> = self
            .channels
            .iter()
            .filter(|c| {
                c.instance == instance && c.sub_index != 0 && c.state != ChannelState::Rescinded
            })
            .map(|c| c.relid)
            .collect();
        for relid in subs {
            self.keep_draining(guest, relid);
            let sent = self.channels.get(relid).is_some_and(|c| c.sent);
            if sent && self.conn.is_some() {
                if let Some(ch) = self.channels.get_mut(relid) {
                    ch.state = ChannelState::Rescinded;
                }
                if self.send(guest, &HostMessage::Rescind { relid }) {
                    self.stats.rescinds += 1;
                }
            } else {
                self.channels.remove(relid);
                self.devices.remove(&relid.get());
                self.gpadls.drop_channel(relid);
            }
        }
    }

    fn cmd_rescind(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        let [r] = args else {
            return Err("usage: rescind RELID".into());
        };
        let relid = commands::parse_relid(r)?;
        self.rescind(guest, relid, false, out)
    }

    /// `rescind RELID`, and with `reoffer` `reoffer RELID`: the device
    /// first stops sending the guest anything new; once nothing it sent
    /// waits for the guest's answer (at once for most devices; for a
    /// network adapter, the receive sections the guest holds), or after
    /// [`RESCIND_GRACE`], its channels are rescinded (see `rescind_now`).
    /// Linux's `hv_netvsc` cannot answer a packet once its channel is
    /// rescinded, and its `remove()` waits for those answers.
    pub(super) fn rescind(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        relid: Relid,
        reoffer: bool,
        out: &mut Vec<String>,
    ) -> ControlResult {
        let c = self.known_channel(relid)?;
        if c.state == ChannelState::Rescinded || self.rescinds_due.iter().any(|d| d.0 == relid) {
            return Err(format!("relid {} is already rescinded", relid.get()));
        }
        if guest.is_some() && c.sent && self.conn.is_some() && !self.quiesce_device(&c) {
            self.rescinds_due
                .push((relid, Instant::now() + RESCIND_GRACE, reoffer));
            out.push(format!(
                "rescinding relid {} once the guest has answered (at most {} ms)",
                relid.get(),
                RESCIND_GRACE.as_millis()
            ));
            return Ok(());
        }
        self.rescind_now(guest, relid, reoffer, out)
    }

    /// The channel `relid`, or a control command's error that names it.
    pub(super) fn known_channel(&self, relid: Relid) -> Result<channels::Channel, String> {
        self.channels
            .get(relid)
            .copied()
            .ok_or_else(|| format!("no channel with relid {}", relid.get()))
    }

    /// Asks the device of `c`, and of every channel of its device if `c`
    /// is a primary, to stop sending; true once all of them are done.
    fn quiesce_device(&mut self, c: &channels::Channel) -> bool {
        let relids: Vec<u32> = self
            .channels
            .iter()
            .filter(|x| {
                x.state != ChannelState::Rescinded
                    && (x.relid == c.relid || (c.sub_index == 0 && x.instance == c.instance))
            })
            .map(|x| x.relid.get())
            .collect();
        let mut done = true;
        for r in relids {
            if let Some(d) = self.devices.get_mut(&r) {
                done &= d.quiesce();
            }
        }
        done
    }

    /// Rescinds `relid` now (a primary with its sub-channels, as Hyper-V
    /// takes a device away with all its channels), and with `reoffer`
    /// offers the same instance again under a new relid.
    fn rescind_now(
        &mut self,
        mut guest: Option<&mut GuestCtx<'_>>,
        relid: Relid,
        reoffer: bool,
        out: &mut Vec<String>,
    ) -> ControlResult {
        let c = self.known_channel(relid)?;
        match guest.as_deref_mut() {
            Some(g) if c.sent && self.conn.is_some() => {
                if c.sub_index == 0 {
                    // A device goes with all its channels, as on Hyper-V:
                    // the sub-channels first, then the primary.
                    self.rescind_subchannels(g, c.instance);
                }
                self.keep_draining(g, relid);
                if let Some(ch) = self.channels.get_mut(relid) {
                    ch.state = ChannelState::Rescinded;
                }
                if self.send(g, &HostMessage::Rescind { relid }) {
                    self.stats.rescinds += 1;
                }
                out.push(format!(
                    "rescinded relid {} (waiting for RELID_RELEASED)",
                    relid.get()
                ));
            }
            _ => {
                self.channels.remove(relid);
                self.devices.remove(&relid.get());
                self.gpadls.drop_channel(relid);
                out.push(format!("removed relid {} (never offered)", relid.get()));
            }
        }
        if reoffer {
            let added = self
                .channels
                .insert(c.kind, c.instance, c.sub_index, c.signalling);
            return self.announce(guest, added, out);
        }
        Ok(())
    }

    /// The rescinds that waited for the guest's answers and are due now.
    fn rescinds_now_due(&mut self, guest: &mut GuestCtx<'_>) {
        let now = Instant::now();
        for (relid, deadline, reoffer) in std::mem::take(&mut self.rescinds_due) {
            let Some(c) = self.channels.get(relid).copied() else {
                continue;
            };
            if c.state == ChannelState::Rescinded {
                continue;
            }
            let done = self.quiesce_device(&c);
            if !done && now < deadline {
                self.rescinds_due.push((relid, deadline, reoffer));
                continue;
            }
            if !done {
                log_limited!(
                    Level::Warn,
                    "vmbus: relid {}: rescinded with packets the guest has not answered",
                    relid.get()
                );
            }
            let mut out = Vec::new();
            if let Err(e) = self.rescind_now(Some(&mut *guest), relid, reoffer, &mut out) {
                log_limited!(Level::Warn, "vmbus: relid {}: rescind: {e}", relid.get());
            }
            for l in out {
                crate::log_debug!("vmbus: {l}");
            }
        }
    }
}

impl VmbusServer for VmbusHost {
    fn name(&self) -> &'static str {
        "vmbus"
    }

    fn accepts_message_connection(&self, connection_id: u32) -> bool {
        negotiation::host_profile(self.profile).accepts_connection_id(connection_id)
            || self.conn.is_some_and(|c| c.msg_conn_id == connection_id)
    }

    fn refuse_post(&mut self, _connection_id: u32, payload: &[u8]) -> Option<HvStatus> {
        let st = self.hostile_post_status(payload);
        if st.is_some() {
            self.stats.posts_refused += 1;
        }
        st
    }

    fn handle_message(&mut self, guest: &mut GuestCtx<'_>, msg: &GuestMessage) {
        self.stats.messages_in += 1;
        match Msg::decode(&msg.payload) {
            Ok(m) => {
                let name = m.msgtype().name().unwrap_or("UNKNOWN");
                guest
                    .trace
                    .event(Dir::G2h, m.relid().map(Relid::get), name, &msg.payload);
                if self.hostile.is(Mode::Silent) {
                    return;
                }
                self.dispatch(guest, msg, m);
            }
            Err(e) => {
                self.stats.bad_messages += 1;
                let name = format!("BAD-{}", type_name(&msg.payload));
                guest.trace.event(Dir::G2h, None, &name, &msg.payload);
                log_limited!(
                    Level::Warn,
                    "vmbus: bad message ({} bytes) on connection {} from vCPU {}: {e:?}",
                    msg.payload.len(),
                    msg.connection_id,
                    msg.vcpu
                );
            }
        }
    }

    fn signal_event(
        &mut self,
        guest: &mut GuestCtx<'_>,
        _vcpu: u32,
        connection_id: u32,
        flag: u16,
    ) -> Result<(), HvStatus> {
        if self.guest_signal(guest, connection_id) {
            return Ok(());
        }
        log_limited!(
            Level::Warn,
            "vmbus: signal on unknown connection {connection_id} (flag {flag})"
        );
        Err(HvStatus::INVALID_CONNECTION_ID)
    }

    fn reset(&mut self, reason: ResetReason) {
        crate::log_debug!("vmbus: reset ({reason:?})");
        self.reset_connection();
    }

    fn poll(&mut self, guest: &mut GuestCtx<'_>) {
        if let Some((due, vcpu, sint)) = self.unload_due {
            if Instant::now() >= due {
                self.unload_due = None;
                self.post_unload_response(guest, vcpu, sint);
            }
        }
        let now = Instant::now();
        let due: Vec<HostMessage> = self
            .opens_due
            .iter()
            .filter(|(t, _)| *t <= now)
            .map(|(_, m)| *m)
            .collect();
        self.opens_due.retain(|(t, _)| *t > now);
        for m in due {
            self.send(guest, &m);
        }
        self.slot_modes(guest);
        self.ic_garbage(guest);
        self.poll_channels(guest);
        self.hvsock_poll(guest);
        self.rescinds_now_due(guest);
    }

    fn wake_fds(&self, out: &mut Vec<std::os::fd::RawFd>) {
        out.extend(self.devices.values().filter_map(|d| d.wake_fd()));
    }

    fn poll_interval(&self) -> Option<Duration> {
        let fast = !self.monitored().is_empty()
            || self.hostile.is(Mode::InterruptFlood)
            || self.hostile.is(Mode::PendingRace)
            || self.hostile.is(Mode::SlotFlood)
            || self.hostile.is(Mode::IcGarbage)
            || self.unload_due.is_some()
            || !self.opens_due.is_empty()
            || !self.rescinds_due.is_empty()
            || self.devices.values().any(|d| d.wants_fast_ticks());
        fast.then_some(monitor::POLL)
    }

    fn set_profile(&mut self, profile: Profile) {
        self.profile = profile;
    }

    fn status(&self, out: &mut Vec<String>) {
        let conn = match &self.conn {
            Some(c) => format!(
                "version {} vCPU {} SINT {} connection id {}",
                c.version, c.vcpu, c.sint, c.msg_conn_id
            ),
            None => "not connected".into(),
        };
        let (g, p) = self.gpadls.counts();
        out.push(format!(
            "server: vmbus, profile {}, {conn}, {} channels, {g} GPADLs ({p} being assembled)",
            self.profile,
            self.channels.len()
        ));
    }

    fn stats(&self, out: &mut Vec<String>) {
        let s = &self.stats;
        let (g, p) = self.gpadls.counts();
        for (k, v) in [
            ("connected", u64::from(self.conn.is_some())),
            ("version", self.conn.map_or(0, |c| u64::from(c.version.0))),
            ("channels", self.channels.len() as u64),
            ("gpadls", g as u64),
            ("gpadls_pending", p as u64),
            ("messages_in", s.messages_in),
            ("bad_messages", s.bad_messages),
            ("refused", s.refused),
            ("messages_out", s.messages_out),
            ("post_failures", s.post_failures),
            ("versions_accepted", s.versions_accepted),
            ("versions_rejected", s.versions_rejected),
            ("offers", s.offers),
            ("rescinds", s.rescinds),
            ("gpadls_created", s.gpadls_created),
            ("gpadls_failed", s.gpadls_failed),
            ("gpadls_torndown", s.gpadls_torndown),
            ("opens", s.opens),
            ("opens_failed", s.opens_failed),
            ("closes", s.closes),
            ("released", s.released),
            ("unloads", s.unloads),
            ("packets_in", s.packets_in),
            ("packets_out", s.packets_out),
            ("bad_packets", s.bad_packets),
            ("ring_errors", s.ring_errors),
            ("signals_in", s.signals_in),
            ("signals_out", s.signals_out),
            ("monitor_triggers", s.monitor_triggers),
            ("signals_unneeded", s.signals_unneeded),
            ("ring_waits", s.ring_waits),
            ("modify_channels", s.modify_channels),
            ("tl_connects", s.tl_connects),
            ("tl_refused", s.tl_refused),
            ("fillers", s.fillers),
            ("posts_refused", s.posts_refused),
            ("gpa_direct_ignored", s.gpa_direct_ignored),
            ("race_pairs", self.race_pairs),
            ("garbage_sent", self.garbage_sent),
        ] {
            out.push(format!("vmbus.{k}={v}"));
        }
        for (k, v) in self.hvsock.stats() {
            out.push(format!("vmbus.{k}={v}"));
        }
        for (r, d) in &self.devices {
            let kind = Relid::new(*r)
                .and_then(|r| self.channels.get(r))
                .map_or("gone", |c| c.kind.name());
            for (k, v) in d.stats() {
                out.push(format!("dev.{r}.{kind}.{k}={v}"));
            }
        }
    }

    fn control(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        cmd: &str,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> Option<ControlResult> {
        match cmd {
            "list" => {
                if !args.is_empty() {
                    return Some(Err("usage: list".into()));
                }
                self.cmd_list(out);
                Some(Ok(()))
            }
            "offer" => Some(self.cmd_offer(guest, args, out)),
            "rescind" => Some(self.cmd_rescind(guest, args, out)),
            "disk-add" => Some(self.cmd_disk_add(guest, args, out)),
            "disk-remove" => Some(self.cmd_disk_remove(guest, args, out)),
            "disks" => Some(self.cmd_disks(args, out)),
            _ => self.control_more(guest, cmd, args, out),
        }
    }
}
