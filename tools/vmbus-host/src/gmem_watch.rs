// SPDX-License-Identifier: GPL-2.0

//! The host's writes into guest RAM, watched: how many there were, and
//! whether any came after the guest took its memory back.
//!
//! A guest takes its memory back when the host has answered its UNLOAD
//! (the `UNLOAD_RESPONSE` is the last thing the host may write) or when it
//! says GOODBYE. From then on the memory may belong to something else (the
//! next kernel after kexec, a kdump kernel, a reloaded driver's new pages),
//! so a real host never writes it again until the guest hands memory over
//! anew (HELLO, or SynIC pages set up again). The watch is sealed at those
//! points; every write while sealed is counted, and the first is kept. The
//! trace gets one line when the watch is sealed and one when it is lifted,
//! and a line naming the first offending write if there was any:
//!
//! ```text
//! h2g - gmem-sealed <writes so far, u64>
//! h2g - gmem-unsealed <writes while sealed, u64>
//! h2g - gmem-write-after-unload <count u64> <first address u64> <length u64>
//! ```

use std::cell::Cell;

use crate::trace::{Dir, Trace};

/// The bookkeeping of one watched region.
#[derive(Debug, Default)]
pub struct WriteWatch {
    writes: Cell<u64>,
    sealed: Cell<bool>,
    after: Cell<u64>,
    first_after: Cell<Option<(u64, u64)>>,
}

/// Writes that came while the watch was sealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Violations {
    /// How many.
    pub count: u64,
    /// The first one: address and length.
    pub first: Option<(u64, u64)>,
}

impl WriteWatch {
    /// Counts a write of `len` bytes at `addr`.
    pub fn note(&self, addr: u64, len: u64) {
        self.writes.set(self.writes.get().wrapping_add(1));
        if self.sealed.get() {
            self.after.set(self.after.get().wrapping_add(1));
            if self.first_after.get().is_none() {
                self.first_after.set(Some((addr, len)));
            }
        }
    }

    /// All writes so far.
    pub fn writes(&self) -> u64 {
        self.writes.get()
    }

    /// Whether the guest has taken its memory back.
    pub fn is_sealed(&self) -> bool {
        self.sealed.get()
    }

    /// Seals; returns whether it was open.
    pub fn seal(&self) -> bool {
        !self.sealed.replace(true)
    }

    /// Lifts the seal; returns what happened while it held, or `None` if
    /// it was not sealed.
    pub fn unseal(&self) -> Option<Violations> {
        if !self.sealed.replace(false) {
            return None;
        }
        Some(Violations {
            count: self.after.replace(0),
            first: self.first_after.take(),
        })
    }
}

/// Seals `watch` (if the region has one) and records it in the trace.
pub fn seal_traced(watch: Option<&WriteWatch>, trace: &Trace) {
    let Some(w) = watch else {
        return;
    };
    if w.seal() {
        trace.event(Dir::H2g, None, "gmem-sealed", &w.writes().to_le_bytes());
    }
}

/// Lifts the seal of `watch` (if sealed), records it in the trace, and
/// reports writes that came while it held (`why`: what lifted it).
pub fn unseal_traced(watch: Option<&WriteWatch>, trace: &Trace, why: &str) {
    let Some(v) = watch.and_then(WriteWatch::unseal) else {
        return;
    };
    trace.event(Dir::H2g, None, "gmem-unsealed", &v.count.to_le_bytes());
    if v.count == 0 {
        return;
    }
    let (addr, len) = v.first.unwrap_or((0, 0));
    let mut rec = Vec::with_capacity(24);
    rec.extend_from_slice(&v.count.to_le_bytes());
    rec.extend_from_slice(&addr.to_le_bytes());
    rec.extend_from_slice(&len.to_le_bytes());
    trace.event(Dir::H2g, None, "gmem-write-after-unload", &rec);
    crate::log_error!(
        "{} writes into guest memory after the guest took it back (seen at {why}); the first: {len} bytes at {addr:#x}",
        v.count
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_while_sealed() {
        let w = WriteWatch::default();
        w.note(0x1000, 4);
        assert_eq!(w.unseal(), None);
        assert!(w.seal());
        assert!(!w.seal());
        w.note(0x2000, 8);
        w.note(0x3000, 1);
        assert_eq!(w.writes(), 3);
        assert_eq!(
            w.unseal(),
            Some(Violations {
                count: 2,
                first: Some((0x2000, 8))
            })
        );
        w.note(0x4000, 1);
        assert!(w.seal());
        assert_eq!(
            w.unseal(),
            Some(Violations {
                count: 0,
                first: None
            })
        );
    }

    #[test]
    fn traces_seal_and_violations() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        let t = Trace::to_file(&p).unwrap();
        let w = WriteWatch::default();
        seal_traced(Some(&w), &t);
        w.note(0x5000, 16);
        unseal_traced(Some(&w), &t, "test");
        let s = std::fs::read_to_string(&p).unwrap();
        let kinds: Vec<&str> = s.lines().map(|l| l.split(' ').nth(3).unwrap()).collect();
        assert_eq!(
            kinds,
            ["gmem-sealed", "gmem-unsealed", "gmem-write-after-unload"]
        );
    }
}
