// SPDX-License-Identifier: GPL-2.0

//! Message and event dispatch: the message work takes the host's messages
//! out of the SynIC message slots in order and feeds them to the state
//! machines, then scans the event flags and wakes the channels.
//!
//! One run takes at most [`MESSAGES_PER_RUN`] messages. When more wait, it
//! still scans the event flags, then queues itself again and returns, so
//! that the worker yields between runs: a host that refills the slot as
//! fast as the guest frees it can neither starve the channels' events nor
//! keep a CPU in one endless work item.
//!
//! With `irq_events=1` (the default) the event flags are not the message
//! work's: the transport's interrupt handler takes them
//! ([`Connection::on_interrupt_irq`], hard IRQ) and queues the message work
//! only when a message waits, so that no work item lies between the
//! host's signal and the channel (Linux's `vmbus_isr` calls
//! `vmbus_chan_sched` the same way). With `irq_events=0` the message work
//! scans them after the messages, as before.
//!
//! Context: the message work (process context, rvmbus's ordered message
//! workqueue), queued by [`Connection::kick`] from the transport's
//! interrupt, and by itself; [`Connection::on_interrupt_irq`] in hard IRQ.

use super::*;

/// The most messages one run of the message work takes.
const MESSAGES_PER_RUN: u32 = 32;

impl Connection {
    /// The message work: waiting messages in order (at most
    /// [`MESSAGES_PER_RUN`]), then the events; queued again if messages
    /// are left.
    pub(super) fn poll(self: &Arc<Self>) {
        // The way out takes the slots over for good.
        let Some(_slots) = self.dispatch.enter() else {
            return;
        };
        self.irq_stamp.end(&pathtime::IRQ_TO_WORK);
        let mut found = false;
        let mut budget = MESSAGES_PER_RUN;
        let mut more = false;
        'cpus: for cpu in 0..self.synic.cpus() {
            loop {
                if budget == 0 {
                    more = (cpu..self.synic.cpus()).any(|c| self.synic.has_message(c));
                    break 'cpus;
                }
                let Some(t) = self.synic.take_message(cpu) else {
                    break;
                };
                budget -= 1;
                found = true;
                if t.eom {
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
        let irq_events = self.irq_events;
        if !irq_events {
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
        }
        if more {
            // The rest waits for the next run, after the worker yielded.
            self.stats.yields.add(1, Relaxed);
            let _ = workqueues::messages().enqueue::<_, 0>(self.clone());
        }
        // With the events taken in the interrupt handler, it counts the
        // idle interrupts itself.
        if !found && !irq_events {
            self.note_idle();
        }
    }

    /// An interrupt found no message and no event; every
    /// [`IDLE_POLL_WARN`] of them a (rate-limited) warning says so. Any
    /// context.
    fn note_idle(&self) {
        let n = self.stats.idle_polls.fetch_add(1, Relaxed) + 1;
        if n % IDLE_POLL_WARN == 0 && self.warn.allow() {
            pr_warn!(
                "{} interrupts from the host so far found no message and no event: an interrupt storm?\n",
                n
            );
        }
    }

    /// The transport's interrupt with `irq_events=1` (hard IRQ): takes the
    /// event flags of every CPU's SynIC and hands each event to its
    /// channel, found in the relid table in O(1); returns whether a
    /// message waits in a SynIC slot (for the message work).
    pub(super) fn on_interrupt_irq(&self) -> bool {
        let mut found = false;
        {
            let table = self.relids.lock();
            for cpu in 0..self.synic.cpus() {
                self.synic.take_events(cpu, |word, mut bits| {
                    found |= bits != 0;
                    while bits != 0 {
                        let bit = bits.trailing_zeros();
                        bits &= bits - 1;
                        // CAST: `word < 32` and `bit < 64`.
                        let relid = Relid::new(word as u32 * 64 + bit);
                        match relid.and_then(|r| table.get(r)) {
                            Some(c) => c.on_event_irq(),
                            None => {
                                if let Some(r) = relid {
                                    if self.warn.allow() {
                                        pr_warn!("event for unknown relid {}\n", r.get());
                                    }
                                }
                            }
                        }
                    }
                });
            }
        }
        let message = (0..self.synic.cpus()).any(|c| self.synic.has_message(c));
        if !found && !message {
            self.note_idle();
        }
        message
    }

    pub(super) fn on_message(self: &Arc<Self>, slot: &[u8]) {
        self.stats.messages.add(1, Relaxed);
        if crate::support::trace::on_msg_dpc_enabled() {
            crate::support::trace::on_msg_dpc(slot_msgtype(slot));
        }
        let decoded = HvMessage::decode_channel(slot)
            .map_err(|_| "SynIC slot")
            .and_then(|m| HostMessage::decode(m.valid_payload()).map_err(|_| "message"));
        let m = match decoded {
            Ok(m) => m,
            Err(what) => {
                self.stats.bad_messages.add(1, Relaxed);
                if self.warn.allow() {
                    let ty = slot_msgtype(slot);
                    pr_warn!("dropped an invalid {} from the host (type {})\n", what, ty);
                }
                return;
            }
        };
        super::trace::received(&m);
        let mut inner = self.inner.lock();
        let _ = self.step(&mut inner, ConnectionEvent::Host(m));
    }

    pub(super) fn on_event(&self, relid: u32) {
        let Some(relid) = Relid::new(relid) else {
            return;
        };
        crate::support::trace::chan_sched(relid.get());
        let ch = self.relids.lock().get(relid).cloned();
        match ch {
            Some(c) => c.on_interrupt(),
            None => {
                if self.warn.allow() {
                    pr_warn!("event for unknown relid {}\n", relid.get());
                }
            }
        }
    }
}

/// The message type of a SynIC slot's payload (0 if the slot is too short
/// to hold one), read before the slot is validated.
fn slot_msgtype(slot: &[u8]) -> u32 {
    slot.get(16..20)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}
