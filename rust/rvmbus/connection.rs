// SPDX-License-Identifier: GPL-2.0

//! The VMBus connection (`vmbus_connection`): SynIC, interrupt and monitor
//! pages, version negotiation, message and event dispatch, the channel table
//! keyed by relid, GPADL handles, offers, open/close, rescind and unload.
//!
//! Every protocol decision is `proto::connection` and `proto::channel`; this
//! file feeds them validated messages and carries out their actions.
//!
//! # Contexts and locking
//!
//! - The transport's interrupt handler (hard IRQ) only calls [`Connection::kick`],
//!   which queues `work` on rvmbus's ordered message workqueue.
//! - `work` (process context) copies messages out of the SynIC slots in
//!   order, sends EOM, runs the state machines under `inner`, posts what
//!   they ask for, then scans the event flags and wakes the channels.
//! - Device add/remove runs on a second workqueue (`dev_work`) or in the
//!   caller of [`Connection::connect`]/[`Connection::shutdown`], serialised by
//!   `dev_lock`, so that a driver probe may wait for the message work.
//! - Callers that wait for the host (connect, open, close, unload) sleep on
//!   `cv` with `inner` released, with a timeout.
//!
//! Lock order: `dev_lock` → `inner` → a channel's `io` / `sysfs`; a
//! channel's `info` (a spinlock) is a leaf.

use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc, CondVar, Mutex, MutexGuard,
    },
    time::{msecs_to_jiffies, Delta, Instant, Monotonic},
    workqueue::{impl_has_work, new_work, Work, WorkItem},
};

use crate::{
    channel::{state_code, Channel},
    pathtime::{self, Stamp},
    proto::{
        channel::{ChannelAction, ChannelEvent, ChannelState, OpenParams, RescindedRing},
        connection::{ConnectionAction, ConnectionEvent, ConnectionState, OffersPhase},
        gpadl::GpadlMessages,
        message::{GuestMessage, HostMessage, Offer},
        ring::RingError,
        types::{GpadlId, Relid},
        version::ContactConfig,
        wire::{
            monitor::pending_offset,
            synic::{HvInputPostMessage, HvMessage},
            Wire,
        },
    },
    ratelimit::Ratelimit,
    ring::{ring_pages, Rings},
    shim,
    shmem::{SharedPages, PAGE},
    sysfs,
    transport::{HvStatus, Transport},
    workqueues,
};

/// How many times a post is retried when the host has no buffers.
const POST_RETRIES: u32 = 100;

/// Bytes of each ring of a channel opened by the bus itself.
pub(crate) const DEFAULT_RING_BYTES: usize = 64 * 1024;

/// A channel in the table.
struct Entry {
    chan: Arc<Channel>,
    state: ChannelState,
    /// The ring memory, its GPADL and the pages it covers, while the host
    /// may use it.
    ring: Option<(GpadlId, Arc<SharedPages>, usize)>,
    /// Bytes of each ring of the last open.
    ring_bytes: usize,
    /// What hibernation must restore (see `hibernate.rs`).
    hib: hibernate::Saved,
}

/// A device-model change waiting for the device work.
enum DevOp {
    Add(Arc<Channel>, Option<Arc<Channel>>),
    Remove(Arc<Channel>, Option<Arc<Channel>>),
    /// The host rescinded the channel: tell its driver, remove its device,
    /// then release the relid.
    Rescind(Arc<Channel>, Option<Arc<Channel>>),
}

/// State under the connection lock.
struct Inner {
    state: ConnectionState,
    channels: KVec<Entry>,
    /// Ring memory of channels that are gone, until the host tears its
    /// GPADL down.
    orphans: KVec<(GpadlId, Arc<SharedPages>)>,
    dev_ops: KVec<DevOp>,
    /// Set once shutdown began: no new offers, no new opens.
    closing: bool,
    /// While shutting down, the host let a wait time out.
    host_silent: bool,
    /// The host was given the interrupt and monitor pages (INITIATE_CONTACT
    /// was sent) and has not given them back (no UNLOAD_RESPONSE, no
    /// refusal of every version): they must not be freed.
    pages_with_host: bool,
}

impl Entry {
    fn has_relid(&self, relid: Relid) -> bool {
        !matches!(self.state, ChannelState::Suspended(_)) && self.chan.info().relid == relid
    }
}

impl Inner {
    /// The channel with `relid`. A channel suspended for hibernation has
    /// no relid until the host offers it again.
    fn find(&mut self, relid: Relid) -> Option<&mut Entry> {
        self.channels.iter_mut().find(|e| e.has_relid(relid))
    }

    /// The protocol state of the channel with `relid`, if it is known.
    fn state_of(&mut self, relid: Relid) -> Option<ChannelState> {
        self.find(relid).map(|e| e.state)
    }
}

/// Connection-wide counters.
struct Stats {
    messages: Atomic<u64>,
    bad_messages: Atomic<u64>,
    eoms: Atomic<u64>,
    /// Polls after an interrupt that found no message and no event flag.
    /// A few are normal (one poll can take the work of two interrupts); a
    /// host that raises the interrupt in a loop makes thousands.
    idle_polls: Atomic<u64>,
}

/// Every this many idle polls, a (rate-limited) warning says so.
const IDLE_POLL_WARN: u64 = 1000;

impl Stats {
    const fn new() -> Self {
        Self {
            messages: Atomic::new(0),
            bad_messages: Atomic::new(0),
            eoms: Atomic::new(0),
            idle_polls: Atomic::new(0),
        }
    }
}

/// The connection to the host.
#[pin_data]
pub(crate) struct Connection {
    transport: Arc<dyn Transport>,
    synic: crate::synic::Synic,
    /// The interrupt page: host → guest half, then guest → host half.
    int_page: SharedPages,
    /// Monitor page 1 (host → guest) and monitor page 2 (guest → host).
    monitor: SharedPages,
    #[pin]
    inner: Mutex<Inner>,
    #[pin]
    cv: CondVar,
    #[pin]
    dev_lock: Mutex<()>,
    #[pin]
    work: Work<Connection, 0>,
    #[pin]
    dev_work: Work<Connection, 1>,
    gpadl_next: Atomic<u32>,
    next_cpu: Atomic<u32>,
    stats: Stats,
    /// When the transport's interrupt queued the message work (profile).
    irq_stamp: Stamp,
    warn: Ratelimit,
}

impl_has_work! {
    impl HasWork<Self, 0> for Connection { self.work }
    impl HasWork<Self, 1> for Connection { self.dev_work }
}

impl WorkItem<0> for Connection {
    type Pointer = Arc<Connection>;

    fn run(this: Arc<Connection>) {
        this.poll();
    }
}

impl WorkItem<1> for Connection {
    type Pointer = Arc<Connection>;

    fn run(this: Arc<Connection>) {
        this.apply_dev_ops();
    }
}

/// Waits on `cv` until `done` says so, at most `ms` milliseconds.
macro_rules! wait_until {
    ($self:expr, $guard:ident, $ms:expr, $done:expr) => {{
        let start = Instant::<Monotonic>::now();
        let limit = Delta::from_millis(i64::from($ms));
        loop {
            if $done {
                break Ok(());
            }
            if start.elapsed() > limit {
                break Err(ETIMEDOUT);
            }
            if let kernel::sync::CondVarTimeoutResult::Signal { .. } = $self
                .cv
                .wait_interruptible_timeout(&mut $guard, msecs_to_jiffies(20))
            {
                break Err(EINTR);
            }
        }
    }};
}

impl Connection {
    /// A connection over `transport`, with its pages allocated; nothing is
    /// sent to the host yet.
    pub(crate) fn new(transport: Arc<dyn Transport>) -> Result<Arc<Self>> {
        let cpus = transport.vcpus().min(shim::nr_cpu_ids()).max(1);
        Arc::pin_init(
            try_pin_init!(Self {
                synic: crate::synic::Synic::new(cpus)?,
                int_page: SharedPages::new(1)?,
                monitor: SharedPages::new(2)?,
                transport,
                inner <- new_mutex!(Inner {
                    state: ConnectionState::Disconnected,
                    channels: KVec::new(),
                    orphans: KVec::new(),
                    dev_ops: KVec::new(),
                    closing: false,
                    host_silent: false,
                    pages_with_host: false,
                }),
                cv <- new_condvar!(),
                dev_lock <- new_mutex!(()),
                work <- new_work!("rvmbus::Connection::work"),
                dev_work <- new_work!("rvmbus::Connection::dev_work"),
                gpadl_next: Atomic::new(0xe1e10),
                next_cpu: Atomic::new(0),
                stats: Stats::new(),
                irq_stamp: Stamp::new(),
                warn: Ratelimit::new(),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// Called from the transport's interrupt handler (any context): the
    /// host posted a message or signalled an event.
    pub(crate) fn kick(self: &Arc<Self>) {
        self.irq_stamp.mark();
        let _ = workqueues::messages().enqueue::<_, 0>(self.clone());
    }

    /// The negotiated version as `major << 16 | minor`, 0 when not
    /// connected.
    pub(crate) fn version(&self) -> u32 {
        match self.inner.lock().state {
            ConnectionState::Connected { version, .. } => {
                u32::from(version.major()) << 16 | u32::from(version.minor())
            }
            _ => 0,
        }
    }

    /// One line about the connection, for the control file.
    pub(crate) fn describe(&self) -> ConnectionSummary {
        let inner = self.inner.lock();
        let (version, id) = match inner.state {
            ConnectionState::Connected {
                version,
                msg_conn_id,
                ..
            } => (Some(version), msg_conn_id),
            _ => (None, 0),
        };
        ConnectionSummary {
            transport: self.transport.name(),
            version,
            msg_conn_id: id,
            channels: inner.channels.len(),
            open: inner.channels.iter().filter(|e| e.state.is_open()).count(),
            messages: self.stats.messages.load(Relaxed),
            bad_messages: self.stats.bad_messages.load(Relaxed),
            eoms: self.stats.eoms.load(Relaxed),
            idle_polls: self.stats.idle_polls.load(Relaxed),
        }
    }

    // ---- Posting -------------------------------------------------------

    fn post_raw(&self, connection_id: u32, msg: &GuestMessage) -> Result<HvStatus> {
        let enc = msg.encode();
        let input =
            HvInputPostMessage::channel(connection_id, enc.as_bytes()).map_err(|_| EINVAL)?;
        let mut bytes = [0u8; 256];
        input.write_to(&mut bytes).ok_or(EINVAL)?;
        let mut tries = 0;
        loop {
            let st = self.transport.post_message(&bytes)?;
            if st != HvStatus::INSUFFICIENT_BUFFERS || tries >= POST_RETRIES {
                return Ok(st);
            }
            tries += 1;
            kernel::time::delay::fsleep(Delta::from_micros(100 * i64::from(tries.min(20))));
        }
    }

    /// Posts `msg` on the message connection id; any status but success
    /// is an error.
    fn post(&self, inner: &Inner, msg: &GuestMessage) -> Result {
        let id = inner.state.message_connection_id().ok_or(ENOTCONN)?;
        match self.post_raw(id, msg)? {
            st if st == HvStatus::SUCCESS => Ok(()),
            st => {
                pr_err!("host refused {:?}: status {:#x}\n", msg_name(msg), st.0);
                Err(EIO)
            }
        }
    }

    // ---- Connecting ----------------------------------------------------

    /// Sets up the SynIC, negotiates the version, asks for the offers and
    /// waits for them, and adds the devices.
    pub(crate) fn connect(self: &Arc<Self>, timeout_ms: u32) -> Result {
        self.synic_enable()?;
        let (mut inner, r) =
            self.contact(ConnectionEvent::Connect(self.contact_config()), timeout_ms)?;
        let ConnectionState::Connected {
            version,
            msg_conn_id,
            ..
        } = inner.state
        else {
            pr_err!(
                "no VMBus connection: {}\n",
                if r.is_err() {
                    "the host did not answer INITIATE_CONTACT"
                } else {
                    "the host accepted none of our versions"
                }
            );
            inner.state = ConnectionState::Disconnected;
            return Err(if r.is_err() { ETIMEDOUT } else { ENODEV });
        };
        pr_info!(
            "connected to the host: VMBus version {}.{}, message connection id {}, transport {}\n",
            version.major(),
            version.minor(),
            msg_conn_id,
            self.transport.name()
        );
        let (inner, r) = self.request_offers(inner, timeout_ms)?;
        let n = inner.channels.len();
        drop(inner);
        match r {
            Ok(()) => pr_info!("all offers delivered: {} channels\n", n),
            Err(_) => pr_warn!(
                "the host did not finish its offers in {} ms; going on with {} channels\n",
                timeout_ms,
                n
            ),
        }
        self.apply_dev_ops();
        Ok(())
    }

    /// Runs `ev` (connect or resume: INITIATE_CONTACT) and waits, at most
    /// `timeout_ms`, for the host's version answer; the outcome is in the
    /// state.
    fn contact(
        self: &Arc<Self>,
        ev: ConnectionEvent,
        timeout_ms: u32,
    ) -> Result<(MutexGuard<'_, Inner>, Result)> {
        let mut inner = self.inner.lock();
        inner.pages_with_host = true;
        self.step(&mut inner, ev)?;
        let r = wait_until!(
            self,
            inner,
            timeout_ms,
            !matches!(inner.state, ConnectionState::Contacting { .. })
        );
        // Every version refused: the host answered and holds nothing.
        if r.is_ok() && matches!(inner.state, ConnectionState::Disconnected) {
            inner.pages_with_host = false;
        }
        Ok((inner, r))
    }

    /// Asks for the offers and waits, at most `timeout_ms`, until the host
    /// says it delivered them all.
    fn request_offers<'a>(
        self: &'a Arc<Self>,
        mut inner: MutexGuard<'a, Inner>,
        timeout_ms: u32,
    ) -> Result<(MutexGuard<'a, Inner>, Result)> {
        self.step(&mut inner, ConnectionEvent::RequestOffers)?;
        let r = wait_until!(
            self,
            inner,
            timeout_ms,
            matches!(
                inner.state,
                ConnectionState::Connected {
                    offers: OffersPhase::AllDelivered,
                    ..
                }
            )
        );
        Ok((inner, r))
    }

    /// Points the host at this guest's SynIC pages on every CPU.
    fn synic_enable(&self) -> Result {
        for cpu in 0..self.synic.cpus() {
            let (simp, siefp) = self.synic.addresses(cpu).ok_or(EINVAL)?;
            let st = self.transport.synic_setup(cpu, simp, siefp, true)?;
            if st != HvStatus::SUCCESS {
                pr_err!("SynIC set-up of CPU {} refused: status {:#x}\n", cpu, st.0);
                return Err(EIO);
            }
        }
        Ok(())
    }

    /// What INITIATE_CONTACT tells the host.
    fn contact_config(&self) -> ContactConfig {
        ContactConfig {
            target_vcpu: self.transport.vp_index(0),
            interrupt_page: self.int_page.phys(0),
            monitor_page1: self.monitor.phys(0),
            monitor_page2: self.monitor.phys(PAGE),
            ..ContactConfig::default()
        }
    }

    /// Runs the connection state machine and carries out its actions.
    fn step(self: &Arc<Self>, inner: &mut Inner, ev: ConnectionEvent) -> Result {
        let (next, actions) = inner.state.on_event(ev).map_err(|e| {
            if self.warn.allow() {
                pr_warn!("connection: {:?} ignored: {:?}\n", ev_name(&ev), e);
            }
            EPROTO
        })?;
        inner.state = next;
        for a in actions.iter() {
            self.act(inner, a);
        }
        self.cv.notify_all();
        Ok(())
    }

    fn act(self: &Arc<Self>, inner: &mut Inner, a: ConnectionAction) {
        match a {
            ConnectionAction::Post {
                connection_id,
                message,
            } => match self.post_raw(connection_id, &message) {
                Ok(st) if st == HvStatus::SUCCESS => {}
                Ok(st) => {
                    let ev = ConnectionEvent::PostFailed {
                        invalid_connection_id: st == HvStatus::INVALID_CONNECTION_ID,
                    };
                    if let Err(e) = self.step(inner, ev) {
                        pr_err!(
                            "posting {:?} failed: status {:#x} ({:?})\n",
                            msg_name(&message),
                            st.0,
                            e
                        );
                    }
                }
                Err(e) => pr_err!("posting {:?} failed: {:?}\n", msg_name(&message), e),
            },
            ConnectionAction::Offer(o) => self.on_offer(inner, &o),
            ConnectionAction::Rescind(relid) => self.on_rescind(inner, relid),
            ConnectionAction::ToChannel(relid, m) => {
                if inner.find(relid).is_some() {
                    self.chan_step(inner, relid, ChannelEvent::Host(m));
                } else if self.warn.allow() {
                    pr_warn!(
                        "message {:?} for unknown relid {}\n",
                        m.msgtype().0,
                        relid.get()
                    );
                }
            }
            ConnectionAction::GpadlTorndown(m) => self.on_torndown(inner, m),
            ConnectionAction::TlConnectResult { status, .. } => {
                pr_info!("hv_sock connect result {:#x} ignored\n", status)
            }
            ConnectionAction::Connected { .. }
            | ConnectionAction::AllOffersDelivered
            | ConnectionAction::Dropped(_)
            | ConnectionAction::Disconnected
            | ConnectionAction::Suspended => {}
        }
    }

    // ---- Messages and events --------------------------------------------

    /// The message work: every waiting message in order, then the events.
    fn poll(self: &Arc<Self>) {
        self.irq_stamp.end(&pathtime::IRQ_TO_WORK);
        let mut found = false;
        for cpu in 0..self.synic.cpus() {
            while let Some(t) = self.synic.take_message(cpu) {
                found = true;
                if t.pending {
                    self.stats.eoms.add(1, Relaxed);
                    if let Err(e) = self.transport.eom(cpu) {
                        if self.warn.allow() {
                            pr_warn!("EOM on CPU {} failed: {:?}\n", cpu, e);
                        }
                    }
                }
                self.on_message(&t.bytes);
            }
        }
        for cpu in 0..self.synic.cpus() {
            self.synic.take_events(cpu, |word, mut bits| {
                found |= bits != 0;
                while bits != 0 {
                    let bit = bits.trailing_zeros();
                    bits &= bits - 1;
                    // CAST: `word < 32` and `bit < 64`.
                    self.on_event(word as u32 * 64 + bit);
                }
            });
        }
        if !found {
            let n = self.stats.idle_polls.fetch_add(1, Relaxed) + 1;
            if n % IDLE_POLL_WARN == 0 && self.warn.allow() {
                pr_warn!(
                    "{} interrupts from the host so far found no message and no event: an interrupt storm?\n",
                    n
                );
            }
        }
    }

    fn on_message(self: &Arc<Self>, slot: &[u8]) {
        self.stats.messages.add(1, Relaxed);
        let decoded = HvMessage::decode_channel(slot)
            .map_err(|_| "SynIC slot")
            .and_then(|m| HostMessage::decode(m.valid_payload()).map_err(|_| "message"));
        let m = match decoded {
            Ok(m) => m,
            Err(what) => {
                self.stats.bad_messages.add(1, Relaxed);
                if self.warn.allow() {
                    let ty = slot
                        .get(16..20)
                        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                    pr_warn!("dropped an invalid {} from the host (type {})\n", what, ty);
                }
                return;
            }
        };
        let mut inner = self.inner.lock();
        let _ = self.step(&mut inner, ConnectionEvent::Host(m));
    }

    fn on_event(&self, relid: u32) {
        let Some(relid) = Relid::new(relid) else {
            return;
        };
        let ch = self.inner.lock().find(relid).map(|e| e.chan.clone());
        match ch {
            Some(c) => c.on_interrupt(),
            None => {
                if self.warn.allow() {
                    pr_warn!("event for unknown relid {}\n", relid.get());
                }
            }
        }
    }

    // ---- Offers and rescinds ---------------------------------------------

    fn on_offer(self: &Arc<Self>, inner: &mut Inner, o: &Offer) {
        if inner.closing {
            return;
        }
        if inner.find(o.relid).is_some() {
            if self.warn.allow() {
                pr_warn!(
                    "offer for relid {} which is in use: ignored\n",
                    o.relid.get()
                );
            }
            return;
        }
        if self.reoffered(inner, o) {
            return;
        }
        let state = ChannelState::offered(o);
        let Some(info) = state.info() else {
            return;
        };
        let primary = if info.sub_channel_index != 0 {
            let p = inner
                .channels
                .iter()
                .find(|e| {
                    e.chan.info().if_instance == info.if_instance
                        && e.chan.info().sub_channel_index == 0
                })
                .map(|e| e.chan.clone());
            if p.is_none() {
                if self.warn.allow() {
                    pr_warn!(
                        "sub-channel offer (relid {}) without its primary: ignored\n",
                        o.relid.get()
                    );
                }
                return;
            }
            p
        } else {
            None
        };
        let cpu = self.pick_cpu();
        let chan = match Channel::new(info, cpu) {
            Ok(c) => c,
            Err(e) => {
                pr_err!("no memory for channel {} ({:?})\n", o.relid.get(), e);
                return;
            }
        };
        let added = inner
            .channels
            .push(
                Entry {
                    chan: chan.clone(),
                    state,
                    ring: None,
                    ring_bytes: 0,
                    hib: hibernate::Saved::default(),
                },
                GFP_KERNEL,
            )
            .is_ok();
        if added {
            let sub = if info.sub_channel_index != 0 {
                " (sub-channel)"
            } else {
                ""
            };
            pr_info!(
                "offer: relid {} {} {:?}{}\n",
                o.relid.get(),
                crate::classes::name(&info.if_type),
                info.if_instance,
                sub
            );
            self.queue_dev_op(inner, DevOp::Add(chan, primary));
        }
    }

    fn on_rescind(self: &Arc<Self>, inner: &mut Inner, relid: Relid) {
        if inner.find(relid).is_none() {
            if self.warn.allow() {
                pr_warn!("rescind of unknown relid {}\n", relid.get());
            }
            return;
        }
        self.chan_step(
            inner,
            relid,
            ChannelEvent::Host(HostMessage::Rescind { relid }),
        );
        // The relid is released once the driver is told and the device is
        // gone (the device work, in order with adds and removes).
        let Some(e) = inner.find(relid) else { return };
        let chan = e.chan.clone();
        let primary = self.primary_of(inner, &chan);
        self.queue_dev_op(inner, DevOp::Rescind(chan, primary));
    }

    /// The primary channel of sub-channel `ch` (`None` for a primary).
    fn primary_of(&self, inner: &Inner, ch: &Channel) -> Option<Arc<Channel>> {
        if ch.info().sub_channel_index == 0 {
            return None;
        }
        inner
            .channels
            .iter()
            .find(|p| {
                p.chan.info().if_instance == ch.info().if_instance
                    && p.chan.info().sub_channel_index == 0
            })
            .map(|p| p.chan.clone())
    }

    fn pick_cpu(&self) -> u32 {
        let n = self.synic.cpus().max(1);
        for _ in 0..n {
            let c = self.next_cpu.fetch_add(1, Relaxed) % n;
            if shim::cpu_online(c) {
                return c;
            }
        }
        0
    }

    // ---- Channel steps --------------------------------------------------

    fn chan_step(self: &Arc<Self>, inner: &mut Inner, relid: Relid, ev: ChannelEvent) {
        let Some(e) = inner.find(relid) else {
            return;
        };
        let (next, actions) = match e.state.on_event(ev) {
            Ok(r) => r,
            Err(err) => {
                if self.warn.allow() {
                    pr_warn!("channel {}: event ignored: {:?}\n", relid.get(), err);
                }
                return;
            }
        };
        e.state = next;
        let chan = e.chan.clone();
        chan.state.store(code_of(&next), Relaxed);
        // A ring GPADL that could not be sent (all or part of it).
        let mut unsent = None;
        for a in actions.iter() {
            match a {
                ChannelAction::Post(m) => {
                    let _ = self.post(inner, &m);
                }
                ChannelAction::SendRingGpadl(g) => {
                    if let Err((err, posted)) = self.send_gpadl(inner, relid, g) {
                        pr_err!("channel {}: GPADL not sent ({:?})\n", relid.get(), err);
                        unsent = Some(posted);
                    }
                }
                ChannelAction::Closed
                | ChannelAction::GpadlFailed(_)
                | ChannelAction::GpadlNotSent => {
                    if let (ChannelAction::GpadlFailed(st), true) = (a, self.warn.allow()) {
                        pr_err!(
                            "channel {}: the host refused the ring GPADL (status {:#x})\n",
                            relid.get(),
                            st
                        );
                    }
                    // The host let go of the rings (or never had them).
                    if let Some(e) = inner.find(relid) {
                        e.ring = None;
                    }
                    *chan.io.lock() = None;
                }
                ChannelAction::OpenFailed(st) => {
                    if self.warn.allow() {
                        pr_err!(
                            "channel {}: the host refused to open it (status {:#x})\n",
                            relid.get(),
                            st
                        );
                    }
                }
                ChannelAction::Rescinded => {
                    pr_info!("channel {} rescinded by the host\n", relid.get());
                    chan.state.store(state_code::RESCINDED, Relaxed);
                    // Stop the data path before the host's memory goes away.
                    *chan.io.lock() = None;
                    chan.wake.notify_all();
                }
                ChannelAction::Released => self.forget(inner, relid),
                ChannelAction::Modified(st) => {
                    // The mover (`set_target_cpu`) sees the outcome in the
                    // state; only the host's reason is logged here.
                    if st != 0 {
                        pr_warn!(
                            "channel {}: the host refused to move its interrupts (status {:#x})\n",
                            relid.get(),
                            st
                        );
                    }
                }
                ChannelAction::Opened | ChannelAction::Resumed(_) => {}
            }
        }
        if let Some(posted) = unsent {
            // The host will never answer a GPADL it did not get: the open
            // fails. If part of it went out, the host may hold a half-built
            // GPADL over the ring, which is then kept.
            if posted {
                if let Some((_, m, _)) = inner.find(relid).and_then(|e| e.ring.as_ref()) {
                    m.keep("part of its GPADL reached the host");
                }
            }
            self.chan_step(inner, relid, ChannelEvent::GpadlNotSent);
        }
        self.cv.notify_all();
    }

    /// Drops a released channel from the table; its ring memory waits for
    /// the host's teardown among the orphans.
    fn forget(self: &Arc<Self>, inner: &mut Inner, relid: Relid) {
        let Some(i) = inner.channels.iter().position(|e| e.has_relid(relid)) else {
            return;
        };
        let e = inner.channels.remove(i);
        let Ok(e) = e else { return };
        if let Some((g, m, _)) = e.ring {
            if let Err(err) = inner.orphans.push((g, m.clone()), GFP_KERNEL) {
                // Untracked, the host's teardown could not free it later.
                pr_err!("no memory to track ring memory: {:?}\n", err);
                m.keep("no memory to track it");
            }
        }
        let primary = self.primary_of(inner, &e.chan);
        pr_info!("relid {} released\n", relid.get());
        self.queue_dev_op(inner, DevOp::Remove(e.chan, primary));
    }

    fn on_torndown(self: &Arc<Self>, inner: &mut Inner, m: HostMessage) {
        let HostMessage::GpadlTorndown { gpadl } = m else {
            return;
        };
        // A channel closing its ring, also one rescinded meanwhile.
        let owner = inner.channels.iter().find_map(|e| match e.state {
            ChannelState::Closing { ring_gpadl, .. }
            | ChannelState::Rescinded {
                ring: RescindedRing::TearingDown(ring_gpadl),
                ..
            } if ring_gpadl == gpadl => Some(e.chan.info().relid),
            _ => None,
        });
        if let Some(relid) = owner {
            self.chan_step(inner, relid, ChannelEvent::Host(m));
            return;
        }
        if let Some(i) = inner.orphans.iter().position(|(g, _)| *g == gpadl) {
            let _ = inner.orphans.remove(i);
            return;
        }
        if self.warn.allow() {
            pr_warn!("teardown of unknown GPADL {:#x}\n", gpadl.get());
        }
    }

    /// Posts the ring GPADL's header and bodies. On failure, also says
    /// whether any of them was posted.
    fn send_gpadl(&self, inner: &Inner, relid: Relid, g: GpadlId) -> Result<(), (Error, bool)> {
        let e = inner
            .channels
            .iter()
            .find(|e| e.has_relid(relid))
            .ok_or((ENOENT, false))?;
        let (_, mem, pages) = e.ring.as_ref().ok_or((EINVAL, false))?;
        let mut pfns = KVec::new();
        mem.pfns(0, *pages, &mut pfns).map_err(|e| (e, false))?;
        let msgs = GpadlMessages::new(relid, g, &pfns).map_err(|_| (EINVAL, false))?;
        for (i, m) in msgs.enumerate() {
            self.post(inner, &m).map_err(|e| (e, i > 0))?;
        }
        Ok(())
    }

    // ---- Device model -------------------------------------------------

    fn queue_dev_op(self: &Arc<Self>, inner: &mut Inner, op: DevOp) {
        if inner.dev_ops.push(op, GFP_KERNEL).is_ok() {
            let _ = workqueues::devices().enqueue::<_, 1>(self.clone());
        }
    }

    /// Applies the queued device adds and removes, in order.
    fn apply_dev_ops(self: &Arc<Self>) {
        let _serial = self.dev_lock.lock();
        loop {
            let op = {
                let mut inner = self.inner.lock();
                if inner.dev_ops.is_empty() {
                    return;
                }
                inner.dev_ops.remove(0)
            };
            match op {
                Ok(DevOp::Add(ch, p)) => {
                    if let Err(e) = sysfs::add(&ch, p.as_ref()) {
                        pr_err!("relid {}: no device ({:?})\n", ch.relid(), e);
                    }
                }
                Ok(DevOp::Remove(ch, p)) => sysfs::remove(&ch, p.as_ref()),
                Ok(DevOp::Rescind(ch, p)) => {
                    crate::driver::rescinded(&ch);
                    sysfs::remove(&ch, p.as_ref());
                    let mut inner = self.inner.lock();
                    self.chan_step(&mut inner, ch.info().relid, ChannelEvent::Release);
                }
                Err(_) => return,
            }
        }
    }

    // ---- Opening and closing ----------------------------------------------

    /// Finds the channel with `relid`.
    pub(crate) fn channel(&self, relid: u32) -> Option<Arc<Channel>> {
        let r = Relid::new(relid)?;
        self.inner.lock().find(r).map(|e| e.chan.clone())
    }

    /// Opens `ch` with rings of `ring_bytes` each way, interrupts on `cpu`.
    pub(crate) fn open(
        self: &Arc<Self>,
        ch: &Arc<Channel>,
        ring_bytes: usize,
        cpu: u32,
        timeout_ms: u32,
    ) -> Result {
        if cpu >= self.synic.cpus() || !shim::cpu_online(cpu) {
            return Err(EINVAL);
        }
        let pages = ring_pages(ring_bytes);
        let mem = Arc::new(SharedPages::new(2 * pages)?, GFP_KERNEL)?;
        Rings::init(&mem, pages, pages)?;
        let relid = ch.info().relid;
        let gpadl = GpadlId::new(self.gpadl_next.fetch_add(1, Relaxed)).ok_or(EINVAL)?;
        let mut inner = self.inner.lock();
        if inner.closing {
            return Err(ENODEV);
        }
        let e = inner.find(relid).ok_or(ENODEV)?;
        match e.state {
            ChannelState::Offered(_) | ChannelState::Closed(_) => {}
            ChannelState::Rescinded { .. } | ChannelState::Released => return Err(ENODEV),
            _ => return Err(EBUSY),
        }
        e.ring = Some((gpadl, mem.clone(), 2 * pages));
        e.ring_bytes = ring_bytes;
        ch.target_cpu.store(cpu, Relaxed);
        // CAST: A ring has far fewer than 2^32 pages.
        let params = OpenParams::new(
            relid.get(),
            gpadl,
            self.transport.vp_index(cpu),
            pages as u32,
        );
        self.chan_step(&mut inner, relid, ChannelEvent::Open(params));
        // The outcome is in the state; a timeout leaves it `Opening`.
        let _ = wait_until!(
            self,
            inner,
            timeout_ms,
            !matches!(inner.state_of(relid), Some(ChannelState::Opening { .. }))
        );
        match inner.state_of(relid) {
            Some(ChannelState::Open { .. }) => {
                *ch.io.lock() = Some(Rings::attach(mem, pages, pages)?);
                pr_info!(
                    "channel {} open: {} KiB rings, interrupts on CPU {}\n",
                    relid.get(),
                    ring_bytes / 1024,
                    cpu
                );
                Ok(())
            }
            Some(ChannelState::Opening { .. }) => {
                // The host may hold the GPADL: keep the memory.
                pr_err!(
                    "channel {}: no answer to the open in {} ms\n",
                    relid.get(),
                    timeout_ms
                );
                Err(ETIMEDOUT)
            }
            Some(ChannelState::Rescinded { .. }) | Some(ChannelState::Released) | None => {
                pr_info!("channel {}: rescinded while opening\n", relid.get());
                Err(ENODEV)
            }
            _ => Err(EIO),
        }
    }

    /// Closes `ch`: close message, ring GPADL teardown, and frees the rings
    /// once the host confirms.
    pub(crate) fn close(self: &Arc<Self>, ch: &Arc<Channel>, timeout_ms: u32) -> Result {
        let relid = ch.info().relid;
        let mut inner = self.inner.lock();
        // No more packets from this side.
        *ch.io.lock() = None;
        if !matches!(inner.state_of(relid), Some(ChannelState::Open { .. })) {
            return Err(ENOTCONN);
        }
        self.chan_step(&mut inner, relid, ChannelEvent::Close);
        // While unloading, a host that let one close time out is not
        // waited for again: unload must end in bounded time.
        let wait = if inner.closing && inner.host_silent {
            0
        } else {
            timeout_ms
        };
        let r = wait_until!(
            self,
            inner,
            wait,
            !matches!(inner.state_of(relid), Some(ChannelState::Closing { .. }))
        );
        if r.is_err() {
            if inner.closing && !inner.host_silent {
                inner.host_silent = true;
                pr_err!("the host stopped answering while unloading; closing the other channels without waiting\n");
            }
            pr_err!("channel {}: the host did not tear down the ring GPADL in {} ms; keeping its memory\n", relid.get(), wait);
            return Err(ETIMEDOUT);
        }
        pr_info!("channel {} closed\n", relid.get());
        Ok(())
    }

    // ---- Moving interrupts ------------------------------------------------

    /// Moves the host's interrupts for open channel `ch` to `cpu`, as a
    /// write to sysfs `channels/<relid>/cpu` asks.
    ///
    /// Hosts of version 4.1 to 5.2 never confirm `MODIFY_CHANNEL`: the move
    /// counts as done once posted (interrupts that still come on the old
    /// CPU are handled all the same). From 5.3 on this waits, at most
    /// `timeout_ms`, for `MODIFY_CHANNEL_RESPONSE`. Moves of one channel are
    /// serialised; moving to the current CPU does nothing.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `cpu` is offline or beyond the CPUs the connection set up;
    /// - `EOPNOTSUPP`: the host's version is older than 4.1;
    /// - `ENODEV`: the channel is not open (or went away meanwhile);
    /// - `EIO`: the post failed, or the host refused (the old CPU is kept);
    /// - `ETIMEDOUT`: no answer in time (the old CPU is kept, and a late
    ///   answer is dropped);
    /// - `EINTR`: a signal interrupted the wait (as for `ETIMEDOUT`).
    pub(crate) fn set_target_cpu(
        self: &Arc<Self>,
        ch: &Channel,
        cpu: u32,
        timeout_ms: u32,
    ) -> Result {
        /// Marks the channel as being moved; unmarks it when dropped (while
        /// `inner` is still held, as it is declared after the guard).
        struct Claim<'a>(&'a Channel, &'a CondVar);
        impl Drop for Claim<'_> {
            fn drop(&mut self) {
                self.0.moving.store(0, Relaxed);
                self.1.notify_all();
            }
        }

        let relid = ch.info().relid;
        let mut inner = self.inner.lock();
        let ConnectionState::Connected { version, .. } = inner.state else {
            return Err(ENODEV);
        };
        if !version.has_modify_channel() {
            if self.warn.allow() {
                pr_warn!(
                    "channel {}: cannot move its interrupts: the host negotiated VMBus {}.{}, moves need 4.1 or later\n",
                    relid.get(),
                    version.major(),
                    version.minor()
                );
            }
            return Err(EOPNOTSUPP);
        }
        if cpu >= self.synic.cpus() || !shim::cpu_online(cpu) {
            return Err(EINVAL);
        }
        // Wait for any other move of this channel to finish, then claim it.
        wait_until!(
            self,
            inner,
            timeout_ms,
            ch.moving.cmpxchg(0, 1, Relaxed).is_ok()
        )?;
        let _claim = Claim(ch, &self.cv);
        let e = inner
            .find(relid)
            .filter(|e| core::ptr::eq(&*e.chan, ch))
            .ok_or(ENODEV)?;
        if !matches!(e.state, ChannelState::Open { .. }) {
            return Err(ENODEV);
        }
        let from = ch.target_cpu.load(Relaxed);
        if from == cpu {
            return Ok(());
        }
        let target_vp = self.transport.vp_index(cpu);
        let await_response = version.has_modify_channel_response();
        let (next, actions) = e
            .state
            .on_event(ChannelEvent::Modify {
                target_vp,
                await_response,
            })
            .map_err(|_| EBUSY)?;
        // The state changes only once the host has the message.
        for a in actions.iter() {
            if let ChannelAction::Post(m) = a {
                self.post(&inner, &m)?;
            }
        }
        if let Some(e) = inner.find(relid) {
            e.state = next;
        }
        if await_response {
            let r = wait_until!(
                self,
                inner,
                timeout_ms,
                !matches!(
                    inner.state_of(relid),
                    Some(ChannelState::Open {
                        modify_from: Some(_),
                        ..
                    })
                )
            );
            match inner.state_of(relid) {
                Some(ChannelState::Open {
                    modify_from: Some(_),
                    ..
                }) => {
                    // The host may still move the interrupts; the guest
                    // takes any CPU's interrupts, and drops a late answer.
                    self.chan_step(&mut inner, relid, ChannelEvent::ModifyAbandoned);
                    let e = r.err().unwrap_or(ETIMEDOUT);
                    if e == ETIMEDOUT {
                        pr_err!(
                            "channel {}: no answer to the move to CPU {} in {} ms; cpu stays {}\n",
                            relid.get(),
                            cpu,
                            timeout_ms,
                            from
                        );
                    } else {
                        pr_info!(
                            "channel {}: move to CPU {} interrupted before the host answered; cpu stays {}\n",
                            relid.get(),
                            cpu,
                            from
                        );
                    }
                    return Err(e);
                }
                Some(ChannelState::Open { target_vp: now, .. }) if now == target_vp => {}
                Some(ChannelState::Open { .. }) => return Err(EIO),
                _ => return Err(ENODEV),
            }
        }
        ch.target_cpu.store(cpu, Relaxed);
        pr_info!(
            "channel {}: interrupts moved from CPU {} to CPU {}\n",
            relid.get(),
            from,
            cpu
        );
        Ok(())
    }

    // ---- Signalling ----------------------------------------------------

    /// Tells the host that `ch` has something for it: through the monitor
    /// page if the channel is monitored, else with a signal-event call.
    pub(crate) fn signal_channel(&self, ch: &Channel) -> Result {
        ch.stats.events.add(1, Relaxed);
        let info = ch.info();
        let relid = info.relid.get() as usize;
        if !info.dedicated_interrupt {
            set_bit32(&self.int_page, PAGE / 2, relid);
        }
        if let Some(m) = info.monitor_id {
            set_bit32(
                &self.monitor,
                PAGE + pending_offset(m.group()),
                m.bit() as usize,
            );
            return Ok(());
        }
        let start = pathtime::now();
        let status = self.transport.signal_event(info.connection_id);
        pathtime::SIGNAL.add_since(start);
        match status? {
            st if st == HvStatus::SUCCESS => Ok(()),
            st => {
                if self.warn.allow() {
                    pr_warn!("signal for channel {} refused: status {:#x}\n", relid, st.0);
                }
                Err(EIO)
            }
        }
    }

    /// Logs a broken ring (rate-limited).
    pub(crate) fn warn_ring(&self, relid: u32, what: &str, e: RingError) {
        if self.warn.allow() {
            pr_err!(
                "channel {}: {} failed, ring broken by the host: {:?}\n",
                relid,
                what,
                e
            );
        }
    }

    /// Logs an invalid packet (rate-limited).
    pub(crate) fn warn_packet(&self, relid: u32, e: crate::proto::packet::PacketError) {
        if self.warn.allow() {
            pr_err!("channel {}: invalid packet from the host: {:?}\n", relid, e);
        }
    }

    // ---- Shutdown --------------------------------------------------------

    /// Unloads: removes the devices, sends UNLOAD and waits for the answer,
    /// then frees ring memory the host gave back and undoes the SynIC
    /// set-up.
    pub(crate) fn shutdown(self: &Arc<Self>, timeout_ms: u32) {
        let mut inner = self.inner.lock();
        inner.closing = true;
        // Every device goes away first, while the connection still works,
        // so that drivers unbind and close their channels normally.
        let primaries: KVec<Arc<Channel>> = {
            let mut v = KVec::new();
            for e in inner.channels.iter() {
                if e.chan.info().sub_channel_index == 0 {
                    let _ = v.push(e.chan.clone(), GFP_KERNEL);
                }
            }
            v
        };
        for ch in primaries {
            let _ = inner.dev_ops.push(DevOp::Remove(ch, None), GFP_KERNEL);
        }
        drop(inner);
        self.apply_dev_ops();
        let mut inner = self.inner.lock();
        let mut removed = 0;
        while let Some(e) = inner.channels.pop() {
            *e.chan.io.lock() = None;
            if let Some((g, m, _)) = e.ring {
                let _ = inner.orphans.push((g, m), GFP_KERNEL);
            }
            removed += 1;
        }
        let answered = if matches!(inner.state, ConnectionState::Connected { .. }) {
            let _ = self.step(&mut inner, ConnectionEvent::Unload);
            let start = Instant::<Monotonic>::now();
            let r = wait_until!(
                self,
                inner,
                timeout_ms,
                matches!(inner.state, ConnectionState::Disconnected)
            );
            match r {
                Ok(()) => pr_info!(
                    "the host answered UNLOAD in {} ms\n",
                    start.elapsed().as_millis()
                ),
                Err(_) => {
                    pr_err!(
                        "the host did not answer UNLOAD in {} ms; unloading without it\n",
                        timeout_ms
                    );
                    inner.state = ConnectionState::Disconnected;
                }
            }
            r.is_ok()
        } else {
            false
        };
        if answered {
            inner.pages_with_host = false;
        }
        let orphans = core::mem::take(&mut inner.orphans);
        let keep_conn_pages = inner.pages_with_host;
        drop(inner);
        if answered {
            pr_info!(
                "unloaded: {} channels removed, host released all memory\n",
                removed
            );
        } else {
            for (_, m) in orphans.iter() {
                m.keep("no answer to UNLOAD");
            }
        }
        drop(orphans);
        if keep_conn_pages {
            self.int_page
                .keep("interrupt page, given in INITIATE_CONTACT and never released");
            self.monitor
                .keep("monitor pages, given in INITIATE_CONTACT and never released");
        }
        for cpu in 0..self.synic.cpus() {
            match self.transport.synic_setup(cpu, 0, 0, false) {
                Ok(st) if st == HvStatus::SUCCESS => {}
                _ => self
                    .synic
                    .keep(cpu, "SynIC pages the host did not let go of"),
            }
        }
    }
}

/// What [`Connection::describe`] reports.
pub(crate) struct ConnectionSummary {
    transport: &'static str,
    version: Option<crate::proto::version::Version>,
    msg_conn_id: u32,
    channels: usize,
    open: usize,
    messages: u64,
    bad_messages: u64,
    eoms: u64,
    idle_polls: u64,
}

impl core::fmt::Display for ConnectionSummary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.version {
            Some(v) => write!(
                f,
                "connected version={}.{} msg_conn_id={}",
                v.major(),
                v.minor(),
                self.msg_conn_id
            )?,
            None => write!(f, "disconnected")?,
        }
        write!(
            f,
            " transport={} channels={} open={} messages={} bad_messages={} eoms={} idle_polls={}",
            self.transport,
            self.channels,
            self.open,
            self.messages,
            self.bad_messages,
            self.eoms,
            self.idle_polls
        )
    }
}

/// Sets bit `bit` of the bit array at byte `off` of `pages`, atomically.
fn set_bit32(pages: &SharedPages, off: usize, bit: usize) {
    let Ok(w) = pages.word32(off + (bit / 32) * 4) else {
        return;
    };
    let mask = 1u32 << (bit % 32);
    let mut old = w.load(Relaxed);
    while old & mask == 0 {
        match w.cmpxchg(old, old | mask, kernel::sync::atomic::ordering::Full) {
            Ok(_) => return,
            Err(cur) => old = cur,
        }
    }
}

fn code_of(s: &ChannelState) -> u32 {
    match s {
        ChannelState::Offered(_) | ChannelState::Suspended(_) => state_code::OFFERED,
        ChannelState::Opening { .. } => state_code::OPENING,
        ChannelState::Open { .. } => state_code::OPENED,
        ChannelState::Closing { .. } => state_code::CLOSING,
        ChannelState::Closed(_) => state_code::CLOSED,
        ChannelState::Rescinded { .. } | ChannelState::Released => state_code::RESCINDED,
    }
}

fn msg_name(m: &GuestMessage) -> u32 {
    m.msgtype().0
}

fn ev_name(e: &ConnectionEvent) -> &'static str {
    match e {
        ConnectionEvent::Connect(_) => "connect",
        ConnectionEvent::PostFailed { .. } => "post failure",
        ConnectionEvent::Host(_) => "host message",
        ConnectionEvent::RequestOffers => "request offers",
        ConnectionEvent::Unload => "unload",
        ConnectionEvent::Suspend => "suspend",
        ConnectionEvent::Resume(_) => "resume",
        ConnectionEvent::Timeout => "timeout",
    }
}

#[path = "hibernate.rs"]
mod hibernate;
pub(crate) use hibernate::{pm_link, pm_unlink};
