// SPDX-License-Identifier: GPL-2.0

//! A disk backed by a file: its size in 512-byte blocks, reads, writes,
//! flushes and hole punching (for UNMAP), and the `--disk` specification.

use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use crate::guest_mem::MemRegion;

/// The logical block size.
pub const BLOCK: u64 = 512;
/// The highest LUN (the SRB's LUN is one byte; storvsc scans 0 to 254).
pub const MAX_LUN: u8 = 254;

/// `--disk PATH[,ro][,lun=N]`: one disk of a storage controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskSpec {
    /// The backing file.
    pub path: PathBuf,
    /// The guest may not write.
    pub read_only: bool,
    /// The LUN, or `None` for the lowest free one.
    pub lun: Option<u8>,
    /// The controller (one VMBus channel each), 0 unless given.
    pub controller: u8,
}

impl FromStr for DiskSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(',');
        let path = parts.next().unwrap_or_default();
        if path.is_empty() {
            return Err("a disk needs a path".into());
        }
        let mut spec = Self {
            path: PathBuf::from(path),
            read_only: false,
            lun: None,
            controller: 0,
        };
        for p in parts {
            if p == "ro" {
                spec.read_only = true;
            } else if let Some(n) = p.strip_prefix("lun=") {
                spec.lun = Some(
                    n.parse::<u8>()
                        .ok()
                        .filter(|&l| l <= MAX_LUN)
                        .ok_or_else(|| format!("bad LUN {n:?} (0 to {MAX_LUN})"))?,
                );
            } else if let Some(n) = p.strip_prefix("controller=") {
                spec.controller = n
                    .parse::<u8>()
                    .map_err(|_| format!("bad controller {n:?} (0 to 255)"))?;
            } else {
                return Err(format!(
                    "unknown disk option {p:?} (ro, lun=N, controller=N)"
                ));
            }
        }
        Ok(spec)
    }
}

/// An open disk.
#[derive(Debug)]
pub struct Disk {
    file: File,
    path: PathBuf,
    blocks: u64,
    read_only: bool,
}

impl Disk {
    /// Opens the file of `spec`; its size (rounded down to whole blocks)
    /// is the disk's.
    pub fn open(spec: &DiskSpec) -> Result<Self, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(!spec.read_only)
            .open(&spec.path)
            .map_err(|e| format!("{}: {e}", spec.path.display()))?;
        let len = file
            .metadata()
            .map_err(|e| format!("{}: {e}", spec.path.display()))?
            .len();
        let blocks = len / BLOCK;
        if blocks == 0 {
            return Err(format!(
                "{}: smaller than one {BLOCK}-byte block",
                spec.path.display()
            ));
        }
        Ok(Self {
            file,
            path: spec.path.clone(),
            blocks,
            read_only: spec.read_only,
        })
    }

    /// The backing file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The number of blocks.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Whether the guest may not write.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether `count` blocks from `lba` lie within the disk.
    pub fn in_range(&self, lba: u64, count: u64) -> bool {
        lba.checked_add(count).is_some_and(|end| end <= self.blocks)
    }

    /// Reads `out.len()` bytes at byte offset `off`; bytes past the end
    /// of the file (if it shrank) read as zero.
    pub fn read_at(&self, off: u64, out: &mut [u8]) -> Result<(), String> {
        let start = Instant::now();
        let r = self.read_at_untimed(off, out);
        crate::prof::disk_since(start);
        r
    }

    fn read_at_untimed(&self, off: u64, out: &mut [u8]) -> Result<(), String> {
        let mut done = 0usize;
        while done < out.len() {
            let rest = out.get_mut(done..).unwrap_or_default();
            match self.file.read_at(rest, off + done as u64) {
                Ok(0) => {
                    rest.fill(0);
                    break;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    /// Writes `data` at byte offset `off`.
    pub fn write_at(&self, off: u64, data: &[u8]) -> Result<(), String> {
        if self.read_only {
            return Err("read-only".into());
        }
        let start = Instant::now();
        let r = self.file.write_all_at(data, off).map_err(|e| e.to_string());
        crate::prof::disk_since(start);
        r
    }

    /// Reads `len` bytes at byte offset `off` straight into guest RAM at
    /// `addr` (see [`MemRegion::pread_from`]); bytes past the end of the
    /// file (if it shrank) read as zero.
    pub fn read_into(
        &self,
        off: u64,
        mem: &MemRegion,
        addr: u64,
        len: usize,
    ) -> Result<(), String> {
        let fd = self.file.as_fd();
        timed_pieces(len, |done| {
            let at = addr + done as u64;
            match mem.pread_from(at, len - done, fd, off + done as u64) {
                // The file's end: the rest reads as zero.
                Ok(0) => mem
                    .fill(at, (len - done) as u64, 0)
                    .map(|()| len - done)
                    .map_err(|e| std::io::Error::other(e.to_string())),
                r => r,
            }
        })
    }

    /// Writes `len` bytes of guest RAM at `addr` to byte offset `off`
    /// straight from the mapping (see [`MemRegion::pwrite_to`]).
    pub fn write_from(
        &self,
        off: u64,
        mem: &MemRegion,
        addr: u64,
        len: usize,
    ) -> Result<(), String> {
        if self.read_only {
            return Err("read-only".into());
        }
        let fd = self.file.as_fd();
        timed_pieces(len, |done| {
            match mem.pwrite_to(addr + done as u64, len - done, fd, off + done as u64) {
                Ok(0) => Err(std::io::Error::other("the file took no bytes")),
                r => r,
            }
        })
    }

    /// Makes the written data durable.
    pub fn flush(&self) -> Result<(), String> {
        if self.read_only {
            return Ok(());
        }
        self.file.sync_data().map_err(|e| e.to_string())
    }

    /// Deallocates `count` blocks from `lba` (they read as zero after).
    pub fn unmap(&self, lba: u64, count: u64) -> Result<(), String> {
        if self.read_only {
            return Err("read-only".into());
        }
        let (Some(off), Some(len)) = (lba.checked_mul(BLOCK), count.checked_mul(BLOCK)) else {
            return Err("range overflows".into());
        };
        let (Ok(off), Ok(len)) = (libc::off_t::try_from(off), libc::off_t::try_from(len)) else {
            return Err("range too large".into());
        };
        if len == 0 {
            return Ok(());
        }
        // SAFETY: fallocate() on a file descriptor this struct owns, with
        // integer arguments only.
        let r = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off,
                len,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().to_string())
        }
    }
}

/// Moves `len` bytes in as many system calls as it takes: `piece` gets the
/// bytes done so far and returns how many more it moved (never 0); an
/// interrupted call is retried. The time goes to the profile's disk I/O.
fn timed_pieces(
    len: usize,
    mut piece: impl FnMut(usize) -> std::io::Result<usize>,
) -> Result<(), String> {
    let start = Instant::now();
    let mut done = 0usize;
    let r = loop {
        if done >= len {
            break Ok(());
        }
        match piece(done) {
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e.to_string()),
        }
    };
    crate::prof::disk_since(start);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let s: DiskSpec = "/tmp/a.img".parse().unwrap();
        assert_eq!((s.read_only, s.lun, s.controller), (false, None, 0));
        let s: DiskSpec = "/tmp/b.img,ro,lun=3,controller=1".parse().unwrap();
        assert_eq!((s.read_only, s.lun, s.controller), (true, Some(3), 1));
        for bad in [
            "",
            ",ro",
            "a,lun=255",
            "a,lun=x",
            "a,rw",
            "a,controller=256",
        ] {
            assert!(bad.parse::<DiskSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn file_io() {
        let f = tempfile::NamedTempFile::new().unwrap();
        f.as_file().set_len(8 * BLOCK + 100).unwrap();
        let spec = DiskSpec {
            path: f.path().to_path_buf(),
            read_only: false,
            lun: None,
            controller: 0,
        };
        let d = Disk::open(&spec).unwrap();
        assert_eq!(d.blocks(), 8);
        assert!(d.in_range(7, 1) && !d.in_range(7, 2) && !d.in_range(u64::MAX, 2));
        d.write_at(BLOCK, &[7; 512]).unwrap();
        let mut b = [0u8; 512];
        d.read_at(BLOCK, &mut b).unwrap();
        assert_eq!(b, [7; 512]);
        d.unmap(1, 1).unwrap();
        d.read_at(BLOCK, &mut b).unwrap();
        assert_eq!(b, [0; 512]);
        d.flush().unwrap();
        let ro = Disk::open(&DiskSpec {
            read_only: true,
            ..spec.clone()
        })
        .unwrap();
        assert!(ro.write_at(0, &[1]).is_err());
        assert!(ro.unmap(0, 1).is_err());
        f.as_file().set_len(10).unwrap();
        assert!(Disk::open(&spec).is_err());
    }
}
