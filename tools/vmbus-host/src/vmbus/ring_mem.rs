// SPDX-License-Identifier: GPL-2.0

//! A channel ring in guest RAM: `vmbus_proto`'s [`RingMem`] over the
//! (not necessarily contiguous) guest pages a ring GPADL names.
//!
//! The first page is the ring control page; the data area is the rest, in
//! GPADL order. The PFNs were checked against guest RAM when the GPADL was
//! created and RAM does not shrink, so accesses cannot fail; if one did, a
//! read yields zeros and a write is dropped (and logged), which the ring
//! algorithm then sees as a corrupt ring.

use std::sync::atomic::{fence, Ordering};

use vmbus_proto::ring::{ControlWord, RingMem};

use crate::guest_mem::MemRegion;
use crate::log::Level;
use crate::log_limited;

/// Guest page size.
pub const PAGE: u64 = 4096;

/// One ring: a control page and data pages, by PFN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingPages {
    /// The control page's PFN.
    pub control: u64,
    /// The data pages' PFNs, in order.
    pub data: Vec<u64>,
}

impl RingPages {
    /// Splits a ring GPADL's pages at `offset`: the guest → host ring is
    /// `pfns[..offset]`, the host → guest ring `pfns[offset..]`, each a
    /// control page and at least one data page.
    pub fn split(pfns: &[u64], offset: usize) -> Option<(RingPages, RingPages)> {
        if offset < 2 || pfns.len() < offset + 2 {
            return None;
        }
        let (a, b) = pfns.split_at(offset);
        let mk = |p: &[u64]| {
            p.split_first().map(|(c, d)| RingPages {
                control: *c,
                data: d.to_vec(),
            })
        };
        Some((mk(a)?, mk(b)?))
    }

    /// A view for the ring algorithm.
    pub fn mem<'a>(&'a self, ram: &'a MemRegion) -> GuestRing<'a> {
        GuestRing { ram, pages: self }
    }
}

/// [`RingMem`] over a ring's pages in guest RAM.
pub struct GuestRing<'a> {
    ram: &'a MemRegion,
    pages: &'a RingPages,
}

impl GuestRing<'_> {
    fn control_addr(&self, word: ControlWord) -> u64 {
        self.pages.control * PAGE + word.offset() as u64
    }

    /// Calls `f(gpa, range)` for each page-contained piece of
    /// `[off, off + len)` of the data area.
    fn pieces(&self, off: usize, len: usize, mut f: impl FnMut(u64, std::ops::Range<usize>)) {
        let mut done = 0;
        while done < len {
            let at = off + done;
            let page = at / PAGE as usize;
            let in_page = at % PAGE as usize;
            let n = (PAGE as usize - in_page).min(len - done);
            match self.pages.data.get(page) {
                Some(pfn) => f(pfn * PAGE + in_page as u64, done..done + n),
                None => {
                    log_limited!(Level::Error, "ring access past the data area at {at}");
                    return;
                }
            }
            done += n;
        }
    }
}

impl RingMem for GuestRing<'_> {
    fn data_len(&self) -> usize {
        self.pages.data.len() * PAGE as usize
    }

    fn load(&self, word: ControlWord) -> u32 {
        let v = self
            .ram
            .read_u32(self.control_addr(word))
            .unwrap_or_else(|e| {
                log_limited!(Level::Error, "ring control read: {e}");
                0
            });
        fence(Ordering::Acquire);
        v
    }

    fn store(&self, word: ControlWord, value: u32) {
        fence(Ordering::Release);
        if let Err(e) = self.ram.write_u32(self.control_addr(word), value) {
            log_limited!(Level::Error, "ring control write: {e}");
        }
    }

    fn fence(&self) {
        fence(Ordering::SeqCst);
    }

    fn read(&self, off: usize, buf: &mut [u8]) {
        let len = buf.len();
        self.pieces(off, len, |gpa, r| {
            if let Some(dst) = buf.get_mut(r) {
                if let Err(e) = self.ram.read(gpa, dst) {
                    log_limited!(Level::Error, "ring data read: {e}");
                    dst.fill(0);
                }
            }
        });
    }

    fn write(&self, off: usize, buf: &[u8]) {
        self.pieces(off, buf.len(), |gpa, r| {
            if let Some(src) = buf.get(r) {
                if let Err(e) = self.ram.write(gpa, src) {
                    log_limited!(Level::Error, "ring data write: {e}");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmbus_proto::ring::{RingConsumer, RingProducer};

    #[test]
    fn scattered_pages_wrap() {
        let ram = MemRegion::anonymous(16 * PAGE).unwrap();
        // Control page 9, data pages 3 then 7 (not contiguous).
        let pfns = [1, 2, 9, 3, 7];
        let (g2h, h2g) = RingPages::split(&pfns, 2).unwrap();
        assert_eq!(g2h.data, vec![2]);
        assert_eq!(h2g.control, 9);
        let m = h2g.mem(&ram);
        assert_eq!(m.data_len(), 8192);
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        let mut buf = vec![0u8; 8192];
        for i in 0..40u8 {
            let mut p = vec![i; 1000];
            p[..16].copy_from_slice(&[6, 0, 2, 0, 125, 0, 0, 0, i, 0, 0, 0, 0, 0, 0, 0]);
            tx.write(&m, &[&p]).unwrap();
            let info = rx.read_packet(&m, &mut buf).unwrap().unwrap();
            assert_eq!(&buf[..info.len], &p[..]);
            rx.commit(&m).unwrap();
        }
        assert_eq!(ram.read_u32(9 * PAGE).unwrap(), (40 * 1008) % 8192);
        assert!(RingPages::split(&pfns, 1).is_none());
        assert!(RingPages::split(&pfns, 4).is_none());
    }

    /// hv_sock opens rings of different sizes each way (132 KiB out,
    /// 28 KiB in): the split is at the open's downstream offset, not in
    /// the middle, and each side's data area is its own size.
    #[test]
    fn asymmetric_split() {
        let ram = MemRegion::anonymous(64 * PAGE).unwrap();
        let pfns: Vec<u64> = (10..50).collect();
        let (g2h, h2g) = RingPages::split(&pfns, 33).unwrap();
        assert_eq!((g2h.control, g2h.data.len()), (10, 32));
        assert_eq!((h2g.control, h2g.data.len()), (43, 6));
        assert_eq!(g2h.mem(&ram).data_len(), 32 * 4096);
        assert_eq!(h2g.mem(&ram).data_len(), 6 * 4096);
        // The other way round too.
        let (g2h, h2g) = RingPages::split(&pfns, 7).unwrap();
        assert_eq!((g2h.data.len(), h2g.control, h2g.data.len()), (6, 17, 32));
        let rings = crate::vmbus::datapath::ChannelRings::new(&ram, &pfns, 33);
        assert!(rings.is_ok());
    }
}
