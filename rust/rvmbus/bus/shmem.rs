// SPDX-License-Identifier: GPL-2.0

//! Pages that the guest shares with the host: SynIC message and event pages,
//! monitor pages, ring buffers.
//!
//! The host may write these pages at any time, so the guest never forms a
//! Rust reference to their contents: bytes are copied in and out with raw
//! copies, and words that both sides update are accessed as atomics. Pages
//! the host may still use are never freed; [`SharedPages::keep`] makes that
//! explicit where the host did not give them back.

use core::ptr::NonNull;

use kernel::{
    ffi::c_void,
    prelude::*,
    sync::atomic::{ordering::Relaxed, Atomic},
};

use crate::support::shim;

/// The page size the host and the guest agree on (Hyper-V's 4 KiB).
pub(crate) const PAGE: usize = 4096;

/// A physically contiguous, zero-initialised block of pages.
///
/// # Invariants
///
/// `addr` is the direct-map address of `npages * PAGE` bytes allocated by
/// [`shim::alloc_pages`] with `npages`, owned by this value and freed only
/// in `drop`, and `1 <= npages <= MAX_PAGES`.
pub(crate) struct SharedPages {
    addr: NonNull<u8>,
    npages: usize,
    /// Set by [`SharedPages::keep`]: `drop` must not free the pages.
    kept: Atomic<bool>,
}

// SAFETY: The pages are plain memory; all access goes through raw copies
// and atomics, which are safe from any thread.
unsafe impl Send for SharedPages {}

// SAFETY: As for `Send`; `&SharedPages` only allows raw copies and atomics.
unsafe impl Sync for SharedPages {}

/// The largest block: 4 MiB, the page allocator's largest order on x86_64
/// (`MAX_PAGE_ORDER` 10), and twice the largest ring Linux's drivers ask for.
pub(crate) const MAX_PAGES: usize = 1024;

impl SharedPages {
    /// Allocates exactly `pages` zeroed pages (at least one); not rounded
    /// up to a power of two, so a ring of 34 pages costs 34.
    pub(crate) fn new(pages: usize) -> Result<Self> {
        let npages = pages.max(1);
        if npages > MAX_PAGES {
            return Err(EINVAL);
        }
        let addr = NonNull::new(shim::alloc_pages(npages).cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: Allocated just now with `npages`, which is in range.
        Ok(Self {
            addr,
            npages,
            kept: Atomic::new(false),
        })
    }

    /// The size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.npages * PAGE
    }

    /// The guest physical address of byte `off`.
    pub(crate) fn phys(&self, off: usize) -> u64 {
        // CAST: `usize` and `u64` have the same width on x86_64.
        shim::virt_to_phys(self.addr.as_ptr().cast::<c_void>()) + off as u64
    }

    /// The kernel virtual address of byte `off`, for C code that reads
    /// ring control words through `<linux/hyperv.h>`'s helpers; never
    /// dereferenced by Rust.
    pub(crate) fn virt(&self, off: usize) -> Result<*mut c_void> {
        self.check(off, 1)?;
        // SAFETY: `off` is inside the allocation (checked above, type
        // invariant), so the offset pointer stays inside it.
        Ok(unsafe { self.addr.as_ptr().add(off) }.cast::<c_void>())
    }

    /// The guest page frame numbers of `count` pages from page `first`.
    pub(crate) fn pfns(&self, first: usize, count: usize, out: &mut KVec<u64>) -> Result {
        let end = first.checked_add(count).ok_or(EINVAL)?;
        if end > self.len() / PAGE {
            return Err(EINVAL);
        }
        for p in first..end {
            out.push(self.phys(p * PAGE) >> 12, GFP_KERNEL)?;
        }
        Ok(())
    }

    fn check(&self, off: usize, len: usize) -> Result {
        match off.checked_add(len) {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(EINVAL),
        }
    }

    /// Copies `buf.len()` bytes from offset `off` into `buf`.
    pub(crate) fn read(&self, off: usize, buf: &mut [u8]) -> Result {
        self.check(off, buf.len())?;
        // SAFETY: The range is inside the allocation (checked above, type
        // invariant) and `buf` is a distinct, valid buffer. The host may
        // write the source concurrently; the bytes are only ever used from
        // the copy.
        unsafe {
            core::ptr::copy_nonoverlapping(self.addr.as_ptr().add(off), buf.as_mut_ptr(), buf.len())
        };
        Ok(())
    }

    /// Copies `buf` to offset `off`.
    pub(crate) fn write(&self, off: usize, buf: &[u8]) -> Result {
        self.check(off, buf.len())?;
        // SAFETY: As in `read`, with the roles of the buffers swapped.
        unsafe {
            core::ptr::copy_nonoverlapping(buf.as_ptr(), self.addr.as_ptr().add(off), buf.len())
        };
        Ok(())
    }

    /// The 32-bit word at offset `off` (4-byte aligned), as an atomic.
    pub(crate) fn word32(&self, off: usize) -> Result<&Atomic<u32>> {
        self.check(off, 4)?;
        if off % 4 != 0 {
            return Err(EINVAL);
        }
        // SAFETY: The word is inside the allocation, aligned (page-aligned
        // base, checked offset) and lives as long as `self`; the host only
        // touches it with atomic-sized accesses.
        Ok(unsafe { Atomic::from_ptr(self.addr.as_ptr().add(off).cast::<u32>()) })
    }

    /// The 64-bit word at offset `off` (8-byte aligned), as an atomic.
    pub(crate) fn word64(&self, off: usize) -> Result<&Atomic<u64>> {
        self.check(off, 8)?;
        if off % 8 != 0 {
            return Err(EINVAL);
        }
        // SAFETY: As in `word32`, for 8 bytes.
        Ok(unsafe { Atomic::from_ptr(self.addr.as_ptr().add(off).cast::<u64>()) })
    }
}

impl SharedPages {
    /// Gives the pages up without ever freeing them, because the host may
    /// still use them (it did not confirm that it let go): `drop` then
    /// leaves them allocated, and the module's page audit counts them as
    /// kept rather than leaked.
    pub(crate) fn keep(&self, why: &str) {
        if self.kept.xchg(true, Relaxed) {
            return;
        }
        pr_warn!(
            "keeping {} KiB of memory the host may still use ({})\n",
            self.len() / 1024,
            why
        );
        shim::pages_kept(self.npages);
    }
}

impl Drop for SharedPages {
    fn drop(&mut self) {
        if self.kept.load(Relaxed) {
            return;
        }
        // SAFETY: By the type invariant the pages came from
        // `shim::alloc_pages` with `npages` and are freed only here; owners
        // that cannot prove the host let go of them call `keep` first.
        unsafe { shim::free_pages(self.addr.as_ptr().cast::<c_void>(), self.npages) };
    }
}
