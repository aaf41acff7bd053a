// SPDX-License-Identifier: GPL-2.0

//! A Linux VMBus driver (`struct hv_driver`) bound to a channel: the Rust
//! half of the hv_vmbus interface (`hv_vmbus.c` holds the kernel's
//! structures; `hv_vmbus.h` is the contract between the two).
//!
//! An [`HvBinding`] lives from the bus probe to the unbind after the
//! driver's `remove()`. Its gate decides when the driver's channel
//! callback may run:
//!
//! ```text
//! Closed --vmbus_open--> Open --vmbus_close--> Closed
//!    |                     |
//!    |                  rescind
//!    |                     v
//!    |               RescindedOpen --vmbus_close--> Rescinded
//!    +------rescind-------------------------------> Rescinded
//!    +---------------------+--------------+---------+--> Removed (unbind)
//! ```
//!
//! The driver's channel callback runs where hv_vmbus runs it: in the
//! channel's tasklet (softirq; the core's [`ChannelDriver::kick`]), or,
//! for `HV_CALL_ISR`, in the interrupt handler ([`ChannelDriver::isr`],
//! hard IRQ). It runs only while the gate is `Open` or `RescindedOpen`:
//! every transition out of those two (close, unbind) moves the gate first
//! and then waits for a callback in progress ([`Channel::sync_callbacks`],
//! as hv_vmbus's `vmbus_reset_channel_cb()` does with `tasklet_disable()`),
//! so once `vmbus_close()` returns, or the unbind has been handled, no
//! callback is running and none will start. A callback must therefore not
//! call `vmbus_close()` on its own channel (on hv_vmbus that spins forever
//! in `tasklet_disable()`; here it waits for itself).
//!
//! A rescind of an open channel marks it rescinded (`channel->rescind`;
//! sends fail with `ENODEV` from then on, as in hv_vmbus's
//! `hv_ringbuffer_write()`) but leaves the callback running until the
//! driver's `remove()` closes the channel. hv_vmbus stops the callback at
//! the rescind already (`vmbus_onoffer_rescind()` calls
//! `vmbus_reset_channel_cb()`); then the completions the host writes for
//! packets sent before the rescind are read only while the driver happens
//! to be polling (hv_netvsc's NAPI), and hv_netvsc's `remove()` waits for
//! every one of them (`rndis_filter_halt_device()`): a rescind under
//! traffic could leave it waiting forever. A host that keeps servicing a
//! rescinded channel's rings until the guest closes or releases it (the
//! test host does) has those completions read here. For that, a channel
//! still open after its rescind keeps its relid until the driver closes
//! it: [`ChannelDriver::rescinded`] returns true, and the core releases
//! the relid at that close (a sub-channel; a primary's `remove()` closes
//! it before the core would release it anyway).
//!
//! Sends and receives (`vmbus_sendpacket()`, `vmbus_recvpacket()`) never
//! sleep: a callback in softirq, or a caller with preemption off, may use
//! them.
//!
//! Read modes (`set_channel_read_mode`): `HV_CALL_BATCHED` masks the
//! host's interrupts for the channel around the callback and calls it
//! again while packets came meanwhile or one it fetched is left
//! unconsumed (hv_vmbus's `hv_begin_read` / `hv_end_read`, which find
//! such a packet still in the ring), at most [`ROUNDS`] times before the
//! tasklet is scheduled again; `HV_CALL_DIRECT` calls it once per event;
//! `HV_CALL_ISR` calls it once per event in the interrupt handler.
//!
//! # Contexts and locking
//!
//! - `gate` (mutex, process context): open, close (the driver); rescind
//!   (the device work); unbind (the driver core's remove). Open holds it
//!   while it waits for the host, which the message work never needs it
//!   for. Callbacks never take it: they read `live`.
//! - `rx` (spinlock, interrupts off): receives, from a callback or any
//!   other context; taken inside a callback, never while taking `gate`.
//! - `ring` (mutex, process context): the ring memory of
//!   `vmbus_alloc_ring()`, taken by alloc, free and open.
//!
//! Lock order: `gate` → `ring` → the connection's `inner`; `gate` → `rx` →
//! a channel's `io`; the connection's locks are never held when `gate` is
//! taken. A sub-channel's binding has a
//! `gate` of its own lock class, taken inside its primary's (the primary
//! gate → sub-channel gate order of `subchannel.rs`), so lockdep checks
//! that order rather than taking it for recursion.

use core::{
    ffi::{c_int, c_void},
    ptr,
};

use kernel::{
    c_str, new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{
            ordering::{Acquire, Relaxed, Release},
            Atomic,
        },
        static_lock_class, Arc, ArcBorrow, Mutex, SpinLockIrq,
    },
    types::ForeignOwnable,
};

use crate::{
    bus::{
        self,
        channel::{Channel, ChannelDriver},
        connection::{Connection, HostWait, RingBytes, RING_BYTES_MAX},
        shmem::SharedPages,
    },
    proto::{
        rx_copy::{RxCursor, RxError},
        wire::packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED},
    },
    support::ratelimit::Ratelimit,
};

/// `RVMBUS_HV_NO_MONITOR`.
const NO_MONITOR: u32 = u32::MAX;

/// `struct rvmbus_hv_offer` (hv_vmbus.h; our own, not the kernel's).
#[repr(C)]
struct Offer {
    if_type: [u8; 16],
    if_instance: [u8; 16],
    child_relid: u32,
    connection_id: u32,
    target_cpu: u32,
    monitor_id: u32,
    sub_channel_index: u16,
    dedicated_interrupt: u8,
    reserved: u8,
    chn_flags: u16,
    reserved2: u16,
    user_def: [u8; 120],
}

// `RVMBUS_HV_OFFER_SIZE`, which hv_vmbus.c asserts too.
const _: () = assert!(core::mem::size_of::<Offer>() == 176);

mod ffi {
    use core::ffi::c_void;

    extern "C" {
        pub(super) fn rvmbus_hv_c_set_offer(cchan: *mut c_void, o: *const super::Offer);
        pub(super) fn rvmbus_hv_c_set_rescind(cchan: *mut c_void);
        pub(super) fn rvmbus_hv_c_read_mode(cchan: *mut c_void) -> u32;
        pub(super) fn rvmbus_hv_c_invoke(cchan: *mut c_void);
        pub(super) fn rvmbus_hv_c_invoke_irqoff(cchan: *mut c_void);
        pub(super) fn rvmbus_hv_c_rings_fill(cchan: *mut c_void);
        pub(super) fn rvmbus_hv_c_rings_clear(cchan: *mut c_void);
        pub(super) fn rvmbus_hv_c_rescind_callback(cchan: *mut c_void) -> bool;
    }
}

/// `HV_CALL_BATCHED` of `enum hv_callback_mode`.
const HV_CALL_BATCHED: u32 = 0;
/// `HV_CALL_ISR` of `enum hv_callback_mode`.
const HV_CALL_ISR: u32 = 2;

/// The page size of the ring sizes drivers give (`HV_HYP_PAGE_SIZE`).
pub(super) const PAGE: u32 = 4096;

/// Smallest and largest ring a driver may open, each way, control page
/// included: 12 KiB to 2 MiB, the core's largest data area plus the
/// control page (both rings of a channel fill one 4 MiB block).
pub(super) const RING_MIN: u32 = 3 * PAGE;
// CAST: 2 MiB fits `u32`.
pub(super) const RING_MAX: u32 = RING_BYTES_MAX as u32 + PAGE;

/// Callback runs of one batched tasklet run before it lets others run.
const ROUNDS: usize = 64;

/// Where a binding is; see the module documentation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum GateState {
    Closed,
    Open,
    /// Rescinded while open: callbacks go on, sends fail.
    RescindedOpen,
    Rescinded,
    Removed,
}

/// The mirror of [`GateState`] that senders and callbacks read without
/// the gate (written with release, read with acquire).
pub(super) mod live {
    /// Closed: sends go to the core, which refuses them.
    pub(in crate::hv) const CLOSED: u32 = 0;
    /// Open: callbacks run.
    pub(in crate::hv) const OPEN: u32 = 1;
    pub(in crate::hv) const RESCINDED: u32 = 2;
    pub(in crate::hv) const REMOVED: u32 = 3;
    /// Rescinded while open: callbacks run, sends fail.
    pub(in crate::hv) const RESCINDED_OPEN: u32 = 4;

    /// Whether the driver's callback may run.
    pub(in crate::hv) fn callbacks(v: u32) -> bool {
        v == OPEN || v == RESCINDED_OPEN
    }

    /// Whether sends go to the core (closed or open; the core refuses
    /// them while closed).
    pub(in crate::hv) fn sends(v: u32) -> bool {
        v == CLOSED || v == OPEN
    }
}

/// What `rx` protects: the per-channel receive buffer and the packet
/// held in it between the driver's calls (one that did not fit the
/// driver's buffer, kept for its next receive, or the current packet of
/// an iteration: hv_vmbus leaves such a packet in the ring).
pub(super) struct Rx {
    pub(super) buf: KVec<u8>,
    pub(super) cur: RxCursor,
}

/// One hv_vmbus driver bound to one device.
///
/// # Invariants
///
/// `cchan` points to the `struct rvmbus_hv_chan` of `hv_vmbus.c` that
/// holds a reference to this binding; it stays valid until the C side
/// frees it, which it does only after [`HvBinding::unbind`] has moved the
/// gate to `Removed` and waited for callbacks in progress. It is only used
/// with the gate held and not `Removed`, or by a callback that read
/// `live` as `OPEN` or `RESCINDED_OPEN`.
#[pin_data]
pub(crate) struct HvBinding {
    pub(super) chan: Arc<Channel>,
    pub(super) conn: Arc<Connection>,
    pub(super) cchan: *mut c_void,
    #[pin]
    pub(super) gate: Mutex<GateState>,
    #[pin]
    pub(super) rx: SpinLockIrq<Rx>,
    /// The ring memory of `vmbus_alloc_ring()` and the data bytes of its
    /// two rings, kept across opens until `vmbus_free_ring()`
    /// (`ring_mem.rs`).
    #[pin]
    pub(super) ring: Mutex<Option<(Arc<SharedPages>, RingBytes)>>,
    /// One of [`live`], written under the gate.
    pub(super) live: Atomic<u32>,
    /// The driver's rescind callback ran: it removes the device itself.
    pub(super) removes_device: Atomic<bool>,
    pub(super) warn: Ratelimit,
}

// SAFETY: `cchan` is only used under the gate or by a callback that saw
// the gate open (type invariant), and the C structure it points to is the
// driver's channel, usable from any thread. Everything else is
// synchronised by the locks and atomics.
unsafe impl Send for HvBinding {}
// SAFETY: As for `Send`.
unsafe impl Sync for HvBinding {}

/// The offer of `ch` as `struct rvmbus_hv_offer`.
fn offer_of(ch: &Channel) -> Offer {
    let info = ch.info();
    Offer {
        if_type: info.if_type.0,
        if_instance: info.if_instance.0,
        child_relid: info.relid.get(),
        connection_id: info.connection_id,
        target_cpu: ch.target_cpu.load(Relaxed),
        monitor_id: info.monitor_id.map_or(NO_MONITOR, |m| u32::from(m.get())),
        sub_channel_index: info.sub_channel_index,
        dedicated_interrupt: u8::from(info.dedicated_interrupt),
        reserved: 0,
        chn_flags: info.chn_flags,
        reserved2: 0,
        user_def: info.user_def,
    }
}

impl HvBinding {
    /// Sets the state; the gate is held (`gate` is its guard's target).
    fn set(&self, gate: &mut GateState, s: GateState) {
        *gate = s;
        let l = match s {
            GateState::Closed => live::CLOSED,
            GateState::Open => live::OPEN,
            GateState::RescindedOpen => live::RESCINDED_OPEN,
            GateState::Rescinded => live::RESCINDED,
            GateState::Removed => live::REMOVED,
        };
        self.live.store(l, Release);
        if !matches!(s, GateState::Open | GateState::RescindedOpen) {
            // No callback from now on: wait for one in progress.
            self.chan.sync_callbacks();
        }
    }

    /// Copies the core's view of the offer into the driver's channel.
    fn fill_offer(&self, gate: &GateState) {
        if *gate == GateState::Removed {
            return;
        }
        let o = offer_of(&self.chan);
        // SAFETY: `cchan` is live (not `Removed`, gate held by the caller,
        // who passes its guard's target); `o` lives across the call.
        unsafe { ffi::rvmbus_hv_c_set_offer(self.cchan, &o) };
    }

    /// Has the callback run soon, in the channel's tasklet.
    fn schedule(&self) {
        self.chan.schedule_callback();
    }

    /// The driver's read mode, if callbacks may run (then `cchan` may be
    /// used until the callback returns).
    fn open_read_mode(&self) -> Option<u32> {
        if !live::callbacks(self.live.load(Acquire)) {
            return None;
        }
        // SAFETY: `live` read as `OPEN` or `RESCINDED_OPEN` in a callback:
        // `cchan` is live until the callback returns (type invariant).
        Some(unsafe { ffi::rvmbus_hv_c_read_mode(self.cchan) })
    }

    /// The tasklet: runs the driver's callback while the channel is open,
    /// as its read mode says.
    fn dispatch(&self) {
        let Some(mode) = self.open_read_mode() else {
            return;
        };
        if mode == HV_CALL_ISR {
            // Called in the interrupt handler; an explicit kick (after an
            // open, or by the driver) still runs it here, with interrupts
            // off as there.
            // SAFETY: As in `open_read_mode`.
            unsafe { ffi::rvmbus_hv_c_invoke_irqoff(self.cchan) };
            return;
        }
        let batched = mode == HV_CALL_BATCHED;
        for _ in 0..ROUNDS {
            if batched {
                self.chan.mask_rx();
            }
            // SAFETY: As in `open_read_mode`. The callback and its
            // context are the driver's, set by `vmbus_open()` before the
            // gate opened and cleared only after it closed.
            unsafe { ffi::rvmbus_hv_c_invoke(self.cchan) };
            if !batched {
                return;
            }
            // Unmasked in any case; then "more" also counts a packet the
            // driver fetched and left unconsumed (storvsc stops its loop
            // after CALLBACK_TIMEOUT, 2 ms, with the packet `next` just
            // gave it): hv_vmbus leaves that packet in the ring, where
            // `hv_end_read` finds it and calls again; here it is in the
            // copy and the ring may be empty, so without this check no
            // interrupt would ever come for it.
            let more = self.chan.unmask_rx(&*self.conn);
            if !more && !self.rx.lock().cur.is_holding() {
                return;
            }
        }
        // Packets keep coming: let other channels and softirqs run first.
        self.schedule();
    }

    /// `vmbus_connect_ring()` (and the open of `vmbus_open()`): opens the
    /// channel on the ring memory of `vmbus_alloc_ring()`.
    pub(super) fn open(self: &Arc<Self>) -> Result {
        let mut gate = self.gate.lock();
        match *gate {
            GateState::Closed => {}
            GateState::Open => return Err(EINVAL),
            GateState::RescindedOpen | GateState::Rescinded | GateState::Removed => {
                return Err(ENODEV)
            }
        }
        let (mem, data) = self.ring.lock().clone().ok_or(EINVAL)?;
        let cpu = self.chan.target_cpu.load(Relaxed);
        self.conn
            .open_on(&self.chan, mem, data, cpu, HostWait::Answer)?;
        // The ring fields before the first callback (`ring_info.c`).
        // SAFETY: Not `Removed` (checked above), gate held: `cchan` is
        // live (type invariant).
        unsafe { ffi::rvmbus_hv_c_rings_fill(self.cchan) };
        self.set(&mut gate, GateState::Open);
        self.fill_offer(&gate);
        drop(gate);
        // The host may have written (and signalled) before the rings were
        // attached: look at them now.
        self.schedule();
        Ok(())
    }

    /// `vmbus_close()`: stops the callback, then closes the channel (of a
    /// rescinded channel: detaches its rings, and the core releases its
    /// relid).
    fn close(&self) -> Result {
        {
            let mut gate = self.gate.lock();
            match *gate {
                GateState::Open => self.set(&mut gate, GateState::Closed),
                GateState::RescindedOpen => self.set(&mut gate, GateState::Rescinded),
                GateState::Closed | GateState::Rescinded => {}
                GateState::Removed => return Err(ENODEV),
            }
            // No callback runs now: the ring fields go before the rings.
            // SAFETY: Not `Removed`, gate held: `cchan` is live.
            unsafe { ffi::rvmbus_hv_c_rings_clear(self.cchan) };
        }
        self.rx.lock().cur.clear();
        self.conn.close(&self.chan, HostWait::Answer)
    }

    /// After the driver's `remove()`: no callback from now on, the
    /// channel closed if the driver left it open.
    fn unbind(&self) {
        {
            let mut gate = self.gate.lock();
            match *gate {
                // Stops the callback and waits for one in progress.
                GateState::Open => self.set(&mut gate, GateState::Closed),
                GateState::RescindedOpen => self.set(&mut gate, GateState::Rescinded),
                GateState::Closed | GateState::Rescinded | GateState::Removed => {}
            }
            if *gate != GateState::Removed {
                // As in `close`, before the state says `cchan` is gone.
                // SAFETY: Not `Removed` yet, gate held: `cchan` is live.
                unsafe { ffi::rvmbus_hv_c_rings_clear(self.cchan) };
            }
            self.set(&mut gate, GateState::Removed);
        }
        let _ = self.chan.set_driver(None);
        if self.chan.io.lock().is_some() {
            let _ = self.conn.close(&self.chan, HostWait::Answer);
        }
        let mut rx = self.rx.lock();
        rx.cur.clear();
        rx.buf = KVec::new();
    }

    /// `vmbus_sendpacket()`: one in-band data or completion packet.
    fn send(&self, data: &[u8], trans_id: u64, ptype: u16, flags: u16) -> Result {
        match self.live.load(Relaxed) {
            live::CLOSED | live::OPEN => {}
            _ => return Err(ENODEV),
        }
        let ptype = PacketType(ptype);
        if ptype != PacketType::DATA_INBAND && ptype != PacketType::COMP {
            return Err(EINVAL);
        }
        if flags & !PACKET_FLAG_COMPLETION_REQUESTED != 0 {
            return Err(EINVAL);
        }
        self.chan
            .send_packet(&*self.conn, ptype, flags, trans_id, data)
    }

    /// `vmbus_recvpacket()` (`raw`: `vmbus_recvpacket_raw()`): the next
    /// packet, copied out of the ring into the per-channel buffer and
    /// validated by the core, then into `out` when it fits. `out` gets the
    /// packet's length and transaction id (0 and 0: no packet); a packet
    /// longer than `out`'s buffer is kept for the next call and is
    /// `ENOBUFS`, with its length.
    fn recv(&self, out: &mut RecvOut<'_>, raw: bool) -> Result {
        if self.live.load(Relaxed) == live::REMOVED {
            return Err(ENODEV);
        }
        let mut rx = self.rx.lock();
        let rx = &mut *rx;
        if !rx.cur.is_holding() {
            loop {
                // Any context: the buffer grows without sleeping.
                if rx.buf.is_empty() {
                    rx.buf.resize(PAGE as usize, 0, GFP_ATOMIC)?;
                }
                match self.chan.recv(&*self.conn, &mut rx.buf) {
                    Ok(Some(p)) => {
                        rx.cur.hold(p);
                        break;
                    }
                    Ok(None) => return Ok(()),
                    Err(e) if e == EMSGSIZE && rx.buf.len() < RING_MAX as usize => {
                        let n = rx.buf.len() * 2;
                        rx.buf.resize(n, 0, GFP_ATOMIC)?;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        match rx.cur.take(&rx.buf, raw, out.cap) {
            Ok(None) => Ok(()),
            Ok(Some(d)) => {
                let bytes = rx.buf.get(d.start..d.start + d.len).ok_or(EIO)?;
                // CAST: A packet is shorter than the ring (< 4 MiB + a page).
                out.len = d.len as u32;
                out.trans_id = d.trans_id;
                out.copy(bytes);
                Ok(())
            }
            Err(RxError::TooSmall { len, trans_id }) => {
                // CAST: As above.
                out.len = len as u32;
                out.trans_id = trans_id;
                Err(ENOBUFS)
            }
            Err(_) => Err(EIO),
        }
    }
}

/// The driver's receive buffer and what a receive reports.
///
/// # Invariants
///
/// `buf` points to `cap` writable bytes for `'a`.
struct RecvOut<'a> {
    buf: *mut u8,
    cap: usize,
    len: u32,
    trans_id: u64,
    _life: core::marker::PhantomData<&'a mut [u8]>,
}

impl RecvOut<'_> {
    /// Copies `bytes` (at most `cap`) to the driver's buffer.
    fn copy(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.cap);
        // SAFETY: `buf` holds `cap` writable bytes (type invariant), `n`
        // is at most that, and `bytes` is rvmbus's own buffer, which does
        // not overlap the driver's.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), self.buf, n) };
    }
}

impl ChannelDriver for HvBinding {
    fn kick(self: Arc<Self>) {
        self.dispatch();
    }

    /// `HV_CALL_ISR`: the callback runs here, in the interrupt handler.
    fn isr(&self) -> bool {
        if self.open_read_mode() != Some(HV_CALL_ISR) {
            return false;
        }
        // SAFETY: As in `open_read_mode`; `set` waits for this call too
        // (`Channel::sync_callbacks` takes the lock it runs under).
        unsafe { ffi::rvmbus_hv_c_invoke(self.cchan) };
        true
    }

    /// Marks the driver's channel rescinded (`channel->rescind`, which
    /// drivers test; sends fail from now on); the callback of an open
    /// channel goes on until the driver closes it (see the module
    /// documentation). The driver core then removes the device, and the
    /// driver's `remove()` closes it.
    fn rescinded(&self) -> bool {
        let mut gate = self.gate.lock();
        let next = match *gate {
            GateState::Closed => GateState::Rescinded,
            GateState::Open => GateState::RescindedOpen,
            GateState::RescindedOpen => return true,
            GateState::Rescinded | GateState::Removed => return false,
        };
        self.set(&mut gate, next);
        // SAFETY: Not `Removed`, gate held: `cchan` is live.
        unsafe { ffi::rvmbus_hv_c_set_rescind(self.cchan) };
        // The driver's rescind callback, for a primary channel, as Linux's
        // `vmbus_onoffer_rescind()` calls it instead of removing the
        // device (`uio_hv_generic` wakes its reader and asks for the
        // device's removal); process context, gate held, so it must not
        // open or close the channel.
        // SAFETY: As above.
        if unsafe { ffi::rvmbus_hv_c_rescind_callback(self.cchan) } {
            self.removes_device.store(true, Relaxed);
        }
        next == GateState::RescindedOpen
    }

    fn removes_device(&self) -> bool {
        self.removes_device.load(Relaxed)
    }

    fn remove(self: Arc<Self>) {
        self.unbind();
    }

    /// Hands the sub-channel to the driver (`subchannel.rs`).
    fn sub_offered(self: Arc<Self>, sub: &Arc<Channel>) {
        self.offer_sub(sub);
    }

    /// Not called: the bus's PM callbacks (`drivers/driver.c`) call the
    /// driver's own `suspend` for hibernation only, as hv_vmbus does.
    fn suspend(self: Arc<Self>) -> i32 {
        0
    }

    /// Not called; see [`HvBinding::suspend`].
    fn resume(self: Arc<Self>) -> i32 {
        0
    }
}

// ---- Called by hv_vmbus.c -----------------------------------------------

/// Converts a result for C.
pub(super) fn errno(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Borrows the binding behind a pointer that [`rvmbus_hv_rust_bind`] gave
/// out.
///
/// # Safety
///
/// `b` came from [`rvmbus_hv_rust_bind`] and its reference has not been
/// given back ([`rvmbus_hv_rust_put`]) yet.
pub(super) unsafe fn borrow<'a>(b: *mut c_void) -> ArcBorrow<'a, HvBinding> {
    // SAFETY: Guaranteed by the caller: `b` is from `into_foreign` and
    // its reference is held for `'a`.
    unsafe { <Arc<HvBinding> as ForeignOwnable>::borrow(b) }
}

/// Binds the device of channel `ctx` to the C channel `cchan`: a new
/// binding, bound to the channel, whose reference goes to `*out`.
///
/// # Safety
///
/// `ctx` is the device's channel reference (sysfs.c's `rdev->ctx`, an
/// `Arc::into_raw` of the channel), held for the call; `cchan` is a
/// `struct rvmbus_hv_chan` that stays valid until the C side frees it
/// after [`rvmbus_hv_rust_unbind`]; `out` is writable.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_bind(
    ctx: *mut c_void,
    cchan: *mut c_void,
    out: *mut *mut c_void,
) -> c_int {
    if ctx.is_null() || cchan.is_null() || out.is_null() {
        return EINVAL.to_errno();
    }
    let raw = ctx.cast::<Channel>().cast_const();
    // SAFETY: `raw` is from `Arc::into_raw` and its reference is held for
    // the call (caller's contract); the clone is ours.
    let chan: Arc<Channel> = unsafe { ArcBorrow::from_raw(raw) }.into();
    // SAFETY: `cchan` lives until the unbind (caller's contract).
    match unsafe { new_binding(chan, cchan, GateClass::Primary) } {
        Ok(b) => {
            // SAFETY: `out` is writable (caller's contract).
            unsafe { out.write(b) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// The lock class of a binding's `gate`: a sub-channel's gate is taken
/// inside its primary's, so the two have classes of their own.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum GateClass {
    /// A device's channel, bound by the driver core.
    Primary,
    /// A sub-channel, bound under its primary's gate (`subchannel.rs`).
    Sub,
}

/// A new binding of `chan` to the C channel `cchan`, bound to `chan`; its
/// reference is returned (from `into_foreign`).
///
/// # Safety
///
/// `cchan` is a `struct rvmbus_hv_chan` that stays valid until the C side
/// frees it after [`rvmbus_hv_rust_unbind`], and will hold the returned
/// reference.
pub(super) unsafe fn new_binding(
    chan: Arc<Channel>,
    cchan: *mut c_void,
    class: GateClass,
) -> Result<*mut c_void> {
    let conn = bus::active().ok_or(ENODEV)?;
    let (name, key) = match class {
        GateClass::Primary => (c_str!("HvBinding::gate"), static_lock_class!()),
        GateClass::Sub => (
            c_str!("HvBinding::gate (sub-channel)"),
            static_lock_class!(),
        ),
    };
    // INVARIANT: `cchan` is the C channel that will hold the reference
    // this returns, and lives until the unbind (caller's contract).
    let slot = chan.clone();
    let b = Arc::pin_init(
        pin_init!(HvBinding {
            chan,
            conn,
            cchan,
            gate <- Mutex::new(GateState::Closed, name, key),
            rx <- new_spinlock_irq!(Rx { buf: KVec::new(), cur: RxCursor::new() }, "HvBinding::rx"),
            ring <- new_mutex!(None, "HvBinding::ring"),
            live: Atomic::new(live::CLOSED),
            removes_device: Atomic::new(false),
            warn: Ratelimit::new(),
        }),
        GFP_KERNEL,
    )?;
    b.fill_offer(&b.gate.lock());
    let _ = slot.set_driver(Some(b.clone()));
    Ok(b.into_foreign())
}

/// The driver's `remove()` has returned (or its probe failed): stops the
/// callback for good and closes the channel if it is open.
///
/// # Safety
///
/// `b` is a binding reference of [`rvmbus_hv_rust_bind`], still held.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_unbind(b: *mut c_void) {
    // SAFETY: Guaranteed by the caller.
    unsafe { borrow(b) }.unbind();
}

/// Gives back the reference of [`rvmbus_hv_rust_bind`].
///
/// # Safety
///
/// `b` is that reference, given back once.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_put(b: *mut c_void) {
    // SAFETY: Guaranteed by the caller.
    drop(unsafe { <Arc<HvBinding> as ForeignOwnable>::from_foreign(b) });
}

/// Copies the offer into the driver's channel again (its relid and
/// connection id may have changed across hibernation).
///
/// # Safety
///
/// As for [`rvmbus_hv_rust_unbind`].
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_refresh(b: *mut c_void) {
    // SAFETY: Guaranteed by the caller.
    let b = unsafe { borrow(b) };
    b.fill_offer(&b.gate.lock());
}

/// Schedules the channel's tasklet (which drivers do to be called
/// again).
///
/// # Safety
///
/// As for [`rvmbus_hv_rust_unbind`]; any context.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_kick(b: *mut c_void) {
    // SAFETY: Guaranteed by the caller.
    let b: Arc<HvBinding> = unsafe { borrow(b) }.into();
    b.schedule();
}

/// `vmbus_connect_ring()`, on the ring of `vmbus_alloc_ring()`.
///
/// # Safety
///
/// As for [`rvmbus_hv_rust_unbind`]; process context.
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_open(b: *mut c_void) -> c_int {
    // SAFETY: Guaranteed by the caller.
    let b: Arc<HvBinding> = unsafe { borrow(b) }.into();
    errno(b.open())
}

/// `vmbus_close()`.
///
/// # Safety
///
/// As for [`rvmbus_hv_rust_open`].
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_close(b: *mut c_void) -> c_int {
    // SAFETY: Guaranteed by the caller.
    errno(unsafe { borrow(b) }.close())
}

/// `vmbus_sendpacket()`.
///
/// # Safety
///
/// As for [`rvmbus_hv_rust_open`]; `data` points to `len` readable bytes
/// (the driver's contract with `vmbus_sendpacket()`).
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_send(
    b: *mut c_void,
    data: *const c_void,
    len: u32,
    trans_id: u64,
    ptype: u16,
    flags: u16,
) -> c_int {
    let bytes: &[u8] = if len == 0 {
        &[]
    } else if data.is_null() {
        return EINVAL.to_errno();
    } else {
        // SAFETY: `data` holds `len` bytes (caller's contract); a `u32`
        // length fits `usize`.
        unsafe { core::slice::from_raw_parts(data.cast::<u8>(), len as usize) }
    };
    // SAFETY: Guaranteed by the caller.
    errno(unsafe { borrow(b) }.send(bytes, trans_id, ptype, flags))
}

/// `vmbus_recvpacket()` and `vmbus_recvpacket_raw()`.
///
/// # Safety
///
/// As for [`rvmbus_hv_rust_open`]; `buf` points to `buflen` writable
/// bytes, `actual` and `trans_id` are writable (the driver's contract with
/// `vmbus_recvpacket()`).
#[no_mangle]
unsafe extern "C" fn rvmbus_hv_rust_recv(
    b: *mut c_void,
    buf: *mut c_void,
    buflen: u32,
    actual: *mut u32,
    trans_id: *mut u64,
    raw: bool,
) -> c_int {
    if buflen == 0 || buf.is_null() || actual.is_null() || trans_id.is_null() {
        return EINVAL.to_errno();
    }
    // INVARIANT: `buf` holds `buflen` writable bytes (caller's contract).
    let mut out = RecvOut {
        buf: buf.cast::<u8>(),
        // CAST: A `u32` fits `usize`.
        cap: buflen as usize,
        len: 0,
        trans_id: 0,
        _life: core::marker::PhantomData,
    };
    // SAFETY: Guaranteed by the caller.
    let r = unsafe { borrow(b) }.recv(&mut out, raw);
    // SAFETY: Both are writable (caller's contract).
    unsafe {
        actual.write(out.len);
        trans_id.write(out.trans_id);
    }
    errno(r)
}
