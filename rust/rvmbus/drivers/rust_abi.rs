// SPDX-License-Identifier: GPL-2.0

//! Drivers bound to channels: the Rust half of the driver ABI of
//! `rvmbus_api.h` (`driver.c` holds the driver-model plumbing).
//!
//! A [`Binding`] is one driver bound to one device (its primary channel),
//! from probe to remove. Its `gate` is the state machine that makes the
//! ABI's promises hold:
//!
//! ```text
//! Probing --probe ok--> Bound <--resume-- Suspended
//!    |                   |  \--suspend------^   |
//!    |                   +--rescind--> Rescinded <+
//!    +-----------------------+-----------+------> Removed
//! ```
//!
//! The host's events reach the binding in the channel's tasklet
//! ([`ChannelDriver::kick`], softirq), and the binding hands packets and
//! completions to the driver right there, as Linux runs a channel's
//! callback in its tasklet (`hv::binding` does the same for Linux's
//! drivers): no work item lies between the interrupt and the driver. The
//! callbacks therefore run in softirq context and must not sleep
//! (`Documentation/driver-api.rst`). With the module parameter
//! `rust_cb_work=1` (the old path, kept for the benchmark's comparison)
//! the tasklet queues the binding's work item instead, which calls them in
//! process context with the gate held.
//!
//! Packet and completion callbacks run only in `Bound`, one at a time per
//! binding (a channel's tasklet never runs twice at once, nor does a work
//! item). Every transition out of `Bound` takes the gate, moves `live` out
//! of `BOUND` with a full barrier and then waits for the tasklet run in
//! progress ([`Channel::sync_callbacks`], Linux's `tasklet_disable()` in
//! `vmbus_reset_channel_cb()`), or holds the gate that the work item takes;
//! a tasklet run that starts later sees `live` and calls nothing. So once
//! the transition has stopped the callbacks, none is running and none will
//! start, before the driver's `suspend`, `rescind` or `remove` is called.
//! Outstanding requests are cancelled after that on each transition out of
//! `Bound`, so each gets exactly one completion.
//!
//! # Contexts and locking
//!
//! - `gate` (a mutex, process context): taken by probe/remove/suspend/
//!   resume (device lock held, from the driver core), rescind (the device
//!   workqueue), `open`, and by the work item around callbacks
//!   (`rust_cb_work=1`). Never taken in the tasklet, nor by the message
//!   work, so a driver waiting for the host cannot stall the connection.
//! - `requests` (spinlock, interrupts off): any context; a leaf.
//! - `rx`: not a lock but an owner flag: only the dispatcher (the tasklet,
//!   or the work item) uses the receive buffer, and it never runs twice at
//!   a time.
//!
//! Lock order: `gate` → a channel's `io` → `requests`; the connection's
//! locks are never held when `gate` is taken. The tasklet takes `io` and
//! `requests`, never the gate, and calls the driver with no lock held.

use core::{
    cell::UnsafeCell,
    ffi::c_void,
    ops::{Deref, DerefMut},
    ptr,
};

use kernel::{
    alloc::Flags,
    new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{
            ordering::{Acquire, Full, Relaxed, Release},
            Atomic,
        },
        Arc, Mutex, SpinLockIrq,
    },
    time::{Delta, Instant, Monotonic},
    workqueue::{impl_has_work, new_work, Work, WorkItem},
};

use crate::{
    bus::{
        self,
        channel::{Channel, ChannelDriver},
        connection::{Connection, HostWait, RingBytes, RING_BYTES_MAX},
        ring_buffer::ring_pages,
    },
    proto::wire::packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED},
    support::{
        pathtime::{self, Stamp},
        ratelimit::Ratelimit,
        shim, workqueues,
    },
};

/// `struct rvmbus_packet`.
#[repr(C)]
pub(crate) struct RawPacket {
    ptype: u16,
    flags: u16,
    len: u32,
    trans_id: u64,
    data: *const u8,
}

/// `struct rvmbus_dev_info`.
#[repr(C)]
pub(crate) struct RawDevInfo {
    class_id: [u8; 16],
    instance_id: [u8; 16],
    relid: u32,
    vmbus_version: u32,
    target_cpu: u32,
    monitored: u32,
}

/// `struct rvmbus_driver_ops`.
#[repr(C)]
pub(crate) struct DriverOps {
    api_version: u32,
    n_ids: u32,
    ids: *const [u8; 16],
    name: *const u8,
    probe: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, *mut *mut c_void) -> i32>,
    start: Option<unsafe extern "C" fn(*mut c_void) -> i32>,
    remove: Option<unsafe extern "C" fn(*mut c_void)>,
    packet: Option<unsafe extern "C" fn(*mut c_void, *const RawPacket)>,
    completion: Option<unsafe extern "C" fn(*mut c_void, u64, i32, *const u8, u32)>,
    rescind: Option<unsafe extern "C" fn(*mut c_void)>,
    suspend: Option<unsafe extern "C" fn(*mut c_void) -> i32>,
    resume: Option<unsafe extern "C" fn(*mut c_void) -> i32>,
}

// The sizes rvmbus_api.h and driver.c assert.
const _: () = assert!(core::mem::size_of::<RawPacket>() == 24);
const _: () = assert!(core::mem::size_of::<RawDevInfo>() == 48);
const _: () = assert!(core::mem::size_of::<DriverOps>() == 88);

/// Transaction ids of requests the bus tracks carry this bit; completions
/// with other ids go to the packet callback.
const REQUEST_BIT: u64 = 1 << 63;

/// Most requests outstanding on one device.
const MAX_REQUESTS: usize = 1024;

/// Packets one run of the tasklet (or the work item) hands out before it
/// lets others run.
const BATCH: usize = 64;

/// Smallest and largest ring a driver may ask for, each way: 8 KiB to
/// 2040 KiB. `open` adds a page before the core rounds up and adds the
/// control page, so the largest is the core's largest less a page.
const RING_MIN: u32 = 2 * 4096;
// CAST: 2040 KiB fits `u32`.
const RING_MAX: u32 = (RING_BYTES_MAX - 4096) as u32;

/// The driver's context pointer for a device.
#[derive(Clone, Copy)]
struct Ctx(*mut c_void);

/// Where a binding is in its life; see the module documentation.
enum GateState {
    Probing,
    Bound(Ctx),
    Suspended(Ctx),
    /// The host rescinded the channel; the context once probe returned.
    Rescinded(Option<Ctx>),
    Removed,
}

/// The `live` mirror of [`GateState`], read by senders without the gate.
mod live {
    pub(super) const PROBING: u32 = 0;
    pub(super) const BOUND: u32 = 1;
    pub(super) const SUSPENDED: u32 = 2;
    pub(super) const RESCINDED: u32 = 3;
    pub(super) const REMOVED: u32 = 4;
}

/// What the gate protects: the state.
struct Gate {
    state: GateState,
}

/// The receive buffer of a binding, owned by whoever set `busy`.
///
/// Only the dispatcher uses it (the channel's tasklet, or the work item
/// with `rust_cb_work=1`), and neither runs twice at a time; `busy` makes
/// that a checked fact instead of a comment.
///
/// # Invariants
///
/// `buf` is only reached through an [`RxGuard`], and at most one exists at
/// a time: the one whose [`RxBuf::take`] moved `busy` from false to true.
struct RxBuf {
    busy: Atomic<bool>,
    buf: UnsafeCell<KVec<u8>>,
}

/// Exclusive use of an [`RxBuf`]'s buffer, until dropped.
struct RxGuard<'a>(&'a RxBuf);

impl RxBuf {
    fn new() -> Self {
        Self {
            busy: Atomic::new(false),
            buf: UnsafeCell::new(KVec::new()),
        }
    }

    /// The buffer, unless somebody else uses it (never, in practice: see
    /// the type's documentation). Any context.
    fn take(&self) -> Option<RxGuard<'_>> {
        if self.busy.xchg(true, Acquire) {
            return None;
        }
        // INVARIANT: `busy` went from false to true here.
        Some(RxGuard(self))
    }
}

impl Deref for RxGuard<'_> {
    type Target = KVec<u8>;

    fn deref(&self) -> &KVec<u8> {
        // SAFETY: This guard is the only way to the buffer while it lives
        // (the invariant of `RxBuf`).
        unsafe { &*self.0.buf.get() }
    }
}

impl DerefMut for RxGuard<'_> {
    fn deref_mut(&mut self) -> &mut KVec<u8> {
        // SAFETY: As for `deref`; `&mut self` makes the borrow unique.
        unsafe { &mut *self.0.buf.get() }
    }
}

impl Drop for RxGuard<'_> {
    fn drop(&mut self) {
        // Release: the next owner sees what this one wrote.
        self.0.busy.store(false, Release);
    }
}

/// Why [`Binding::drain`] stopped.
enum Drained {
    /// The ring is empty.
    Empty,
    /// [`BATCH`] packets were handed out; more may wait.
    Batch,
    /// The ring cannot be read now (broken by the host, or no memory).
    Stop,
}

/// An outstanding request.
#[derive(Clone, Copy)]
struct Request {
    trans_id: u64,
    cookie: u64,
}

/// Requests in flight and cancelled ones waiting to be reported.
struct Requests {
    /// New requests are taken (the binding is `Bound`).
    accepting: bool,
    pending: KVec<Request>,
    /// Cancelled requests and their errno, not reported to the driver yet.
    cancelled: KVec<(Request, i32)>,
}

/// One driver bound to one device.
///
/// # Invariants
///
/// `ops` points to the driver's operations, which stay valid until the
/// driver is unregistered; it is only used while the gate is not
/// `Removed`, and the bus's remove (which the driver core runs before
/// unregistering returns) moves it to `Removed`. `ctx` is the context
/// probe returned whenever `live` is `BOUND`.
#[pin_data]
pub(crate) struct Binding {
    chan: Arc<Channel>,
    conn: Arc<Connection>,
    ops: *const DriverOps,
    #[pin]
    gate: Mutex<Gate>,
    #[pin]
    requests: SpinLockIrq<Requests>,
    /// The receive buffer (see [`RxBuf`]).
    rx: RxBuf,
    /// One of [`live`], written under the gate.
    live: Atomic<u32>,
    /// Packet and completion callbacks may run (the gate is `Bound` and no
    /// transition out of it began): written under the gate with a full
    /// barrier ([`Binding::set`]), read by the tasklet, which cannot take
    /// the gate.
    callbacks: Atomic<bool>,
    /// The driver's context once probe returned, for the tasklet; written
    /// before `callbacks` becomes true.
    ctx: Atomic<*mut c_void>,
    /// Callbacks run from the work item (`rust_cb_work=1` when the binding
    /// was made) instead of in the channel's tasklet.
    in_work: bool,
    /// The task that runs a driver callback with the gate held (as an
    /// address), or 0: such a callback cannot take the gate again.
    cb_task: Atomic<usize>,
    next_trans: Atomic<u64>,
    warn: Ratelimit,
    /// When the channel's interrupt queued the packet work (profile).
    kicked: Stamp,
    #[pin]
    work: Work<Binding>,
}

// SAFETY: `ops` points to immutable data of the driver, valid from any
// thread (type invariant); the context pointers are the driver's, which the
// ABI requires to be usable from any thread. Everything else is
// synchronised by the binding's locks and atomics.
unsafe impl Send for Binding {}
// SAFETY: As for `Send`.
unsafe impl Sync for Binding {}

impl_has_work! {
    impl HasWork<Self> for Binding { self.work }
}

impl WorkItem for Binding {
    type Pointer = Arc<Binding>;

    fn run(this: Arc<Binding>) {
        this.dispatch_work();
    }
}

impl Binding {
    fn new(chan: Arc<Channel>, conn: Arc<Connection>, ops: *const DriverOps) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                chan,
                conn,
                ops,
                gate <- new_mutex!(Gate {
                    state: GateState::Probing,
                }),
                requests <- new_spinlock_irq!(Requests {
                    accepting: false,
                    pending: KVec::new(),
                    cancelled: KVec::new(),
                }),
                rx: RxBuf::new(),
                live: Atomic::new(live::PROBING),
                callbacks: Atomic::new(false),
                ctx: Atomic::new(ptr::null_mut()),
                in_work: shim::rust_cb_work(),
                cb_task: Atomic::new(0),
                next_trans: Atomic::new(1),
                warn: Ratelimit::new(),
                kicked: Stamp::new(),
                work <- new_work!("rvmbus::Binding::work"),
            }),
            GFP_KERNEL,
        )
    }

    fn ops(&self) -> &DriverOps {
        // SAFETY: Valid while the gate is not `Removed` (type invariant);
        // every caller checked that under the gate or is the remove path
        // itself.
        unsafe { &*self.ops }
    }

    /// Has the ring looked at soon, in the channel's tasklet (or by the
    /// work item, `rust_cb_work=1`). Any context.
    pub(crate) fn kick(self: &Arc<Self>) {
        if self.in_work {
            self.queue_work();
        } else {
            self.chan.schedule_callback();
        }
    }

    /// Queues the work item that hands packets to the driver
    /// (`rust_cb_work=1`).
    fn queue_work(self: &Arc<Self>) {
        self.kicked.mark();
        let _ = workqueues::channels().enqueue(self.clone());
    }

    /// Moves the gate to `state`; `live` and `callbacks` follow, the latter
    /// with a full barrier, so that a tasklet run which begins after
    /// [`Binding::stop_callbacks`] saw the tasklet idle also sees it.
    fn set(&self, gate: &mut Gate, state: GateState) {
        let l = match state {
            GateState::Probing => live::PROBING,
            GateState::Bound(_) => live::BOUND,
            GateState::Suspended(_) => live::SUSPENDED,
            GateState::Rescinded(_) => live::RESCINDED,
            GateState::Removed => live::REMOVED,
        };
        let on = if let GateState::Bound(c) = state {
            // Ordered before `callbacks` by the full barrier below.
            self.ctx.store(c.0, Relaxed);
            true
        } else {
            false
        };
        gate.state = state;
        self.live.store(l, Relaxed);
        self.callbacks.xchg(on, Full);
    }

    /// After a transition out of `Bound`: waits until no packet or
    /// completion callback runs, and none will start. In the tasklet's
    /// case that is its run in progress (Linux's `tasklet_disable()` in
    /// `vmbus_reset_channel_cb()`); the work item's runs hold the gate,
    /// which the caller holds. Process context, gate held.
    fn stop_callbacks(&self) {
        if !self.in_work {
            self.chan.sync_callbacks();
        }
    }

    /// Why a call on this binding is refused now, if it is.
    fn refused(&self) -> Option<Error> {
        match self.live.load(Relaxed) {
            live::BOUND => None,
            // Probe must not do I/O: callbacks are not enabled yet.
            live::PROBING => Some(EBUSY),
            live::SUSPENDED => Some(ESHUTDOWN),
            _ => Some(ENODEV),
        }
    }

    // ---- Callbacks ------------------------------------------------------

    /// The channel's tasklet (softirq): cancelled requests, then packets,
    /// while `Bound`, handed to the driver right here.
    fn dispatch_tasklet(&self) {
        // Acquire: the context was written before `callbacks` became true.
        if !self.callbacks.load(Acquire) {
            return;
        }
        let start = pathtime::now();
        let ctx = Ctx(self.ctx.load(Relaxed));
        let more = self.deliver(ctx, GFP_ATOMIC);
        pathtime::TASKLET_DISPATCH.add_since(start);
        if more {
            // More may be waiting: let other channels' tasklets and the
            // rest of the softirq run first.
            self.chan.schedule_callback();
        }
    }

    /// The work item (`rust_cb_work=1`): as [`Binding::dispatch_tasklet`],
    /// in process context with the gate held.
    fn dispatch_work(self: &Arc<Self>) {
        self.kicked.end(&pathtime::KICK_TO_DRIVER);
        let gate = self.gate.lock();
        let GateState::Bound(ctx) = gate.state else {
            return;
        };
        let more = self.deliver(ctx, GFP_KERNEL);
        drop(gate);
        if more {
            // More may be waiting: let other devices run first.
            self.queue_work();
        }
    }

    /// Reports cancelled requests, then hands packets to the driver. The
    /// host's interrupts for the channel are masked while it drains the
    /// ring (as Linux's `hv_begin_read`/`hv_end_read`): answers the host
    /// writes meanwhile are read in the same pass without an interrupt
    /// each. Returns true when it stopped after [`BATCH`] packets and more
    /// may wait. `gfp` is how the receive buffer may grow (atomic in the
    /// tasklet).
    fn deliver(&self, ctx: Ctx, gfp: Flags) -> bool {
        self.report_cancelled(ctx);
        // Never busy: the tasklet and the work item each run one at a time,
        // and a binding uses one of them (`in_work`).
        let Some(mut rx) = self.rx.take() else {
            return false;
        };
        let mut handed = 0;
        loop {
            self.chan.mask_rx();
            let drained = self.drain(&mut rx, ctx, &mut handed, gfp);
            let more = self.chan.unmask_rx(&*self.conn);
            match drained {
                Drained::Empty if more => continue,
                Drained::Batch => return true,
                Drained::Empty | Drained::Stop => return false,
            }
        }
    }

    /// Hands packets to the driver until the ring is empty, the batch is
    /// used up, the ring cannot be read, or a transition stopped the
    /// callbacks (it waits for this run to end).
    fn drain(&self, rx: &mut KVec<u8>, ctx: Ctx, handed: &mut usize, gfp: Flags) -> Drained {
        loop {
            if *handed >= BATCH {
                return Drained::Batch;
            }
            if !self.callbacks.load(Relaxed) {
                return Drained::Stop;
            }
            if rx.is_empty() && rx.resize(4096, 0, gfp).is_err() {
                self.no_memory();
                return Drained::Stop;
            }
            let p = match self.chan.recv(&*self.conn, rx) {
                Ok(Some(p)) => p,
                Ok(None) => return Drained::Empty,
                Err(e) if e == EMSGSIZE && rx.len() < RING_MAX as usize => {
                    let n = rx.len() * 2;
                    if rx.resize(n, 0, gfp).is_err() {
                        self.no_memory();
                        return Drained::Stop;
                    }
                    continue;
                }
                // Logged by the receive (rate-limited); the channel is
                // broken until the host fixes its ring.
                Err(_) => return Drained::Stop,
            };
            *handed += 1;
            let Some(data) = rx.get(p.offset..p.offset + p.len) else {
                return Drained::Stop;
            };
            if p.ptype == PacketType::COMP && p.trans_id & REQUEST_BIT != 0 {
                match self.take_request(p.trans_id) {
                    Some(cookie) => self.complete(ctx, cookie, 0, data),
                    None => {
                        if self.warn.allow() {
                            pr_warn!(
                                "channel {}: completion for no request ({:#x}) dropped\n",
                                self.chan.relid(),
                                p.trans_id
                            );
                        }
                    }
                }
                continue;
            }
            let raw = RawPacket {
                ptype: p.ptype.0,
                flags: 0,
                // CAST: A packet is shorter than the ring (< 4 MiB).
                len: p.len as u32,
                trans_id: p.trans_id,
                data: data.as_ptr(),
            };
            if let Some(f) = self.ops().packet {
                // SAFETY: The driver ABI: `ctx` is what probe returned and
                // remove has not run (`callbacks` was set above, and remove
                // waits for this run before it calls the driver); `raw`
                // and the bytes it points to live across the call.
                self.under_gate(|| unsafe { f(ctx.0, &raw) });
            }
        }
    }

    /// The receive buffer could not grow: the packet stays in the ring
    /// until the next event (rate-limited log).
    fn no_memory(&self) {
        if self.warn.allow() {
            pr_warn!(
                "channel {}: no memory for the receive buffer; packets wait\n",
                self.chan.relid()
            );
        }
    }

    fn complete(&self, ctx: Ctx, cookie: u64, status: i32, data: &[u8]) {
        if let Some(f) = self.ops().completion {
            // CAST: A completion is shorter than the ring (< 4 MiB).
            let len = data.len() as u32;
            // SAFETY: As for the packet callback; the gate is held.
            self.under_gate(|| unsafe { f(ctx.0, cookie, status, data.as_ptr(), len) });
        }
    }

    /// The current task, as an address.
    fn current_task() -> usize {
        // CAST: A pointer's address, only compared.
        kernel::current!().as_ptr() as usize
    }

    /// Runs a driver callback that is called with the gate held, marking
    /// the task so that an `open` from inside it fails instead of
    /// deadlocking on the gate. In the tasklet (softirq) nothing is marked:
    /// `current` is whatever task the softirq interrupted, and `open` and
    /// `close` refuse to run outside task context anyway.
    fn under_gate<R>(&self, f: impl FnOnce() -> R) -> R {
        if !shim::in_task() {
            return f();
        }
        self.cb_task.store(Self::current_task(), Relaxed);
        let r = f();
        self.cb_task.store(0, Relaxed);
        r
    }

    /// Whether the caller is a callback that runs with the gate held.
    fn in_callback(&self) -> bool {
        self.cb_task.load(Relaxed) == Self::current_task()
    }

    fn take_request(&self, trans_id: u64) -> Option<u64> {
        let mut r = self.requests.lock();
        let i = r.pending.iter().position(|q| q.trans_id == trans_id)?;
        r.pending.remove(i).ok().map(|q| q.cookie)
    }

    /// Moves every pending request to the cancelled list with `err`; with
    /// `stop`, new requests are refused.
    fn cancel_pending(&self, err: Error, stop: bool) {
        let mut r = self.requests.lock();
        if stop {
            r.accepting = false;
        }
        while let Some(q) = r.pending.pop() {
            if r.cancelled
                .push_within_capacity((q, err.to_errno()))
                .is_err()
            {
                // Cannot happen in practice: `cancelled` has room for
                // every request `pending` ever held (reserved at request).
                pr_err!("channel {}: lost a cancellation\n", self.chan.relid());
            }
        }
    }

    /// Reports cancelled requests to the driver: from a transition with the
    /// gate held and the callbacks stopped, or from the dispatcher while
    /// `Bound`; the context is live.
    fn report_cancelled(&self, ctx: Ctx) {
        loop {
            let next = self.requests.lock().cancelled.pop();
            let Some((q, errno)) = next else { return };
            self.complete(ctx, q.cookie, errno, &[]);
        }
    }

    // ---- Transitions ----------------------------------------------------

    /// After a successful probe: enables callbacks and runs `start`.
    fn enable(self: &Arc<Self>, ctx: Ctx) -> Result {
        // The receive buffer's first page, here where allocating may sleep:
        // the tasklet only grows it, atomically, for larger packets.
        if let Some(mut rx) = self.rx.take() {
            rx.resize(4096, 0, GFP_KERNEL)?;
        }
        {
            let mut gate = self.gate.lock();
            match gate.state {
                GateState::Probing => {
                    self.requests.lock().accepting = true;
                    self.set(&mut gate, GateState::Bound(ctx));
                }
                GateState::Rescinded(None) => {
                    // Rescinded while probing: tell the driver now, once,
                    // and do not start it; the device is being removed.
                    self.set(&mut gate, GateState::Rescinded(Some(ctx)));
                    pr_info!(
                        "channel {}: rescinded while its driver probed; not starting it\n",
                        self.chan.relid()
                    );
                    self.notify_rescind(ctx);
                    return Ok(());
                }
                _ => {}
            }
        }
        self.kick();
        match self.ops().start {
            // SAFETY: The driver ABI: `ctx` is what probe returned; remove
            // cannot run before probe returns (the device lock).
            Some(f) => match unsafe { f(ctx.0) } {
                0 => Ok(()),
                e => Err(Error::from_errno(e)),
            },
            None => Ok(()),
        }
    }

    fn notify_rescind(&self, ctx: Ctx) {
        if let Some(f) = self.ops().rescind {
            // SAFETY: As for `packet`; called once per binding (only on
            // the transition into `Rescinded(Some)`).
            self.under_gate(|| unsafe { f(ctx.0) });
        }
    }

    /// The remove path (also after a failed start): stops callbacks,
    /// cancels requests, calls the driver's remove and closes the channel
    /// if the driver left it open.
    fn teardown(self: &Arc<Self>) {
        {
            let mut gate = self.gate.lock();
            let old = core::mem::replace(&mut gate.state, GateState::Probing);
            // Callbacks stop before the cancellations and the driver's
            // remove (the state becomes `Removed` once remove returned,
            // `ops` being used until then).
            self.callbacks.xchg(false, Full);
            self.stop_callbacks();
            let (ctx, err) = match old {
                GateState::Bound(c) | GateState::Suspended(c) => (Some(c), ECANCELED),
                GateState::Rescinded(c) => (c, ENODEV),
                GateState::Probing | GateState::Removed => (None, ECANCELED),
            };
            self.cancel_pending(err, true);
            if let Some(c) = ctx {
                self.report_cancelled(c);
                if let Some(f) = self.ops().remove {
                    // SAFETY: The driver ABI: the last call for `c`; no
                    // callback runs (the gate is held and then `Removed`).
                    self.under_gate(|| unsafe { f(c.0) });
                }
            }
            self.set(&mut gate, GateState::Removed);
        }
        if self.chan.io.lock().is_some() {
            let _ = self.conn.close(&self.chan, HostWait::Answer);
        }
    }

    // ---- I/O for the driver -----------------------------------------------

    fn open(self: &Arc<Self>, ring_bytes: u32) -> Result {
        if !(RING_MIN..=RING_MAX).contains(&ring_bytes) {
            return Err(EINVAL);
        }
        // The callbacks that run with the gate held cannot take it again,
        // and those in the tasklet (softirq) cannot wait for the host.
        if self.in_callback() || !shim::in_task() {
            return Err(EDEADLK);
        }
        // INVARIANT: The gate is held from the state check to the end of
        // the open, as `hv::binding` holds its own across `vmbus_open`:
        // remove (`teardown`) takes the gate first, so it either runs
        // before (and the open is refused with `ENODEV`) or after the open
        // (and then finds the rings attached and closes the channel). An
        // open can never leave the channel open behind a finished remove.
        let gate = self.gate.lock();
        match gate.state {
            GateState::Bound(_) => {}
            // Probe must not do I/O: callbacks are not enabled yet.
            GateState::Probing => return Err(EBUSY),
            GateState::Suspended(_) => return Err(ESHUTDOWN),
            GateState::Rescinded(_) | GateState::Removed => return Err(ENODEV),
        }
        let cpu = self.chan.target_cpu.load(Relaxed);
        // CAST: `ring_bytes` is at most 2040 KiB.
        let bytes = ring_pages(ring_bytes as usize) * 4096;
        self.conn
            .open(&self.chan, RingBytes::both(bytes), cpu, HostWait::Answer)
            .map_err(|e| if e == EBUSY { EALREADY } else { e })?;
        drop(gate);
        // The host may have written (and signalled) before the rings were
        // attached here: look at them now.
        self.kick();
        Ok(())
    }

    fn close(self: &Arc<Self>) -> Result {
        // A handle kept past remove must not close a channel that a later
        // binding opened.
        if matches!(
            self.live.load(Relaxed),
            live::PROBING | live::RESCINDED | live::REMOVED
        ) {
            return Err(self.refused().unwrap_or(ENODEV));
        }
        // A close waits for the host: not from a callback in the tasklet.
        if !shim::in_task() {
            return Err(EDEADLK);
        }
        let r = self.conn.close(&self.chan, HostWait::Answer);
        // Nothing can answer once the rings are gone.
        self.cancel_pending(ECANCELED, false);
        self.kick();
        r
    }

    /// Sends one in-band packet of type `ptype` with `flags`, written to
    /// the ring in parts (no buffer is allocated), waiting up to
    /// `timeout_ms` for room in the ring. Only in task context may it
    /// wait: in a callback that runs in the tasklet, or with `timeout_ms`
    /// 0, a full ring is `EAGAIN` at once. Any context.
    fn send_packet(
        &self,
        ptype: PacketType,
        flags: u16,
        trans_id: u64,
        data: &[u8],
        timeout_ms: u32,
    ) -> Result {
        let may_wait = timeout_ms > 0 && shim::in_task();
        let start = Instant::<Monotonic>::now();
        let limit = Delta::from_millis(i64::from(timeout_ms));
        loop {
            if let Some(e) = self.refused() {
                return Err(e);
            }
            match self
                .chan
                .send_packet(&*self.conn, ptype, flags, trans_id, data)
            {
                // Woken by the host's signal once it made room.
                Err(e) if e == EAGAIN && may_wait && start.elapsed() <= limit => {
                    self.chan.wait_interrupt()
                }
                r => return r,
            }
        }
    }

    fn send(&self, ptype: u16, trans_id: u64, data: &[u8], timeout_ms: u32) -> Result {
        let ptype = PacketType(ptype);
        if ptype != PacketType::DATA_INBAND && ptype != PacketType::COMP {
            return Err(EINVAL);
        }
        self.send_packet(ptype, 0, trans_id, data, timeout_ms)
    }

    /// Tracks a request before it is sent (the answer may come at once),
    /// with room reserved for its cancellation too, so that cancelling
    /// never allocates. The vectors grow outside the spinlock, sleeping
    /// only in task context; the entries move into the larger ones under
    /// it.
    fn track(&self, q: Request) -> Result {
        let gfp = if shim::in_task() {
            GFP_KERNEL
        } else {
            GFP_ATOMIC
        };
        let mut r = self.requests.lock();
        loop {
            if !r.accepting {
                return Err(self.refused().unwrap_or(ENODEV));
            }
            if r.pending.len() + r.cancelled.len() >= MAX_REQUESTS {
                return Err(EBUSY);
            }
            let want_p = r.pending.len() + 1;
            let want_c = r.cancelled.len() + r.pending.len() + 1;
            if r.pending.capacity() >= want_p && r.cancelled.capacity() >= want_c {
                return r.pending.push_within_capacity(q).map_err(|_| ENOMEM);
            }
            let cap_p = (want_p * 2).clamp(16, MAX_REQUESTS + 1);
            let cap_c = (want_c * 2).clamp(16, MAX_REQUESTS + 1);
            drop(r);
            let mut p = KVec::with_capacity(cap_p, gfp)?;
            let mut c = KVec::with_capacity(cap_c, gfp)?;
            r = self.requests.lock();
            // Within the new capacity: these copies never allocate.
            if p.capacity() > r.pending.capacity() && p.capacity() >= r.pending.len() {
                p.extend_from_slice(&r.pending, GFP_ATOMIC)?;
                core::mem::swap(&mut r.pending, &mut p);
            }
            if c.capacity() > r.cancelled.capacity() && c.capacity() >= r.cancelled.len() {
                c.extend_from_slice(&r.cancelled, GFP_ATOMIC)?;
                core::mem::swap(&mut r.cancelled, &mut c);
            }
            // The smaller vectors are freed here, under the lock: `kfree`
            // never sleeps.
        }
    }

    fn request(&self, data: &[u8], cookie: u64, timeout_ms: u32) -> Result {
        let trans_id = REQUEST_BIT | self.next_trans.fetch_add(1, Relaxed);
        self.track(Request { trans_id, cookie })?;
        let sent = self.send_packet(
            PacketType::DATA_INBAND,
            PACKET_FLAG_COMPLETION_REQUESTED,
            trans_id,
            data,
            timeout_ms,
        );
        if sent.is_err() {
            // Not sent: the caller gets the error and no completion, if it
            // is still ours to take back. A close, suspend, rescind or
            // remove while the send waited for room may have cancelled it
            // and reported that cancellation already (the reports are
            // taken off `cancelled` before the driver's completion runs):
            // then that completion is the request's one report, and the
            // caller must not get an error as well.
            let mut r = self.requests.lock();
            if let Some(i) = r.pending.iter().position(|q| q.trans_id == trans_id) {
                let _ = r.pending.remove(i);
            } else if let Some(i) = r.cancelled.iter().position(|c| c.0.trans_id == trans_id) {
                let _ = r.cancelled.remove(i);
            } else {
                return Ok(());
            }
        }
        sent
    }
}

// ---- Called by the bus ------------------------------------------------------

/// A new reference to the `Arc` behind `p`, which somebody else owns.
///
/// # Safety
///
/// `p` came from `Arc::into_raw` or `Arc::as_ptr` of an `Arc<T>`, and a
/// reference to it is held for the duration of the call.
unsafe fn clone_raw<T>(p: *const T) -> Arc<T> {
    // SAFETY: Guaranteed by the caller; the borrowed `Arc` is never
    // dropped, so the owner's count is untouched, and the clone is ours.
    let borrowed = core::mem::ManuallyDrop::new(unsafe { Arc::from_raw(p) });
    (*borrowed).clone()
}

/// The channel behind a device's context pointer, as a new reference.
///
/// # Safety
///
/// `ctx` is a device's channel reference (see `sysfs.rs`), held by the
/// device for the duration of the call.
unsafe fn chan_of(ctx: *mut c_void) -> Arc<Channel> {
    // SAFETY: Guaranteed by the caller.
    unsafe { clone_raw(ctx.cast::<Channel>().cast_const()) }
}

/// Bus probe: binds the driver of `ops` to the device of channel `ctx`.
#[no_mangle]
extern "C" fn rvmbus_rust_probe(
    ctx: *mut c_void,
    ops: *const DriverOps,
    drv_ctx: *mut c_void,
) -> i32 {
    if ctx.is_null() || ops.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: The C side passes the device's own context.
    let chan = unsafe { chan_of(ctx) };
    match probe(chan, ops, drv_ctx) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

fn probe(chan: Arc<Channel>, ops: *const DriverOps, drv_ctx: *mut c_void) -> Result {
    let conn = bus::active().ok_or(ENODEV)?;
    // INVARIANT: `ops` is the registered driver's (the C side passes it
    // from the driver being bound).
    let b = Binding::new(chan.clone(), conn, ops)?;
    let Some(probe) = b.ops().probe else {
        return Err(EINVAL);
    };
    chan.set_driver(Some(b.clone()));
    let mut dev_ctx: *mut c_void = ptr::null_mut();
    // SAFETY: The driver ABI: `drv_ctx` is what the driver registered with;
    // the device pointer is the binding, alive for the call (we hold it).
    let ret = unsafe { probe(drv_ctx, Arc::as_ptr(&b).cast_mut().cast(), &mut dev_ctx) };
    if ret != 0 {
        b.set(&mut b.gate.lock(), GateState::Removed);
        chan.set_driver(None);
        return Err(Error::from_errno(ret));
    }
    if let Err(e) = b.enable(Ctx(dev_ctx)) {
        pr_warn!(
            "channel {}: the driver failed to start ({:?})\n",
            chan.relid(),
            e
        );
        chan.set_driver(None);
        b.teardown();
        return Err(e);
    }
    Ok(())
}

/// Bus remove: unbinds the driver from the device of channel `ctx`.
#[no_mangle]
extern "C" fn rvmbus_rust_remove(ctx: *mut c_void) {
    if ctx.is_null() {
        return;
    }
    // SAFETY: The C side passes the device's own context.
    let chan = unsafe { chan_of(ctx) };
    if let Some(d) = chan.set_driver(None) {
        d.remove();
    }
}

/// The driver bound to the device of channel `ctx`, if any.
fn bound(ctx: *mut c_void) -> Option<Arc<dyn ChannelDriver>> {
    if ctx.is_null() {
        return None;
    }
    // SAFETY: The C side passes the device's own context.
    let chan = unsafe { chan_of(ctx) };
    chan.driver()
}

/// System suspend of the device of channel `ctx`.
#[no_mangle]
extern "C" fn rvmbus_rust_suspend(ctx: *mut c_void) -> i32 {
    bound(ctx).map_or(0, |d| d.suspend())
}

/// System resume of the device of channel `ctx`.
#[no_mangle]
extern "C" fn rvmbus_rust_resume(ctx: *mut c_void) -> i32 {
    bound(ctx).map_or(0, |d| d.resume())
}

impl Binding {
    /// `Suspended` → `Bound`: requests and callbacks allowed again. Returns
    /// the context, or `None` if the binding was not suspended.
    fn unsuspend(&self) -> Option<Ctx> {
        let mut gate = self.gate.lock();
        let GateState::Suspended(c) = gate.state else {
            return None;
        };
        self.requests.lock().accepting = true;
        self.set(&mut gate, GateState::Bound(c));
        Some(c)
    }
}

impl ChannelDriver for Binding {
    /// The channel's tasklet: the driver gets its packets and completions
    /// here, or from the work item with `rust_cb_work=1`.
    fn kick(self: Arc<Self>) {
        if self.in_work {
            self.queue_work();
        } else {
            self.dispatch_tasklet();
        }
    }

    /// Stops the driver's callbacks, cancels its requests and tells it,
    /// once. Runs on the device workqueue before the device is removed.
    /// The core releases the relid at once: no callback reads the rings.
    fn rescinded(&self) -> bool {
        let mut gate = self.gate.lock();
        match gate.state {
            GateState::Bound(c) | GateState::Suspended(c) => {
                self.set(&mut gate, GateState::Rescinded(Some(c)));
                self.stop_callbacks();
                self.cancel_pending(ENODEV, true);
                self.report_cancelled(c);
                self.notify_rescind(c);
            }
            GateState::Probing => self.set(&mut gate, GateState::Rescinded(None)),
            GateState::Rescinded(_) | GateState::Removed => {}
        }
        false
    }

    fn remove(self: Arc<Self>) {
        self.teardown();
    }

    fn suspend(self: Arc<Self>) -> i32 {
        let c = {
            let mut gate = self.gate.lock();
            let GateState::Bound(c) = gate.state else {
                return 0;
            };
            self.set(&mut gate, GateState::Suspended(c));
            self.stop_callbacks();
            self.cancel_pending(ECANCELED, true);
            self.report_cancelled(c);
            c
        };
        let ret = match self.ops().suspend {
            // SAFETY: The driver ABI; remove cannot run meanwhile (the
            // device lock) and no callback runs (`Suspended`).
            Some(f) => unsafe { f(c.0) },
            None => 0,
        };
        if ret != 0 {
            // The PM core will not resume this device: undo.
            self.unsuspend();
            Binding::kick(&self);
        }
        ret
    }

    fn resume(self: Arc<Self>) -> i32 {
        // The host may have posted while the guest slept, and that
        // interrupt may be gone: look at the message slots again.
        self.conn.kick();
        let Some(c) = self.unsuspend() else {
            return 0;
        };
        let ret = match self.ops().resume {
            // SAFETY: As in suspend.
            Some(f) => unsafe { f(c.0) },
            None => 0,
        };
        // Packets that came while suspended.
        Binding::kick(&self);
        ret
    }
}

// ---- The exported ABI (driver.c exports these symbols) --------------------

/// Borrows the binding behind a driver's device pointer.
///
/// # Safety
///
/// `dev` came from probe (or `rvmbus_dev_get`) and the driver still holds a
/// reference to it: the ABI's contract with the driver.
unsafe fn binding<'a>(dev: *mut c_void) -> Option<&'a Binding> {
    // SAFETY: Guaranteed by the caller.
    unsafe { dev.cast::<Binding>().as_ref() }
}

/// Takes a new reference to the binding behind a driver's device pointer.
///
/// # Safety
///
/// As for [`binding`].
unsafe fn binding_arc(dev: *mut c_void) -> Option<Arc<Binding>> {
    let p = dev.cast::<Binding>().cast_const();
    if p.is_null() {
        return None;
    }
    // SAFETY: Guaranteed by the caller: the driver holds a reference.
    Some(unsafe { clone_raw(p) })
}

/// Converts a result for C.
fn errno(r: Result) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// A slice from the driver, or an error for a null pointer with a length.
///
/// # Safety
///
/// `data` points to `len` readable bytes when it is not null.
unsafe fn slice<'a>(data: *const u8, len: u32) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: Guaranteed by the caller; a `u32` length fits `usize`.
    Ok(unsafe { core::slice::from_raw_parts(data, len as usize) })
}

/// Takes a reference to `dev`.
#[no_mangle]
extern "C" fn rvmbus_dev_get(dev: *mut c_void) {
    if !dev.is_null() {
        // SAFETY: The driver holds a reference (ABI contract); the new one
        // is handed to it through the same pointer.
        core::mem::forget(unsafe { clone_raw(dev.cast::<Binding>().cast_const()) });
    }
}

/// Drops a reference taken with [`rvmbus_dev_get`].
#[no_mangle]
extern "C" fn rvmbus_dev_put(dev: *mut c_void) {
    if !dev.is_null() {
        // SAFETY: The driver gives back a reference it took (ABI contract).
        drop(unsafe { Arc::from_raw(dev.cast::<Binding>().cast_const()) });
    }
}

/// Fills `out` with what the bus knows of the device.
#[no_mangle]
extern "C" fn rvmbus_dev_info(dev: *mut c_void, out: *mut RawDevInfo) -> i32 {
    // SAFETY: ABI contract.
    let Some(b) = (unsafe { binding(dev) }) else {
        return EINVAL.to_errno();
    };
    if out.is_null() {
        return EINVAL.to_errno();
    }
    if b.live.load(Relaxed) == live::REMOVED {
        return ENODEV.to_errno();
    }
    let ci = b.chan.info();
    let info = RawDevInfo {
        class_id: ci.if_type.0,
        instance_id: ci.if_instance.0,
        relid: ci.relid.get(),
        vmbus_version: b.conn.version(),
        target_cpu: b.chan.target_cpu.load(Relaxed),
        monitored: u32::from(ci.monitor_id.is_some()),
    };
    // SAFETY: `out` points to a `struct rvmbus_dev_info` (ABI contract),
    // whose layout `RawDevInfo` mirrors (sizes asserted on both sides).
    unsafe { out.write(info) };
    0
}

/// Opens the device's channel with rings of `ring_bytes` each way.
#[no_mangle]
extern "C" fn rvmbus_dev_open(dev: *mut c_void, ring_bytes: u32) -> i32 {
    // SAFETY: ABI contract.
    match unsafe { binding_arc(dev) } {
        Some(b) => errno(b.open(ring_bytes)),
        None => EINVAL.to_errno(),
    }
}

/// Closes the device's channel; outstanding requests are cancelled.
#[no_mangle]
extern "C" fn rvmbus_dev_close(dev: *mut c_void) -> i32 {
    // SAFETY: ABI contract.
    match unsafe { binding_arc(dev) } {
        Some(b) => errno(b.close()),
        None => EINVAL.to_errno(),
    }
}

/// Sends an in-band data or completion packet.
#[no_mangle]
extern "C" fn rvmbus_dev_send(
    dev: *mut c_void,
    ptype: u16,
    trans_id: u64,
    data: *const u8,
    len: u32,
    timeout_ms: u32,
) -> i32 {
    // SAFETY: ABI contract.
    let Some(b) = (unsafe { binding(dev) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: ABI contract: `data` holds `len` bytes.
    match unsafe { slice(data, len) } {
        Ok(d) => errno(b.send(ptype, trans_id, d, timeout_ms)),
        Err(e) => e.to_errno(),
    }
}

/// Sends a request whose completion the bus reports with `cookie`.
#[no_mangle]
extern "C" fn rvmbus_dev_request(
    dev: *mut c_void,
    data: *const u8,
    len: u32,
    cookie: u64,
    timeout_ms: u32,
) -> i32 {
    // SAFETY: ABI contract.
    let Some(b) = (unsafe { binding(dev) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: ABI contract: `data` holds `len` bytes.
    match unsafe { slice(data, len) } {
        Ok(d) => errno(b.request(d, cookie, timeout_ms)),
        Err(e) => e.to_errno(),
    }
}
