// SPDX-License-Identifier: GPL-2.0

//! A VMBus channel (`vmbus_channel`): what the guest knows of an offer, its
//! rings while it is open, its statistics, and sending and receiving.
//!
//! The channel's protocol state (offered, opening, open, closing,
//! rescinded, ...) is `proto::channel::ChannelState`, kept by the
//! connection under its lock ([`super::connection`]); this object carries
//! what the data path and sysfs need without that lock.
//!
//! # Contexts and locking
//!
//! Sending ([`Channel::send_inband`], [`Channel::send_parts`],
//! [`Channel::send_raw`]), receiving ([`Channel::recv`]) and masking the
//! host's interrupts ([`Channel::mask_rx`], [`Channel::unmask_rx`]) never
//! sleep and never allocate: they may be called from process context,
//! softirq (a driver's channel callback, NAPI) or hard IRQ, with
//! preemption or interrupts off, as Linux's `vmbus_sendpacket()`,
//! `vmbus_recvpacket()` and `hv_pkt_iter_*()` may. The signal to the host
//! they may send is a transport call that never sleeps either
//! (`Transport::signal_event`).
//!
//! - `io` (spinlock, interrupts off): the rings; any context. It nests
//!   inside the connection's `inner` lock, never the other way round, and
//!   `info` (to name the channel in a log) is taken inside it; the signal
//!   to the host is sent after `io` is released.
//! - `info` (spinlock, interrupts off): a leaf; any context.
//! - `driver` (spinlock, interrupts off): any context (the tasklet and the
//!   interrupt handler read it). The interrupt handler calls a driver's
//!   [`ChannelDriver::isr`] under it, so it comes before `io`, `info` and
//!   the transport's signal lock, which that callback's sends take.
//! - `devices` (mutex): process context; a leaf.
//!
//! # Events
//!
//! With `irq_events=1` (the default) the transport's interrupt handler
//! finds the channel's event flag and calls [`Channel::on_event_irq`]
//! (hard IRQ): it counts the interrupt, wakes waiters and schedules the
//! channel's tasklet, which hands the event to the bound driver
//! ([`ChannelDriver::kick`], softirq), as Linux runs a channel's callback
//! in its per-channel tasklet; a driver that asked for it
//! ([`ChannelDriver::isr`], Linux's `HV_CALL_ISR`) is called in the
//! interrupt handler instead. With `irq_events=0` the message work calls
//! [`Channel::on_interrupt`] (process context), which schedules the same
//! tasklet. The tasklet calls the driver with no lock of the channel held;
//! [`Channel::sync_callbacks`] and [`Channel::set_driver`] wait for a
//! callback in progress, so a driver's close, rescind, suspend or remove
//! can promise that no callback runs after it (Linux's
//! `tasklet_disable()` in `vmbus_reset_channel_cb()`).

use core::{ffi::c_void, ptr::NonNull};

use kernel::{
    new_condvar, new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc, CondVar, Mutex, SpinLockIrq,
    },
    time::msecs_to_jiffies,
};

use super::ring_buffer::Rings;
use crate::proto::{
    channel::ChannelInfo,
    packet::{self, PacketError},
    ring::{PacketInfo, RingError},
    wire::{
        channel_msg::GpaRange,
        packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED},
    },
};
use crate::support::{
    pathtime::{self, Stamp},
    tasklet::Tasklet,
    trace,
};

/// What a channel needs of its connection on the data path: signalling
/// the host, and rate-limited logs of what the host broke. The connection
/// implements it, so that this file need not name it.
pub(crate) trait HostLink {
    /// Tells the host that `ch` has something for it.
    fn signal(&self, ch: &Channel) -> Result;

    /// Logs (rate-limited) a ring of channel `relid` that the host broke.
    fn ring_broken(&self, relid: u32, what: &str, e: RingError);

    /// Logs (rate-limited) an invalid packet from the host on `relid`.
    fn bad_packet(&self, relid: u32, e: PacketError);
}

/// A driver bound to a channel, as the core sees it: the driver interfaces
/// implement it for each binding.
pub(crate) trait ChannelDriver: Send + Sync {
    /// The host signalled the channel, or packets may be waiting (after an
    /// open or a resume, [`Channel::schedule_callback`]): the driver should
    /// look at its ring.
    ///
    /// Context: the channel's tasklet (softirq), never two at a time for
    /// one channel; must not sleep. Once [`Channel::sync_callbacks`] or
    /// [`Channel::set_driver`] returned, a call that began before it has
    /// ended.
    fn kick(self: Arc<Self>);

    /// The host signalled the channel, seen in the interrupt handler: a
    /// driver that takes its events there (Linux's `HV_CALL_ISR`) handles
    /// it and returns true; false (the default) has the tasklet call
    /// [`ChannelDriver::kick`].
    ///
    /// Context: hard IRQ (`irq_events=1`), with the channel's `driver`
    /// lock held; must not sleep.
    fn isr(&self) -> bool {
        false
    }

    /// The host rescinded the channel: outstanding requests end and the
    /// driver is told once. A binding may stop its callbacks here (the
    /// Rust driver ABI does) or let them run until the driver closes the
    /// channel (the hv_vmbus interface does: the rings stay attached until
    /// then, and the host keeps servicing them). Returns true in the
    /// second case: a channel still open once its device is gone (a
    /// sub-channel, which its driver closes with the primary) keeps its
    /// relid until that close.
    ///
    /// Context: the device work, before the device is removed.
    fn rescinded(&self) -> bool;

    /// Asked after [`ChannelDriver::rescinded`]: whether the driver
    /// removes the device itself (Linux's `chn_rescind_callback`, which
    /// hv_sock and uio_hv_generic set); then the device work leaves the
    /// device in place, and the driver has it removed later
    /// ([`crate::bus::connection::Connection::unregister_device`]). The
    /// default: the device work removes it.
    fn removes_device(&self) -> bool {
        false
    }

    /// The host offered sub-channel `sub` of this driver's (primary)
    /// channel; its device-model objects exist. The default ignores it
    /// (the sub-channel stays offered and unused).
    ///
    /// Context: the device work; may wait for the host (a driver may open
    /// the sub-channel from here), never for the device work.
    fn sub_offered(self: Arc<Self>, _sub: &Arc<Channel>) {}

    /// The driver is unbound: no callback runs once this returns, and the
    /// channel is closed if the driver left it open.
    ///
    /// Context: the device model's remove (device lock held).
    fn remove(self: Arc<Self>);

    /// System suspend: callbacks stop and outstanding requests end before
    /// the driver's own suspend runs; its errno is returned (0: suspended).
    ///
    /// Context: the device model's suspend (device lock held).
    fn suspend(self: Arc<Self>) -> i32;

    /// System resume: callbacks start again after the driver's own resume
    /// began; its errno is returned.
    ///
    /// Context: the device model's resume (device lock held).
    fn resume(self: Arc<Self>) -> i32;
}

/// Counters of one channel, shown in sysfs as Linux counts them.
pub(crate) struct ChanStats {
    /// Signals sent to the host.
    pub(crate) events: Atomic<u64>,
    /// Interrupts from the host for this channel.
    pub(crate) interrupts: Atomic<u64>,
    /// Signals sent because a read freed the room the host asked for
    /// (its pending-send size) in the inbound ring: the ring went from too
    /// full to not.
    pub(crate) intr_in_full: Atomic<u64>,
    /// Signals sent because a write found the outbound ring empty.
    pub(crate) intr_out_empty: Atomic<u64>,
    /// Sends that found the outbound ring full and were the first to since
    /// a send last succeeded (one per episode of a full ring).
    pub(crate) out_full_first: Atomic<u64>,
    /// Sends that found the outbound ring full.
    pub(crate) out_full_total: Atomic<u64>,
    /// An episode of a full outbound ring is going on: a send found it
    /// full and none succeeded since. Changed under the channel's `io`
    /// lock, with the ring.
    out_full: Atomic<bool>,
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
            intr_in_full: Atomic::new(0),
            intr_out_empty: Atomic::new(0),
            out_full_first: Atomic::new(0),
            out_full_total: Atomic::new(0),
            out_full: Atomic::new(false),
            tx_packets: Atomic::new(0),
            rx_packets: Atomic::new(0),
            tx_bytes: Atomic::new(0),
            rx_bytes: Atomic::new(0),
        }
    }

    /// A send found the outbound ring full (Linux counts both in
    /// `hv_ringbuffer_write`). Called under the channel's `io` lock.
    fn note_out_full(&self) {
        self.out_full_total.add(1, Relaxed);
        if !self.out_full.xchg(true, Relaxed) {
            self.out_full_first.add(1, Relaxed);
        }
    }

    /// A send wrote its packet: an episode of a full ring, if any, ended.
    /// Called under the channel's `io` lock.
    fn note_sent(&self) {
        self.out_full.store(false, Relaxed);
    }
}

/// Sysfs `state` codes: Linux's `enum vmbus_channel_state`. A channel
/// whose device is shown is never in `CHANNEL_OFFER_STATE` (0): Linux
/// moves it to `CHANNEL_OPEN_STATE` before it adds the device.
pub(crate) mod state_code {
    /// `CHANNEL_OPENING_STATE`: the open is under way.
    pub(crate) const OPENING: u32 = 1;
    /// `CHANNEL_OPEN_STATE`: offered or closed, ready to be opened.
    pub(crate) const OPEN: u32 = 2;
    /// `CHANNEL_OPENED_STATE`: open.
    pub(crate) const OPENED: u32 = 3;
}

/// A channel.
#[pin_data]
pub(crate) struct Channel {
    /// Hands events to the driver in softirq context (`irq_events=1`).
    /// The first field, so the first dropped: its drop waits for a run in
    /// progress, which reads the other fields.
    #[pin]
    tasklet: Tasklet,
    /// The offer. The class, instance and sub-channel index never change;
    /// the relid, connection id and monitor id may after a resume from
    /// hibernation (the host re-offers the device with new ones). A leaf
    /// lock: read with [`Channel::info`].
    #[pin]
    info: SpinLockIrq<ChannelInfo>,
    /// The rings while the channel is open (set and cleared with
    /// [`Channel::attach_rings`] and [`Channel::detach_rings`]).
    #[pin]
    pub(crate) io: SpinLockIrq<Option<Rings>>,
    /// Woken on every interrupt for this channel.
    #[pin]
    pub(crate) wake: CondVar,
    /// Sysfs `state`, one of [`state_code`] (the core keeps it in step
    /// with the protocol state).
    pub(crate) state: Atomic<u32>,
    /// The CPU the host interrupts for this channel.
    pub(crate) target_cpu: Atomic<u32>,
    /// 1 while a writer of sysfs `cpu` moves the interrupts (see
    /// `Connection::set_target_cpu`), which serialises the moves of one
    /// channel.
    pub(crate) moving: Atomic<u32>,
    /// 1 once the driver has been told that the host rescinded the
    /// channel (Linux's `channel->rescind`): sends fail with `ENODEV`
    /// from then on, as `hv_ringbuffer_write()` fails them, while the
    /// inbound ring stays readable until the channel is closed (the
    /// driver may still be reading what the host wrote before its
    /// rescind, as Linux's drivers do from NAPI).
    rescinded: Atomic<u32>,
    /// The counters.
    pub(crate) stats: ChanStats,
    /// The device-model objects of this channel.
    #[pin]
    pub(crate) devices: Mutex<DeviceSlot>,
    /// The driver bound to this (primary) channel, if any.
    #[pin]
    driver: SpinLockIrq<Option<Arc<dyn ChannelDriver>>>,
    /// When the interrupt handler scheduled the tasklet (profile).
    irq_stamp: Stamp,
}

/// The function of every channel's tasklet.
///
/// # Safety
///
/// `t` is the `tasklet` field of a live [`Channel`] (only [`Channel::new`]
/// sets this function up, and the channel's drop kills the tasklet before
/// the channel is freed).
unsafe extern "C" fn channel_tasklet(t: *mut kernel::bindings::tasklet_struct) {
    // SAFETY: `Tasklet` is transparent over the C structure, and `t` is the
    // `tasklet` field of a live `Channel` (the function's safety section).
    let ch = unsafe { &*kernel::container_of!(t.cast::<Tasklet>(), Channel, tasklet) };
    ch.run_tasklet();
}

/// The device-model objects of a channel: the bus device of a primary
/// channel and the `channels/<relid>` directory of every channel. The
/// layer that makes them (sysfs) owns what the pointers point to; the core
/// only keeps them with the channel, and never reads through them.
///
/// # Invariants
///
/// `dev` and `dir`, when set, were made by the sysfs layer and not deleted
/// yet; only the holder of the slot takes them out to delete them.
pub(crate) struct DeviceSlot {
    pub(crate) dev: Option<NonNull<c_void>>,
    pub(crate) dir: Option<NonNull<c_void>>,
    /// Sub-channels shown under this primary's device.
    pub(crate) subs: KVec<Arc<Channel>>,
}

// SAFETY: What `dev` and `dir` point to are reference-counted kernel
// objects usable from any thread; the slot is only reached through a
// mutex.
unsafe impl Send for DeviceSlot {}

impl DeviceSlot {
    /// No device-model objects.
    pub(crate) fn empty() -> Self {
        Self {
            dev: None,
            dir: None,
            subs: KVec::new(),
        }
    }
}

/// A packet that a receive copied into the caller's buffer: where its
/// payload lies there (`vmbus_proto`'s record, which the hv_vmbus
/// interface's cursor checks again).
pub(crate) use crate::proto::rx_copy::RxPacket;

impl Channel {
    /// A channel for an offer.
    pub(crate) fn new(info: ChannelInfo, cpu: u32) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                info <- new_spinlock_irq!(info, "Channel::info"),
                io <- new_spinlock_irq!(None, "Channel::io"),
                wake <- new_condvar!(),
                state: Atomic::new(state_code::OPEN),
                target_cpu: Atomic::new(cpu),
                moving: Atomic::new(0),
                rescinded: Atomic::new(0),
                stats: ChanStats::new(),
                devices <- new_mutex!(DeviceSlot::empty(), "Channel::devices"),
                driver <- new_spinlock_irq!(None, "Channel::driver"),
                // SAFETY: `channel_tasklet` finds this channel from its
                // tasklet, which the channel's drop kills first.
                tasklet <- unsafe { Tasklet::new(channel_tasklet) },
                irq_stamp: Stamp::new(),
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

    /// Attaches the rings of an open channel.
    pub(crate) fn attach_rings(&self, rings: Rings) {
        let old = self.io.lock().replace(rings);
        // Freed outside the spinlock.
        drop(old);
    }

    /// The driver has been told of the host's rescind: sends fail with
    /// `ENODEV` from now on; receives go on until the rings are detached.
    pub(crate) fn refuse_sends(&self) {
        self.rescinded.store(1, Relaxed);
    }

    /// Whether the rings are attached (the channel is open).
    pub(crate) fn rings_attached(&self) -> bool {
        self.io.lock().is_some()
    }

    /// Detaches the rings (the channel closes or is gone); sends and
    /// receives fail with `ENOTCONN` from now on.
    pub(crate) fn detach_rings(&self) {
        let old = self.io.lock().take();
        drop(old);
    }

    /// The relid as a number.
    pub(crate) fn relid(&self) -> u32 {
        self.info().relid.get()
    }

    /// The host signalled this channel (`irq_events=0`): called by the
    /// message work. Counts, wakes waiters and schedules the tasklet that
    /// kicks the driver.
    pub(crate) fn on_interrupt(&self) {
        self.stats.interrupts.add(1, Relaxed);
        self.wake.notify_all();
        self.irq_stamp.mark();
        self.tasklet.schedule();
    }

    /// The host signalled this channel (`irq_events=1`): called by the
    /// transport's interrupt handler (hard IRQ). Counts, wakes waiters,
    /// and lets a driver that asked handle it here
    /// ([`ChannelDriver::isr`]); else schedules the tasklet that kicks the
    /// driver.
    pub(crate) fn on_event_irq(&self) {
        self.stats.interrupts.add(1, Relaxed);
        self.wake.notify_all();
        let handled = match &*self.driver.lock() {
            Some(d) => d.isr(),
            None => false,
        };
        if !handled {
            self.irq_stamp.mark();
            self.tasklet.schedule();
        }
    }

    /// Has the driver's [`ChannelDriver::kick`] called soon, in the
    /// channel's tasklet (after an open or a resume, or when a driver asks
    /// to be called again). Any context.
    pub(crate) fn schedule_callback(&self) {
        self.tasklet.schedule();
    }

    /// Waits until no callback of the driver runs: a tasklet run in
    /// progress and an interrupt-handler call ([`ChannelDriver::isr`]).
    /// Callbacks that start later see whatever the caller changed before.
    /// Process context, never from a callback.
    pub(crate) fn sync_callbacks(&self) {
        self.tasklet.sync();
        drop(self.driver.lock());
    }

    /// The tasklet: hands the event to the driver (softirq).
    fn run_tasklet(&self) {
        self.irq_stamp.end(&pathtime::IRQ_TO_TASKLET);
        // The reference is dropped here, not in the lock: the driver may
        // have been replaced meanwhile, but `set_driver` waits for this
        // tasklet run, so this is never the last one.
        if let Some(d) = self.driver() {
            if trace::on_event_enabled() {
                trace::on_event(self.relid());
            }
            d.kick();
        }
    }

    /// The driver bound to this channel, if any.
    pub(crate) fn driver(&self) -> Option<Arc<dyn ChannelDriver>> {
        self.driver.lock().clone()
    }

    /// Binds `d` to this channel, or unbinds with `None`; returns the
    /// driver bound before. Once it returns, no event reaches the old
    /// driver through this channel's tasklet. Process context.
    pub(crate) fn set_driver(
        &self,
        d: Option<Arc<dyn ChannelDriver>>,
    ) -> Option<Arc<dyn ChannelDriver>> {
        let old = core::mem::replace(&mut *self.driver.lock(), d);
        self.sync_callbacks();
        old
    }

    /// Sends an in-band packet with `payload`; with `completion` the host
    /// is asked to answer with a completion packet. Any context (see the
    /// module documentation); a full ring is `EAGAIN`.
    pub(crate) fn send_inband(
        &self,
        conn: &impl HostLink,
        payload: &[u8],
        trans_id: u64,
        completion: bool,
    ) -> Result {
        let flags = if completion {
            PACKET_FLAG_COMPLETION_REQUESTED
        } else {
            0
        };
        self.send_packet(conn, PacketType::DATA_INBAND, flags, trans_id, payload)
    }

    /// Sends a packet with a bare descriptor of type `ptype` (in-band data
    /// or a completion) and `payload`, without building it in a buffer:
    /// the descriptor, the payload and the padding go to the ring as
    /// parts. Any context (see the module documentation); a full ring is
    /// `EAGAIN`.
    pub(crate) fn send_packet(
        &self,
        conn: &impl HostLink,
        ptype: PacketType,
        flags: u16,
        trans_id: u64,
        payload: &[u8],
    ) -> Result {
        const ZEROS: [u8; 8] = [0; 8];
        let (desc, pad) =
            packet::inband_header(ptype, flags, trans_id, payload.len()).map_err(|_| EMSGSIZE)?;
        let pad = ZEROS.get(..pad).ok_or(EINVAL)?;
        self.send_parts(conn, &[&desc, payload, pad])
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
        conn: &impl HostLink,
        ranges: &[(GpaRange, &[u64])],
        payload: &[u8],
        trans_id: u64,
        completion: bool,
    ) -> Result {
        let words: usize = ranges.iter().map(|(_, p)| 1 + p.len()).sum();
        // Any context (a driver's send path): the buffer comes from the
        // atomic pool.
        let mut buf = KVec::from_elem(0u8, payload.len() + 32 + words * 8, GFP_ATOMIC)?;
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
    /// if the ring algorithm says it must. A full ring is `-EAGAIN`. Fires
    /// the `rvmbus_send_packet` trace event with the result.
    pub(crate) fn send_raw(&self, conn: &impl HostLink, pkt: &[u8]) -> Result {
        self.send_parts(conn, &[pkt])
    }

    /// Writes one packet given in parts (the descriptor first; the total a
    /// multiple of 8 bytes) to the outbound ring, and signals the host if
    /// the ring algorithm says it must. Any context: it never sleeps and
    /// never allocates. A full ring is `EAGAIN`: the host has been asked to
    /// signal once there is room (pending-send-size), and the caller tries
    /// again then. Fires the `rvmbus_send_packet` trace event with the
    /// result.
    pub(crate) fn send_parts(&self, conn: &impl HostLink, parts: &[&[u8]]) -> Result {
        let r = self.write_parts(conn, parts);
        if trace::send_packet_enabled() {
            let len: usize = parts.iter().map(|p| p.len()).sum();
            trace_send(self.relid(), parts.first().copied().unwrap_or(&[]), len, &r);
        }
        r
    }

    /// [`Channel::send_parts`] without the trace event.
    fn write_parts(&self, conn: &impl HostLink, parts: &[&[u8]]) -> Result {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let signal = {
            let mut io = self.io.lock();
            // Once the driver was told of the rescind its sends fail, as
            // Linux's `hv_ringbuffer_write()` fails them on a rescinded
            // channel.
            if self.rescinded.load(Relaxed) != 0 {
                return Err(ENODEV);
            }
            let Some(rings) = &mut *io else {
                return Err(ENOTCONN);
            };
            let first = match rings.send(parts) {
                Err(full @ RingError::Full { needed, .. }) => {
                    self.stats.note_out_full();
                    // Ask the host to signal us once there is room, then
                    // look again: a host that drained the ring before it
                    // saw the request would never signal. Without
                    // pending-send-size the caller waits for the host's
                    // next signal or a tick.
                    if rings.request_space(needed) {
                        rings.send(parts)
                    } else {
                        Err(full)
                    }
                }
                r => r,
            };
            match first {
                Ok(o) => {
                    self.stats.note_sent();
                    // Linux signals on a write only when the ring was
                    // empty before it (`hv_signal_on_write`).
                    if o.signal {
                        self.stats.intr_out_empty.add(1, Relaxed);
                    }
                    o.signal
                }
                Err(RingError::Full { .. }) => return Err(EAGAIN),
                Err(e) => {
                    conn.ring_broken(self.relid(), "send", e);
                    return Err(EIO);
                }
            }
        };
        self.stats.tx_packets.add(1, Relaxed);
        // CAST: A packet is far below 2^64 bytes.
        self.stats.tx_bytes.add(len as u64, Relaxed);
        if signal {
            conn.signal(self)?;
        }
        Ok(())
    }

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
    pub(crate) fn unmask_rx(&self, conn: &impl HostLink) -> bool {
        let Some(rings) = &mut *self.io.lock() else {
            return false;
        };
        match rings.unmask_inbound() {
            Ok(more) => more,
            Err(e) => {
                conn.ring_broken(self.relid(), "receive", e);
                false
            }
        }
    }

    /// Copies the next inbound packet into `buf`, validated, and gives its
    /// ring space back to the host. Any context (see the module
    /// documentation).
    pub(crate) fn recv(&self, conn: &impl HostLink, buf: &mut [u8]) -> Result<Option<RxPacket>> {
        self.recv_packet(conn, buf, true)
    }

    /// As [`Channel::recv`], but the packet keeps its ring space, and so
    /// stays counted in the ring's unread bytes, until
    /// [`Channel::release_rx`] or the next [`Channel::recv`]: Linux's
    /// packet iteration leaves the packet a driver holds in the ring, and
    /// hv_sock's `poll()` sees it there (`hv_get_bytes_to_read()`).
    pub(crate) fn recv_held(
        &self,
        conn: &impl HostLink,
        buf: &mut [u8],
    ) -> Result<Option<RxPacket>> {
        self.recv_packet(conn, buf, false)
    }

    /// Gives the host back the ring space of the packets read with
    /// [`Channel::recv_held`], signalling it if it waits for that room
    /// (Linux's `hv_pkt_iter_close()`). Any context.
    pub(crate) fn release_rx(&self, conn: &impl HostLink) {
        let signal = {
            let mut io = self.io.lock();
            let Some(rings) = &mut *io else {
                return;
            };
            match rings.release_rx() {
                Ok(s) => s,
                Err(e) => {
                    conn.ring_broken(self.relid(), "receive", e);
                    return;
                }
            }
        };
        if signal {
            self.stats.intr_in_full.add(1, Relaxed);
            let _ = conn.signal(self);
        }
    }

    /// [`Channel::recv`] and [`Channel::recv_held`].
    fn recv_packet(
        &self,
        conn: &impl HostLink,
        buf: &mut [u8],
        release: bool,
    ) -> Result<Option<RxPacket>> {
        let (info, signal): (Option<PacketInfo>, bool) = {
            let mut io = self.io.lock();
            let Some(rings) = &mut *io else {
                return Err(ENOTCONN);
            };
            match rings.recv(buf, release) {
                Ok(None) => (None, false),
                Ok(Some((i, s))) => (Some(i), s),
                Err(RingError::BufferTooSmall { .. }) => return Err(EMSGSIZE),
                Err(e) => {
                    conn.ring_broken(self.relid(), "receive", e);
                    return Err(EIO);
                }
            }
        };
        if signal {
            // The read freed the room the host waits for (Linux's
            // `hv_pkt_iter_close`). The packet is already out of the ring,
            // so a signal the hypervisor refused (logged where it is
            // refused) must not lose it: it is still returned.
            self.stats.intr_in_full.add(1, Relaxed);
            let _ = conn.signal(self);
        }
        let Some(info) = info else {
            return Ok(None);
        };
        let pkt = buf.get(..info.len).ok_or(EIO)?;
        let p = packet::parse(pkt).map_err(|e| {
            conn.bad_packet(self.relid(), e);
            EIO
        })?;
        self.stats.rx_packets.add(1, Relaxed);
        // CAST: As in `send_raw`.
        self.stats.rx_bytes.add(info.len as u64, Relaxed);
        Ok(Some(RxPacket::of(&p, info.len)))
    }
}

/// Fires `rvmbus_send_packet` for a packet of `len` bytes that starts with
/// `pkt` (its descriptor, or all of it), written to channel `relid` with
/// result `r`; the header's fields are read as the ring read them (a
/// packet too short for a header shows zeros).
fn trace_send(relid: u32, pkt: &[u8], len: usize, r: &Result) {
    let u16_at = |o: usize| {
        pkt.get(o..o + 2)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
    };
    let trans_id = pkt.get(8..16).map_or(0, |b| {
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        u64::from_le_bytes(w)
    });
    let ret = match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    };
    // CAST: A packet fits its ring, at most 2 MiB.
    trace::send_packet(relid, u16_at(0), u16_at(6), len as u32, trans_id, ret);
}
