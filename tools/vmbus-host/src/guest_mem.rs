// SPDX-License-Identifier: GPL-2.0

//! Access to memory shared with the guest: guest RAM (QEMU's
//! `memory-backend-file,share=on`) and the ivshmem BAR2 shared memory.
//!
//! The guest may write to this memory at any time, concurrently with the
//! host. All access therefore goes through [`MemRegion`]: every address and
//! length is checked against the mapping (a typed [`MemError`] otherwise),
//! plain data is copied with volatile accesses into host buffers before
//! anything parses it, and single fields use volatile or atomic accesses.
//! Ordering between accesses is the caller's job, with explicit fences.

use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::gmem_watch::WriteWatch;

/// An access outside the region or with the wrong alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemError {
    /// `[addr, addr + len)` does not lie inside the region of `size` bytes.
    OutOfRange {
        /// First address of the access.
        addr: u64,
        /// Length of the access.
        len: u64,
        /// Size of the region.
        size: u64,
    },
    /// `addr` is not a multiple of `align`.
    Misaligned {
        /// Address of the access.
        addr: u64,
        /// Required alignment.
        align: u64,
    },
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MemError::OutOfRange { addr, len, size } => write!(
                f,
                "address range {addr:#x}+{len:#x} is outside the {size:#x}-byte region"
            ),
            MemError::Misaligned { addr, align } => {
                write!(f, "address {addr:#x} is not {align}-byte aligned")
            }
        }
    }
}

impl std::error::Error for MemError {}

/// A shared memory mapping, addressed from 0 (for guest RAM: by guest
/// physical address).
///
/// # Invariants
///
/// `ptr` points at a `MAP_SHARED` read/write mapping of `len > 0` bytes that
/// this value owns and unmaps on drop. The memory may change at any time
/// (the guest writes it), so it is never turned into a Rust reference; it is
/// read and written only through raw volatile or atomic accesses.
pub struct MemRegion {
    ptr: NonNull<u8>,
    len: usize,
    /// Counts the writes, for guest RAM (see [`MemRegion::watch_writes`]).
    watch: Option<WriteWatch>,
}

impl fmt::Debug for MemRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemRegion({:#x} bytes)", self.len)
    }
}

impl MemRegion {
    fn mmap(fd: Option<BorrowedFd<'_>>, len: u64) -> io::Result<Self> {
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l > 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad mapping size"))?;
        let (flags, raw) = match fd {
            Some(fd) => (libc::MAP_SHARED, fd.as_raw_fd()),
            None => (libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1),
        };
        // SAFETY: a fresh mapping at an address of the kernel's choosing;
        // it overlaps nothing that Rust owns.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                raw,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Self {
            ptr,
            len,
            watch: None,
        })
    }

    /// Maps the first `len` bytes of `fd` shared, read/write.
    pub fn map_fd(fd: BorrowedFd<'_>, len: u64) -> io::Result<Self> {
        Self::mmap(Some(fd), len)
    }

    /// Maps a whole file (e.g. QEMU's guest RAM file) shared, read/write.
    pub fn map_file(path: &Path) -> io::Result<Self> {
        let f = OpenOptions::new().read(true).write(true).open(path)?;
        let len = f.metadata()?.len();
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the file is empty",
            ));
        }
        // The mapping stays valid after the file is closed.
        Self::mmap(Some(f.as_fd()), len)
    }

    /// An anonymous zeroed region, for tests.
    pub fn anonymous(len: u64) -> io::Result<Self> {
        Self::mmap(None, len)
    }

    /// Counts every write from now on (guest RAM: the host must not write
    /// it once the guest took it back; see [`crate::gmem_watch`]).
    pub fn watch_writes(mut self) -> Self {
        self.watch = Some(WriteWatch::default());
        self
    }

    /// The write bookkeeping, if [`MemRegion::watch_writes`] turned it on.
    pub fn watch(&self) -> Option<&WriteWatch> {
        self.watch.as_ref()
    }

    fn note_write(&self, addr: u64, len: u64) {
        if let Some(w) = &self.watch {
            w.note(addr, len);
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.len as u64
    }

    /// Never true: empty regions cannot be created.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Checks `[addr, addr + len)` and returns `addr` as an offset.
    pub fn check(&self, addr: u64, len: u64) -> Result<usize, MemError> {
        let err = MemError::OutOfRange {
            addr,
            len,
            size: self.len as u64,
        };
        let end = addr.checked_add(len).ok_or(err)?;
        if end > self.len as u64 {
            return Err(err);
        }
        usize::try_from(addr).map_err(|_| err)
    }

    fn check_aligned(&self, addr: u64, size: u64) -> Result<usize, MemError> {
        if addr % size != 0 {
            return Err(MemError::Misaligned { addr, align: size });
        }
        self.check(addr, size)
    }

    /// Copies `buf.len()` bytes at `addr` into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let off = self.check(addr, buf.len() as u64)?;
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: `off + i < off + buf.len() <= self.len` (checked
            // above), so the pointer is inside the mapping; volatile because
            // the guest may change the byte concurrently.
            *b = unsafe { self.ptr.as_ptr().add(off + i).read_volatile() };
        }
        Ok(())
    }

    /// Copies `buf` to `addr`.
    pub fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemError> {
        let off = self.check(addr, buf.len() as u64)?;
        self.note_write(addr, buf.len() as u64);
        for (i, b) in buf.iter().enumerate() {
            // SAFETY: in bounds as in `read`; volatile because the guest
            // observes this memory.
            unsafe { self.ptr.as_ptr().add(off + i).write_volatile(*b) };
        }
        Ok(())
    }

    /// For a system call between `[addr, addr + len)` and a file at
    /// `off`: the offset of the range in the mapping (checked) and the
    /// file offset as the call takes it.
    fn file_span(&self, addr: u64, len: usize, off: u64) -> io::Result<(usize, libc::off_t)> {
        let at = self
            .check(addr, len as u64)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let off = libc::off_t::try_from(off).map_err(|_| io::ErrorKind::InvalidInput)?;
        Ok((at, off))
    }

    /// Reads up to `len` bytes of the file `fd` at offset `off` straight
    /// into `[addr, addr + len)`: `pread(2)` into the mapping, with no host
    /// buffer between (a disk's data-in). Returns the bytes read, fewer
    /// at the file's end.
    pub fn pread_from(
        &self,
        addr: u64,
        len: usize,
        fd: BorrowedFd<'_>,
        off: u64,
    ) -> io::Result<usize> {
        let (at, off) = self.file_span(addr, len, off)?;
        self.note_write(addr, len as u64);
        // SAFETY: `[at, at + len)` lies inside the mapping (checked above),
        // which stays mapped while `self` lives; the kernel writes into it.
        // The guest may write the same bytes concurrently, which changes
        // only what it reads back, as with a device's DMA.
        let n = unsafe { libc::pread(fd.as_raw_fd(), self.ptr.as_ptr().add(at).cast(), len, off) };
        // CAST: a non-negative count of at most `len` bytes.
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Writes up to `len` bytes from `[addr, addr + len)` to the file `fd`
    /// at offset `off`: `pwrite(2)` from the mapping, with no host buffer
    /// between (a disk's data-out). Returns the bytes written.
    pub fn pwrite_to(
        &self,
        addr: u64,
        len: usize,
        fd: BorrowedFd<'_>,
        off: u64,
    ) -> io::Result<usize> {
        let (at, off) = self.file_span(addr, len, off)?;
        // SAFETY: `[at, at + len)` lies inside the mapping (checked above),
        // which stays mapped while `self` lives; the kernel only reads it.
        // A guest that changes the bytes meanwhile gets some mix of them on
        // disk, as with a device's DMA.
        let n = unsafe { libc::pwrite(fd.as_raw_fd(), self.ptr.as_ptr().add(at).cast(), len, off) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Fills `len` bytes at `addr` with `byte`.
    pub fn fill(&self, addr: u64, len: u64, byte: u8) -> Result<(), MemError> {
        let off = self.check(addr, len)?;
        self.note_write(addr, len);
        for i in 0..len as usize {
            // SAFETY: in bounds as in `read`.
            unsafe { self.ptr.as_ptr().add(off + i).write_volatile(byte) };
        }
        Ok(())
    }

    /// Reads an aligned little-endian `u32`.
    pub fn read_u32(&self, addr: u64) -> Result<u32, MemError> {
        let off = self.check_aligned(addr, 4)?;
        // SAFETY: in bounds and 4-byte aligned (the mapping is page
        // aligned), so a single volatile u32 load is valid.
        let v = unsafe { self.ptr.as_ptr().add(off).cast::<u32>().read_volatile() };
        Ok(u32::from_le(v))
    }

    /// Writes an aligned little-endian `u32`.
    pub fn write_u32(&self, addr: u64, v: u32) -> Result<(), MemError> {
        let off = self.check_aligned(addr, 4)?;
        self.note_write(addr, 4);
        // SAFETY: in bounds and aligned, as in `read_u32`.
        unsafe {
            self.ptr
                .as_ptr()
                .add(off)
                .cast::<u32>()
                .write_volatile(v.to_le())
        };
        Ok(())
    }

    /// Reads an aligned little-endian `u64`.
    pub fn read_u64(&self, addr: u64) -> Result<u64, MemError> {
        let off = self.check_aligned(addr, 8)?;
        // SAFETY: in bounds and 8-byte aligned, as in `read_u32`.
        let v = unsafe { self.ptr.as_ptr().add(off).cast::<u64>().read_volatile() };
        Ok(u64::from_le(v))
    }

    /// Writes an aligned little-endian `u64`.
    pub fn write_u64(&self, addr: u64, v: u64) -> Result<(), MemError> {
        let off = self.check_aligned(addr, 8)?;
        self.note_write(addr, 8);
        // SAFETY: in bounds and aligned, as in `read_u32`.
        unsafe {
            self.ptr
                .as_ptr()
                .add(off)
                .cast::<u64>()
                .write_volatile(v.to_le())
        };
        Ok(())
    }

    /// Atomically ORs `mask` into the byte at `addr`; returns the old value.
    pub fn fetch_or_u8(&self, addr: u64, mask: u8) -> Result<u8, MemError> {
        let off = self.check(addr, 1)?;
        self.note_write(addr, 1);
        // SAFETY: the byte is inside the mapping, which lives as long as
        // `self`; every access to shared memory here is volatile or atomic,
        // and AtomicU8 has alignment 1.
        let a = unsafe { AtomicU8::from_ptr(self.ptr.as_ptr().add(off)) };
        Ok(a.fetch_or(mask, Ordering::SeqCst))
    }

    /// Atomically replaces the aligned little-endian `u64` at `addr` with
    /// `new` if it still holds `current`; returns the value it held.
    pub fn compare_exchange_u64(&self, addr: u64, current: u64, new: u64) -> Result<u64, MemError> {
        let off = self.check_aligned(addr, 8)?;
        // SAFETY: in bounds and 8-byte aligned (the mapping is page
        // aligned), so the word can be viewed as an AtomicU64; the mapping
        // lives as long as `self`, and shared words are only accessed with
        // volatile or atomic operations.
        let a = unsafe { AtomicU64::from_ptr(self.ptr.as_ptr().add(off).cast::<u64>()) };
        Ok(u64::from_le(
            match a.compare_exchange(
                current.to_le(),
                new.to_le(),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(v) | Err(v) => v,
            },
        ))
    }

    /// Atomically ANDs `mask` into the byte at `addr`; returns the old value.
    pub fn fetch_and_u8(&self, addr: u64, mask: u8) -> Result<u8, MemError> {
        let off = self.check(addr, 1)?;
        self.note_write(addr, 1);
        // SAFETY: as in `fetch_or_u8`.
        let a = unsafe { AtomicU8::from_ptr(self.ptr.as_ptr().add(off)) };
        Ok(a.fetch_and(mask, Ordering::SeqCst))
    }
}

impl Drop for MemRegion {
    fn drop(&mut self) {
        // SAFETY: by the invariants, `ptr`/`len` is a mapping this value
        // owns; nothing can use it after drop.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked() {
        let m = MemRegion::anonymous(4096).unwrap();
        assert_eq!(m.len(), 4096);
        let mut b = [0u8; 16];
        assert!(m.read(4080, &mut b).is_ok());
        assert!(matches!(
            m.read(4081, &mut b),
            Err(MemError::OutOfRange { .. })
        ));
        assert!(m.read(u64::MAX - 3, &mut b).is_err());
        assert!(m.write(4096, &[1]).is_err());
        assert!(m.write(4095, &[1]).is_ok());
        assert_eq!(
            m.read_u32(2),
            Err(MemError::Misaligned { addr: 2, align: 4 })
        );
        assert!(m.read_u64(4096).is_err());
        assert!(m.fetch_or_u8(4096, 1).is_err());
        assert!(m.compare_exchange_u64(4, 0, 1).is_err());
    }

    #[test]
    fn reads_and_writes() {
        let m = MemRegion::anonymous(8192).unwrap();
        m.write(100, &[1, 2, 3]).unwrap();
        let mut b = [0u8; 3];
        m.read(100, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3]);
        m.write_u32(8, 0xdead_beef).unwrap();
        let mut raw = [0u8; 4];
        m.read(8, &mut raw).unwrap();
        assert_eq!(raw, 0xdead_beefu32.to_le_bytes());
        assert_eq!(m.read_u32(8).unwrap(), 0xdead_beef);
        m.write_u64(16, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(m.read_u64(16).unwrap(), 0x0102_0304_0506_0708);
        assert_eq!(m.fetch_or_u8(24, 0x10).unwrap(), 0);
        assert_eq!(m.fetch_or_u8(24, 0x01).unwrap(), 0x10);
        assert_eq!(m.fetch_and_u8(24, !0x10).unwrap(), 0x11);
        assert_eq!(m.compare_exchange_u64(32, 1, 2).unwrap(), 0);
        assert_eq!(m.compare_exchange_u64(32, 0, 2).unwrap(), 0);
        assert_eq!(m.read_u64(32).unwrap(), 2);
        let mut one = [0u8];
        m.read(24, &mut one).unwrap();
        assert_eq!(one, [1]);
        m.fill(0, 8192, 0xaa).unwrap();
        m.read(8189, &mut b).unwrap();
        assert_eq!(b, [0xaa; 3]);
    }
}
