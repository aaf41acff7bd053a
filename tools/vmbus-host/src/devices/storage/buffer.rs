// SPDX-License-Identifier: GPL-2.0

//! The data buffer of a SCSI command: where a command's data comes from
//! (data-out) and goes to (data-in). The channel backend implements it over
//! the guest RAM that a GPA-direct packet describes; the tests over a
//! vector.

use vmbus_proto::packet::GpaDirectRanges;

use super::disk::Disk;
use crate::guest_mem::MemRegion;

/// The page size of GPA ranges.
const PAGE: u64 = 4096;

/// The host buffer of a transfer through host memory.
const CHUNK: usize = 64 * 1024;

/// What failed in a transfer between a disk and a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The disk's read or write.
    Disk(String),
    /// The buffer (too short, or outside guest RAM).
    Buffer(String),
}

/// Moves `n` bytes through a host buffer of at most `CHUNK` bytes: `step`
/// gets each piece's offset in the transfer and the buffer for it.
fn through_host(
    n: u64,
    mut step: impl FnMut(u64, &mut [u8]) -> Result<(), Fault>,
) -> Result<(), Fault> {
    // CAST: at most CHUNK.
    let mut chunk = vec![0u8; n.min(CHUNK as u64) as usize];
    let mut done = 0u64;
    while done < n {
        // CAST: at most CHUNK.
        let k = (n - done).min(CHUNK as u64) as usize;
        step(done, chunk.get_mut(..k).unwrap_or_default())?;
        done += k as u64;
    }
    Ok(())
}

/// Reads `n` bytes of `disk` at byte `disk_off` into `buf` at `off`
/// through a host buffer.
fn read_disk_copying<B: DataBuf + ?Sized>(
    buf: &mut B,
    disk: &Disk,
    disk_off: u64,
    off: u64,
    n: u64,
) -> Result<(), Fault> {
    through_host(n, |done, c| {
        disk.read_at(disk_off + done, c).map_err(Fault::Disk)?;
        buf.write_at(off + done, c).map_err(Fault::Buffer)
    })
}

/// Writes `n` bytes of `buf` at `off` to `disk` at byte `disk_off`
/// through a host buffer.
fn write_disk_copying<B: DataBuf + ?Sized>(
    buf: &mut B,
    disk: &Disk,
    disk_off: u64,
    off: u64,
    n: u64,
) -> Result<(), Fault> {
    through_host(n, |done, c| {
        buf.read_at(off + done, c).map_err(Fault::Buffer)?;
        disk.write_at(disk_off + done, c).map_err(Fault::Disk)
    })
}

/// A command's data buffer.
pub trait DataBuf {
    /// Its length in bytes.
    fn len(&self) -> u64;

    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `out.len()` bytes at `off` into `out`.
    fn read_at(&mut self, off: u64, out: &mut [u8]) -> Result<(), String>;

    /// Copies `data` to `off`.
    fn write_at(&mut self, off: u64, data: &[u8]) -> Result<(), String>;

    /// Reads `n` bytes of `disk` at byte `disk_off` into the buffer at
    /// `off` (a READ's data-in). By default through a host buffer.
    fn read_disk(&mut self, disk: &Disk, disk_off: u64, off: u64, n: u64) -> Result<(), Fault> {
        read_disk_copying(self, disk, disk_off, off, n)
    }

    /// Writes `n` bytes of the buffer at `off` to `disk` at byte
    /// `disk_off` (a WRITE's data-out). By default through a host buffer.
    fn write_disk(&mut self, disk: &Disk, disk_off: u64, off: u64, n: u64) -> Result<(), Fault> {
        write_disk_copying(self, disk, disk_off, off, n)
    }
}

/// Checks that `[off, off + n)` lies within a buffer of `len` bytes.
fn within(off: u64, n: usize, len: u64) -> Result<(), String> {
    match off.checked_add(n as u64) {
        Some(end) if end <= len => Ok(()),
        _ => Err(format!("{n} bytes at {off} past a buffer of {len}")),
    }
}

/// [`within`] for a length in bytes of any size.
fn within_u64(off: u64, n: u64, len: u64) -> Result<(), String> {
    match off.checked_add(n) {
        Some(end) if end <= len => Ok(()),
        _ => Err(format!("{n} bytes at {off} past a buffer of {len}")),
    }
}

impl DataBuf for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_at(&mut self, off: u64, out: &mut [u8]) -> Result<(), String> {
        within(off, out.len(), DataBuf::len(self))?;
        // CAST: within() bounded off by the vector's length.
        let s = self
            .get(off as usize..off as usize + out.len())
            .ok_or("out of range")?;
        out.copy_from_slice(s);
        Ok(())
    }

    fn write_at(&mut self, off: u64, data: &[u8]) -> Result<(), String> {
        within(off, data.len(), DataBuf::len(self))?;
        // CAST: within() bounded off by the vector's length.
        let d = self
            .get_mut(off as usize..off as usize + data.len())
            .ok_or("out of range")?;
        d.copy_from_slice(data);
        Ok(())
    }
}

/// The guest RAM a GPA-direct packet describes: a list of contiguous
/// pieces, each checked against guest RAM when the list is built.
#[derive(Debug)]
pub struct GuestBuf<'a> {
    mem: &'a MemRegion,
    /// Guest physical address and length of each piece, in order.
    pieces: Vec<(u64, u64)>,
    len: u64,
}

impl<'a> GuestBuf<'a> {
    /// The pieces of `ranges`, at most `max` bytes in all.
    pub fn new(mem: &'a MemRegion, ranges: &GpaDirectRanges<'_>, max: u64) -> Result<Self, String> {
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let mut len = 0u64;
        for r in ranges.iter() {
            let mut left = u64::from(r.byte_count);
            let mut off = u64::from(r.byte_offset);
            for pfn in r.pfns() {
                if left == 0 {
                    break;
                }
                let n = (PAGE - off.min(PAGE)).min(left);
                let gpa = pfn
                    .checked_mul(PAGE)
                    .and_then(|a| a.checked_add(off))
                    .ok_or_else(|| format!("PFN {pfn:#x} overflows"))?;
                mem.check(gpa, n).map_err(|e| e.to_string())?;
                match pieces.last_mut() {
                    Some((a, l)) if a.checked_add(*l) == Some(gpa) => *l += n,
                    _ => pieces.push((gpa, n)),
                }
                len += n;
                if len > max {
                    return Err(format!("more than {max} bytes"));
                }
                left -= n;
                off = 0;
            }
            if left != 0 {
                return Err("ranges shorter than their byte counts".into());
            }
        }
        Ok(Self { mem, pieces, len })
    }

    /// Calls `f` with the guest address, the offset in the caller's
    /// buffer and the length of each piece of `[off, off + n)`.
    fn walk(
        &self,
        off: u64,
        n: usize,
        mut f: impl FnMut(u64, usize, usize) -> Result<(), String>,
    ) -> Result<(), String> {
        within(off, n, self.len)?;
        let mut skip = off;
        let mut done = 0usize;
        for &(gpa, plen) in &self.pieces {
            if done == n {
                break;
            }
            if skip >= plen {
                skip -= plen;
                continue;
            }
            // CAST: a piece is at most the buffer's length, which fits in
            // memory, and `n - done` is a usize.
            let take = ((plen - skip) as usize).min(n - done);
            f(gpa + skip, done, take)?;
            done += take;
            skip = 0;
        }
        if done == n {
            Ok(())
        } else {
            Err("buffer pieces shorter than their total".into())
        }
    }

    /// [`Self::walk`] for the disk's direct I/O: `io` gets the guest RAM,
    /// each piece's guest address, its offset in the transfer and its
    /// length; an error of `io` is the disk's, any other the buffer's.
    fn walk_disk(
        &self,
        off: u64,
        n: u64,
        mut io: impl FnMut(&MemRegion, u64, usize, usize) -> Result<(), String>,
    ) -> Result<(), Fault> {
        let n = usize::try_from(n).map_err(|_| Fault::Buffer(format!("{n} bytes")))?;
        let mut fault = None;
        let walked = self.walk(off, n, |gpa, at, take| {
            io(self.mem, gpa, at, take).inspect_err(|e| fault = Some(Fault::Disk(e.clone())))
        });
        match (walked, fault) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(f)) => Err(f),
            (Err(e), None) => Err(Fault::Buffer(e)),
        }
    }
}

impl DataBuf for GuestBuf<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, off: u64, out: &mut [u8]) -> Result<(), String> {
        let n = out.len();
        self.walk(off, n, |gpa, at, take| {
            let d = out.get_mut(at..at + take).ok_or("out of range")?;
            self.mem.read(gpa, d).map_err(|e| e.to_string())
        })
    }

    fn write_at(&mut self, off: u64, data: &[u8]) -> Result<(), String> {
        self.walk(off, data.len(), |gpa, at, take| {
            let s = data.get(at..at + take).ok_or("out of range")?;
            self.mem.write(gpa, s).map_err(|e| e.to_string())
        })
    }

    /// Straight from the file into guest RAM, one `pread` per contiguous
    /// piece, unless `storage-io copy` asked for the host buffer.
    fn read_disk(&mut self, disk: &Disk, disk_off: u64, off: u64, n: u64) -> Result<(), Fault> {
        if !crate::prof::direct_io() {
            return read_disk_copying(self, disk, disk_off, off, n);
        }
        self.walk_disk(off, n, |mem, gpa, at, take| {
            disk.read_into(disk_off + at as u64, mem, gpa, take)
        })
    }

    /// Straight from guest RAM to the file, one `pwrite` per contiguous
    /// piece, unless `storage-io copy` asked for the host buffer.
    fn write_disk(&mut self, disk: &Disk, disk_off: u64, off: u64, n: u64) -> Result<(), Fault> {
        if !crate::prof::direct_io() {
            return write_disk_copying(self, disk, disk_off, off, n);
        }
        self.walk_disk(off, n, |mem, gpa, at, take| {
            disk.write_from(disk_off + at as u64, mem, gpa, take)
        })
    }
}

/// The first `len` bytes of another buffer: the SRB's transfer length
/// over the buffer its GPA ranges describe.
pub struct Limited<'b> {
    inner: &'b mut dyn DataBuf,
    len: u64,
}

impl<'b> Limited<'b> {
    /// The first `len` bytes of `inner` (all of it if shorter).
    pub fn new(inner: &'b mut dyn DataBuf, len: u64) -> Self {
        let len = len.min(inner.len());
        Self { inner, len }
    }
}

impl DataBuf for Limited<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, off: u64, out: &mut [u8]) -> Result<(), String> {
        within(off, out.len(), self.len)?;
        self.inner.read_at(off, out)
    }

    fn write_at(&mut self, off: u64, data: &[u8]) -> Result<(), String> {
        within(off, data.len(), self.len)?;
        self.inner.write_at(off, data)
    }

    fn read_disk(&mut self, disk: &Disk, disk_off: u64, off: u64, n: u64) -> Result<(), Fault> {
        within_u64(off, n, self.len).map_err(Fault::Buffer)?;
        self.inner.read_disk(disk, disk_off, off, n)
    }

    fn write_disk(&mut self, disk: &Disk, disk_off: u64, off: u64, n: u64) -> Result<(), Fault> {
        within_u64(off, n, self.len).map_err(Fault::Buffer)?;
        self.inner.write_disk(disk, disk_off, off, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_bounds() {
        let mut v = vec![0u8; 8];
        v.write_at(4, &[1, 2, 3, 4]).unwrap();
        let mut o = [0u8; 2];
        v.read_at(5, &mut o).unwrap();
        assert_eq!(o, [2, 3]);
        assert!(v.write_at(5, &[0; 4]).is_err());
        assert!(v.read_at(u64::MAX, &mut o).is_err());
        let mut l = Limited::new(&mut v, 6);
        assert_eq!(l.len(), 6);
        assert!(l.write_at(4, &[0; 2]).is_ok());
        assert!(l.write_at(5, &[0; 2]).is_err());
    }
}
