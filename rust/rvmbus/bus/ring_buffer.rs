// SPDX-License-Identifier: GPL-2.0

//! Ring buffer memory of a channel.
//!
//! A channel's rings are one block of [`SharedPages`] described to the host
//! by one GPADL: the guest → host ("outbound") ring first, the host → guest
//! ("inbound") ring at `downstream_page_offset`. Each ring is a 4 KiB
//! control page followed by its data pages. The ring algorithm itself is
//! `proto::ring`; this file only maps its [`RingMem`] onto the pages.

use kernel::{
    ffi::c_void,
    prelude::*,
    sync::{
        atomic::ordering::{Acquire, Release},
        Arc,
    },
};

use super::shmem::{SharedPages, PAGE};
use crate::{
    proto::{
        ring::{
            init_control, ControlWord, PacketInfo, RingConsumer, RingError, RingMem, RingProducer,
            WriteOutcome,
        },
        wire::packet::RING_FEATURE_PENDING_SEND_SIZE,
    },
    support::{barrier::virt_mb, shim},
};

/// One ring inside a block of shared pages.
pub(crate) struct RingView<'a> {
    mem: &'a SharedPages,
    control: usize,
    data: usize,
    data_len: usize,
}

impl RingMem for RingView<'_> {
    fn data_len(&self) -> usize {
        self.data_len
    }

    fn load(&self, word: ControlWord) -> u32 {
        // The control page is inside the block (checked in `Rings::new`);
        // a failure reads as zero, which the algorithm validates anyway.
        self.mem
            .word32(self.control + word.offset())
            .map_or(0, |w| w.load(Acquire))
    }

    fn store(&self, word: ControlWord, value: u32) {
        if let Ok(w) = self.mem.word32(self.control + word.offset()) {
            w.store(value, Release);
        }
    }

    fn fence(&self) {
        virt_mb();
    }

    fn read(&self, off: usize, buf: &mut [u8]) {
        if self.mem.read(self.data + off, buf).is_err() {
            buf.fill(0);
        }
    }

    fn write(&self, off: usize, buf: &[u8]) {
        let _ = self.mem.write(self.data + off, buf);
    }
}

/// The two rings of an open channel and the guest's ends of them.
pub(crate) struct Rings {
    mem: Arc<SharedPages>,
    /// Pages of the outbound ring, control page included.
    out_pages: usize,
    /// Pages of the inbound ring, control page included.
    in_pages: usize,
    /// Our producer on the outbound ring.
    tx: RingProducer,
    /// Our consumer on the inbound ring.
    rx: RingConsumer,
    /// Whether `init` offered pending-send-size (our choice, never read
    /// back from the host's side of the page).
    pending_send: bool,
}

/// Pages per ring for `bytes` of data: the data rounded up to pages, plus
/// the control page.
pub(crate) fn ring_pages(bytes: usize) -> usize {
    bytes.div_ceil(PAGE).max(1) + 1
}

impl Rings {
    /// Initialises the control pages of both rings in `mem` (outbound ring
    /// of `out_pages` pages, inbound ring after it, up to `in_pages`).
    pub(crate) fn init(mem: &SharedPages, out_pages: usize, in_pages: usize) -> Result {
        if out_pages < 2 || in_pages < 2 || (out_pages + in_pages) * PAGE > mem.len() {
            return Err(EINVAL);
        }
        let features = if shim::pending_send_size() {
            RING_FEATURE_PENDING_SEND_SIZE
        } else {
            0
        };
        init_control(&view(mem, 0, out_pages), features);
        init_control(&view(mem, out_pages, in_pages), features);
        Ok(())
    }

    /// Attaches the guest's ends to initialised rings.
    pub(crate) fn attach(mem: Arc<SharedPages>, out_pages: usize, in_pages: usize) -> Result<Self> {
        let tx = RingProducer::new(&view(&mem, 0, out_pages)).map_err(|_| EIO)?;
        let rx = RingConsumer::new(&view(&mem, out_pages, in_pages)).map_err(|_| EIO)?;
        Ok(Self {
            mem,
            out_pages,
            in_pages,
            tx,
            rx,
            pending_send: shim::pending_send_size(),
        })
    }

    /// Writes one packet (given in parts) to the outbound ring.
    pub(crate) fn send(&mut self, parts: &[&[u8]]) -> Result<WriteOutcome, RingError> {
        let v = view(&self.mem, 0, self.out_pages);
        self.tx.write(&v, parts)
    }

    /// Asks the host to signal once `bytes` are free in the outbound ring;
    /// false when the ring does not offer pending-send-size (then the
    /// sender can only wait for the host's next signal or a tick).
    pub(crate) fn request_space(&mut self, bytes: u32) -> bool {
        if !self.pending_send {
            return false;
        }
        let v = view(&self.mem, 0, self.out_pages);
        self.tx.set_pending_send_size(&v, bytes);
        true
    }

    /// Masks the host's interrupts for the inbound ring while the guest
    /// drains it (Linux's `hv_begin_read`).
    pub(crate) fn mask_inbound(&mut self) {
        let v = view(&self.mem, self.out_pages, self.in_pages);
        self.rx.begin_batch(&v);
    }

    /// Unmasks them; true when packets came meanwhile, which the caller
    /// must read, since the host did not interrupt for them.
    pub(crate) fn unmask_inbound(&mut self) -> Result<bool, RingError> {
        let v = view(&self.mem, self.out_pages, self.in_pages);
        self.rx.end_batch(&v)
    }

    /// Copies the next inbound packet into `buf` and, if `release`,
    /// releases its space (and that of packets read before without);
    /// also says whether the host must be signalled.
    pub(crate) fn recv(
        &mut self,
        buf: &mut [u8],
        release: bool,
    ) -> Result<Option<(PacketInfo, bool)>, RingError> {
        let v = view(&self.mem, self.out_pages, self.in_pages);
        match self.rx.read_packet(&v, buf)? {
            None => Ok(None),
            Some(i) if release => Ok(Some((i, self.rx.commit(&v)?))),
            Some(i) => Ok(Some((i, false))),
        }
    }

    /// Releases the space of the packets read without releasing it; says
    /// whether the host must be signalled.
    pub(crate) fn release_rx(&mut self) -> Result<bool, RingError> {
        let v = view(&self.mem, self.out_pages, self.in_pages);
        self.rx.commit(&v)
    }

    /// The kernel virtual addresses of the outbound and inbound rings'
    /// control pages and each ring's size in bytes, control page
    /// included, for the hv_vmbus interface's channel structure.
    pub(crate) fn control_pages(&self) -> Result<[(*mut c_void, usize); 2]> {
        Ok([
            (self.mem.virt(0)?, self.out_pages * PAGE),
            (self.mem.virt(self.out_pages * PAGE)?, self.in_pages * PAGE),
        ])
    }

    /// The outbound ring.
    pub(crate) fn out(&self) -> RingView<'_> {
        view(&self.mem, 0, self.out_pages)
    }

    /// The inbound ring.
    pub(crate) fn inb(&self) -> RingView<'_> {
        view(&self.mem, self.out_pages, self.in_pages)
    }
}

fn view(mem: &SharedPages, first_page: usize, pages: usize) -> RingView<'_> {
    RingView {
        mem,
        control: first_page * PAGE,
        data: (first_page + 1) * PAGE,
        data_len: pages.saturating_sub(1) * PAGE,
    }
}
