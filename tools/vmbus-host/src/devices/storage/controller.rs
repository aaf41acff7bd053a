// SPDX-License-Identifier: GPL-2.0

//! One storage controller: its disks by LUN, the protocol version its
//! primary channel negotiated, and a generation count of its bus changes.
//! The primary channel and its sub-channels share one controller.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::disk::{Disk, DiskSpec, MAX_LUN};

/// Most sub-channels a controller offers in all.
pub const MAX_SUBCHANNELS: u16 = 8;

/// A controller shared by the backends of its channels.
pub type SharedController = Rc<RefCell<Controller>>;

/// Counters of a controller.
#[derive(Clone, Copy, Debug, Default)]
pub struct ControllerStats {
    /// SRBs executed.
    pub srbs: u64,
    /// SRBs that ended in CHECK CONDITION or an SRB error.
    pub srb_errors: u64,
    /// Bytes read by the guest.
    pub bytes_read: u64,
    /// Bytes written by the guest.
    pub bytes_written: u64,
    /// Packets refused as malformed.
    pub bad_packets: u64,
}

/// A controller.
#[derive(Debug, Default)]
pub struct Controller {
    /// Its number (the instance GUID's index).
    pub index: u8,
    disks: BTreeMap<u8, Disk>,
    /// The version the primary channel negotiated.
    pub version: Option<u16>,
    /// Bumped on every hot-add and hot-remove of a LUN.
    pub generation: u64,
    /// Sub-channels offered so far.
    pub subchannels: u16,
    /// Counters.
    pub stats: ControllerStats,
}

impl Controller {
    /// An empty controller number `index`.
    pub fn new(index: u8) -> Self {
        Self {
            index,
            ..Self::default()
        }
    }

    /// A shared empty controller.
    pub fn shared(index: u8) -> SharedController {
        Rc::new(RefCell::new(Self::new(index)))
    }

    /// Opens the disk of `spec` and attaches it at its LUN (or the lowest
    /// free one); returns the LUN.
    pub fn add(&mut self, spec: &DiskSpec) -> Result<u8, String> {
        let lun = match spec.lun {
            Some(l) if self.disks.contains_key(&l) => {
                return Err(format!("controller {}: LUN {l} is taken", self.index))
            }
            Some(l) => l,
            None => (0..=MAX_LUN)
                .find(|l| !self.disks.contains_key(l))
                .ok_or_else(|| format!("controller {}: no free LUN", self.index))?,
        };
        let disk = Disk::open(spec)?;
        self.disks.insert(lun, disk);
        self.generation += 1;
        Ok(lun)
    }

    /// Detaches the disk at `lun`.
    pub fn remove(&mut self, lun: u8) -> Result<Disk, String> {
        let d = self
            .disks
            .remove(&lun)
            .ok_or_else(|| format!("controller {}: no disk at LUN {lun}", self.index))?;
        self.generation += 1;
        Ok(d)
    }

    /// The disk at `lun`.
    pub fn disk(&self, lun: u8) -> Option<&Disk> {
        self.disks.get(&lun)
    }

    /// The LUNs with a disk, in order.
    pub fn luns(&self) -> Vec<u8> {
        self.disks.keys().copied().collect()
    }

    /// One line per disk, for `list`.
    pub fn describe(&self) -> Vec<String> {
        self.disks
            .iter()
            .map(|(l, d)| {
                format!(
                    "controller={} lun={l} blocks={} {}{}",
                    self.index,
                    d.blocks(),
                    d.path().display(),
                    if d.read_only() { " ro" } else { "" }
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luns() {
        let f = tempfile::NamedTempFile::new().unwrap();
        f.as_file().set_len(4096).unwrap();
        let spec = |lun| DiskSpec {
            path: f.path().to_path_buf(),
            read_only: true,
            lun,
            controller: 0,
        };
        let mut c = Controller::new(0);
        assert_eq!(c.add(&spec(None)), Ok(0));
        assert_eq!(c.add(&spec(Some(5))), Ok(5));
        assert!(c.add(&spec(Some(5))).is_err());
        assert_eq!(c.add(&spec(None)), Ok(1));
        assert_eq!(c.luns(), vec![0, 1, 5]);
        assert_eq!(c.generation, 3);
        assert!(c.remove(1).is_ok());
        assert!(c.remove(1).is_err());
        assert_eq!(c.luns(), vec![0, 5]);
        assert_eq!(c.describe().len(), 2);
        let mut bad = spec(None);
        bad.path = "/nonexistent/x".into();
        assert!(c.add(&bad).is_err());
    }
}
