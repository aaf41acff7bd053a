// SPDX-License-Identifier: GPL-2.0

//! Unload: every device removed, UNLOAD sent and its answer awaited, then
//! the memory the host gave back freed and the SynIC set-up undone.
//!
//! Context: process context (module unload, transport removal), no lock
//! held on entry.
//!
//! And the way out ([`Connection::quiesce`]), when the kernel goes away
//! under the bus: UNLOAD by polling, the SynIC off, nothing freed; any
//! context, no lock, no sleep.

use kernel::{
    sync::atomic::ordering::{Acquire, Release},
    time::delay::udelay,
};

use super::*;

impl Connection {
    /// Unloads: removes the devices, sends UNLOAD and waits for the answer,
    /// then frees ring memory the host gave back and undoes the SynIC
    /// set-up.
    pub(crate) fn shutdown(self: &Arc<Self>, timeout_ms: u32) {
        let mut inner = self.inner.lock();
        inner.closing = true;
        // Waits for the host that began before end now, or within
        // `timeout_ms` more (`HostWait::Answer`).
        self.cv.notify_all();
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
        while let Some(e) = inner.pop_entry() {
            self.unpublish(&e.chan);
            e.chan.detach_rings();
            if let Some((g, m, _)) = e.ring {
                let _ = inner.orphans.push((g, m), GFP_KERNEL);
            }
            removed += 1;
        }
        let answered = match inner.state {
            ConnectionState::Connected { version, .. } => {
                let start = Instant::<Monotonic>::now();
                // A failed post of UNLOAD, or a host too old for it, ends
                // the unload at once (`proto::connection`).
                let _ = self.step(&mut inner, ConnectionEvent::Unload);
                let r = wait_until!(
                    self,
                    inner,
                    timeout_ms,
                    !matches!(inner.state, ConnectionState::Unloading { .. })
                );
                if r.is_err() {
                    let _ = self.step(&mut inner, ConnectionEvent::Timeout);
                }
                let answered = !inner.pages_with_host;
                if answered {
                    pr_info!(
                        "the host answered UNLOAD in {} ms\n",
                        start.elapsed().as_millis()
                    );
                } else if !version.has_unload() {
                    pr_info!(
                        "UNLOAD not sent: VMBus {}.{} hosts do not know it (Linux sends it from 3.0 on)\n",
                        version.major(),
                        version.minor()
                    );
                } else if r.is_err() {
                    pr_err!(
                        "the host did not answer UNLOAD in {} ms; unloading without it\n",
                        timeout_ms
                    );
                } else {
                    pr_err!("UNLOAD could not be posted; unloading without it\n");
                }
                answered
            }
            _ => false,
        };
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
                m.keep("the host did not answer UNLOAD");
            }
        }
        drop(orphans);
        if keep_conn_pages {
            self.int_page
                .keep("interrupt page, given in INITIATE_CONTACT and never released");
            self.monitor
                .keep("monitor pages, given in INITIATE_CONTACT and never released");
        }
        self.synic_disable();
        // A CPU that went offline with its SynIC up (only for suspend,
        // which came back here without it) cannot be reached: the host
        // may still write its pages.
        for cpu in 0..self.synic.cpus() {
            if self.synic.is_up(cpu) {
                self.synic
                    .keep(cpu, "SynIC of a CPU that could not be reached");
            }
        }
    }
}

// ---- The way out --------------------------------------------------------

/// How long the way out waits between two looks at the host's answer.
const WAY_OUT_POLL_US: i64 = 20;

/// The message work's claim on the SynIC slots, which the way out takes
/// away from it for good: both read the slots, and a message must be
/// taken by one of them only.
pub(super) struct DispatchGate(Atomic<u32>);

/// Nobody reads the slots.
const GATE_IDLE: u32 = 0;
/// The message work reads them.
const GATE_BUSY: u32 = 1;
/// The way out owns them.
const GATE_CLOSED: u32 = 2;

/// The message work's turn; the slots are free again when it is dropped.
pub(super) struct GateTurn<'a>(&'a DispatchGate);

impl DispatchGate {
    pub(super) const fn new() -> Self {
        Self(Atomic::new(GATE_IDLE))
    }

    /// The message work's turn, or `None` once the way out took the slots.
    /// The message work is one ordered work item, so it never finds the
    /// gate busy.
    pub(super) fn enter(&self) -> Option<GateTurn<'_>> {
        self.0
            .cmpxchg(GATE_IDLE, GATE_BUSY, Acquire)
            .ok()
            .map(|_| GateTurn(self))
    }

    /// Takes the slots from the message work, waiting for it to finish its
    /// turn at most `polls` times [`WAY_OUT_POLL_US`]. Never sleeps.
    /// Returns whether it finished (if not, its turn ends on a stopped CPU
    /// or later, and the way out goes on beside it).
    fn close(&self, polls: u32) -> bool {
        for _ in 0..polls {
            match self.0.cmpxchg(GATE_IDLE, GATE_CLOSED, Acquire) {
                Ok(_) => return true,
                Err(GATE_CLOSED) => return true,
                Err(_) => udelay(Delta::from_micros(WAY_OUT_POLL_US)),
            }
        }
        self.0.store(GATE_CLOSED, Release);
        false
    }
}

impl Drop for GateTurn<'_> {
    fn drop(&mut self) {
        // Back to idle, unless the way out has closed the gate meanwhile.
        let _ = self.0 .0.cmpxchg(GATE_BUSY, GATE_IDLE, Release);
    }
}

/// What the way out found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WayOut {
    /// The host answered UNLOAD.
    Answered,
    /// No answer in time.
    NoAnswer,
    /// UNLOAD could not be posted.
    NotPosted,
    /// There was no connection to unload.
    NotConnected,
}

impl Connection {
    /// The way out: the kernel goes away under the bus (kexec, or a crash
    /// when `crash`), as Linux's `vmbus_initiate_unload(true)` and
    /// `hv_synic_cleanup` do it. UNLOAD is posted and the answer awaited
    /// by reading the SynIC slots (at most `timeout_ms`; the message work
    /// is kept out of them), then the SynIC is turned off on every CPU
    /// that can be reached (in a crash, with no IPI, only this one on
    /// Hyper-V). Nothing is freed; the devices and drivers are left as
    /// they are. Runs once.
    ///
    /// Context: any; takes no lock and never sleeps.
    pub(crate) fn quiesce(&self, crash: bool) {
        if self.way_out.xchg(true, Relaxed) {
            return;
        }
        let polls = shim::timeout_ms().saturating_mul(1000) / WAY_OUT_POLL_US as u32;
        let what = if crash { "crash" } else { "kexec or restart" };
        if !self.dispatch.close(polls) {
            pr_warn!(
                "way out ({}): the message work did not stop; going on beside it\n",
                what
            );
        }
        let id = self.live_conn_id.load(Relaxed);
        let outcome = if id == 0 {
            WayOut::NotConnected
        } else {
            self.unload_now(id, crash, polls)
        };
        let mut off = 0;
        let mut left = 0;
        for cpu in 0..self.synic.cpus() {
            if !self.synic.is_up(cpu) {
                continue;
            }
            match self.transport.synic_off_now(cpu, !crash) {
                Ok(st) if st == HvStatus::SUCCESS => {
                    self.synic.set_up(cpu, false);
                    off += 1;
                }
                _ => left += 1,
            }
        }
        self.synic_on.store(false, Relaxed);
        match outcome {
            WayOut::Answered => pr_info!(
                "way out ({}): the host answered UNLOAD; SynIC off on {} CPUs ({} left on)\n",
                what,
                off,
                left
            ),
            other => pr_err!(
                "way out ({}): {:?}; SynIC off on {} CPUs ({} left on)\n",
                what,
                other,
                off,
                left
            ),
        }
    }

    /// Posts UNLOAD on connection id `id` and reads the SynIC slots until
    /// its answer comes, at most `polls` times; other messages are dropped
    /// (the host forgets everything with UNLOAD), with the EOM they ask for.
    fn unload_now(&self, id: u32, crash: bool, polls: u32) -> WayOut {
        let Ok(input) = HvInputPostMessage::channel(id, GuestMessage::Unload.encode().as_bytes())
        else {
            return WayOut::NotPosted;
        };
        let mut bytes = [0u8; 256];
        if input.write_to(&mut bytes).is_none() {
            return WayOut::NotPosted;
        }
        // Tried again as any post is (`proto::post`), busy-waiting as
        // Linux's `vmbus_post_msg` does when it may not sleep.
        let mut retry = PostRetry::new(false);
        loop {
            let Ok(st) = self.transport.post_message_now(&bytes) else {
                return WayOut::NotPosted;
            };
            match retry.on_status(st) {
                PostStep::Posted => break,
                PostStep::Retry { after_us } => {
                    let mut left = after_us;
                    while left > 0 {
                        let n = left.min(1000);
                        udelay(Delta::from_micros(i64::from(n)));
                        left -= n;
                    }
                }
                PostStep::Failed(_) => return WayOut::NotPosted,
            }
        }
        for _ in 0..polls {
            for cpu in 0..self.synic.cpus() {
                while let Some(t) = self.synic.take_message(cpu) {
                    if t.eom {
                        let _ = self.transport.eom_now(cpu, !crash);
                    }
                    let unloaded = HvMessage::decode_channel(&t.bytes)
                        .ok()
                        .and_then(|m| HostMessage::decode(m.valid_payload()).ok())
                        .is_some_and(|m| matches!(m, HostMessage::UnloadResponse));
                    if unloaded {
                        return WayOut::Answered;
                    }
                }
            }
            udelay(Delta::from_micros(WAY_OUT_POLL_US));
        }
        WayOut::NoAnswer
    }
}
