// SPDX-License-Identifier: GPL-2.0

//! The channels the host offers: relid and monitor id allocation, and each
//! channel's state (offered, open, rescinded and waiting for
//! `RELID_RELEASED`).

use std::collections::BTreeMap;
use std::fmt;

use vmbus_proto::message::Offer;
use vmbus_proto::types::{GpadlId, MonitorId, Relid, MAX_RELIDS};
use vmbus_proto::wire::monitor::MAX_MONITOR_ID;
use vmbus_proto::wire::Guid;

use super::offers::{make_offer, make_pipe_offer, DeviceKind, PipeOffer, Signalling};

/// The state of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelState {
    /// Offered (or not yet sent), closed.
    Offered,
    /// Open.
    Open {
        /// The ring buffer GPADL.
        ring_gpadl: GpadlId,
        /// The guest's open id.
        open_id: u32,
        /// The vCPU to interrupt.
        target_vp: u32,
        /// Page offset of the host → guest ring.
        downstream_page_offset: u32,
    },
    /// Rescinded; waiting for `RELID_RELEASED`.
    Rescinded,
}

impl fmt::Display for ChannelState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelState::Offered => f.write_str("offered"),
            ChannelState::Open { .. } => f.write_str("open"),
            ChannelState::Rescinded => f.write_str("rescinded"),
        }
    }
}

/// One channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Its relid.
    pub relid: Relid,
    /// The device kind.
    pub kind: DeviceKind,
    /// The instance GUID.
    pub instance: Guid,
    /// Its monitor id, if one was free (and the device uses one).
    pub monitor_id: Option<MonitorId>,
    /// Its sub-channel index (0: a primary channel).
    pub sub_index: u16,
    /// Offer options.
    pub signalling: Signalling,
    /// Its state.
    pub state: ChannelState,
    /// Whether the current guest connection has been sent the offer.
    pub sent: bool,
    /// Of a channel rescinded while open: the rings the host still
    /// services until the guest closes the channel, tears down its ring
    /// GPADL or releases the relid (the guest's driver waits for the
    /// completions of its sends).
    pub draining: Option<Draining>,
    /// Of an hv_sock connection's channel: what makes its offer one.
    pub pipe: Option<PipeOffer>,
}

/// The rings of a rescinded channel that the host still services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draining {
    /// The ring buffer GPADL.
    pub ring_gpadl: GpadlId,
    /// The vCPU to interrupt.
    pub target_vp: u32,
}

impl Channel {
    /// The vCPU to interrupt if the host services the channel's rings:
    /// open, or rescinded while open and not yet closed by the guest.
    pub fn serviced_vp(&self) -> Option<u32> {
        match (self.state, self.draining) {
            (ChannelState::Open { target_vp, .. }, _) => Some(target_vp),
            (ChannelState::Rescinded, Some(d)) => Some(d.target_vp),
            _ => None,
        }
    }

    /// The `OFFER_CHANNEL` contents.
    pub fn offer(&self) -> Offer {
        let mut o = make_offer(
            self.kind,
            self.instance,
            self.relid,
            self.monitor_id,
            self.sub_index,
            self.signalling.dedicated,
        );
        if let Some(p) = self.pipe {
            make_pipe_offer(&mut o, p);
        }
        o
    }
}

/// Why a channel cannot be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// Every relid is taken.
    NoRelid,
    /// Too many devices of this kind.
    TooMany,
}

/// All channels, by relid.
#[derive(Default)]
pub struct Channels {
    by_relid: BTreeMap<u32, Channel>,
    next_index: BTreeMap<DeviceKind, u16>,
}

impl Channels {
    /// Adds a device of `kind` with the lowest free relid and monitor id.
    pub fn add(&mut self, kind: DeviceKind) -> Result<Relid, AddError> {
        self.add_with(kind, Signalling::default())
    }

    /// Adds a device of `kind` with a fresh instance GUID and `signalling`.
    pub fn add_with(
        &mut self,
        kind: DeviceKind,
        signalling: Signalling,
    ) -> Result<Relid, AddError> {
        let index = self.next_index.entry(kind).or_insert(0);
        let instance = kind.instance(*index);
        *index = index.checked_add(1).ok_or(AddError::TooMany)?;
        self.insert(kind, instance, 0, signalling)
    }

    /// Adds a channel of an existing instance: a sub-channel
    /// (`sub_index` > 0) or a primary channel offered again.
    pub fn insert(
        &mut self,
        kind: DeviceKind,
        instance: Guid,
        sub_index: u16,
        signalling: Signalling,
    ) -> Result<Relid, AddError> {
        let relid = (1..MAX_RELIDS)
            .find(|r| !self.by_relid.contains_key(r))
            .and_then(Relid::new)
            .ok_or(AddError::NoRelid)?;
        let used: Vec<u8> = self
            .by_relid
            .values()
            .filter_map(|c| c.monitor_id.map(MonitorId::get))
            .collect();
        let monitor_id = (0..MAX_MONITOR_ID)
            .filter_map(|m| u8::try_from(m).ok())
            .find(|m| !used.contains(m))
            .and_then(MonitorId::new)
            .filter(|_| !signalling.no_monitor);
        self.by_relid.insert(
            relid.get(),
            Channel {
                relid,
                kind,
                instance,
                monitor_id,
                sub_index,
                signalling,
                state: ChannelState::Offered,
                sent: false,
                draining: None,
                pipe: None,
            },
        );
        Ok(relid)
    }

    /// Adds an hv_sock connection's channel: instance `instance`, offered
    /// as `pipe` says, without a monitor id (Hyper-V does not monitor
    /// hv_sock channels), with the lowest free relid.
    pub fn insert_pipe(&mut self, instance: Guid, pipe: PipeOffer) -> Result<Relid, AddError> {
        let signalling = Signalling {
            no_monitor: true,
            dedicated: false,
        };
        let relid = self.insert(DeviceKind::Hvsock, instance, 0, signalling)?;
        if let Some(c) = self.by_relid.get_mut(&relid.get()) {
            c.pipe = Some(pipe);
        }
        Ok(relid)
    }

    /// The channel with `relid`.
    pub fn get(&self, relid: Relid) -> Option<&Channel> {
        self.by_relid.get(&relid.get())
    }

    /// The channel with `relid`, mutable.
    pub fn get_mut(&mut self, relid: Relid) -> Option<&mut Channel> {
        self.by_relid.get_mut(&relid.get())
    }

    /// Removes a channel (released, or rescinded before it was sent).
    pub fn remove(&mut self, relid: Relid) -> Option<Channel> {
        self.by_relid.remove(&relid.get())
    }

    /// All channels in relid order.
    pub fn iter(&self) -> impl Iterator<Item = &Channel> {
        self.by_relid.values()
    }

    /// All channels in relid order, mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Channel> {
        self.by_relid.values_mut()
    }

    /// The guest connection ended (unload, new driver, disconnect): open
    /// channels close, rescinded ones are gone, nothing has been sent.
    /// Sub-channels are gone too, as on Hyper-V: a guest asks for them
    /// again on its new connection; so are hv_sock connections.
    pub fn reset_connection(&mut self) {
        self.by_relid.retain(|_, c| {
            c.state != ChannelState::Rescinded && c.sub_index == 0 && c.pipe.is_none()
        });
        for c in self.by_relid.values_mut() {
            c.state = ChannelState::Offered;
            c.sent = false;
            c.draining = None;
        }
    }

    /// Moves every channel to a relid that no channel has now (lowest
    /// first, in relid order), keeping everything else; returns the moves.
    /// Nothing moves if there are not enough free relids.
    pub fn renumber(&mut self) -> Vec<(Relid, Relid)> {
        let fresh: Vec<Relid> = (1..MAX_RELIDS)
            .filter(|r| !self.by_relid.contains_key(r))
            .filter_map(Relid::new)
            .take(self.by_relid.len())
            .collect();
        if fresh.len() < self.by_relid.len() {
            return Vec::new();
        }
        let old = std::mem::take(&mut self.by_relid);
        let mut moves = Vec::with_capacity(old.len());
        for (c, new) in old.into_values().zip(fresh) {
            moves.push((c.relid, new));
            self.by_relid.insert(new.get(), Channel { relid: new, ..c });
        }
        moves
    }

    /// Whether an open channel uses `gpadl` as its ring.
    pub fn ring_in_use(&self, gpadl: GpadlId) -> Option<Relid> {
        self.by_relid.values().find_map(|c| match c.state {
            ChannelState::Open { ring_gpadl, .. } if ring_gpadl == gpadl => Some(c.relid),
            _ => None,
        })
    }

    /// The next free sub-channel index of `instance`.
    pub fn next_sub_index(&self, instance: Guid) -> u16 {
        self.by_relid
            .values()
            .filter(|c| c.instance == instance && c.state != ChannelState::Rescinded)
            .map(|c| c.sub_index)
            .max()
            .map_or(0, |m| m.saturating_add(1))
    }

    /// The channel signalled on `connection_id` whose rings the host
    /// services (open, or rescinded and draining).
    pub fn open_by_connection(&self, connection_id: u32) -> Option<Relid> {
        self.by_relid.values().find_map(|c| {
            (c.serviced_vp().is_some()
                && super::offers::channel_connection_id(c.relid) == connection_id)
                .then_some(c.relid)
        })
    }

    /// Number of channels.
    pub fn len(&self) -> usize {
        self.by_relid.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_relid.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_is_lowest_free() {
        let mut c = Channels::default();
        assert_eq!(c.add(DeviceKind::Heartbeat).unwrap().get(), 1);
        assert_eq!(c.add(DeviceKind::Echo).unwrap().get(), 2);
        assert_eq!(c.add(DeviceKind::Echo).unwrap().get(), 3);
        let r2 = Relid::new(2).unwrap();
        assert_eq!(c.get(r2).unwrap().monitor_id.unwrap().get(), 1);
        c.remove(r2);
        let r = c.add(DeviceKind::Shutdown).unwrap();
        assert_eq!(r, r2);
        assert_eq!(c.get(r).unwrap().monitor_id.unwrap().get(), 1);
        // Instance GUIDs count per kind and are not reused.
        let r4 = c.add(DeviceKind::Echo).unwrap();
        assert_eq!(c.get(r4).unwrap().instance, DeviceKind::Echo.instance(2));
        c.get_mut(r4).unwrap().state = ChannelState::Rescinded;
        c.reset_connection();
        assert!(c.get(r4).is_none());
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn renumber_gives_fresh_relids_and_keeps_devices() {
        let mut c = Channels::default();
        c.add(DeviceKind::Heartbeat).unwrap();
        let e = c.add(DeviceKind::Echo).unwrap();
        let inst = c.get(e).unwrap().instance;
        let monitor = c.get(e).unwrap().monitor_id;
        let before: Vec<u32> = c.iter().map(|x| x.relid.get()).collect();
        let moves = c.renumber();
        assert_eq!(moves.len(), 2);
        for (o, n) in &moves {
            assert_ne!(o, n);
            assert!(!before.contains(&n.get()));
        }
        assert_eq!(c.len(), 2);
        let moved = c.iter().find(|x| x.instance == inst).unwrap();
        assert_eq!(moved.kind, DeviceKind::Echo);
        assert_eq!(moved.monitor_id, monitor);
        assert_eq!(moved.offer().relid, moved.relid);
        assert!(c.get(e).is_none());
        // Twice in a row: fresh again.
        let again = c.renumber();
        assert!(again.iter().all(|(o, n)| o != n));
    }

    #[test]
    fn reset_drops_subchannels() {
        let mut c = Channels::default();
        let p = c.add(DeviceKind::Echo).unwrap();
        let inst = c.get(p).unwrap().instance;
        c.insert(DeviceKind::Echo, inst, 1, Signalling::default())
            .unwrap();
        assert_eq!(c.len(), 2);
        c.reset_connection();
        assert_eq!(c.len(), 1);
        assert_eq!(c.next_sub_index(inst), 1);
    }
}
