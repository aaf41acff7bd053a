// SPDX-License-Identifier: GPL-2.0

//! The VMBus connection (`vmbus_connection`): SynIC, interrupt and monitor
//! pages, version negotiation, posting, and the channel table keyed by
//! relid with its GPADL handles. Its other concerns are the files below it:
//! message and event dispatch (`dispatch`), the channel table's entries and
//! its index by relid (`table`), offers, rescinds and the device model
//! (`channel_mgmt`), open, close, GPADL and MODIFYCHANNEL
//! (`open_close`), signalling the host (`signal`), reading the monitor
//! pages for sysfs (`monitor`), the trace events of messages (`trace`),
//! unload and the way out when the kernel goes away (`unload`),
//! hibernation (`hibernate`), and CPUs that come and go (`cpuhp`).
//!
//! Every protocol decision is `proto::connection` and `proto::channel`;
//! these files feed them validated messages and carry out their actions.
//! The layers above are called only through [`Upper`] and the channels'
//! drivers (`super::upcalls`).
//!
//! # Contexts and locking
//!
//! - The transport's interrupt handler (hard IRQ) calls
//!   [`Connection::kick`]: with `irq_events=1` it takes the event flags and
//!   schedules each signalled channel's tasklet (`relids`, `dispatch`),
//!   and queues `work` on rvmbus's ordered message workqueue when a message
//!   waits; with `irq_events=0` it only queues `work`.
//! - `relids` (spinlock, interrupts off): the channels by relid; looked up
//!   by the interrupt handler, changed by the message and device work.
//!   Inside it the interrupt handler wakes a channel's waiters, schedules
//!   its tasklet, and takes its `driver` slot (and, in an `isr` driver's
//!   callback, what a send takes: `io`, `info`, the transport's signal
//!   lock).
//! - `work` (process context) copies messages out of the SynIC slots in
//!   order, sends EOM, runs the state machines under `inner`, posts what
//!   they ask for, then scans the event flags and wakes the channels; it
//!   takes a bounded number of messages per run and queues itself again
//!   when more wait (`dispatch`).
//! - Device add/remove runs on a second workqueue (`dev_work`) or in the
//!   caller of [`Connection::connect`]/[`Connection::shutdown`], serialised by
//!   `dev_lock`, so that a driver probe may wait for the message work.
//! - Callers that wait for the host sleep on `cv` with `inner` released:
//!   connect, the offers, unload, hibernation and interrupt moves for at
//!   most `timeout_ms`; open and close as long as Linux waits, until the
//!   answer comes, the channel is rescinded or unload begins (then at most
//!   `timeout_ms` more), see [`HostWait`].
//!
//! - The CPU hotplug callbacks (`cpuhp`) run with the CPU hotplug lock
//!   held for writing; connect and unload set the SynIC up and take it
//!   down under it held for reading, so neither races with a CPU that
//!   comes or goes.
//! - The way out (`unload`) runs when the kernel goes away, possibly in a
//!   crash: it takes no lock, stops the message work through
//!   `dispatch` (an atomic gate) and reads the SynIC slots itself.
//!
//! Lock order: the CPU hotplug lock → `dev_lock` → `inner` → a channel's
//! `io` / `devices`, and `inner` → `relids` → a channel's `driver` → its
//! `io` → its `info`; `info` is a leaf.

use kernel::{
    new_condvar, new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc, CondVar, Mutex, MutexGuard, SpinLockIrq,
    },
    time::{Delta, Instant, Monotonic},
    workqueue::{impl_has_work, new_work, Work, WorkItem},
};

use super::{
    channel::{state_code, Channel},
    relid_table::RelidTable,
    ring_buffer::{ring_pages, Rings},
    shmem::{SharedPages, MAX_PAGES, PAGE},
    upcalls::Upper,
};
use crate::{
    proto::{
        channel::{ChannelAction, ChannelEvent, ChannelState, OpenParams, RescindedRing},
        connection::{
            ConnectionAction, ConnectionEvent, ConnectionState, ContactFailure, OffersPhase,
        },
        gpadl::GpadlMessages,
        message::{GuestMessage, HostMessage, Offer},
        post::{PostFailure, PostRetry, PostStep},
        ring::RingError,
        types::{GpadlId, Relid},
        version::ContactConfig,
        wire::{
            monitor::pending_offset,
            synic::{HvInputPostMessage, HvMessage},
            Wire,
        },
    },
    support::{
        pathtime::{self, Stamp},
        ratelimit::Ratelimit,
        shim, workqueues,
    },
    transport::{HvStatus, Transport},
};

/// Bytes of each ring of a channel opened by the bus itself.
pub(crate) const DEFAULT_RING_BYTES: usize = 64 * 1024;

/// The largest ring [`Connection::open`] takes, data only, each way
/// (2044 KiB): the two rings of a channel, with a control page each, share
/// one block of [`SharedPages`], which holds at most [`MAX_PAGES`] pages
/// (4 MiB). The driver interfaces derive their bounds from it.
pub(crate) const RING_BYTES_MAX: usize = (MAX_PAGES / 2 - 1) * PAGE;

/// A device-model change waiting for the device work.
enum DevOp {
    Add(Arc<Channel>, Option<Arc<Channel>>),
    Remove(Arc<Channel>, Option<Arc<Channel>>),
    /// The host rescinded the channel: tell its driver, remove its device,
    /// then release the relid.
    Rescind(Arc<Channel>, Option<Arc<Channel>>),
    /// The driver of a primary channel asked for its device's removal
    /// (Linux's `vmbus_device_unregister()`); a driver that removes its
    /// device itself after a rescind has its relid released then.
    Unregister(Arc<Channel>),
    /// A Hyper-V socket channel that the host did not offer again after
    /// hibernation (Hyper-V never does): its driver is told as for a
    /// rescind and, as then, removes the device itself once its socket is
    /// gone (hv_sock's socket holds the channel); the relid went with the
    /// unload.
    Vanished(Arc<Channel>),
}

/// State under the connection lock.
struct Inner {
    state: ConnectionState,
    /// The channel table. Entries are added with [`Inner::push_entry`] and
    /// taken out with [`Inner::remove_entry`] or [`Inner::pop_entry`],
    /// which keep `by_relid` right.
    channels: KVec<Entry>,
    /// Where each relid's entry is in `channels` (`NO_ENTRY`: none), so
    /// that [`Inner::find`] is O(1) as Linux's `relid2channel` is.
    ///
    /// # Invariants
    ///
    /// `MAX_RELIDS` slots; every entry `i` of `channels` that is not
    /// suspended has `by_relid[its relid] == i`. Other slots may be stale:
    /// a lookup checks the entry it points to.
    by_relid: KVec<u16>,
    /// Some entry may be suspended (from freeze until the suspended
    /// channels that were not offered again are removed); when false none
    /// is, and an offer need not look for one.
    any_suspended: bool,
    /// Ring memory of channels that are gone, until the host tears its
    /// GPADL down.
    orphans: KVec<(GpadlId, Arc<SharedPages>)>,
    /// GPADLs that drivers made over their own memory
    /// (`driver_gpadl.rs`).
    gpadls: KVec<driver_gpadl::DriverGpadl>,
    dev_ops: KVec<DevOp>,
    /// Set once shutdown began: no new offers, no new opens.
    closing: bool,
    /// While shutting down, the host let a wait time out.
    host_silent: bool,
    /// The host was given the interrupt and monitor pages (INITIATE_CONTACT
    /// was sent) and has not given them back (no UNLOAD_RESPONSE, no
    /// refusal of every version): they must not be freed.
    pages_with_host: bool,
    /// Why the last contact failed, for the caller's message.
    contact_failure: Option<ContactFailure>,
}

/// Connection-wide counters.
struct Stats {
    messages: Atomic<u64>,
    bad_messages: Atomic<u64>,
    eoms: Atomic<u64>,
    /// Tries of posts that the hypervisor asked to make again.
    post_retries: Atomic<u64>,
    /// Runs of the message work that left messages for the next run.
    yields: Atomic<u64>,
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
            post_retries: Atomic::new(0),
            yields: Atomic::new(0),
            idle_polls: Atomic::new(0),
        }
    }
}

/// The connection to the host.
#[pin_data]
pub(crate) struct Connection {
    transport: Arc<dyn Transport>,
    /// The layers above: the device model.
    upper: &'static dyn Upper,
    synic: super::synic::Synic,
    /// The interrupt page: host → guest half, then guest → host half.
    int_page: SharedPages,
    /// Monitor page 1 (host → guest) and monitor page 2 (guest → host).
    monitor: SharedPages,
    #[pin]
    inner: Mutex<Inner>,
    /// The channels by relid, for the interrupt handler: every channel of
    /// `inner.channels` under the relid the host gave it last (a suspended
    /// channel keeps its old one until the host offers it again).
    #[pin]
    relids: SpinLockIrq<RelidTable>,
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
    /// The SynIC is wanted: set up on every CPU that is online and comes
    /// online (from connect or resume to unload or freeze). Changed under
    /// the CPU hotplug lock.
    synic_on: Atomic<bool>,
    /// The CPU on its way offline ([`cpuhp::NO_CPU`] if none): no chooser
    /// gives it a channel (see `cpuhp`).
    leaving_cpu: Atomic<u32>,
    /// The message connection id while connected, else 0, for the way out,
    /// which cannot take `inner`. Written with the state (`step`).
    live_conn_id: Atomic<u32>,
    /// The message work's claim on the SynIC slots (see `unload`).
    dispatch: unload::DispatchGate,
    /// The way out ran (or runs).
    way_out: Atomic<bool>,
    stats: Stats,
    /// When the transport's interrupt queued the message work (profile).
    irq_stamp: Stamp,
    /// The event flags are scanned in the interrupt handler (else in the
    /// message work): the `irq_events` parameter. Fixed for the
    /// connection's life.
    irq_events: bool,
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

/// Waits on `cv` until `done` says so, at most `ms` milliseconds; only a
/// fatal signal ends it early (`EINTR`).
macro_rules! wait_until {
    ($self:expr, $guard:ident, $ms:expr, $done:expr) => {{
        let start = kernel::time::Instant::<kernel::time::Monotonic>::now();
        let limit = kernel::time::Delta::from_millis(i64::from($ms));
        loop {
            if $done {
                break Ok(());
            }
            if start.elapsed() > limit {
                break Err(kernel::error::code::ETIMEDOUT);
            }
            if let kernel::sync::CondVarTimeoutResult::Signal { .. } = $self
                .cv
                .wait_interruptible_timeout(&mut $guard, kernel::time::msecs_to_jiffies(20))
            {
                if $crate::support::shim::fatal_signal_pending() {
                    break Err(kernel::error::code::EINTR);
                }
                // Another signal (a shell's `SIGCHLD`) stays pending, so
                // waiting again would return at once: sleep the slice out
                // unlocked, as Linux's uninterruptible waits for the host.
                drop($guard);
                kernel::time::delay::fsleep(kernel::time::Delta::from_millis(20));
                $guard = $self.inner.lock();
            }
        }
    }};
}

/// How long a caller waits for the host's answer about a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostWait {
    /// As long as Linux waits (it has no time limit for open, GPADL and
    /// close): until the answer comes or the channel is rescinded, in an
    /// uninterruptible sleep so that no half-done wait leaves the channel
    /// in between. Once unload has begun, at most `timeout_ms` more (an
    /// open ends at once), so unload ends in bounded time.
    Answer,
    /// At most this many milliseconds (hibernation, where the PM core must
    /// not hang on the host).
    AtMost(u32),
}

/// Waits on `cv` until `done` says so, as [`HostWait::Answer`] describes:
/// without a time limit and uninterruptibly while the connection is not
/// unloading, then as [`wait_until!`] for at most `$unload_ms`. Every
/// change that `done` or unload depends on notifies `cv` with `inner`
/// held, so no wake-up is lost.
macro_rules! wait_answer {
    ($self:expr, $guard:ident, $unload_ms:expr, $done:expr) => {{
        while !($done) && !$guard.closing {
            $self.cv.wait(&mut $guard);
        }
        wait_until!($self, $guard, $unload_ms, $done)
    }};
}

mod channel_mgmt;
mod contact;
mod cpuhp;
mod dispatch;
mod driver_gpadl;
mod hibernate;
mod hvsock;
mod monitor;
mod open_close;
mod post;
mod signal;
mod table;
mod trace;
mod unload;

use post::PostError;
use table::Entry;

pub(crate) use monitor::{MonitorPage, MonitorSlot};
pub(crate) use open_close::RingBytes;
#[cfg(CONFIG_KUNIT)]
pub(crate) use signal::set_bit;

impl Connection {
    /// A connection over `transport`, with its pages allocated; nothing is
    /// sent to the host yet.
    pub(crate) fn new(
        transport: Arc<dyn Transport>,
        upper: &'static dyn Upper,
    ) -> Result<Arc<Self>> {
        let cpus = transport.vcpus().min(shim::nr_cpu_ids()).max(1);
        let irq_events = shim::irq_events();
        let relids = RelidTable::new()?;
        let by_relid = table::empty_index()?;
        Arc::pin_init(
            try_pin_init!(Self {
                synic: super::synic::Synic::new(cpus)?,
                int_page: SharedPages::new(1)?,
                monitor: SharedPages::new(2)?,
                transport,
                upper,
                inner <- new_mutex!(Inner {
                    state: ConnectionState::Disconnected,
                    channels: KVec::new(),
                    by_relid,
                    any_suspended: false,
                    orphans: KVec::new(),
                    gpadls: KVec::new(),
                    dev_ops: KVec::new(),
                    closing: false,
                    host_silent: false,
                    pages_with_host: false,
                    contact_failure: None,
                }),
                relids <- new_spinlock_irq!(relids, "Connection::relids"),
                cv <- new_condvar!(),
                dev_lock <- new_mutex!(()),
                work <- new_work!("rvmbus::Connection::work"),
                dev_work <- new_work!("rvmbus::Connection::dev_work"),
                gpadl_next: Atomic::new(0xe1e10),
                next_cpu: Atomic::new(0),
                synic_on: Atomic::new(false),
                leaving_cpu: Atomic::new(cpuhp::NO_CPU),
                live_conn_id: Atomic::new(0),
                dispatch: unload::DispatchGate::new(),
                way_out: Atomic::new(false),
                stats: Stats::new(),
                irq_stamp: Stamp::new(),
                irq_events,
                warn: Ratelimit::new(),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// Called from the transport's interrupt handler (any context): the
    /// host posted a message or signalled an event.
    pub(crate) fn kick(self: &Arc<Self>) {
        if self.irq_events && !self.on_interrupt_irq() {
            // Events only: no work item.
            return;
        }
        self.irq_stamp.mark();
        let _ = workqueues::messages().enqueue::<_, 0>(self.clone());
    }

    /// Puts `ch` into the relid table under `relid` (an offer, or a
    /// re-offer after resume).
    fn publish(&self, relid: Relid, ch: &Arc<Channel>) {
        let old = self.relids.lock().insert(relid, ch.clone());
        // Dropped outside the spinlock: a channel's drop may sleep.
        drop(old);
    }

    /// Takes `ch` out of the relid table (its entry leaves the channel
    /// table); no interrupt finds it afterwards.
    fn unpublish(&self, ch: &Arc<Channel>) {
        let relid = ch.info().relid;
        let old = self.relids.lock().remove(relid, ch);
        drop(old);
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
            post_retries: self.stats.post_retries.load(Relaxed),
            yields: self.stats.yields.load(Relaxed),
            idle_polls: self.stats.idle_polls.load(Relaxed),
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
        self.live_conn_id
            .store(next.message_connection_id().unwrap_or(0), Relaxed);
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
            } => {
                if let Err(e) = self.post_raw(connection_id, &message) {
                    let invalid_connection_id =
                        e == PostError::Refused(PostFailure::InvalidConnectionId);
                    if !invalid_connection_id && self.warn.allow() {
                        pr_err!(
                            "posting message type {} failed: {:?}\n",
                            msg_name(&message),
                            e
                        );
                    }
                    // No answer will come: the state machine moves on.
                    let _ = self.step(
                        inner,
                        ConnectionEvent::PostFailed {
                            invalid_connection_id,
                        },
                    );
                }
            }
            ConnectionAction::Offer(o) => self.on_offer(inner, &o),
            ConnectionAction::Rescind(relid) => self.on_rescind(inner, relid),
            ConnectionAction::ToChannel(relid, m) => {
                if self.on_driver_gpadl_created(inner, &m) {
                    // A driver's GPADL, not the ring's.
                } else if inner.find(relid).is_some() {
                    let _ = self.chan_step(inner, relid, ChannelEvent::Host(m));
                } else if self.warn.allow() {
                    pr_warn!(
                        "message {:?} for unknown relid {}\n",
                        m.msgtype().0,
                        relid.get()
                    );
                }
            }
            ConnectionAction::GpadlTorndown(m) => self.on_torndown(inner, m),
            ConnectionAction::TlConnectResult {
                service_id, status, ..
            } => self.on_tl_connect_result(service_id, status),
            ConnectionAction::ContactFailed(why) => {
                inner.contact_failure = Some(why);
                if !why.host_holds_pages() {
                    inner.pages_with_host = false;
                }
            }
            ConnectionAction::Disconnected { host_released }
            | ConnectionAction::Suspended { host_released } => {
                if host_released {
                    inner.pages_with_host = false;
                }
            }
            ConnectionAction::Connected { .. }
            | ConnectionAction::AllOffersDelivered
            | ConnectionAction::Dropped(_) => {}
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
    post_retries: u64,
    yields: u64,
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
            " transport={} channels={} open={} messages={} bad_messages={} eoms={} post_retries={} yields={} idle_polls={}",
            self.transport,
            self.channels,
            self.open,
            self.messages,
            self.bad_messages,
            self.eoms,
            self.post_retries,
            self.yields,
            self.idle_polls
        )
    }
}

/// The sysfs `state` of a channel in state `s`, as Linux would number it;
/// `None` where Linux leaves the number as it was (a rescind does not
/// change it).
fn code_of(s: &ChannelState) -> Option<u32> {
    match s {
        // Linux's CHANNEL_OPEN_STATE means "may be opened": offered, or
        // closed again (the close sets it before CLOSECHANNEL is sent).
        ChannelState::Offered(_)
        | ChannelState::Suspended(_)
        | ChannelState::Closing { .. }
        | ChannelState::Closed(_) => Some(state_code::OPEN),
        ChannelState::Opening { .. } => Some(state_code::OPENING),
        ChannelState::Open { .. } => Some(state_code::OPENED),
        ChannelState::Rescinded { .. } | ChannelState::Released => None,
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
