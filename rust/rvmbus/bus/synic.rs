// SPDX-License-Identifier: GPL-2.0

//! The guest's SynIC pages: one message page and one event flags page per
//! virtual processor, in guest RAM, as on Hyper-V.
//!
//! The host writes a message into the VMBus SINT's slot of a CPU's message
//! page and sets relid bits in that SINT's event flags; both happen
//! concurrently with the guest reading them, so the guest copies a message
//! out before looking at it (in `proto::slot`'s order, which also decides
//! when to send EOM) and clears event bits with atomic exchanges.
//!
//! Each CPU's pages are given to the host while its SynIC is set up ("up")
//! and only then; the pages live as long as the connection, and the
//! connection keeps the pages of a CPU whose SynIC it could not turn off.

use kernel::{
    prelude::*,
    sync::atomic::{
        ordering::{Acquire, Full, Relaxed, Release},
        Atomic,
    },
};

use crate::{
    bus::shmem::{SharedPages, PAGE},
    proto::{
        slot::{self, SlotMem},
        wire::synic::{HV_EVENT_FLAGS_BYTE_COUNT, HV_MESSAGE_SIZE, VMBUS_MESSAGE_SINT},
    },
    support::shim,
};

/// Byte offset of the VMBus SINT's slot in a message page, and of its
/// flags in an event flags page (both are 256-byte entries per SINT).
const SINT_OFFSET: usize = VMBUS_MESSAGE_SINT as usize * HV_MESSAGE_SIZE;

/// The SynIC pages of one CPU: page 0 is the message page, page 1 the
/// event flags page.
struct CpuPages {
    pages: SharedPages,
    /// The host was told these pages (the CPU's SynIC is set up) and was
    /// not told otherwise. Changed under the CPU hotplug lock (connect,
    /// unload, the hotplug callbacks) or on the way out; read by the
    /// choosers of a channel's CPU under the connection lock.
    up: Atomic<bool>,
}

/// The SynIC pages of every CPU the host can interrupt.
pub(crate) struct Synic {
    cpus: KVec<CpuPages>,
}

/// The VMBus slot of one CPU's message page, for `proto::slot`.
struct Slot<'a>(&'a SharedPages);

impl SlotMem for Slot<'_> {
    fn message_type(&self) -> u32 {
        self.0.word32(SINT_OFFSET).map_or(0, |w| w.load(Acquire))
    }

    fn copy(&self, out: &mut [u8; HV_MESSAGE_SIZE]) {
        // The slot lies inside the page (`SINT_OFFSET` + 256 <= 4096), so
        // the read cannot fail; `out` would stay zeroed, a free slot's
        // type, which the message work drops.
        let _ = self.0.read(SINT_OFFSET, out);
    }

    fn free(&self) {
        if let Ok(w) = self.0.word32(SINT_OFFSET) {
            w.store(0, Release);
        }
    }

    fn full_barrier(&self) {
        shim::mb();
    }

    fn message_flags(&self) -> u8 {
        // The word after the type: payload size, flags, two reserved bytes.
        // CAST: Takes the flags byte (bits 8 to 15) of that word.
        self.0
            .word32(SINT_OFFSET + 4)
            .map_or(0, |w| (w.load(Relaxed) >> 8) as u8)
    }
}

impl Synic {
    /// Allocates the pages for `cpus` CPUs.
    pub(crate) fn new(cpus: u32) -> Result<Self> {
        let mut v = KVec::new();
        for _ in 0..cpus {
            v.push(
                CpuPages {
                    pages: SharedPages::new(2)?,
                    up: Atomic::new(false),
                },
                GFP_KERNEL,
            )?;
        }
        Ok(Self { cpus: v })
    }

    /// Keeps `cpu`'s pages allocated for good: the host may still write
    /// them (see [`SharedPages::keep`]).
    pub(crate) fn keep(&self, cpu: u32, why: &str) {
        if let Some(c) = self.cpus.get(cpu as usize) {
            c.pages.keep(why);
        }
    }

    /// Whether `cpu`'s SynIC is set up with these pages: only such a CPU
    /// may be the target of a channel's interrupts.
    pub(crate) fn is_up(&self, cpu: u32) -> bool {
        self.cpus
            .get(cpu as usize)
            .is_some_and(|c| c.up.load(Relaxed))
    }

    /// Records whether `cpu`'s SynIC is set up with these pages.
    pub(crate) fn set_up(&self, cpu: u32, up: bool) {
        if let Some(c) = self.cpus.get(cpu as usize) {
            c.up.store(up, Relaxed);
        }
    }

    /// The number of CPUs with pages.
    pub(crate) fn cpus(&self) -> u32 {
        // CAST: Built from a `u32` count.
        self.cpus.len() as u32
    }

    /// Guest physical addresses of `cpu`'s message and event flags pages.
    pub(crate) fn addresses(&self, cpu: u32) -> Option<(u64, u64)> {
        let c = self.cpus.get(cpu as usize)?;
        Some((c.pages.phys(0), c.pages.phys(PAGE)))
    }

    /// Takes the message in `cpu`'s VMBus slot, if there is one: copies
    /// it, frees the slot, and reads MessagePending from the slot after a
    /// full barrier (`proto::slot::take`). The caller sends EOM if
    /// [`slot::Taken::eom`] says so.
    pub(crate) fn take_message(&self, cpu: u32) -> Option<slot::Taken> {
        let c = self.cpus.get(cpu as usize)?;
        slot::take(&Slot(&c.pages))
    }

    /// Whether `cpu`'s VMBus slot holds a message.
    pub(crate) fn has_message(&self, cpu: u32) -> bool {
        self.cpus
            .get(cpu as usize)
            .is_some_and(|c| Slot(&c.pages).message_type() != 0)
    }

    /// Clears and returns the VMBus event flags of `cpu`, one 64-bit word
    /// at a time: `f(word_index, bits)` for each non-zero word.
    pub(crate) fn take_events(&self, cpu: u32, mut f: impl FnMut(usize, u64)) {
        let Some(c) = self.cpus.get(cpu as usize) else {
            return;
        };
        for i in 0..HV_EVENT_FLAGS_BYTE_COUNT / 8 {
            let Ok(w) = c.pages.word64(PAGE + SINT_OFFSET + i * 8) else {
                return;
            };
            if w.load(Relaxed) != 0 {
                let bits = w.xchg(0, Full);
                if bits != 0 {
                    f(i, bits);
                }
            }
        }
    }
}
