// SPDX-License-Identifier: GPL-2.0

//! The server's storage controllers: the disks of `--disk` grouped into
//! controllers (one VMBus channel, plus its sub-channels, each), the
//! backends of their channels, and the control commands that add and
//! remove disks while the guest runs.
//!
//! - `disk-add PATH[,ro][,lun=N][,controller=N]`: on an existing
//!   controller, attaches the disk and sends `ENUMERATE_BUS` (the guest
//!   rescans); on a new one, adds the controller's channel and offers it.
//! - `disk-remove CONTROLLER LUN`: detaches a disk and sends
//!   `ENUMERATE_BUS` (the guest's TEST UNIT READY then gets
//!   `SRB_STATUS_INVALID_LUN` and drops the device).
//! - `disk-remove CONTROLLER`: rescinds the controller's channels.
//! - `disks`: one line per disk.

use std::collections::BTreeMap;

use vmbus_proto::types::Relid;
use vmbus_proto::wire::Guid;

use super::channels::{Channel, ChannelState};
use super::offers::{DeviceKind, Signalling};
use super::VmbusHost;
use crate::devices::storage::backend::Storvsp;
use crate::devices::storage::controller::{Controller, SharedController};
use crate::devices::storage::disk::DiskSpec;
use crate::devices::Device;
use crate::server::{ControlResult, GuestCtx};

/// The instance GUID of controller `index`.
fn instance(index: u8) -> Guid {
    DeviceKind::Storage.instance(u16::from(index))
}

/// Opens the disks of `specs` into controllers, in the order given.
pub fn build_controllers(specs: &[DiskSpec]) -> Result<BTreeMap<u8, SharedController>, String> {
    let mut ctls: BTreeMap<u8, SharedController> = BTreeMap::new();
    for s in specs {
        let c = ctls
            .entry(s.controller)
            .or_insert_with(|| Controller::shared(s.controller));
        c.borrow_mut().add(s)?;
    }
    Ok(ctls)
}

impl VmbusHost {
    /// Adds the channel of each controller (after the other devices).
    pub(super) fn add_storage_channels(&mut self) -> Result<(), String> {
        let indexes: Vec<u8> = self.storage.keys().copied().collect();
        for i in indexes {
            self.channels
                .insert(
                    DeviceKind::Storage,
                    instance(i),
                    0,
                    super::offer_signalling(self.profile, &self.opts, Signalling::default()),
                )
                .map_err(|e| format!("cannot add storage controller {i}: {e:?}"))?;
        }
        Ok(())
    }

    /// The backend of a storage channel: one over its controller's disks
    /// if the channel belongs to a controller of this server.
    pub(super) fn storage_device(&self, c: &Channel) -> Option<Box<dyn Device>> {
        if c.kind != DeviceKind::Storage {
            return None;
        }
        let index = u8::try_from(c.instance.data3()).ok()?;
        if c.instance != instance(index) {
            return None;
        }
        let ctl = self.storage.get(&index)?;
        Some(Box::new(Storvsp::new(ctl.clone(), c.sub_index)))
    }

    /// The channels of controller `index`, sub-channels first.
    fn controller_channels(&self, index: u8) -> Vec<Channel> {
        let inst = instance(index);
        let mut v: Vec<Channel> = self
            .channels
            .iter()
            .filter(|c| c.kind == DeviceKind::Storage && c.instance == inst)
            .copied()
            .collect();
        v.sort_by_key(|c| std::cmp::Reverse(c.sub_index));
        v
    }

    /// Tells the guest that controller `index`'s bus changed, if its
    /// primary channel is open.
    fn notify_bus(&mut self, guest: Option<&mut GuestCtx<'_>>, index: u8, out: &mut Vec<String>) {
        let primary = self
            .controller_channels(index)
            .into_iter()
            .find(|c| c.sub_index == 0 && matches!(c.state, ChannelState::Open { .. }));
        let (Some(p), Some(g)) = (primary, guest) else {
            out.push(
                "the controller's channel is not open; the guest sees the change when it opens it"
                    .into(),
            );
            return;
        };
        match self
            .with_device(g, p.relid, |d, io| {
                d.control(io, "storage-rescan", &[], out)
            })
            .flatten()
        {
            Some(Ok(())) => {}
            Some(Err(e)) => out.push(format!("no notification: {e}")),
            None => out.push("no notification: not a storage backend".into()),
        }
    }

    /// `disk-add PATH[,ro][,lun=N][,controller=N]`.
    pub(super) fn cmd_disk_add(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        let [spec] = args else {
            return Err("usage: disk-add PATH[,ro][,lun=N][,controller=N]".into());
        };
        let spec: DiskSpec = spec.parse()?;
        let index = spec.controller;
        if let Some(ctl) = self.storage.get(&index).cloned() {
            let lun = ctl.borrow_mut().add(&spec)?;
            out.push(format!("controller {index}: LUN {lun} attached"));
            self.notify_bus(guest, index, out);
            return Ok(());
        }
        if !self.controller_channels(index).is_empty() {
            return Err(format!(
                "controller {index} was removed and its channel is not released yet"
            ));
        }
        let ctl = Controller::shared(index);
        let lun = ctl.borrow_mut().add(&spec)?;
        self.storage.insert(index, ctl);
        out.push(format!(
            "controller {index}: LUN {lun} attached (new controller)"
        ));
        let added = self.channels.insert(
            DeviceKind::Storage,
            instance(index),
            0,
            Signalling::default(),
        );
        if added.is_err() {
            self.storage.remove(&index);
        }
        self.announce(guest, added, out)
    }

    /// `disk-remove CONTROLLER [LUN]`.
    pub(super) fn cmd_disk_remove(
        &mut self,
        mut guest: Option<&mut GuestCtx<'_>>,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        let usage = || "usage: disk-remove CONTROLLER [LUN]".to_string();
        let (c, lun) = match args {
            [c] => (c, None),
            [c, l] => (c, Some(l.parse::<u8>().map_err(|_| usage())?)),
            _ => return Err(usage()),
        };
        let index: u8 = c.parse().map_err(|_| usage())?;
        let ctl = self
            .storage
            .get(&index)
            .cloned()
            .ok_or_else(|| format!("no storage controller {index}"))?;
        if let Some(lun) = lun {
            ctl.borrow_mut().remove(lun)?;
            out.push(format!("controller {index}: LUN {lun} detached"));
            self.notify_bus(guest, index, out);
            return Ok(());
        }
        self.storage.remove(&index);
        for ch in self.controller_channels(index) {
            if ch.state == ChannelState::Rescinded {
                continue;
            }
            let r = ch.relid.get().to_string();
            self.cmd_rescind(guest.as_deref_mut(), &[r.as_str()], out)?;
        }
        Ok(())
    }

    /// `disks`: one line per disk.
    pub(super) fn cmd_disks(&self, args: &[&str], out: &mut Vec<String>) -> ControlResult {
        if !args.is_empty() {
            return Err("usage: disks".into());
        }
        for (i, c) in &self.storage {
            let primary: Option<Relid> = self
                .controller_channels(*i)
                .iter()
                .find(|c| c.sub_index == 0)
                .map(|c| c.relid);
            let rel = primary.map_or_else(|| "-".to_string(), |r| r.get().to_string());
            let c = c.borrow();
            let lines = c.describe();
            if lines.is_empty() {
                out.push(format!("controller={i} relid={rel} (no disks)"));
            }
            for l in lines {
                out.push(format!("{l} relid={rel}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controllers_from_disk_specs() {
        let f = tempfile::NamedTempFile::new().unwrap();
        f.as_file().set_len(4096).unwrap();
        let p = f.path().to_str().unwrap();
        let specs: Vec<DiskSpec> = [
            p.to_string(),
            format!("{p},ro,controller=3"),
            format!("{p},lun=9"),
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let c = build_controllers(&specs).unwrap();
        assert_eq!(c.keys().copied().collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(c[&0].borrow().luns(), vec![0, 9]);
        assert_eq!(c[&3].borrow().luns(), vec![0]);
        assert_eq!(instance(3).data3(), 3);
        // Two disks at one LUN, or a file that is not there: refused.
        let dup: Vec<DiskSpec> = [format!("{p},lun=1"), format!("{p},lun=1")]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(build_controllers(&dup).is_err());
        let gone: DiskSpec = "/nonexistent/disk.img".parse().unwrap();
        assert!(build_controllers(&[gone]).is_err());
    }
}
