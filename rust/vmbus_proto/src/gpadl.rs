// SPDX-License-Identifier: GPL-2.0

//! GPADLs: the message sequence that describes guest memory to the host,
//! its reassembly on the host side, range validation, and the life cycle of
//! one GPADL (created, torn down).
//!
//! A GPADL is a list of GPA ranges; each range is a [`GpaRange`] (byte count
//! and offset in the first page) followed by one PFN per page it touches.
//! The guest sends the range data as `u64` words: as many as fit in a
//! `GPADL_HEADER` (26 PFNs after the range word), then `GPADL_BODY`
//! messages of 28 words each, and the host answers `GPADL_CREATED`.
//!
//! ```
//! use vmbus_proto::gpadl::GpadlMessages;
//! use vmbus_proto::message::GuestMessage;
//! use vmbus_proto::types::{GpadlId, Relid};
//!
//! let pfns: [u64; 60] = core::array::from_fn(|i| 0x1000 + i as u64);
//! let msgs = GpadlMessages::new(Relid::new(1).unwrap(), GpadlId::new(9).unwrap(), &pfns)
//!     .unwrap();
//! // 26 PFNs in the header, then 28 and 6 in two bodies.
//! assert_eq!(msgs.message_count(), 3);
//! assert!(matches!(msgs.clone().last(), Some(GuestMessage::GpadlBody { .. })));
//! ```

use super::message::{GuestMessage, GPADL_BODY_WORDS, GPADL_HEADER_WORDS};
use super::types::{GpadlId, Relid, Words};
use super::wire::channel_msg::GpaRange;
use super::wire::{HV_PAGE_SHIFT, HV_PAGE_SIZE};

/// The most pages a single-range GPADL can describe: `range_buflen` is a
/// `u16` and holds the range word plus one word per page.
pub const MAX_GPADL_PAGES: usize = (u16::MAX as usize - 8) / 8;

/// GPADL errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpadlError {
    /// No pages, or more than [`MAX_GPADL_PAGES`].
    BadPageCount(usize),
    /// A range's byte count or offset is inconsistent with its PFNs.
    BadRange,
    /// Range data is missing or left over.
    BadLength,
    /// A body message for another GPADL.
    WrongGpadl(u32),
    /// A body message after the GPADL was complete.
    AlreadyComplete,
    /// An event that is not valid in the GPADL's state.
    InvalidEvent,
    /// The host refused to create the GPADL.
    CreateFailed(u32),
}

/// The page count a range touches, or `None` on overflow.
pub fn pages_spanned(byte_offset: u32, byte_count: u32) -> Option<usize> {
    let end = u64::from(byte_offset).checked_add(u64::from(byte_count))?;
    let pages = end.checked_add(HV_PAGE_SIZE as u64 - 1)? >> HV_PAGE_SHIFT;
    usize::try_from(pages).ok()
}

/// Packs a range header into its wire word.
pub const fn range_word(r: GpaRange) -> u64 {
    r.byte_count as u64 | (r.byte_offset as u64) << 32
}

/// Unpacks a range header from its wire word.
pub const fn range_from_word(w: u64) -> GpaRange {
    GpaRange {
        byte_count: w as u32,
        byte_offset: (w >> 32) as u32,
    }
}

/// The `GPADL_HEADER` and `GPADL_BODY` messages of one single-range GPADL,
/// in order.
#[derive(Clone, Debug)]
pub struct GpadlMessages<'a> {
    relid: Relid,
    gpadl: GpadlId,
    range: GpaRange,
    pfns: &'a [u64],
    /// PFNs already emitted; `None` before the header.
    sent: Option<usize>,
}

impl<'a> GpadlMessages<'a> {
    /// Messages for whole pages: the range covers `pfns.len()` pages from
    /// offset zero, as Linux builds ring and buffer GPADLs.
    pub fn new(relid: Relid, gpadl: GpadlId, pfns: &'a [u64]) -> Result<Self, GpadlError> {
        let n = pfns.len();
        let bytes = n
            .checked_mul(HV_PAGE_SIZE)
            .and_then(|b| u32::try_from(b).ok())
            .ok_or(GpadlError::BadPageCount(n))?;
        Self::with_range(relid, gpadl, 0, bytes, pfns)
    }

    /// Messages for a range of `byte_count` bytes starting `byte_offset`
    /// into the first of `pfns`, which must be exactly the pages spanned.
    pub fn with_range(
        relid: Relid,
        gpadl: GpadlId,
        byte_offset: u32,
        byte_count: u32,
        pfns: &'a [u64],
    ) -> Result<Self, GpadlError> {
        let n = pfns.len();
        if n == 0 || n > MAX_GPADL_PAGES {
            return Err(GpadlError::BadPageCount(n));
        }
        if byte_offset as usize >= HV_PAGE_SIZE
            || byte_count == 0
            || pages_spanned(byte_offset, byte_count) != Some(n)
        {
            return Err(GpadlError::BadRange);
        }
        Ok(Self {
            relid,
            gpadl,
            range: GpaRange {
                byte_count,
                byte_offset,
            },
            pfns,
            sent: None,
        })
    }

    /// The number of messages in the sequence.
    pub fn message_count(&self) -> usize {
        let in_header = GPADL_HEADER_WORDS - 1;
        let rest = self.pfns.len().saturating_sub(in_header);
        1 + rest.div_ceil(GPADL_BODY_WORDS)
    }
}

impl Iterator for GpadlMessages<'_> {
    type Item = GuestMessage;

    fn next(&mut self) -> Option<GuestMessage> {
        match self.sent {
            None => {
                let take = self.pfns.len().min(GPADL_HEADER_WORDS - 1);
                let mut data = Words::new();
                data.push(range_word(self.range));
                for &p in self.pfns.get(..take)? {
                    data.push(p);
                }
                self.sent = Some(take);
                // NO-OVERFLOW: at most `MAX_GPADL_PAGES + 1` words.
                let buflen = (self.pfns.len() + 1) * 8;
                Some(GuestMessage::GpadlHeader {
                    relid: self.relid,
                    gpadl: self.gpadl,
                    range_buflen: u16::try_from(buflen).ok()?,
                    rangecount: 1,
                    data,
                })
            }
            Some(sent) => {
                let rest = self.pfns.get(sent..)?;
                if rest.is_empty() {
                    return None;
                }
                let take = rest.len().min(GPADL_BODY_WORDS);
                let data = Words::from_slice(rest.get(..take)?)?;
                self.sent = Some(sent + take);
                Some(GuestMessage::GpadlBody {
                    msgnumber: 0,
                    gpadl: self.gpadl,
                    data,
                })
            }
        }
    }
}

/// Host-side reassembly of a GPADL from its header and bodies. The caller
/// keeps the words; this tracks how many are due and checks each message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpadlAssembly {
    /// The channel.
    pub relid: Relid,
    /// The GPADL.
    pub gpadl: GpadlId,
    /// Number of ranges.
    pub rangecount: u16,
    /// Words due in all.
    pub total_words: usize,
    /// Words received so far.
    pub received: usize,
}

impl GpadlAssembly {
    /// Starts from a decoded `GPADL_HEADER`; returns the assembly and the
    /// words of `data` to keep.
    pub fn start(
        relid: Relid,
        gpadl: GpadlId,
        range_buflen: u16,
        rangecount: u16,
        data: &[u64],
    ) -> Result<(Self, &[u64]), GpadlError> {
        let total_words = usize::from(range_buflen) / 8;
        if data.len() > total_words || rangecount == 0 {
            return Err(GpadlError::BadLength);
        }
        let a = Self {
            relid,
            gpadl,
            rangecount,
            total_words,
            received: data.len(),
        };
        Ok((a, data))
    }

    /// Whether all words have arrived.
    pub fn is_complete(&self) -> bool {
        self.received >= self.total_words
    }

    /// Adds a decoded `GPADL_BODY`; returns the words to keep.
    pub fn add_body<'d>(
        &mut self,
        gpadl: GpadlId,
        data: &'d [u64],
    ) -> Result<&'d [u64], GpadlError> {
        if gpadl != self.gpadl {
            return Err(GpadlError::WrongGpadl(gpadl.get()));
        }
        if self.is_complete() {
            return Err(GpadlError::AlreadyComplete);
        }
        let left = self.total_words - self.received;
        if data.len() > left {
            return Err(GpadlError::BadLength);
        }
        self.received += data.len();
        Ok(data)
    }
}

/// One validated GPA range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpaRangeRef<'a> {
    /// Length in bytes.
    pub byte_count: u32,
    /// Offset in the first page.
    pub byte_offset: u32,
    /// The pages, exactly as many as the range touches.
    pub pfns: &'a [u64],
}

/// Splits range data into `count` validated ranges; every word must be
/// used. Used for complete GPADLs and for GPA-direct packets.
pub fn parse_ranges(words: &[u64], count: usize) -> Result<GpaRanges<'_>, GpadlError> {
    let it = GpaRanges { words, left: count };
    // Validate everything up front so that iteration cannot fail.
    let mut check = it.clone();
    let mut rest = words;
    for _ in 0..count {
        let (_, r) = check.step()?;
        rest = r;
    }
    if !rest.is_empty() {
        return Err(GpadlError::BadLength);
    }
    Ok(it)
}

/// An iterator over validated ranges (see [`parse_ranges`]).
#[derive(Clone, Debug)]
pub struct GpaRanges<'a> {
    words: &'a [u64],
    left: usize,
}

impl<'a> GpaRanges<'a> {
    fn step(&mut self) -> Result<(GpaRangeRef<'a>, &'a [u64]), GpadlError> {
        let (&w, rest) = self.words.split_first().ok_or(GpadlError::BadLength)?;
        let r = range_from_word(w);
        if r.byte_count == 0 || r.byte_offset as usize >= HV_PAGE_SIZE {
            return Err(GpadlError::BadRange);
        }
        let n = pages_spanned(r.byte_offset, r.byte_count).ok_or(GpadlError::BadRange)?;
        if n > rest.len() {
            return Err(GpadlError::BadLength);
        }
        let (pfns, rest) = rest.split_at(n);
        self.words = rest;
        self.left = self.left.saturating_sub(1);
        Ok((
            GpaRangeRef {
                byte_count: r.byte_count,
                byte_offset: r.byte_offset,
                pfns,
            },
            rest,
        ))
    }
}

impl<'a> Iterator for GpaRanges<'a> {
    type Item = GpaRangeRef<'a>;

    fn next(&mut self) -> Option<GpaRangeRef<'a>> {
        if self.left == 0 {
            return None;
        }
        self.step().ok().map(|(r, _)| r)
    }
}

/// The life of one GPADL, on either side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpadlState {
    /// Header and bodies sent; waiting for `GPADL_CREATED`.
    Creating {
        /// The channel.
        relid: Relid,
        /// The GPADL.
        gpadl: GpadlId,
    },
    /// The host uses the memory.
    Created {
        /// The channel.
        relid: Relid,
        /// The GPADL.
        gpadl: GpadlId,
    },
    /// `GPADL_TEARDOWN` sent; waiting for `GPADL_TORNDOWN`. The memory is
    /// still the host's until then.
    TearingDown {
        /// The GPADL.
        gpadl: GpadlId,
    },
    /// The host no longer uses the memory; the guest may free it.
    Released,
}

/// Events for [`GpadlState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpadlEvent {
    /// `GPADL_CREATED` arrived with this status.
    Created(u32),
    /// The guest wants the GPADL gone.
    Teardown,
    /// `GPADL_TORNDOWN` arrived.
    Torndown,
    /// The channel was rescinded: the host will answer nothing more.
    Rescinded,
}

impl GpadlState {
    /// Applies an event; returns the next state and the message to post.
    pub fn on_event(self, ev: GpadlEvent) -> Result<(Self, Option<GuestMessage>), GpadlError> {
        match (self, ev) {
            (Self::Creating { relid, gpadl }, GpadlEvent::Created(0)) => {
                Ok((Self::Created { relid, gpadl }, None))
            }
            (Self::Creating { .. }, GpadlEvent::Created(s)) => Err(GpadlError::CreateFailed(s)),
            (Self::Created { relid, gpadl }, GpadlEvent::Teardown) => Ok((
                Self::TearingDown { gpadl },
                Some(GuestMessage::GpadlTeardown { relid, gpadl }),
            )),
            (Self::TearingDown { .. }, GpadlEvent::Torndown) => Ok((Self::Released, None)),
            // After a rescind the host still answers a teardown (Linux
            // sends one), but no longer a creation.
            (Self::Creating { .. }, GpadlEvent::Rescinded) => Ok((Self::Released, None)),
            (s, GpadlEvent::Rescinded) => Ok((s, None)),
            _ => Err(GpadlError::InvalidEvent),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn r() -> Relid {
        Relid::new(3).unwrap()
    }

    fn g() -> GpadlId {
        GpadlId::new(0xe1e10).unwrap()
    }

    /// Sends, encodes, decodes and reassembles, as guest and host would.
    fn round_trip(pfns: &[u64]) -> Vec<u64> {
        let msgs = GpadlMessages::new(r(), g(), pfns).unwrap();
        let count = msgs.message_count();
        let mut words = Vec::new();
        let mut asm = None;
        let mut n = 0;
        for m in msgs {
            n += 1;
            let e = m.encode();
            assert!(e.as_bytes().len() <= 240);
            match GuestMessage::decode(e.as_bytes()).unwrap() {
                GuestMessage::GpadlHeader {
                    relid,
                    gpadl,
                    range_buflen,
                    rangecount,
                    data,
                } => {
                    let (a, keep) = GpadlAssembly::start(
                        relid,
                        gpadl,
                        range_buflen,
                        rangecount,
                        data.as_slice(),
                    )
                    .unwrap();
                    words.extend_from_slice(keep);
                    asm = Some(a);
                }
                GuestMessage::GpadlBody { gpadl, data, .. } => {
                    let a = asm.as_mut().unwrap();
                    words.extend_from_slice(a.add_body(gpadl, data.as_slice()).unwrap());
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(n, count);
        assert!(asm.unwrap().is_complete());
        words
    }

    #[test]
    fn sequences_of_any_length() {
        for n in [1, 25, 26, 27, 54, 55, 100, 1000, MAX_GPADL_PAGES] {
            let pfns: Vec<u64> = (0..n as u64).map(|i| 0x10_0000 + i).collect();
            let words = round_trip(&pfns);
            let ranges: Vec<_> = parse_ranges(&words, 1).unwrap().collect();
            assert_eq!(ranges.len(), 1);
            assert_eq!(ranges[0].pfns, &pfns[..]);
            assert_eq!(ranges[0].byte_count as usize, n * 4096);
        }
        assert_eq!(
            GpadlMessages::new(r(), g(), &[0; MAX_GPADL_PAGES + 1]).err(),
            Some(GpadlError::BadPageCount(MAX_GPADL_PAGES + 1))
        );
        assert_eq!(
            GpadlMessages::new(r(), g(), &[]).err(),
            Some(GpadlError::BadPageCount(0))
        );
    }

    #[test]
    fn partial_ranges() {
        assert!(GpadlMessages::with_range(r(), g(), 100, 4000, &[1, 2]).is_ok());
        assert_eq!(
            GpadlMessages::with_range(r(), g(), 100, 3996, &[1, 2]).err(),
            Some(GpadlError::BadRange)
        );
        assert_eq!(
            GpadlMessages::with_range(r(), g(), 4096, 1, &[1]).err(),
            Some(GpadlError::BadRange)
        );
    }

    #[test]
    fn range_parsing_rejects() {
        let w = range_word(GpaRange {
            byte_count: 8192,
            byte_offset: 0,
        });
        assert_eq!(parse_ranges(&[w, 1], 1).err(), Some(GpadlError::BadLength));
        assert_eq!(
            parse_ranges(&[w, 1, 2, 3], 1).err(),
            Some(GpadlError::BadLength)
        );
        assert!(parse_ranges(&[w, 1, 2, w, 3, 4], 2).is_ok());
        let huge = range_word(GpaRange {
            byte_count: u32::MAX,
            byte_offset: 4095,
        });
        assert_eq!(parse_ranges(&[huge], 1).err(), Some(GpadlError::BadLength));
        assert_eq!(parse_ranges(&[0], 1).err(), Some(GpadlError::BadRange));
    }

    #[test]
    fn assembly_rejects() {
        let (mut a, _) = GpadlAssembly::start(r(), g(), 16, 1, &[1]).unwrap();
        assert_eq!(
            a.add_body(GpadlId::new(5).unwrap(), &[1]),
            Err(GpadlError::WrongGpadl(5))
        );
        assert_eq!(a.add_body(g(), &[1, 2]), Err(GpadlError::BadLength));
        a.add_body(g(), &[2]).unwrap();
        assert_eq!(a.add_body(g(), &[3]), Err(GpadlError::AlreadyComplete));
        assert!(GpadlAssembly::start(r(), g(), 8, 1, &[1, 2]).is_err());
    }

    #[test]
    fn life_cycle() {
        let s = GpadlState::Creating {
            relid: r(),
            gpadl: g(),
        };
        let (s, m) = s.on_event(GpadlEvent::Created(0)).unwrap();
        assert_eq!(m, None);
        assert_eq!(
            s.on_event(GpadlEvent::Torndown),
            Err(GpadlError::InvalidEvent)
        );
        let (s, m) = s.on_event(GpadlEvent::Teardown).unwrap();
        assert_eq!(
            m,
            Some(GuestMessage::GpadlTeardown {
                relid: r(),
                gpadl: g()
            })
        );
        let (s, _) = s.on_event(GpadlEvent::Torndown).unwrap();
        assert_eq!(s, GpadlState::Released);
        let c = GpadlState::Creating {
            relid: r(),
            gpadl: g(),
        };
        assert_eq!(
            c.on_event(GpadlEvent::Created(5)),
            Err(GpadlError::CreateFailed(5))
        );
    }
}
