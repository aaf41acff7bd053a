// SPDX-License-Identifier: GPL-2.0

//! Hibernation: the connection-wide half of freeze, thaw and restore.
//!
//! `crate::pm` calls these from the PM callbacks of `/sys/devices/rvmbus`, the
//! parent of every vmbus device, so they run after every device's freeze
//! (the drivers' `suspend`, which stops their callbacks) and before any
//! device's thaw or restore (the drivers' `resume`).
//!
//! - **Freeze**: every open channel is closed by the bus (sub-channels
//!   first), remembering the ring size and CPU of each open primary;
//!   sub-channels are dropped (a host forgets them at unload; their devices'
//!   `channels/<relid>` go), the other channels become
//!   [`ChannelState::Suspended`] and lose their relid; then UNLOAD, kept
//!   as `ConnectionState::Suspended` with the negotiated version, and the
//!   SynIC is turned off.
//! - **Thaw** (the image is written, this kernel goes on) and **restore**
//!   (this kernel was loaded from the image) do the same: SynIC on,
//!   INITIATE_CONTACT with the saved version only, REQUEST_OFFERS. Each
//!   offer is matched to a suspended channel by class, instance GUID and
//!   sub-channel index and takes the new relid, connection id and monitor
//!   id ([`Connection::reoffered`]); an offer with no match is a new
//!   device. Suspended channels the host did not offer again are removed
//!   with their devices. Then the channels that were open are opened
//!   again with the same ring size, and the echo devices get the
//!   sub-channels they had ([`Connection::recreate_subchannels`]).
//!
//! Drivers see only `suspend` and `resume`: their channel is open again
//! (with new rings) when `resume` runs.
//!
//! Context: process context (the PM core's), no connection lock held on
//! entry; the message work and device work run meanwhile (their
//! workqueues do not freeze).

use kernel::{
    prelude::*,
    sync::{atomic::ordering::Relaxed, Arc},
};

use super::{code_of, Connection, DevOp, HostWait, Inner, RingBytes};
use crate::{
    bus::channel::Channel,
    proto::{
        channel::{ChannelAction, ChannelEvent, ChannelInfo, ChannelState},
        connection::{ConnectionEvent, ConnectionState},
        message::Offer,
    },
};

/// What a channel must get back after hibernation.
#[derive(Default)]
pub(super) struct Saved {
    /// It was open: ring bytes each way and the CPU.
    reopen: Option<(RingBytes, u32)>,
    /// Sub-channels it had (a primary).
    subs: u32,
}

impl Connection {
    /// Freeze: closes the channels and unloads, keeping the devices.
    pub(crate) fn hib_freeze(self: &Arc<Self>, timeout_ms: u32) {
        // Adds, removes and rescinds in flight finish first.
        self.apply_dev_ops();
        let mut subs: KVec<Arc<Channel>> = KVec::new();
        let mut prims: KVec<Arc<Channel>> = KVec::new();
        {
            let mut inner = self.inner.lock();
            if !matches!(inner.state, ConnectionState::Connected { .. }) {
                return;
            }
            for e in inner.channels.iter_mut() {
                if !e.state.is_open() {
                    continue;
                }
                let sub = e.chan.info().sub_channel_index != 0;
                if !sub {
                    e.hib.reopen = Some((e.ring_bytes, e.chan.target_cpu.load(Relaxed)));
                }
                let list = if sub { &mut subs } else { &mut prims };
                if list.push(e.chan.clone(), GFP_KERNEL).is_err() {
                    pr_err!(
                        "hibernation: no memory; channel {} stays open\n",
                        e.chan.relid()
                    );
                }
            }
        }
        for ch in Iterator::chain(subs.iter(), prims.iter()) {
            if let Err(e) = self.close(ch, HostWait::AtMost(timeout_ms)) {
                pr_warn!("hibernation: channel {} not closed ({:?})\n", ch.relid(), e);
            }
        }
        {
            let mut inner = self.inner.lock();
            self.drop_subchannels(&mut inner);
            let relids: KVec<_> = {
                let mut v = KVec::new();
                for e in inner.channels.iter() {
                    let _ = v.push(e.chan.info().relid, GFP_KERNEL);
                }
                v
            };
            inner.any_suspended = true;
            for r in relids {
                let _ = self.chan_step(&mut inner, r, ChannelEvent::Suspend);
            }
        }
        // The sub-channels' sysfs directories go now.
        self.apply_dev_ops();
        let mut inner = self.inner.lock();
        let _ = self.step(&mut inner, ConnectionEvent::Suspend);
        let r = wait_until!(
            self,
            inner,
            timeout_ms,
            !matches!(inner.state, ConnectionState::Unloading { .. })
        );
        let n = inner.channels.len();
        if r.is_err() {
            pr_err!(
                "hibernation: the host did not answer UNLOAD in {} ms\n",
                timeout_ms
            );
            let _ = self.step(&mut inner, ConnectionEvent::Timeout);
        }
        if !inner.pages_with_host {
            // The host answered UNLOAD: it let go of every GPADL.
            inner.orphans.clear();
        }
        drop(inner);
        self.synic_disable();
        pr_info!("hibernation: unloaded, {} channels suspended\n", n);
    }

    /// Drops every sub-channel from the table, counting them on their
    /// primary, and queues the removal of their sysfs directories.
    pub(super) fn drop_subchannels(self: &Arc<Self>, inner: &mut Inner) {
        let mut i = 0;
        while let Some(e) = inner.channels.get(i) {
            if e.chan.info().sub_channel_index == 0 {
                i += 1;
                continue;
            }
            let Some(e) = inner.remove_entry(i) else {
                return;
            };
            self.unpublish(&e.chan);
            if let Some((g, m, _)) = e.ring {
                // Not closed (the host did not answer): its memory waits
                // for UNLOAD_RESPONSE.
                let _ = inner.orphans.push((g, m), GFP_KERNEL);
            }
            let primary = self.primary_of(inner, &e.chan);
            if let Some(p) = &primary {
                let inst = p.info().if_instance;
                if let Some(pe) = inner.channels.iter_mut().find(|x| {
                    x.chan.info().if_instance == inst && x.chan.info().sub_channel_index == 0
                }) {
                    pe.hib.subs = pe.hib.subs.saturating_add(1);
                }
            }
            self.queue_dev_op(inner, DevOp::Remove(e.chan, primary));
        }
    }

    /// An offer while suspended channels wait: if it is one of them (same
    /// class, instance and sub-channel index), that channel takes the new
    /// relid and ids and `true` is returned.
    pub(super) fn reoffered(self: &Arc<Self>, inner: &mut Inner, o: &Offer) -> bool {
        let new = ChannelInfo::from_offer(o);
        if !inner.any_suspended {
            return false;
        }
        let Some(i) = inner.channels.iter().position(|e| match e.state {
            ChannelState::Suspended(old) => {
                old.if_type == new.if_type
                    && old.if_instance == new.if_instance
                    && old.sub_channel_index == new.sub_channel_index
            }
            _ => false,
        }) else {
            return false;
        };
        let Some(e) = inner.channels.get_mut(i) else {
            return false;
        };
        let old = e.chan.relid();
        let Ok((next, actions)) = e.state.on_event(ChannelEvent::Reoffer(*o)) else {
            return false;
        };
        e.state = next;
        if let Some(code) = code_of(&next) {
            e.chan.state.store(code, Relaxed);
        }
        let chan = e.chan.clone();
        for a in actions.iter() {
            if let ChannelAction::Resumed(info) = a {
                self.unpublish(&chan);
                chan.set_info(info);
                self.publish(info.relid, &chan);
            }
        }
        inner.index(i);
        pr_info!(
            "offer after resume: relid {} (was {}) {} {:?}: the same device\n",
            new.relid.get(),
            old,
            crate::bus::classes::name(&new.if_type),
            new.if_instance
        );
        true
    }

    /// Thaw and restore: reconnects with the saved version, matches the
    /// offers to the suspended channels, removes the devices not offered
    /// again and re-opens what was open.
    pub(crate) fn hib_resume(self: &Arc<Self>, timeout_ms: u32) -> Result {
        if !matches!(self.inner.lock().state, ConnectionState::Suspended { .. }) {
            return Ok(());
        }
        let r = self.hib_reconnect(timeout_ms);
        if let Err(e) = r {
            pr_err!(
                "hibernation: no connection after resume ({:?}); removing every device\n",
                e
            );
            let mut inner = self.inner.lock();
            inner.state = ConnectionState::Disconnected;
            self.remove_suspended(&mut inner);
            return Err(e);
        }
        let mut reopen = KVec::new();
        let mut subs = KVec::new();
        {
            let mut inner = self.inner.lock();
            self.remove_suspended(&mut inner);
            for e in inner.channels.iter_mut() {
                if !matches!(e.state, ChannelState::Offered(_)) {
                    continue;
                }
                if let Some((bytes, cpu)) = e.hib.reopen.take() {
                    reopen.push((e.chan.clone(), bytes, cpu), GFP_KERNEL)?;
                    let n = core::mem::take(&mut e.hib.subs);
                    if n > 0 {
                        subs.push((e.chan.clone(), n), GFP_KERNEL)?;
                    }
                }
                e.hib.subs = 0;
            }
        }
        let mut opened = 0;
        for (ch, bytes, cpu) in reopen.iter() {
            let cpu = if self.cpu_usable(*cpu) { *cpu } else { 0 };
            match self.open(ch, *bytes, cpu, HostWait::AtMost(timeout_ms)) {
                Ok(()) => {
                    opened += 1;
                    ch.schedule_callback();
                }
                Err(e) => pr_err!(
                    "hibernation: channel {} not re-opened ({:?})\n",
                    ch.relid(),
                    e
                ),
            }
        }
        for (ch, n) in subs.iter() {
            self.recreate_subchannels(ch, *n);
        }
        pr_info!("hibernation: resumed, {} channels re-opened\n", opened);
        Ok(())
    }

    /// SynIC on, INITIATE_CONTACT with the saved version, REQUEST_OFFERS
    /// and the offers.
    pub(super) fn hib_reconnect(self: &Arc<Self>, timeout_ms: u32) -> Result {
        self.synic_enable()?;
        let (inner, _) =
            self.contact(ConnectionEvent::Resume(self.contact_config()), timeout_ms)?;
        let ConnectionState::Connected { version, .. } = inner.state else {
            return Err(ETIMEDOUT);
        };
        pr_info!(
            "hibernation: reconnected with VMBus version {}.{}\n",
            version.major(),
            version.minor()
        );
        let inner = self.announce_connected(inner);
        let (_inner, r) = self.request_offers(inner, timeout_ms)?;
        if r.is_err() {
            pr_warn!(
                "hibernation: the host did not finish its offers in {} ms\n",
                timeout_ms
            );
        }
        Ok(())
    }

    /// Removes the channels (and devices) still suspended: the host did
    /// not offer them again.
    pub(super) fn remove_suspended(self: &Arc<Self>, inner: &mut Inner) {
        let mut i = 0;
        while let Some(e) = inner.channels.get(i) {
            if !matches!(e.state, ChannelState::Suspended(_)) {
                i += 1;
                continue;
            }
            let Some(e) = inner.remove_entry(i) else {
                return;
            };
            self.unpublish(&e.chan);
            let info = e.chan.info();
            pr_info!(
                "hibernation: {} {:?} was not offered again: removed\n",
                crate::bus::classes::name(&info.if_type),
                info.if_instance
            );
            if let Some((g, m)) = e.ring.map(|(g, m, _)| (g, m)) {
                let _ = inner.orphans.push((g, m), GFP_KERNEL);
            }
            let op = if info.is_hvsock() {
                DevOp::Vanished(e.chan)
            } else {
                let primary = self.primary_of(inner, &e.chan);
                DevOp::Remove(e.chan, primary)
            };
            self.queue_dev_op(inner, op);
        }
        inner.any_suspended = false;
    }

    /// Asks the device of `ch` (open) for the `n` sub-channels it had
    /// before hibernation, where the bus itself made them (the echo
    /// devices of the control file, [`Upper::restore_subchannels`]); other
    /// drivers ask again in `resume`.
    pub(super) fn recreate_subchannels(self: &Arc<Self>, ch: &Arc<Channel>, n: u32) {
        match self.upper.restore_subchannels(ch, n) {
            None => {}
            Some(Ok(got)) => pr_info!(
                "hibernation: channel {}: {} of {} sub-channels offered again\n",
                ch.relid(),
                got,
                n
            ),
            Some(Err(e)) => pr_err!(
                "hibernation: channel {}: sub-channels not re-created ({:?})\n",
                ch.relid(),
                e
            ),
        }
    }
}
