// SPDX-License-Identifier: GPL-2.0

//! The receive and send buffers: guest memory that the guest describes by
//! a GPADL and hands to the host with NVSP `SEND_RECV_BUF` and
//! `SEND_SEND_BUF`. A [`GuestBuffer`] is the GPADL's page list; every read
//! and write is checked against the buffer's length first, and every page
//! against guest RAM by [`MemRegion`], so an offset or a section the guest
//! names outside the buffer is an error, never an access elsewhere.

use std::fmt;

use vmbus_proto::packet::GpaDirectRanges;

use crate::guest_mem::{MemError, MemRegion};
use crate::vmbus::gpadl::Gpadl;

/// Guest page size.
pub const PAGE: u64 = 4096;
/// The largest buffer the host accepts (Linux's largest receive buffer is
/// 31 MiB).
pub const MAX_BUFFER: u64 = 64 << 20;

/// Why a buffer access or set-up failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BufferError {
    /// The GPADL is not one range of whole pages.
    NotContiguous,
    /// The GPADL is empty or larger than [`MAX_BUFFER`].
    BadSize(u64),
    /// No such GPADL on this channel.
    NoGpadl(u32),
    /// An access outside the buffer.
    Outside {
        /// Start of the access.
        off: u64,
        /// Its length.
        len: u64,
        /// The buffer's length.
        size: u64,
    },
    /// Guest RAM refused the access.
    Mem(String),
}

impl fmt::Display for BufferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BufferError::NotContiguous => f.write_str("the GPADL is not one range of whole pages"),
            BufferError::BadSize(n) => write!(f, "a buffer of {n} bytes"),
            BufferError::NoGpadl(g) => write!(f, "no GPADL {g:#x} on this channel"),
            BufferError::Outside { off, len, size } => write!(
                f,
                "{len} bytes at {off:#x} are outside the {size}-byte buffer"
            ),
            BufferError::Mem(e) => write!(f, "guest RAM: {e}"),
        }
    }
}

impl From<MemError> for BufferError {
    fn from(e: MemError) -> Self {
        BufferError::Mem(e.to_string())
    }
}

/// A guest buffer described by a GPADL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestBuffer {
    /// The GPADL handle.
    pub gpadl: u32,
    pfns: Vec<u64>,
}

impl GuestBuffer {
    /// The buffer of GPADL `handle`, which must be one range of whole
    /// pages (as `vmbus_establish_gpadl` makes them).
    pub fn from_gpadl(handle: u32, g: &Gpadl) -> Result<Self, BufferError> {
        if !g.whole_pages {
            return Err(BufferError::NotContiguous);
        }
        let pfns = g.pfns().to_vec();
        let size = pfns.len() as u64 * PAGE;
        if pfns.is_empty() || size > MAX_BUFFER {
            return Err(BufferError::BadSize(size));
        }
        Ok(Self {
            gpadl: handle,
            pfns,
        })
    }

    /// A buffer over `pfns` (tests and tools).
    pub fn from_pfns(gpadl: u32, pfns: Vec<u64>) -> Self {
        Self { gpadl, pfns }
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.pfns.len() as u64 * PAGE
    }

    /// Whether it has no pages.
    pub fn is_empty(&self) -> bool {
        self.pfns.is_empty()
    }

    fn check(&self, off: u64, len: usize) -> Result<(), BufferError> {
        let outside = BufferError::Outside {
            off,
            len: len as u64,
            size: self.len(),
        };
        match off.checked_add(len as u64) {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(outside),
        }
    }

    /// Calls `f(gpa, start, n)` for each page piece of `len` bytes at
    /// `off`: `n` bytes at guest address `gpa` are bytes `start..start+n`
    /// of the access.
    fn pieces(
        &self,
        off: u64,
        len: usize,
        mut f: impl FnMut(u64, usize, usize) -> Result<(), BufferError>,
    ) -> Result<(), BufferError> {
        self.check(off, len)?;
        let mut done = 0usize;
        while done < len {
            let at = off + done as u64;
            let page = usize::try_from(at / PAGE).map_err(|_| BufferError::BadSize(at))?;
            let in_page = at % PAGE;
            let n = ((PAGE - in_page) as usize).min(len - done);
            let pfn = *self.pfns.get(page).ok_or(BufferError::Outside {
                off,
                len: len as u64,
                size: self.len(),
            })?;
            let gpa = pfn
                .checked_mul(PAGE)
                .and_then(|a| a.checked_add(in_page))
                .ok_or(BufferError::Mem(format!("PFN {pfn:#x} overflows")))?;
            f(gpa, done, n)?;
            done += n;
        }
        Ok(())
    }

    /// Copies `out.len()` bytes at `off` of the buffer into `out`.
    pub fn read(&self, mem: &MemRegion, off: u64, out: &mut [u8]) -> Result<(), BufferError> {
        let len = out.len();
        self.pieces(off, len, |gpa, start, n| {
            let dst = out
                .get_mut(start..start + n)
                .ok_or(BufferError::BadSize(n as u64))?;
            mem.read(gpa, dst).map_err(BufferError::from)
        })
    }

    /// Copies `data` to `off` of the buffer.
    pub fn write(&self, mem: &MemRegion, off: u64, data: &[u8]) -> Result<(), BufferError> {
        self.pieces(off, data.len(), |gpa, start, n| {
            let src = data
                .get(start..start + n)
                .ok_or(BufferError::BadSize(n as u64))?;
            mem.write(gpa, src).map_err(BufferError::from)
        })
    }
}

/// The send buffer: fixed-size sections the guest fills and names by
/// index in `SEND_RNDIS_PKT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendBuffer {
    /// The memory.
    pub buf: GuestBuffer,
    /// Bytes per section.
    pub section_size: u32,
}

impl SendBuffer {
    /// The number of whole sections.
    pub fn sections(&self) -> u64 {
        self.buf.len() / u64::from(self.section_size.max(1))
    }

    /// Copies the first `size` bytes of section `index`; both must lie
    /// inside the buffer and `size` inside the section.
    pub fn read_section(
        &self,
        mem: &MemRegion,
        index: u32,
        size: u32,
    ) -> Result<Vec<u8>, BufferError> {
        let off = u64::from(index) * u64::from(self.section_size);
        if size > self.section_size || u64::from(index) >= self.sections() {
            return Err(BufferError::Outside {
                off,
                len: u64::from(size),
                size: self.buf.len(),
            });
        }
        let mut v = vec![0u8; size as usize];
        self.buf.read(mem, off, &mut v)?;
        Ok(v)
    }
}

/// Copies the bytes that the GPA ranges of a GPA-direct packet describe,
/// in order, each page checked against guest RAM; at most `max` bytes.
pub fn read_gpa_ranges(
    mem: &MemRegion,
    ranges: &GpaDirectRanges<'_>,
    max: usize,
) -> Result<Vec<u8>, BufferError> {
    let mut out = Vec::new();
    for r in ranges.iter() {
        let total = r.byte_count as usize;
        if out.len().saturating_add(total) > max {
            return Err(BufferError::BadSize(out.len().saturating_add(total) as u64));
        }
        let mut left = total;
        let mut off = u64::from(r.byte_offset);
        for pfn in r.pfns() {
            if left == 0 {
                break;
            }
            let n = ((PAGE - off) as usize).min(left);
            let gpa = pfn
                .checked_mul(PAGE)
                .and_then(|a| a.checked_add(off))
                .ok_or(BufferError::Mem(format!("PFN {pfn:#x} overflows")))?;
            let start = out.len();
            out.resize(start + n, 0);
            let dst = out.get_mut(start..).ok_or(BufferError::BadSize(n as u64))?;
            mem.read(gpa, dst)?;
            left -= n;
            off = 0;
        }
        if left != 0 {
            return Err(BufferError::BadSize(total as u64));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ram() -> MemRegion {
        MemRegion::anonymous(16 * PAGE).unwrap()
    }

    #[test]
    fn reads_and_writes_cross_pages_in_gpadl_order() {
        let mem = ram();
        // Pages out of order: buffer page 0 is guest page 5, page 1 is 2.
        let b = GuestBuffer::from_pfns(1, vec![5, 2]);
        b.write(&mem, PAGE - 2, b"abcd").unwrap();
        let mut x = [0u8; 2];
        mem.read(5 * PAGE + PAGE - 2, &mut x).unwrap();
        assert_eq!(&x, b"ab");
        mem.read(2 * PAGE, &mut x).unwrap();
        assert_eq!(&x, b"cd");
        let mut y = [0u8; 4];
        b.read(&mem, PAGE - 2, &mut y).unwrap();
        assert_eq!(&y, b"abcd");
    }

    #[test]
    fn accesses_outside_the_buffer_fail() {
        let mem = ram();
        let b = GuestBuffer::from_pfns(1, vec![1, 2]);
        assert!(matches!(
            b.write(&mem, 2 * PAGE - 1, b"xy"),
            Err(BufferError::Outside { .. })
        ));
        let mut v = [0u8; 1];
        assert!(b.read(&mem, u64::MAX, &mut v).is_err());
        // A PFN outside guest RAM fails in MemRegion, not with a panic.
        let far = GuestBuffer::from_pfns(1, vec![1 << 40]);
        assert!(matches!(
            far.read(&mem, 0, &mut v),
            Err(BufferError::Mem(_))
        ));
    }

    #[test]
    fn gpa_ranges_are_checked_against_ram() {
        use vmbus_proto::packet::{encode_gpa_direct, parse, PacketKind};
        use vmbus_proto::wire::channel_msg::GpaRange;
        let mem = ram();
        mem.write(3 * PAGE + 4090, b"abcdefghij").unwrap();
        let mut b = [0u8; 128];
        let r = GpaRange {
            byte_count: 10,
            byte_offset: 4090,
        };
        let n = encode_gpa_direct(&mut b, 0, 1, &[(r, &[3, 4])], b"").unwrap();
        let p = parse(&b[..n]).unwrap();
        let PacketKind::GpaDirect(ranges) = p.kind else {
            panic!()
        };
        assert_eq!(read_gpa_ranges(&mem, &ranges, 100).unwrap(), b"abcdefghij");
        assert!(read_gpa_ranges(&mem, &ranges, 9).is_err());
        // A range whose page lies outside guest RAM.
        let n = encode_gpa_direct(&mut b, 0, 1, &[(r, &[3, 1 << 40])], b"").unwrap();
        let p = parse(&b[..n]).unwrap();
        let PacketKind::GpaDirect(ranges) = p.kind else {
            panic!()
        };
        assert!(matches!(
            read_gpa_ranges(&mem, &ranges, 100),
            Err(BufferError::Mem(_))
        ));
    }

    #[test]
    fn sections_are_bounded() {
        let mem = ram();
        let s = SendBuffer {
            buf: GuestBuffer::from_pfns(1, vec![1, 2, 3]),
            section_size: 6144,
        };
        assert_eq!(s.sections(), 2);
        assert_eq!(s.read_section(&mem, 1, 6144).unwrap().len(), 6144);
        assert!(s.read_section(&mem, 2, 1).is_err());
        assert!(s.read_section(&mem, 0, 6145).is_err());
        assert!(s.read_section(&mem, u32::MAX, 1).is_err());
    }
}
