// SPDX-License-Identifier: GPL-2.0

//! Channel management (`channel_mgmt.c`): offers and rescinds, the channel
//! table's lookups, the channel state machine's steps, relid release and
//! the device-model changes they queue.
//!
//! Context: the message work (offers, rescinds, channel messages) and the
//! device work (adds, removes, releases), both in process context, with
//! `inner` held where a function takes `&mut Inner`.

use super::*;

impl Connection {
    pub(super) fn on_offer(self: &Arc<Self>, inner: &mut Inner, o: &Offer) {
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
            .push_entry(Entry {
                chan: chan.clone(),
                state,
                ring: None,
                ring_bytes: RingBytes::default(),
                hib: hibernate::Saved::default(),
            })
            .is_ok();
        if added {
            self.publish(o.relid, &chan);
            let sub = if info.sub_channel_index != 0 {
                " (sub-channel)"
            } else {
                ""
            };
            pr_info!(
                "offer: relid {} {} {:?}{}\n",
                o.relid.get(),
                crate::bus::classes::name(&info.if_type),
                info.if_instance,
                sub
            );
            self.queue_dev_op(inner, DevOp::Add(chan, primary));
        }
    }

    pub(super) fn on_rescind(self: &Arc<Self>, inner: &mut Inner, relid: Relid) {
        if inner.find(relid).is_none() {
            if self.warn.allow() {
                pr_warn!("rescind of unknown relid {}\n", relid.get());
            }
            return;
        }
        let _ = self.chan_step(
            inner,
            relid,
            ChannelEvent::Host(HostMessage::Rescind { relid }),
        );
        self.on_driver_gpadls_rescinded(inner, relid);
        // The relid is released once the driver is told and the device is
        // gone (the device work, in order with adds and removes).
        let Some(e) = inner.find(relid) else { return };
        let chan = e.chan.clone();
        let primary = self.primary_of(inner, &chan);
        self.queue_dev_op(inner, DevOp::Rescind(chan, primary));
    }

    /// The primary channel of sub-channel `ch` (`None` for a primary).
    pub(super) fn primary_of(&self, inner: &Inner, ch: &Channel) -> Option<Arc<Channel>> {
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

    pub(super) fn pick_cpu(&self) -> u32 {
        let n = self.synic.cpus().max(1);
        for _ in 0..n {
            let c = self.next_cpu.fetch_add(1, Relaxed) % n;
            if self.cpu_usable(c) {
                return c;
            }
        }
        0
    }

    // ---- Channel steps --------------------------------------------------

    /// Runs the channel state machine of `relid` and carries out its
    /// actions. A post that fails is fed back as
    /// [`ChannelEvent::PostFailed`]; if that moves the machine on, the rest
    /// of this step's actions are stale and dropped. Returns `EIO` if a
    /// post of this step (or of the steps it led to) failed.
    pub(super) fn chan_step(
        self: &Arc<Self>,
        inner: &mut Inner,
        relid: Relid,
        ev: ChannelEvent,
    ) -> Result {
        let Some(e) = inner.find(relid) else {
            return Ok(());
        };
        let (next, actions) = match e.state.on_event(ev) {
            Ok(r) => r,
            Err(err) => {
                if self.warn.allow() {
                    pr_warn!("channel {}: event ignored: {:?}\n", relid.get(), err);
                }
                return Ok(());
            }
        };
        e.state = next;
        let chan = e.chan.clone();
        if let Some(code) = code_of(&next) {
            chan.state.store(code, Relaxed);
        }
        // A ring GPADL that could not be sent (all or part of it).
        let mut unsent = None;
        let mut result = Ok(());
        for a in actions.iter() {
            match a {
                ChannelAction::Post(m) => {
                    if self.post(inner, &m).is_err() {
                        result = Err(EIO);
                        let before = inner.state_of(relid);
                        let _ = self.chan_step(inner, relid, ChannelEvent::PostFailed(m.msgtype()));
                        if inner.state_of(relid) != before {
                            break;
                        }
                    }
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
                    chan.detach_rings();
                }
                ChannelAction::RingKept(g) => {
                    // The host may still use the ring: it waits among the
                    // orphans for a teardown or UNLOAD_RESPONSE.
                    if let Some((rg, m, _)) = inner.find(relid).and_then(|e| e.ring.take()) {
                        if self.warn.allow() {
                            pr_err!(
                                "channel {}: its close could not be posted; ring GPADL {:#x} stays with the host\n",
                                relid.get(),
                                g.get()
                            );
                        }
                        self.orphan(inner, rg, m);
                    }
                    chan.detach_rings();
                }
                ChannelAction::OpenNotSent => {
                    if self.warn.allow() {
                        pr_err!(
                            "channel {}: OPEN_CHANNEL could not be posted; the open failed\n",
                            relid.get()
                        );
                    }
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
                    // The rings stay attached, as on Linux, where they stay
                    // until the driver closes the channel: the driver's
                    // remove() may wait for completions the host wrote
                    // before its rescind (hv_netvsc's NAPI reads them).
                    // The ring memory is the guest's and the `Rings` hold
                    // it; sends are refused once the driver has been told
                    // (the device work, `DevOp::Rescind`).
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
            let _ = self.chan_step(inner, relid, ChannelEvent::GpadlNotSent);
            result = Err(EIO);
        }
        self.cv.notify_all();
        result
    }

    /// Drops a released channel from the table; its ring memory waits for
    /// the host's teardown among the orphans.
    pub(super) fn forget(self: &Arc<Self>, inner: &mut Inner, relid: Relid) {
        let Some(i) = inner.find_index(relid) else {
            return;
        };
        let Some(e) = inner.remove_entry(i) else {
            return;
        };
        self.unpublish(&e.chan);
        if let Some((g, m, _)) = e.ring {
            self.orphan(inner, g, m);
        }
        let primary = self.primary_of(inner, &e.chan);
        pr_info!("relid {} released\n", relid.get());
        self.queue_dev_op(inner, DevOp::Remove(e.chan, primary));
    }

    /// Ring memory the host may still hold, of a channel that no longer
    /// owns it: kept among the orphans until the host tears its GPADL down
    /// or answers UNLOAD.
    pub(super) fn orphan(&self, inner: &mut Inner, g: GpadlId, m: Arc<SharedPages>) {
        if let Err(err) = inner.orphans.push((g, m.clone()), GFP_KERNEL) {
            // Untracked, the host's teardown could not free it later.
            pr_err!("no memory to track ring memory: {:?}\n", err);
            m.keep("no memory to track it");
        }
    }

    pub(super) fn on_torndown(self: &Arc<Self>, inner: &mut Inner, m: HostMessage) {
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
            let _ = self.chan_step(inner, relid, ChannelEvent::Host(m));
            return;
        }
        if self.on_driver_gpadl_torndown(inner, gpadl) {
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

    // ---- Device model -------------------------------------------------

    /// Removes the bus device of primary channel `ch` (and its
    /// sub-channels' directories) in the device work, as Linux's
    /// `vmbus_device_unregister()` does: a channel that is not rescinded
    /// stays offered; a rescinded one whose driver removes its device
    /// itself ([`ChannelDriver::removes_device`]) has its relid released
    /// then, unless its driver still has it open. A device that is already
    /// gone is left alone.
    pub(crate) fn unregister_device(self: &Arc<Self>, ch: &Arc<Channel>) {
        let mut inner = self.inner.lock();
        self.queue_dev_op(&mut inner, DevOp::Unregister(ch.clone()));
    }

    /// Takes a queued [`DevOp::Unregister`] of `ch` out of the queue;
    /// true if there was one.
    fn take_unregister(&self, ch: &Arc<Channel>) -> bool {
        let mut inner = self.inner.lock();
        let before = inner.dev_ops.len();
        inner
            .dev_ops
            .retain(|op| !matches!(op, DevOp::Unregister(c) if Arc::ptr_eq(c, ch)));
        inner.dev_ops.len() != before
    }

    /// The device-model steps of a rescind of `ch` ([`DevOp::Rescind`],
    /// and [`DevOp::Vanished`] after hibernation), as Linux's
    /// `vmbus_onoffer_rescind()`: its driver is told (`channel->rescind`),
    /// then sends fail, then its device is removed (`primary`: of a
    /// sub-channel) unless the driver removes it itself. The hv_vmbus
    /// binding's callback goes on until its driver closes the channel
    /// (`hv/binding.rs`).
    ///
    /// Returns whether the driver keeps the channel open for now
    /// ([`ChannelDriver::rescinded`]) and whether it removes the device
    /// itself (then the relid goes when it does, [`DevOp::Unregister`]).
    /// The caller releases the relid. Device work only.
    fn tell_rescinded(&self, ch: &Arc<Channel>, primary: Option<&Arc<Channel>>) -> (bool, bool) {
        let driver = ch.driver();
        let kept = driver.as_ref().is_some_and(|d| d.rescinded());
        ch.refuse_sends();
        // A driver with a rescind callback removes the device itself, as
        // on hv_vmbus. One that asked for it from the callback
        // (`uio_hv_generic`) has it removed here, before the operations
        // queued after the rescind (the host may offer the same device
        // again at once, under its instance GUID).
        let driver_removes =
            driver.is_some_and(|d| d.removes_device()) && !self.take_unregister(ch);
        if !driver_removes {
            self.upper.remove_device(ch, primary);
        }
        (kept, driver_removes)
    }

    pub(super) fn queue_dev_op(self: &Arc<Self>, inner: &mut Inner, op: DevOp) {
        if inner.dev_ops.push(op, GFP_KERNEL).is_ok() {
            let _ = workqueues::devices().enqueue::<_, 1>(self.clone());
        }
    }

    /// Applies the queued device adds and removes, in order: the queue is
    /// taken whole and worked off, then looked at again (O(1) per
    /// operation, however many an offer burst queued).
    pub(super) fn apply_dev_ops(self: &Arc<Self>) {
        let _serial = self.dev_lock.lock();
        loop {
            let ops = {
                let mut inner = self.inner.lock();
                if inner.dev_ops.is_empty() {
                    return;
                }
                core::mem::replace(&mut inner.dev_ops, KVec::new())
            };
            for op in ops {
                match op {
                    DevOp::Add(ch, p) => {
                        if let Err(e) = self.upper.add_device(&ch, p.as_ref()) {
                            pr_err!("relid {}: no device ({:?})\n", ch.relid(), e);
                        } else if let Some(d) = p.as_ref().and_then(|p| p.driver()) {
                            // A sub-channel: the primary's driver may use it.
                            d.sub_offered(&ch);
                        }
                    }
                    DevOp::Remove(ch, p) => self.upper.remove_device(&ch, p.as_ref()),
                    DevOp::Unregister(ch) => {
                        self.upper.remove_device(&ch, None);
                        let relid = ch.info().relid;
                        let mut inner = self.inner.lock();
                        // The relid is this channel's still (once released,
                        // the host may have offered another channel under
                        // it).
                        let state = inner
                            .find(relid)
                            .filter(|e| Arc::ptr_eq(&e.chan, &ch))
                            .map(|e| e.state);
                        if let Some(ChannelState::Rescinded {
                            kept_open: false, ..
                        }) = state
                        {
                            let _ = self.chan_step(&mut inner, relid, ChannelEvent::Release);
                        }
                    }
                    DevOp::Vanished(ch) => {
                        // Its relid went with the unload: nothing to
                        // release.
                        let _ = self.tell_rescinded(&ch, None);
                    }
                    DevOp::Rescind(ch, p) => {
                        let (kept, driver_removes) = self.tell_rescinded(&ch, p.as_ref());
                        let relid = ch.info().relid;
                        let mut inner = self.inner.lock();
                        // A sub-channel's driver closes it later, with its
                        // primary (hv_netvsc's `remove()`), and reads the
                        // host's last completions until then: its relid
                        // goes at that close (`ChannelEvent::DriverKeeps`).
                        // Its rings are detached under `inner`, so the
                        // close is either over (release now) or finds the
                        // channel kept.
                        let ev = if kept && ch.rings_attached() {
                            ChannelEvent::DriverKeeps
                        } else if driver_removes {
                            // Released when its driver has the device
                            // removed (`DevOp::Unregister`), as hv_vmbus
                            // releases it when the device goes.
                            continue;
                        } else {
                            ChannelEvent::Release
                        };
                        let _ = self.chan_step(&mut inner, relid, ev);
                    }
                }
            }
        }
    }

    /// Finds the channel with `relid`.
    pub(crate) fn channel(&self, relid: u32) -> Option<Arc<Channel>> {
        let r = Relid::new(relid)?;
        self.inner.lock().find(r).map(|e| e.chan.clone())
    }
}
