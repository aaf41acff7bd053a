// SPDX-License-Identifier: GPL-2.0

//! A VMBus channel (`vmbus_channel`): what the guest knows of an offer, its
//! rings while it is open, its statistics, and sending and receiving.
//!
//! The channel's protocol state (offered, opening, open, closing,
//! rescinded, ...) is `proto::channel::ChannelState`, kept by the
//! connection under its lock ([`crate::connection`]); this object carries
//! what the data path and sysfs need without that lock.
//!
//! # Locking
//!
//! `io` is taken in process context only (senders, the connection's event
//! work). It nests inside the connection's `inner` lock, never the other
//! way round. `binding` and `info` are leaf locks: nothing is taken while
//! one is held.

use kernel::{
    new_condvar, new_mutex, new_spinlock,
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc, CondVar, Mutex, SpinLock,
    },
    time::msecs_to_jiffies,
};

use crate::{
    connection::Connection,
    driver::Binding,
    proto::{
        channel::ChannelInfo,
        packet::{self, PacketKind},
        ring::{PacketInfo, RingError},
        wire::{
            channel_msg::GpaRange,
            packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED},
        },
    },
    ring::{ring_info, Rings},
    sysfs::{ChanInfo, DeviceSlot},
};

/// Counters of one channel, shown in sysfs.
pub(crate) struct ChanStats {
    /// Signals sent to the host.
    pub(crate) events: Atomic<u64>,
    /// Interrupts from the host for this channel.
    pub(crate) interrupts: Atomic<u64>,
    /// Sends that found the outbound ring full for the first time in a
    /// row, and in total.
    pub(crate) out_full_first: Atomic<u64>,
    pub(crate) out_full_total: Atomic<u64>,
    /// Packets and bytes moved.
    pub(crate) tx_packets: Atomic<u64>,
    pub(crate) rx_packets: Atomic<u64>,
    pub(crate) tx_bytes: Atomic<u64>,
    pub(crate) rx_bytes: Atomic<u64>,
}

impl ChanStats {
    const fn new() -> Self {
        Self {
            events: Atomic::new(0),
            interrupts: Atomic::new(0),
            out_full_first: Atomic::new(0),
            out_full_total: Atomic::new(0),
            tx_packets: Atomic::new(0),
            rx_packets: Atomic::new(0),
            tx_bytes: Atomic::new(0),
            rx_bytes: Atomic::new(0),
        }
    }
}

/// Protocol state codes for sysfs `state`, as Linux numbers
/// `enum vmbus_channel_state`.
pub(crate) mod state_code {
    pub(crate) const OFFERED: u32 = 1;
    pub(crate) const OPENING: u32 = 2;
    pub(crate) const OPENED: u32 = 3;
    pub(crate) const CLOSING: u32 = 4;
    pub(crate) const CLOSED: u32 = 5;
    pub(crate) const RESCINDED: u32 = 6;
}

/// A channel.
#[pin_data]
pub(crate) struct Channel {
    /// The offer. The class, instance and sub-channel index never change;
    /// the relid, connection id and monitor id may after a resume from
    /// hibernation (the host re-offers the device with new ones). A leaf
    /// lock: read with [`Channel::info`].
    #[pin]
    info: SpinLock<ChannelInfo>,
    /// The rings while the channel is open.
    #[pin]
    pub(crate) io: Mutex<Option<Rings>>,
    /// Woken on every interrupt for this channel.
    #[pin]
    pub(crate) wake: CondVar,
    /// Sysfs `state`, one of [`state_code`].
    pub(crate) state: Atomic<u32>,
    /// The CPU the host interrupts for this channel.
    pub(crate) target_cpu: Atomic<u32>,
    /// 1 while a writer of sysfs `cpu` moves the interrupts (see
    /// `Connection::set_target_cpu`), which serialises the moves of one
    /// channel.
    pub(crate) moving: Atomic<u32>,
    /// The counters.
    pub(crate) stats: ChanStats,
    /// The sysfs objects of this channel.
    #[pin]
    pub(crate) sysfs: Mutex<DeviceSlot>,
    /// The driver bound to this (primary) channel, if any.
    #[pin]
    pub(crate) binding: Mutex<Option<Arc<Binding>>>,
}

/// Encodes an in-band packet of type `ptype`.
pub(crate) fn inband_packet(
    ptype: PacketType,
    flags: u16,
    trans_id: u64,
    payload: &[u8],
) -> Result<KVec<u8>> {
    let mut buf = KVec::from_elem(0u8, payload.len() + 24, GFP_KERNEL)?;
    let n =
        packet::encode_inband(&mut buf, ptype, flags, trans_id, payload).map_err(|_| EMSGSIZE)?;
    buf.truncate(n);
    Ok(buf)
}

/// A packet that a receive copied into the caller's buffer.
pub(crate) struct RxPacket {
    /// Packet type (a completion is [`PacketType::COMP`]).
    pub(crate) ptype: PacketType,
    /// Offset of the payload in the buffer.
    pub(crate) offset: usize,
    /// Payload length.
    pub(crate) len: usize,
    /// Transaction id.
    pub(crate) trans_id: u64,
}

impl Channel {
    /// A channel for an offer.
    pub(crate) fn new(info: ChannelInfo, cpu: u32) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                info <- new_spinlock!(info),
                io <- new_mutex!(None),
                wake <- new_condvar!(),
                state: Atomic::new(state_code::OFFERED),
                target_cpu: Atomic::new(cpu),
                moving: Atomic::new(0),
                stats: ChanStats::new(),
                sysfs <- new_mutex!(DeviceSlot::empty()),
                binding <- new_mutex!(None),
            }),
            GFP_KERNEL,
        )
    }

    /// What the guest knows of the offer now.
    pub(crate) fn info(&self) -> ChannelInfo {
        *self.info.lock()
    }

    /// Takes the host's new offer of the same device after a resume from
    /// hibernation (new relid, connection id, monitor id).
    pub(crate) fn set_info(&self, info: ChannelInfo) {
        *self.info.lock() = info;
    }

    /// The relid as a number.
    pub(crate) fn relid(&self) -> u32 {
        self.info().relid.get()
    }

    /// Called by the connection's event work when the host signalled this
    /// channel.
    pub(crate) fn on_interrupt(&self) {
        self.stats.interrupts.add(1, Relaxed);
        self.wake.notify_all();
        let b = self.binding.lock().clone();
        if let Some(b) = b {
            b.kick();
        }
    }

    /// Sends an in-band packet with `payload`; with `completion` the host
    /// is asked to answer with a completion packet.
    pub(crate) fn send_inband(
        &self,
        conn: &Connection,
        payload: &[u8],
        trans_id: u64,
        completion: bool,
    ) -> Result {
        let flags = if completion {
            PACKET_FLAG_COMPLETION_REQUESTED
        } else {
            0
        };
        let pkt = inband_packet(PacketType::DATA_INBAND, flags, trans_id, payload)?;
        self.send_raw(conn, &pkt)
    }

    /// Sleeps until the host signals this channel, or for a short tick,
    /// which covers a signal that came between the caller's check and the
    /// sleep.
    pub(crate) fn wait_interrupt(&self) {
        let mut io = self.io.lock();
        let _ = self
            .wake
            .wait_interruptible_timeout(&mut io, msecs_to_jiffies(10));
    }

    /// Sends a GPA-direct packet: the host reads (or writes) the guest
    /// memory described by `ranges` (each a range and the page frame
    /// numbers it spans), and gets `payload` in-band.
    pub(crate) fn send_gpa_direct(
        &self,
        conn: &Connection,
        ranges: &[(GpaRange, &[u64])],
        payload: &[u8],
        trans_id: u64,
        completion: bool,
    ) -> Result {
        let words: usize = ranges.iter().map(|(_, p)| 1 + p.len()).sum();
        let mut buf = KVec::from_elem(0u8, payload.len() + 32 + words * 8, GFP_KERNEL)?;
        let flags = if completion {
            PACKET_FLAG_COMPLETION_REQUESTED
        } else {
            0
        };
        let n = packet::encode_gpa_direct(&mut buf, flags, trans_id, ranges, payload)
            .map_err(|_| EINVAL)?;
        self.send_raw(conn, buf.get(..n).ok_or(EINVAL)?)
    }

    /// Writes one encoded packet to the outbound ring and signals the host
    /// if the ring algorithm says it must. A full ring is `-EAGAIN`.
    pub(crate) fn send_raw(&self, conn: &Connection, pkt: &[u8]) -> Result {
        let signal = {
            let mut io = self.io.lock();
            let Some(rings) = &mut *io else {
                return Err(ENOTCONN);
            };
            let first = match rings.send(&[pkt]) {
                Err(full @ RingError::Full { needed, .. }) => {
                    if self.stats.out_full_total.load(Relaxed) == 0 {
                        self.stats.out_full_first.add(1, Relaxed);
                    }
                    self.stats.out_full_total.add(1, Relaxed);
                    // Ask the host to signal us once there is room, then
                    // look again: a host that drained the ring before it
                    // saw the request would never signal. Without
                    // pending-send-size the caller waits for the host's
                    // next signal or a tick.
                    if rings.request_space(needed) {
                        rings.send(&[pkt])
                    } else {
                        Err(full)
                    }
                }
                r => r,
            };
            match first {
                Ok(o) => o.signal,
                Err(RingError::Full { .. }) => return Err(EAGAIN),
                Err(e) => {
                    conn.warn_ring(self.relid(), "send", e);
                    return Err(EIO);
                }
            }
        };
        self.stats.tx_packets.add(1, Relaxed);
        // CAST: A packet is far below 2^64 bytes.
        self.stats.tx_bytes.add(pkt.len() as u64, Relaxed);
        if signal {
            conn.signal_channel(self)?;
        }
        Ok(())
    }

    /// Copies the next inbound packet into `buf`, validated.
    /// Masks the host's interrupts for this channel while a reader drains
    /// it; [`Channel::unmask_rx`] must follow on every path.
    pub(crate) fn mask_rx(&self) {
        if let Some(rings) = &mut *self.io.lock() {
            rings.mask_inbound();
        }
    }

    /// Unmasks the host's interrupts; true when packets came while they
    /// were masked (the reader goes on). A broken ring is logged and says
    /// false: the next receive reports it.
    pub(crate) fn unmask_rx(&self, conn: &Connection) -> bool {
        let Some(rings) = &mut *self.io.lock() else {
            return false;
        };
        match rings.unmask_inbound() {
            Ok(more) => more,
            Err(e) => {
                conn.warn_ring(self.relid(), "receive", e);
                false
            }
        }
    }

    pub(crate) fn recv(&self, conn: &Connection, buf: &mut [u8]) -> Result<Option<RxPacket>> {
        let (info, signal): (Option<PacketInfo>, bool) = {
            let mut io = self.io.lock();
            let Some(rings) = &mut *io else {
                return Err(ENOTCONN);
            };
            match rings.recv(buf) {
                Ok(None) => (None, false),
                Ok(Some((i, s))) => (Some(i), s),
                Err(RingError::BufferTooSmall { .. }) => return Err(EMSGSIZE),
                Err(e) => {
                    conn.warn_ring(self.relid(), "receive", e);
                    return Err(EIO);
                }
            }
        };
        if signal {
            conn.signal_channel(self)?;
        }
        let Some(info) = info else {
            return Ok(None);
        };
        let pkt = buf.get(..info.len).ok_or(EIO)?;
        let p = packet::parse(pkt).map_err(|e| {
            conn.warn_packet(self.relid(), e);
            EIO
        })?;
        self.stats.rx_packets.add(1, Relaxed);
        // CAST: As in `send_raw`.
        self.stats.rx_bytes.add(info.len as u64, Relaxed);
        let offset = info.len - p.payload.len();
        let ptype = match p.kind {
            PacketKind::Completion => PacketType::COMP,
            _ => p.desc.ptype,
        };
        Ok(Some(RxPacket {
            ptype,
            offset,
            len: p.payload.len(),
            trans_id: p.desc.trans_id,
        }))
    }

    /// Fills a sysfs snapshot.
    pub(crate) fn snapshot(&self, out: &mut ChanInfo) {
        let info = self.info();
        out.class_id = info.if_type.0;
        out.instance_id = info.if_instance.0;
        out.relid = info.relid.get();
        out.state = self.state.load(Relaxed);
        out.monitor_id = info
            .monitor_id
            .map_or(crate::sysfs::NO_MONITOR, |m| u32::from(m.get()));
        out.target_cpu = self.target_cpu.load(Relaxed);
        out.subchannel_id = u32::from(info.sub_channel_index);
        out.connection_id = info.connection_id;
        out.numa_node = crate::shim::cpu_to_node(out.target_cpu);
        out.events = self.stats.events.load(Relaxed);
        out.interrupts = self.stats.interrupts.load(Relaxed);
        out.out_full_first = self.stats.out_full_first.load(Relaxed);
        out.out_full_total = self.stats.out_full_total.load(Relaxed);
        if let Some(r) = &*self.io.lock() {
            out.is_open = 1;
            out.out = ring_info(&r.out());
            out.inb = ring_info(&r.inb());
        }
    }
}
