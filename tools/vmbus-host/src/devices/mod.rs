// SPDX-License-Identifier: GPL-2.0

//! Device backends: what answers the packets of an open channel. Every
//! device type implements [`Device`]; the VMBus server owns one per channel
//! and calls it on open, per packet, on close, periodically and for
//! control commands, through a [`ChannelIo`] that collects the packets to
//! send (the server writes them into the ring, queueing what does not fit).

pub mod echo;
pub mod fcopy;
pub mod guest_text;
pub mod heartbeat;
pub mod hvsock;
pub mod ic_link;
pub mod keyboard;
pub mod kvp;
pub mod net;
pub mod shutdown;
pub mod storage;
pub mod timesync;
pub mod vss;

use std::time::{Duration, Instant};

use vmbus_proto::packet::{encode_inband, Packet, PacketError};
use vmbus_proto::types::Relid;
use vmbus_proto::wire::packet::PacketType;

use crate::guest_mem::MemRegion;
use crate::server::ControlResult;
use crate::trace::Dir;
use crate::vmbus::gpadl::{Gpadl, Gpadls};
use crate::vmbus::offers::DeviceKind;

/// Settings of the device backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// Time sample period.
    pub timesync: Duration,
    /// The network adapters' settings (`--nic`).
    pub nic: net::NicConfig,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_millis(1000),
            timesync: Duration::from_secs(5),
            nic: net::NicConfig::default(),
        }
    }
}

/// Offers sub-channels of the channel a device serves.
pub trait SubchannelHost {
    /// Adds up to `n` sub-channels and returns how many were added.
    fn offer_subchannels(&mut self, n: u16) -> u16;
}

/// A device's view of its channel while it is called.
pub struct ChannelIo<'a> {
    /// The channel.
    pub relid: Relid,
    /// Guest RAM (for GPA-direct data).
    pub mem: &'a MemRegion,
    /// The time of the call.
    pub now: Instant,
    out: Vec<Vec<u8>>,
    subs: Option<&'a mut dyn SubchannelHost>,
    gpadls: Option<&'a Gpadls>,
    queued: usize,
    notes: Vec<(Dir, &'static str)>,
}

impl<'a> ChannelIo<'a> {
    /// A view of `relid`; `subs` is `None` where sub-channels cannot be
    /// offered.
    pub fn new(relid: Relid, mem: &'a MemRegion, subs: Option<&'a mut dyn SubchannelHost>) -> Self {
        Self {
            relid,
            mem,
            now: Instant::now(),
            out: Vec::new(),
            subs,
            gpadls: None,
            queued: 0,
            notes: Vec::new(),
        }
    }

    /// Tells the device how many of its packets wait for room in the
    /// guest's ring.
    pub fn with_queued(mut self, queued: usize) -> Self {
        self.queued = queued;
        self
    }

    /// How many of the channel's packets waited for room in the guest's
    /// ring when the device was called (not counting those it sent since).
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Adds a line of type `kind` (no bytes) to the host's trace, after
    /// the packet being handled.
    pub fn trace_note(&mut self, dir: Dir, kind: &'static str) {
        self.notes.push((dir, kind));
    }

    /// The trace lines the device asked for, in order.
    pub fn take_notes(&mut self) -> Vec<(Dir, &'static str)> {
        std::mem::take(&mut self.notes)
    }

    /// Lets the device look up the GPADLs of its channel.
    pub fn with_gpadls(mut self, gpadls: &'a Gpadls) -> Self {
        self.gpadls = Some(gpadls);
        self
    }

    /// The created GPADL `handle`, if it was created on this channel (a
    /// guest naming another channel's GPADL gets nothing).
    pub fn gpadl(&self, handle: u32) -> Option<&'a Gpadl> {
        let id = vmbus_proto::types::GpadlId::new(handle)?;
        self.gpadls?.get(id).filter(|g| g.relid == self.relid)
    }

    /// Sends a packet the device built whole (descriptor included), such
    /// as a transfer-page packet.
    pub fn send_raw(&mut self, pkt: Vec<u8>) {
        self.out.push(pkt);
    }

    /// Sends an in-band-style packet (bare descriptor) of `ptype` whose
    /// payload is `parts` concatenated, padded to 8 bytes.
    pub fn send(
        &mut self,
        ptype: PacketType,
        flags: u16,
        trans_id: u64,
        parts: &[&[u8]],
    ) -> Result<(), PacketError> {
        let payload = parts.concat();
        let mut buf = vec![0u8; 16 + payload.len() + 8];
        let n = encode_inband(&mut buf, ptype, flags, trans_id, &payload)?;
        buf.truncate(n);
        self.out.push(buf);
        Ok(())
    }

    /// Asks the server for `n` sub-channels; returns how many it offered.
    pub fn offer_subchannels(&mut self, n: u16) -> u16 {
        self.subs.as_mut().map_or(0, |s| s.offer_subchannels(n))
    }

    /// The packets to send, in order.
    pub fn into_packets(self) -> Vec<Vec<u8>> {
        self.out
    }
}

/// A device backend.
pub trait Device {
    /// The channel was opened.
    fn on_open(&mut self, _io: &mut ChannelIo<'_>) {}

    /// A packet from the guest (parsed, bounds-checked).
    fn on_packet(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>);

    /// The channel was closed (or rescinded, or the guest went away).
    fn on_close(&mut self) {}

    /// The host is about to rescind the channel: the device stops sending
    /// the guest anything new. True once nothing it sent waits for the
    /// guest's answer (a device with no such packets: at once).
    fn quiesce(&mut self) -> bool {
        true
    }

    /// Periodic work while the channel is open.
    fn tick(&mut self, _io: &mut ChannelIo<'_>) {}

    /// Whether the device is done with its channel and asks the server to
    /// rescind it once everything it sent is in the guest's ring (an
    /// hv_sock connection after both FINs).
    fn wants_rescind(&self) -> bool {
        false
    }

    /// A control command for this device; `None` if it does not know it.
    fn control(
        &mut self,
        _io: &mut ChannelIo<'_>,
        _cmd: &str,
        _args: &[&str],
        _out: &mut Vec<String>,
    ) -> Option<ControlResult> {
        None
    }

    /// Counters, for `stats` and `list`.
    fn stats(&self) -> Vec<(&'static str, u64)>;

    /// The backend of this device's sub-channel `index`, sharing state
    /// with this one; `None` makes the server create a fresh backend.
    fn subchannel_device(&mut self, _index: u16) -> Option<Box<dyn Device>> {
        None
    }

    /// Whether the device wants its `tick` more often than the default
    /// period (it polls a host-side source, such as a TAP device).
    fn wants_fast_ticks(&self) -> bool {
        false
    }

    /// A host-side file descriptor whose readiness calls for the device's
    /// `tick` at once (a TAP device with frames for the guest), rather
    /// than at the next poll period. Only while a `tick` will read it:
    /// the host's event loop waits on it and would spin otherwise.
    fn wake_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
}

/// A fresh backend for a channel of `kind`.
pub fn create(kind: DeviceKind, cfg: DeviceConfig) -> Box<dyn Device> {
    match kind {
        DeviceKind::Echo => Box::new(echo::Echo::default()),
        DeviceKind::Heartbeat => Box::new(heartbeat::Heartbeat::new(cfg.heartbeat)),
        DeviceKind::Shutdown => Box::new(shutdown::Shutdown::default()),
        DeviceKind::Timesync => Box::new(timesync::Timesync::new(cfg.timesync)),
        // A controller of its own with no disk; the server gives the
        // channels of a `--disk` controller that controller instead.
        DeviceKind::Storage => Box::new(storage::backend::Storvsp::new(
            storage::controller::Controller::shared(0),
            0,
        )),
        DeviceKind::Net => Box::new(net::Nic::new(cfg.nic)),
        DeviceKind::Kvp => Box::new(kvp::Kvp::default()),
        DeviceKind::Vss => Box::new(vss::Vss::default()),
        DeviceKind::Fcopy => Box::new(fcopy::Fcopy::default()),
        DeviceKind::Keyboard => Box::new(keyboard::Keyboard::default()),
        // The server gives each hv_sock channel its role and the shared
        // counters; this one only stands in if a channel is made otherwise.
        DeviceKind::Hvsock => Box::new(hvsock::Hvsock::new(
            hvsock::Role::Echo,
            std::sync::Arc::default(),
        )),
    }
}
