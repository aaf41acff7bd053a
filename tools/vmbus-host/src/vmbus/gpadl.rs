// SPDX-License-Identifier: GPL-2.0

//! GPADLs on the host side: reassembly from `GPADL_HEADER` and
//! `GPADL_BODY`, validation of every range and PFN against guest RAM, and
//! teardown. Bounded: at most [`MAX_PENDING`] GPADLs in assembly and
//! [`MAX_GPADLS`] created.

use std::collections::BTreeMap;
use std::fmt;

use vmbus_proto::gpadl::{parse_ranges, GpadlAssembly, GpadlError};
use vmbus_proto::types::{GpadlId, Relid};

/// Guest page size.
pub const PAGE: u64 = 4096;
/// GPADLs being assembled at once.
pub const MAX_PENDING: usize = 64;
/// GPADLs created at once.
pub const MAX_GPADLS: usize = 4096;

/// Why a GPADL message is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpadlFail {
    /// The handle is already in use (created or being assembled).
    Duplicate(u32),
    /// Too many GPADLs.
    TooMany,
    /// The messages do not fit together.
    Assembly(GpadlError),
    /// The ranges are malformed.
    Ranges(GpadlError),
    /// A PFN outside guest RAM.
    PfnOutsideRam(u64),
    /// No such GPADL.
    Unknown(u32),
    /// The GPADL belongs to another channel.
    WrongChannel(u32),
}

impl fmt::Display for GpadlFail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpadlFail::Duplicate(g) => write!(f, "GPADL {g:#x} already exists"),
            GpadlFail::TooMany => f.write_str("too many GPADLs"),
            GpadlFail::Assembly(e) => write!(f, "bad GPADL message sequence: {e:?}"),
            GpadlFail::Ranges(e) => write!(f, "bad GPADL ranges: {e:?}"),
            GpadlFail::PfnOutsideRam(p) => write!(f, "PFN {p:#x} is outside guest RAM"),
            GpadlFail::Unknown(g) => write!(f, "no GPADL {g:#x}"),
            GpadlFail::WrongChannel(r) => write!(f, "GPADL belongs to relid {r}"),
        }
    }
}

/// A created GPADL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gpadl {
    /// The channel it was created on.
    pub relid: Relid,
    /// Number of ranges.
    pub rangecount: u16,
    /// The range data (validated).
    pub words: Vec<u64>,
    /// Total pages over all ranges.
    pub pages: usize,
    /// Whether it is one range starting at offset 0 and covering whole
    /// pages (what a ring buffer GPADL must be).
    pub whole_pages: bool,
}

impl Gpadl {
    /// The PFNs of a one-range GPADL (a ring), empty otherwise.
    pub fn pfns(&self) -> &[u64] {
        match (self.rangecount, self.words.get(1..)) {
            (1, Some(p)) => p,
            _ => &[],
        }
    }
}

struct Pending {
    asm: GpadlAssembly,
    words: Vec<u64>,
}

/// The GPADLs of one connection.
#[derive(Default)]
pub struct Gpadls {
    pending: BTreeMap<u32, Pending>,
    created: BTreeMap<u32, Gpadl>,
}

fn validate(
    relid: Relid,
    rangecount: u16,
    words: Vec<u64>,
    ram_len: u64,
) -> Result<Gpadl, GpadlFail> {
    let ranges = parse_ranges(&words, usize::from(rangecount)).map_err(GpadlFail::Ranges)?;
    let ram_pages = ram_len / PAGE;
    let mut pages = 0usize;
    let mut whole_pages = rangecount == 1;
    for r in ranges {
        for &pfn in r.pfns {
            if pfn >= ram_pages {
                return Err(GpadlFail::PfnOutsideRam(pfn));
            }
        }
        pages += r.pfns.len();
        if r.byte_offset != 0 || u64::from(r.byte_count) != r.pfns.len() as u64 * PAGE {
            whole_pages = false;
        }
    }
    Ok(Gpadl {
        relid,
        rangecount,
        words,
        pages,
        whole_pages,
    })
}

/// The outcome of a GPADL message that did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// More bodies are due.
    Incomplete,
    /// Created: answer `GPADL_CREATED`.
    Created(Relid),
}

impl Gpadls {
    /// Forgets everything.
    pub fn clear(&mut self) {
        self.pending.clear();
        self.created.clear();
    }

    /// A `GPADL_HEADER`. On failure the caller answers `GPADL_CREATED`
    /// with an error status for `relid`.
    pub fn header(
        &mut self,
        relid: Relid,
        gpadl: GpadlId,
        range_buflen: u16,
        rangecount: u16,
        data: &[u64],
        ram_len: u64,
    ) -> Result<Progress, GpadlFail> {
        let id = gpadl.get();
        if self.pending.contains_key(&id) || self.created.contains_key(&id) {
            return Err(GpadlFail::Duplicate(id));
        }
        if self.pending.len() >= MAX_PENDING || self.created.len() >= MAX_GPADLS {
            return Err(GpadlFail::TooMany);
        }
        let (asm, keep) = GpadlAssembly::start(relid, gpadl, range_buflen, rangecount, data)
            .map_err(GpadlFail::Assembly)?;
        let words = keep.to_vec();
        if asm.is_complete() {
            let g = validate(relid, rangecount, words, ram_len)?;
            self.created.insert(id, g);
            return Ok(Progress::Created(relid));
        }
        self.pending.insert(id, Pending { asm, words });
        Ok(Progress::Incomplete)
    }

    /// A `GPADL_BODY`. On failure the assembly is dropped; the relid (if
    /// the GPADL was known) is returned with the error so the caller can
    /// answer `GPADL_CREATED` with an error status.
    pub fn body(
        &mut self,
        gpadl: GpadlId,
        data: &[u64],
        ram_len: u64,
    ) -> Result<Progress, (Option<Relid>, GpadlFail)> {
        let id = gpadl.get();
        let Some(p) = self.pending.get_mut(&id) else {
            return Err((None, GpadlFail::Unknown(id)));
        };
        let relid = p.asm.relid;
        match p.asm.add_body(gpadl, data) {
            Ok(keep) => p.words.extend_from_slice(keep),
            Err(e) => {
                self.pending.remove(&id);
                return Err((Some(relid), GpadlFail::Assembly(e)));
            }
        }
        if !p.asm.is_complete() {
            return Ok(Progress::Incomplete);
        }
        let Some(p) = self.pending.remove(&id) else {
            return Err((Some(relid), GpadlFail::Unknown(id)));
        };
        let g =
            validate(relid, p.asm.rangecount, p.words, ram_len).map_err(|e| (Some(relid), e))?;
        self.created.insert(id, g);
        Ok(Progress::Created(relid))
    }

    /// A created GPADL.
    pub fn get(&self, gpadl: GpadlId) -> Option<&Gpadl> {
        self.created.get(&gpadl.get())
    }

    /// Removes a created GPADL of `relid` (`GPADL_TEARDOWN`).
    pub fn teardown(&mut self, relid: Relid, gpadl: GpadlId) -> Result<Gpadl, GpadlFail> {
        let id = gpadl.get();
        match self.created.get(&id) {
            None => Err(GpadlFail::Unknown(id)),
            Some(g) if g.relid != relid => Err(GpadlFail::WrongChannel(g.relid.get())),
            Some(_) => self.created.remove(&id).ok_or(GpadlFail::Unknown(id)),
        }
    }

    /// Drops every GPADL of `relid` (a released channel).
    pub fn drop_channel(&mut self, relid: Relid) {
        self.created.retain(|_, g| g.relid != relid);
        self.pending.retain(|_, p| p.asm.relid != relid);
    }

    /// (created, being assembled).
    pub fn counts(&self) -> (usize, usize) {
        (self.created.len(), self.pending.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmbus_proto::gpadl::range_word;
    use vmbus_proto::wire::channel_msg::GpaRange;

    fn r(v: u32) -> Relid {
        Relid::new(v).unwrap()
    }
    fn g(v: u32) -> GpadlId {
        GpadlId::new(v).unwrap()
    }
    fn words(pfns: &[u64]) -> Vec<u64> {
        let mut w = vec![range_word(GpaRange {
            byte_count: (pfns.len() as u64 * PAGE) as u32,
            byte_offset: 0,
        })];
        w.extend_from_slice(pfns);
        w
    }

    #[test]
    fn header_only_and_bodies() {
        let mut t = Gpadls::default();
        let w = words(&[1, 2, 3]);
        let n = (w.len() * 8) as u16;
        assert_eq!(
            t.header(r(1), g(5), n, 1, &w, 1 << 20),
            Ok(Progress::Created(r(1)))
        );
        assert!(t.get(g(5)).unwrap().whole_pages);
        assert_eq!(t.get(g(5)).unwrap().pages, 3);
        assert_eq!(
            t.header(r(1), g(5), n, 1, &w, 1 << 20),
            Err(GpadlFail::Duplicate(5))
        );
        let pfns: Vec<u64> = (10..50).collect();
        let w = words(&pfns);
        let n = (w.len() * 8) as u16;
        assert_eq!(
            t.header(r(2), g(6), n, 1, &w[..27], 1 << 20),
            Ok(Progress::Incomplete)
        );
        assert_eq!(t.body(g(6), &w[27..], 1 << 20), Ok(Progress::Created(r(2))));
        assert_eq!(t.teardown(r(1), g(6)), Err(GpadlFail::WrongChannel(2)));
        assert!(t.teardown(r(2), g(6)).is_ok());
        assert_eq!(t.teardown(r(2), g(6)), Err(GpadlFail::Unknown(6)));
    }

    #[test]
    fn bad_input() {
        let mut t = Gpadls::default();
        let w = words(&[1, 256]);
        let n = (w.len() * 8) as u16;
        assert_eq!(
            t.header(r(1), g(5), n, 1, &w, 256 * PAGE),
            Err(GpadlFail::PfnOutsideRam(256))
        );
        assert_eq!(t.counts(), (0, 0));
        assert_eq!(
            t.body(g(9), &[1], 1 << 20),
            Err((None, GpadlFail::Unknown(9)))
        );
        // A body with more words than announced.
        let w = words(&[1, 2]);
        assert_eq!(
            t.header(r(1), g(7), 32, 1, &w[..1], 1 << 20),
            Ok(Progress::Incomplete)
        );
        assert!(t.body(g(7), &[1, 2, 3, 4], 1 << 20).is_err());
        assert_eq!(t.counts(), (0, 0));
    }
}
