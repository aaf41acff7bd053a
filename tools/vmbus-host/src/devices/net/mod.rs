// SPDX-License-Identifier: GPL-2.0

//! The synthetic network adapter: the host (netvsp) side of Linux's
//! `hv_netvsc`, bridged to a TAP device.
//!
//! The parts, one concern each:
//!
//! - [`nvsp`]: version negotiation, the NDIS version and configuration,
//!   the receive and send buffers, the vRSS sub-channel request;
//! - [`buffers`]: reading and writing the guest's buffers and GPA ranges,
//!   every access bounds-checked;
//! - [`rndis`]: the emulated RNDIS device and its OIDs;
//! - [`rx`]: the receive path, RNDIS messages in receive-buffer sections
//!   handed over by transfer-page packets and freed by their completions;
//! - [`tap`]: the TAP device at the other end of the wire.
//!
//! This file ties them together per channel. The primary channel and its
//! sub-channels share one [`Shared`] state (buffers, RNDIS state, the TAP
//! device); each channel keeps its own packets in flight. The primary
//! channel reads the TAP device at every tick and spreads the frames over
//! the open channels with the guest's RSS indirection table; each channel
//! sends its own share.
//!
//! The guest sends RNDIS messages in a send-buffer section (`SEND_RNDIS_PKT`
//! with a section index), in GPA ranges (a GPA-direct packet), or both (a
//! section followed by ranges); the host reads them as one stream of RNDIS
//! messages and completes the packet with `SEND_RNDIS_PKT_COMPLETE`, with
//! `INVALID_RNDIS_PKT` when a message is malformed. Nothing the guest sends
//! is trusted: a bad request fails alone, with a status or a counted drop.
//!
//! `ctl nic-hold RELID MS` has the adapter complete the guest's sends MS ms
//! late, as a busy host does: each channel writes the completions when
//! they are due, also after the channel was rescinded (while the guest
//! keeps it open), so that a test can rescind the adapter with sends
//! outstanding on every channel.

pub mod buffers;
pub mod nvsp;
pub mod rndis;
pub mod rx;
pub mod tap;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;
use std::time::{Duration, Instant};

use vmbus_proto::nvsp::{parse as parse_nvsp, NvspMessage};
use vmbus_proto::packet::{Packet, PacketKind};
use vmbus_proto::rndis::{encode_packet, parse as parse_rndis, RndisMessage, PACKET_HEADER_SIZE};
use vmbus_proto::wire::nvsp::{
    NvspRndisPacket, NvspStatus, INVALID_SECTION_INDEX, NVSP_MESSAGE_SIZE, RNDIS_CHANNEL_CONTROL,
    RNDIS_CHANNEL_DATA,
};
use vmbus_proto::wire::packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED};
use vmbus_proto::wire::rndis::{PpiType, RndisHeader};
use vmbus_proto::wire::Wire;

use super::{ChannelIo, Device};
use crate::log::Level;
use crate::log_limited;
use crate::server::ControlResult;
use buffers::{read_gpa_ranges, SendBuffer};
use rndis::{AdapterInfo, RndisState};
use rx::{InFlight, RecvBuffer, RxError};
use tap::Tap;

/// The MTU the adapter announces until the guest configures one.
pub const MTU: u32 = 1500;
/// The largest MTU the adapter takes (jumbo frames, as on Azure).
pub const MAX_MTU: u32 = 9000;
/// IPv4's smallest MTU.
pub const MIN_MTU: u32 = 68;
/// Link speed: 10 Gbit/s in units of 100 bit/s.
pub const LINK_SPEED: u32 = 100_000_000;
/// Most channels of one adapter (`VRSS_CHANNEL_MAX`).
pub const MAX_QUEUES: u8 = 64;
/// Frames read from the TAP device per tick.
pub const RX_BATCH: usize = 256;
/// Frames waiting per channel before new ones are dropped.
pub const RX_QUEUE: usize = 1024;
/// Most bytes one `SEND_RNDIS_PKT` may carry (a section and its ranges).
pub const MAX_SEND: usize = 256 * 1024;
/// Entries of the guest's send indirection table (`VRSS_SEND_TAB_SIZE`).
pub const SEND_TABLE_SIZE: u32 = 16;
/// The Ethernet header's length.
pub const ETH_HLEN: usize = 14;
/// Most RNDIS messages read from one `SEND_RNDIS_PKT`.
pub const MAX_MESSAGES: usize = 64;

/// `--nic tap=NAME[,mac=MAC][,queues=N]`: the adapter's settings. A copy
/// type (the name is kept in a fixed array) so that it can live in
/// [`super::DeviceConfig`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NicConfig {
    tap: [u8; tap::IFNAMSIZ],
    tap_len: u8,
    /// The MAC address.
    pub mac: [u8; 6],
    /// Channels offered for vRSS (the primary one included).
    pub queues: u8,
}

impl Default for NicConfig {
    fn default() -> Self {
        Self {
            tap: [0; tap::IFNAMSIZ],
            tap_len: 0,
            // Hyper-V's OUI, then "rv" and 1.
            mac: [0x00, 0x15, 0x5d, 0x72, 0x76, 0x01],
            queues: 4,
        }
    }
}

impl fmt::Debug for NicConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tap={},mac={},queues={}",
            self.tap_name().unwrap_or("-"),
            format_mac(&self.mac),
            self.queues
        )
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in m.iter_mut() {
        let p = parts.next().unwrap_or_default();
        *b = u8::from_str_radix(p, 16)
            .ok()
            .filter(|_| p.len() == 2)
            .ok_or_else(|| format!("bad MAC address {s:?}"))?;
    }
    if parts.next().is_some() || m[0] & 1 != 0 {
        return Err(format!("bad MAC address {s:?} (six bytes, not multicast)"));
    }
    Ok(m)
}

impl NicConfig {
    /// The TAP device's name, if one was given.
    pub fn tap_name(&self) -> Option<&str> {
        let n = self.tap.get(..usize::from(self.tap_len))?;
        std::str::from_utf8(n).ok().filter(|s| !s.is_empty())
    }
}

impl FromStr for NicConfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut c = NicConfig::default();
        for part in s.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("bad NIC option {part:?} (tap=, mac=, queues=)"))?;
            match k {
                "tap" => {
                    if !tap::valid_name(v) {
                        return Err(format!("bad TAP name {v:?}"));
                    }
                    c.tap = [0; tap::IFNAMSIZ];
                    c.tap[..v.len()].copy_from_slice(v.as_bytes());
                    c.tap_len = v.len() as u8;
                }
                "mac" => c.mac = parse_mac(v)?,
                "queues" => {
                    c.queues = v
                        .parse::<u8>()
                        .ok()
                        .filter(|q| (1..=MAX_QUEUES).contains(q))
                        .ok_or_else(|| format!("bad queue count {v:?} (1 to {MAX_QUEUES})"))?
                }
                _ => return Err(format!("unknown NIC option {k:?} (tap=, mac=, queues=)")),
            }
        }
        Ok(c)
    }
}

/// Counters of one adapter.
#[derive(Clone, Copy, Debug, Default)]
pub struct NicStats {
    /// Frames from the guest written to the TAP device.
    pub tx_frames: u64,
    /// Their bytes.
    pub tx_bytes: u64,
    /// Frames from the guest dropped (no TAP device, TAP queue full).
    pub tx_dropped: u64,
    /// Frames sent to the guest.
    pub rx_frames: u64,
    /// Their bytes.
    pub rx_bytes: u64,
    /// Frames for the guest dropped (link down, filter 0, buffer full).
    pub rx_dropped: u64,
    /// RNDIS control messages answered.
    pub control: u64,
    /// Malformed requests and completions.
    pub bad: u64,
    /// Sub-channels offered.
    pub subchannels: u64,
    /// Link changes indicated.
    pub link_changes: u64,
    /// Completions of the guest's sends written late (`nic-hold`).
    pub late_completions: u64,
}

/// The state the channels of one adapter share.
#[derive(Debug)]
pub struct Shared {
    cfg: NicConfig,
    link_up: bool,
    neg: nvsp::Negotiated,
    recv: Option<RecvBuffer>,
    send: Option<SendBuffer>,
    rndis: RndisState,
    /// Receive buffers given so far (each new one's generation).
    recv_generation: u64,
    tap: Option<Tap>,
    /// Frames for each channel, by sub-channel index.
    queues: Vec<VecDeque<Vec<u8>>>,
    /// Which channels are open, by sub-channel index.
    open: Vec<bool>,
    /// How late the guest's sends are completed (`nic-hold`).
    hold: Duration,
    stats: NicStats,
}

impl Shared {
    fn new(cfg: NicConfig) -> Self {
        Self {
            cfg,
            link_up: true,
            neg: nvsp::Negotiated::default(),
            recv: None,
            send: None,
            rndis: RndisState::default(),
            recv_generation: 0,
            tap: None,
            queues: vec![VecDeque::new()],
            open: vec![false],
            hold: Duration::ZERO,
            stats: NicStats::default(),
        }
    }

    fn info(&self) -> AdapterInfo {
        AdapterInfo {
            mac: self.cfg.mac,
            mtu: self.neg.mtu(),
            link_speed: LINK_SPEED,
            queues: u32::from(self.cfg.queues),
            link_up: self.link_up,
        }
    }

    /// Forgets what the guest set up (the primary channel closed).
    fn reset(&mut self) {
        self.neg = nvsp::Negotiated::default();
        self.recv = None;
        self.send = None;
        self.rndis = RndisState::default();
        for q in &mut self.queues {
            q.clear();
        }
    }

    /// The channel a frame goes to: the guest's indirection table over a
    /// hash of its addresses and ports, the primary channel when RSS is off
    /// or the chosen channel is closed.
    fn channel_for(&self, frame: &[u8]) -> usize {
        let table = &self.rndis.indirection;
        if table.is_empty() {
            return 0;
        }
        let h = flow_hash(frame) as usize;
        let ch = table.get(h % table.len()).copied().unwrap_or(0) as usize;
        if self.open.get(ch).copied().unwrap_or(false) {
            ch
        } else {
            0
        }
    }
}

/// FNV-1a over the IPv4 or IPv6 addresses and the next four bytes (the
/// ports of TCP and UDP) of an Ethernet frame; 0 for other frames.
pub fn flow_hash(frame: &[u8]) -> u32 {
    let ethertype = frame.get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (addrs, ports) = match ethertype {
        Some(0x0800) => {
            let ihl = usize::from(frame.get(14).copied().unwrap_or(0) & 0xf) * 4;
            (frame.get(26..34), frame.get(14 + ihl..18 + ihl))
        }
        Some(0x86dd) => (frame.get(22..54), frame.get(54..58)),
        _ => (None, None),
    };
    let Some(addrs) = addrs else {
        return 0;
    };
    let mut h: u32 = 0x811c_9dc5;
    for &b in addrs.iter().chain(ports.unwrap_or_default()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The backend of one channel of an adapter.
pub struct Nic {
    shared: Rc<RefCell<Shared>>,
    index: u16,
    flight: InFlight,
    /// The host is taking the channel away: no more frames for the guest.
    quiet: bool,
    /// Completions of the guest's sends held back by `nic-hold`: when
    /// each is due, its transaction id and its body.
    held: VecDeque<(Instant, u64, Vec<u8>)>,
}

impl Nic {
    /// The primary channel's backend of a new adapter.
    pub fn new(cfg: NicConfig) -> Self {
        Self {
            shared: Rc::new(RefCell::new(Shared::new(cfg))),
            index: 0,
            flight: InFlight::default(),
            quiet: false,
            held: VecDeque::new(),
        }
    }

    fn bad(&self, io: &ChannelIo<'_>, what: fmt::Arguments<'_>) {
        self.shared.borrow_mut().stats.bad += 1;
        log_limited!(Level::Warn, "net: relid {}: {what}", io.relid.get());
    }

    fn complete(&self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>, body: &[u8]) {
        if pkt.desc.flags & PACKET_FLAG_COMPLETION_REQUESTED == 0 {
            return;
        }
        if let Err(e) = io.send(PacketType::COMP, 0, pkt.desc.trans_id, &[body]) {
            self.bad(io, format_args!("completion: {e:?}"));
        }
    }

    /// Sends one RNDIS message to the guest on this channel through the
    /// receive buffer.
    fn deliver(
        &mut self,
        io: &mut ChannelIo<'_>,
        channel_type: u32,
        msg: &[u8],
    ) -> Result<(), RxError> {
        let mut sh = self.shared.borrow_mut();
        let recv = sh.recv.as_mut().ok_or(RxError::NoBuffer)?;
        let pkt = rx::build(recv, &mut self.flight, io.mem, channel_type, msg)?;
        io.send_raw(pkt);
        Ok(())
    }

    /// An in-band NVSP message.
    fn nvsp(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>) {
        let m = match parse_nvsp(pkt.payload) {
            Ok(m) => m,
            Err(e) => return self.bad(io, format_args!("NVSP message: {e:?}")),
        };
        let primary = self.index == 0;
        match m {
            NvspMessage::Init(i) if primary => {
                let a = self.shared.borrow_mut().neg.init(i);
                self.complete(io, pkt, &a);
            }
            NvspMessage::NdisVersion(v) if primary => {
                if !self.shared.borrow_mut().neg.ndis_version(v) {
                    self.bad(io, format_args!("NDIS version {v:?} refused"));
                }
            }
            NvspMessage::NdisConfig(c) if primary => {
                if !self.shared.borrow_mut().neg.ndis_config(c) {
                    self.bad(io, format_args!("NDIS configuration before NVSP 2"));
                }
            }
            NvspMessage::SendReceiveBuffer(r) if primary => {
                let gpadl = io.gpadl(r.gpadl_handle.get());
                let (buf, a) = {
                    let sh = self.shared.borrow();
                    nvsp::receive_buffer(&sh.neg, sh.recv.is_some(), &r, gpadl)
                };
                match buf {
                    Ok(mut b) => {
                        let mut sh = self.shared.borrow_mut();
                        sh.recv_generation += 1;
                        b.generation = sh.recv_generation;
                        sh.recv = Some(b);
                    }
                    Err(e) => self.bad(io, format_args!("receive buffer: {e}")),
                }
                self.complete(io, pkt, &a);
            }
            NvspMessage::SendSendBuffer(r) if primary => {
                let gpadl = io.gpadl(r.gpadl_handle.get());
                let (buf, a) = {
                    let sh = self.shared.borrow();
                    nvsp::send_buffer(&sh.neg, sh.send.is_some(), &r, gpadl)
                };
                match buf {
                    Ok(b) => self.shared.borrow_mut().send = Some(b),
                    Err(e) => self.bad(io, format_args!("send buffer: {e}")),
                }
                self.complete(io, pkt, &a);
            }
            NvspMessage::RevokeReceiveBuffer(_) if primary => {
                // The sections go away with the buffer; completions of
                // its packets on other channels free nothing.
                self.flight.clear(None);
                self.shared.borrow_mut().recv = None;
            }
            NvspMessage::RevokeSendBuffer(_) if primary => {
                self.shared.borrow_mut().send = None;
            }
            NvspMessage::SwitchDataPath(d) if primary => {
                self.shared.borrow_mut().neg.vf_datapath = d.active_datapath == 1;
                self.complete(io, pkt, &[]);
            }
            NvspMessage::Subchannel(r) if primary => {
                let max = u32::from(self.shared.borrow().cfg.queues.saturating_sub(1));
                let wanted = nvsp::subchannels_wanted(&self.shared.borrow().neg, &r, max);
                let offered = wanted.map(|n| io.offer_subchannels(n));
                if let Some(n) = offered {
                    self.shared.borrow_mut().stats.subchannels += u64::from(n);
                }
                self.complete(io, pkt, &nvsp::subchannel_answer(offered));
                if let Some(n) = offered.filter(|&n| n > 0) {
                    // Which channel the guest sends each bucket on, as
                    // Hyper-V tells it: round robin over all of them.
                    let channels = u32::from(n) + 1;
                    let table: Vec<u32> = (0..SEND_TABLE_SIZE).map(|i| i % channels).collect();
                    let mut b = vec![0u8; NVSP_MESSAGE_SIZE + 4 * table.len()];
                    if let Some(len) = vmbus_proto::nvsp::encode_indirection_table(&mut b, &table) {
                        if let Err(e) = io.send(PacketType::DATA_INBAND, 0, 0, &[&b[..len]]) {
                            self.bad(io, format_args!("send table: {e:?}"));
                        }
                    }
                }
            }
            NvspMessage::RndisPacket(r) => self.rndis_packet(io, pkt, r, &[]),
            other => self.bad(
                io,
                format_args!(
                    "unexpected NVSP message {other:?} on channel {}",
                    self.index
                ),
            ),
        }
    }

    /// A `SEND_RNDIS_PKT`: `extra` are the bytes of its GPA ranges.
    fn rndis_packet(
        &mut self,
        io: &mut ChannelIo<'_>,
        pkt: &Packet<'_>,
        r: NvspRndisPacket,
        extra: &[u8],
    ) {
        let status = match self.gather(io, &r, extra) {
            Ok(stream) => self.rndis_stream(io, &stream),
            Err(e) => {
                self.bad(io, format_args!("RNDIS packet: {e}"));
                NvspStatus::FAIL
            }
        };
        let body = nvsp::rndis_complete(status);
        let hold = self.shared.borrow().hold;
        if hold.is_zero() {
            self.complete(io, pkt, &body);
        } else if pkt.desc.flags & PACKET_FLAG_COMPLETION_REQUESTED != 0 {
            self.held
                .push_back((io.now + hold, pkt.desc.trans_id, body.to_vec()));
        }
    }

    /// Writes the held completions that are due.
    fn complete_held(&mut self, io: &mut ChannelIo<'_>) {
        while let Some((due, id, body)) = self.held.front() {
            if *due > io.now {
                break;
            }
            if let Err(e) = io.send(PacketType::COMP, 0, *id, &[body]) {
                self.bad(io, format_args!("late completion: {e:?}"));
            }
            self.shared.borrow_mut().stats.late_completions += 1;
            self.held.pop_front();
        }
    }

    /// `nic-hold MS`.
    fn hold(&mut self, io: &ChannelIo<'_>, args: &[&str], out: &mut Vec<String>) -> ControlResult {
        let ms = match args {
            [ms] => ms.parse::<u64>().ok().filter(|&ms| ms <= 60_000),
            _ => None,
        }
        .ok_or("usage: nic-hold RELID MS (MS at most 60000)")?;
        if self.index != 0 {
            return Err("not a primary network channel".into());
        }
        self.shared.borrow_mut().hold = Duration::from_millis(ms);
        out.push(format!(
            "relid {}: the guest's sends are completed {ms} ms late",
            io.relid.get()
        ));
        Ok(())
    }

    /// The bytes of a `SEND_RNDIS_PKT`: its send-buffer section (if it
    /// names one), then its GPA ranges.
    fn gather(
        &self,
        io: &ChannelIo<'_>,
        r: &NvspRndisPacket,
        extra: &[u8],
    ) -> Result<Vec<u8>, String> {
        let mut v = if r.send_buf_section_index == INVALID_SECTION_INDEX {
            Vec::new()
        } else {
            let sh = self.shared.borrow();
            let send = sh
                .send
                .as_ref()
                .ok_or("a send-buffer section but no send buffer")?;
            send.read_section(io.mem, r.send_buf_section_index, r.send_buf_section_size)
                .map_err(|e| format!("section {}: {e}", r.send_buf_section_index))?
        };
        v.extend_from_slice(extra);
        if v.is_empty() {
            return Err("no data".into());
        }
        Ok(v)
    }

    /// Handles the RNDIS messages of one `SEND_RNDIS_PKT`, in order.
    fn rndis_stream(&mut self, io: &mut ChannelIo<'_>, mut rest: &[u8]) -> NvspStatus {
        let mut count = 0;
        while rest.len() >= RndisHeader::SIZE {
            count += 1;
            if count > MAX_MESSAGES {
                self.bad(
                    io,
                    format_args!("more than {MAX_MESSAGES} RNDIS messages in one packet"),
                );
                return NvspStatus::INVALID_RNDIS_PKT;
            }
            let msg = match parse_rndis(rest) {
                Ok(m) => m,
                Err(e) => {
                    self.bad(io, format_args!("RNDIS message: {e:?}"));
                    return NvspStatus::INVALID_RNDIS_PKT;
                }
            };
            match msg {
                RndisMessage::Packet(p) => self.transmit(p.data),
                m => self.rndis_control(io, &m),
            }
            // CAST: parse checked msg_len against rest.
            let len = RndisHeader::read_from(rest).map_or(rest.len(), |h| h.msg_len as usize);
            rest = rest.get(len..).unwrap_or_default();
        }
        NvspStatus::SUCCESS
    }

    fn rndis_control(&mut self, io: &mut ChannelIo<'_>, m: &RndisMessage<'_>) {
        let answer = {
            let mut sh = self.shared.borrow_mut();
            let info = sh.info();
            sh.stats.control += 1;
            sh.rndis.control(&info, m)
        };
        if let Some(a) = answer {
            if let Err(e) = self.deliver(io, RNDIS_CHANNEL_CONTROL, &a) {
                self.bad(io, format_args!("RNDIS answer not delivered: {e:?}"));
            }
        }
    }

    /// A frame from the guest, to the TAP device (while the link is up;
    /// a frame shorter than an Ethernet header is dropped).
    fn transmit(&self, frame: &[u8]) {
        let mut sh = self.shared.borrow_mut();
        let link_up = sh.link_up;
        let sent = match sh.tap.as_mut() {
            Some(t) if link_up && frame.len() >= ETH_HLEN => match t.write_frame(frame) {
                Ok(s) => s,
                Err(e) => {
                    log_limited!(Level::Warn, "net: TAP write: {e}");
                    false
                }
            },
            _ => false,
        };
        if sent {
            sh.stats.tx_frames += 1;
            sh.stats.tx_bytes += frame.len() as u64;
        } else {
            sh.stats.tx_dropped += 1;
        }
    }

    /// The primary channel reads the TAP device and queues each frame for
    /// its channel.
    fn poll_tap(&self) {
        let mut sh = self.shared.borrow_mut();
        for _ in 0..RX_BATCH {
            let frame = match sh.tap.as_mut().map(Tap::read_frame) {
                Some(Ok(Some(f))) => f,
                Some(Ok(None)) | None => return,
                Some(Err(e)) => {
                    log_limited!(Level::Warn, "net: TAP read: {e}");
                    return;
                }
            };
            let deliver = sh.link_up && sh.rndis.initialized && sh.rndis.packet_filter != 0;
            let ch = sh.channel_for(&frame);
            match sh.queues.get_mut(ch) {
                Some(q) if deliver && q.len() < RX_QUEUE => q.push_back(frame),
                _ => sh.stats.rx_dropped += 1,
            }
        }
    }

    /// Sends this channel's queued frames while the receive buffer has
    /// room.
    fn send_frames(&mut self, io: &mut ChannelIo<'_>) {
        let index = usize::from(self.index);
        if self.quiet {
            return;
        }
        loop {
            let frame = {
                let mut sh = self.shared.borrow_mut();
                match sh.queues.get_mut(index).and_then(VecDeque::pop_front) {
                    Some(f) => f,
                    None => return,
                }
            };
            // With RSS on, the frame carries its hash (NBL_HASH_VALUE), which
            // netvsc gives the socket buffer.
            let rss = !self.shared.borrow().rndis.indirection.is_empty();
            let hash = flow_hash(&frame).to_le_bytes();
            let ppi: &[(PpiType, &[u8])] = if rss {
                &[(PpiType::NBL_HASH_VALUE, &hash)]
            } else {
                &[]
            };
            let mut msg = vec![0u8; PACKET_HEADER_SIZE + 16 + frame.len()];
            let Some(n) = encode_packet(&mut msg, &frame, ppi) else {
                self.shared.borrow_mut().stats.rx_dropped += 1;
                continue;
            };
            msg.truncate(n);
            match self.deliver(io, RNDIS_CHANNEL_DATA, &msg) {
                Ok(()) => {
                    let mut sh = self.shared.borrow_mut();
                    sh.stats.rx_frames += 1;
                    sh.stats.rx_bytes += frame.len() as u64;
                }
                Err(RxError::Full) | Err(RxError::TooManyInFlight) => {
                    // Wait for the guest's completions.
                    if let Some(q) = self.shared.borrow_mut().queues.get_mut(index) {
                        q.push_front(frame);
                    }
                    return;
                }
                Err(e) => {
                    self.shared.borrow_mut().stats.rx_dropped += 1;
                    log_limited!(
                        Level::Warn,
                        "net: relid {}: frame not delivered: {e:?}",
                        io.relid.get()
                    );
                }
            }
        }
    }

    /// `nic-link up|down`.
    fn link(
        &mut self,
        io: &mut ChannelIo<'_>,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        let up = match args {
            ["up"] => true,
            ["down"] => false,
            _ => return Err("usage: nic-link RELID up|down".into()),
        };
        if self.index != 0 {
            return Err("not a primary network channel".into());
        }
        let changed = {
            let mut sh = self.shared.borrow_mut();
            let changed = sh.link_up != up;
            sh.link_up = up;
            if changed {
                sh.stats.link_changes += 1;
            }
            changed
        };
        let ready = self.shared.borrow().rndis.initialized;
        if changed && ready {
            self.deliver(io, RNDIS_CHANNEL_CONTROL, &rndis::link_indication(up))
                .map_err(|e| format!("indication not delivered: {e:?}"))?;
        }
        out.push(format!(
            "relid {}: link {}{}",
            io.relid.get(),
            if up { "up" } else { "down" },
            if changed && ready { " (indicated)" } else { "" }
        ));
        Ok(())
    }
}

impl Device for Nic {
    fn on_open(&mut self, io: &mut ChannelIo<'_>) {
        let mut sh = self.shared.borrow_mut();
        let i = usize::from(self.index);
        if let Some(o) = sh.open.get_mut(i) {
            *o = true;
        }
        if self.index != 0 {
            return;
        }
        sh.reset();
        if sh.tap.is_none() {
            if let Some(name) = sh.cfg.tap_name() {
                match Tap::open(name) {
                    Ok(t) => sh.tap = Some(t),
                    Err(e) => log_limited!(
                        Level::Warn,
                        "net: relid {}: TAP device {name}: {e}; frames are dropped",
                        io.relid.get()
                    ),
                }
            }
        }
    }

    fn on_packet(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>) {
        match &pkt.kind {
            PacketKind::Inband => self.nvsp(io, pkt),
            PacketKind::GpaDirect(ranges) => {
                let r = match parse_nvsp(pkt.payload) {
                    Ok(NvspMessage::RndisPacket(r)) => r,
                    other => return self.bad(io, format_args!("GPA-direct packet with {other:?}")),
                };
                match read_gpa_ranges(io.mem, ranges, MAX_SEND) {
                    Ok(data) => self.rndis_packet(io, pkt, r, &data),
                    Err(e) => {
                        self.bad(io, format_args!("GPA ranges: {e}"));
                        self.complete(io, pkt, &nvsp::rndis_complete(NvspStatus::FAIL));
                    }
                }
            }
            PacketKind::Completion => {
                let known = {
                    let mut sh = self.shared.borrow_mut();
                    self.flight.complete(pkt.desc.trans_id, sh.recv.as_mut())
                };
                if !known {
                    self.bad(
                        io,
                        format_args!("completion of unknown packet {:#x}", pkt.desc.trans_id),
                    );
                }
            }
            k => self.bad(io, format_args!("unexpected packet {k:?}")),
        }
    }

    fn on_close(&mut self) {
        // The ring is the guest's again: what was held is never written.
        self.held.clear();
        let mut sh = self.shared.borrow_mut();
        self.flight.clear(sh.recv.as_mut());
        let i = usize::from(self.index);
        if let Some(o) = sh.open.get_mut(i) {
            *o = false;
        }
        if let Some(q) = sh.queues.get_mut(i) {
            q.clear();
        }
        if self.index == 0 {
            sh.reset();
            // Let go of the TAP device, so that a re-offered adapter (or a
            // reopened channel) can attach to it again.
            sh.tap = None;
        }
    }

    /// No more frames for the guest; done once it has given back every
    /// receive section it holds (its receive completions). The adapter is
    /// unplugged from the TAP device: the rings stay serviced until the
    /// guest closes them, but what the guest sends meanwhile is dropped,
    /// and the adapter offered again can attach to the TAP device while
    /// the guest is still closing this one.
    fn quiesce(&mut self) -> bool {
        self.quiet = true;
        let mut sh = self.shared.borrow_mut();
        if let Some(q) = sh.queues.get_mut(usize::from(self.index)) {
            q.clear();
        }
        if self.index == 0 {
            sh.tap = None;
        }
        drop(sh);
        self.flight.is_empty()
    }

    fn tick(&mut self, io: &mut ChannelIo<'_>) {
        if self.index == 0 {
            self.poll_tap();
        }
        self.send_frames(io);
        self.complete_held(io);
    }

    fn control(
        &mut self,
        io: &mut ChannelIo<'_>,
        cmd: &str,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> Option<ControlResult> {
        match cmd {
            "nic-link" => Some(self.link(io, args, out)),
            "nic-hold" => Some(self.hold(io, args, out)),
            _ => None,
        }
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        let sh = self.shared.borrow();
        let s = sh.stats;
        let mut v = vec![
            ("in_flight", self.flight.len() as u64),
            ("held", self.held.len() as u64),
        ];
        if self.index == 0 {
            v.extend([
                ("tx_frames", s.tx_frames),
                ("tx_bytes", s.tx_bytes),
                ("tx_dropped", s.tx_dropped),
                ("rx_frames", s.rx_frames),
                ("rx_bytes", s.rx_bytes),
                ("rx_dropped", s.rx_dropped),
                ("control", s.control),
                ("bad", s.bad),
                ("subchannels", s.subchannels),
                ("link_changes", s.link_changes),
                ("late_completions", s.late_completions),
                ("link_up", u64::from(sh.link_up)),
                ("nvsp_version", u64::from(sh.neg.version.unwrap_or(0))),
            ]);
        }
        v
    }

    fn subchannel_device(&mut self, index: u16) -> Option<Box<dyn Device>> {
        let i = usize::from(index);
        {
            let mut sh = self.shared.borrow_mut();
            if sh.queues.len() <= i {
                sh.queues.resize_with(i + 1, VecDeque::new);
            }
            if sh.open.len() <= i {
                sh.open.resize(i + 1, false);
            }
        }
        Some(Box::new(Nic {
            shared: Rc::clone(&self.shared),
            index,
            flight: InFlight::default(),
            quiet: false,
            held: VecDeque::new(),
        }))
    }

    fn wants_fast_ticks(&self) -> bool {
        let sh = self.shared.borrow();
        !self.held.is_empty() || (self.index == 0 && sh.tap.is_some() && sh.rndis.initialized)
    }

    /// The TAP device, once the primary channel reads it at every tick
    /// (open, RNDIS initialised): frames for the guest wake the host at
    /// once instead of waiting up to a poll period (1 ms).
    fn wake_fd(&self) -> Option<std::os::fd::RawFd> {
        let sh = self.shared.borrow();
        if self.index != 0 || !sh.rndis.initialized {
            return None;
        }
        sh.tap.as_ref().map(Tap::fd)
    }
}

#[cfg(test)]
mod tap_tests;
#[cfg(test)]
mod tests;
