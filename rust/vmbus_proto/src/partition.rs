// SPDX-License-Identifier: GPL-2.0

//! Which Hyper-V partitions a guest may drive VMBus in by itself.
//!
//! A guest that connects to VMBus on its own gives the hypervisor its
//! SynIC message and event flags pages, and names ring and GPADL pages by
//! their guest physical addresses. Three kinds of partition do not let it
//! do that, and a client that supports none of them must refuse to load
//! there, before it touches anything:
//!
//! - an isolated (confidential) VM, whose pages are encrypted: what it
//!   shares with the host must first be made visible to it;
//! - a partition with a paravisor, which owns the SynIC pages;
//! - the root partition, where the hypervisor provides the SynIC pages.
//!
//! The facts are gathered by the caller (the Linux guest asks the Hyper-V
//! core, which found them at boot) into [`PartitionFacts`];
//! [`PartitionFacts::refusal`] turns them into a typed [`Refusal`].
//!
//! ```
//! use vmbus_proto::partition::{PartitionFacts, Refusal};
//!
//! assert_eq!(PartitionFacts::NONE.refusal(), None);
//! let facts = PartitionFacts::from_bits(PartitionFacts::PARAVISOR | PartitionFacts::ROOT);
//! assert_eq!(facts.refusal(), Some(Refusal::Paravisor));
//! ```

/// What is known about the partition the guest runs in, as a set of
/// flags. Bits other than [`Self::ISOLATED`], [`Self::PARAVISOR`] and
/// [`Self::ROOT`] are dropped when the set is made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartitionFacts(u8);

/// Why a guest does not drive VMBus in its partition. When several facts
/// hold, the refusal names the first in the order of the variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The VM is isolated (confidential).
    Isolated,
    /// A paravisor is present.
    Paravisor,
    /// This is the root partition.
    RootPartition,
}

impl PartitionFacts {
    /// The VM is isolated (confidential): its memory is encrypted.
    pub const ISOLATED: u8 = 1 << 0;
    /// A paravisor runs in the partition, below the guest.
    pub const PARAVISOR: u8 = 1 << 1;
    /// The guest is the root partition.
    pub const ROOT: u8 = 1 << 2;
    /// Every flag this type knows.
    pub const ALL: u8 = Self::ISOLATED | Self::PARAVISOR | Self::ROOT;
    /// A partition of none of these kinds.
    pub const NONE: Self = Self(0);

    /// The set of the flags in `bits` that this type knows.
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & Self::ALL)
    }

    /// The flags, as [`Self::from_bits`] takes them.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `bits` is in the set.
    pub const fn has(self, bits: u8) -> bool {
        self.0 & bits == bits
    }

    /// Why a guest without support for isolation, a paravisor or the root
    /// partition must not drive VMBus here; `None` when it may. An
    /// isolated VM is named first, then a paravisor (which an isolated VM
    /// usually has too), then the root partition.
    pub const fn refusal(self) -> Option<Refusal> {
        if self.has(Self::ISOLATED) {
            Some(Refusal::Isolated)
        } else if self.has(Self::PARAVISOR) {
            Some(Refusal::Paravisor)
        } else if self.has(Self::ROOT) {
            Some(Refusal::RootPartition)
        } else {
            None
        }
    }
}

impl Refusal {
    /// A sentence for the log, saying what the partition is and why that
    /// rules out the guest's own VMBus connection.
    pub const fn message(self) -> &'static str {
        match self {
            Self::Isolated => "this is an isolated (confidential) VM, whose VMBus needs decrypted pages and the paravisor's SynIC",
            Self::Paravisor => "a paravisor is present, which owns the SynIC message and event pages",
            Self::RootPartition => "this is the root partition, where the hypervisor provides the SynIC pages",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal every one of the eight sets of facts must get, written
    /// out rather than computed.
    const TABLE: [(u8, Option<Refusal>); 8] = [
        (0, None),
        (PartitionFacts::ISOLATED, Some(Refusal::Isolated)),
        (PartitionFacts::PARAVISOR, Some(Refusal::Paravisor)),
        (PartitionFacts::ROOT, Some(Refusal::RootPartition)),
        (
            PartitionFacts::ISOLATED | PartitionFacts::PARAVISOR,
            Some(Refusal::Isolated),
        ),
        (
            PartitionFacts::ISOLATED | PartitionFacts::ROOT,
            Some(Refusal::Isolated),
        ),
        (
            PartitionFacts::PARAVISOR | PartitionFacts::ROOT,
            Some(Refusal::Paravisor),
        ),
        (PartitionFacts::ALL, Some(Refusal::Isolated)),
    ];

    #[test]
    fn every_combination_gets_the_highest_priority_refusal() {
        let mut seen = [false; 8];
        for (bits, want) in TABLE {
            let facts = PartitionFacts::from_bits(bits);
            assert_eq!(facts.refusal(), want, "facts {bits:#05b}");
            seen[usize::from(bits)] = true;
        }
        assert!(seen.iter().all(|s| *s), "the table covers all 8 sets");
    }

    #[test]
    fn unknown_bits_are_dropped_and_change_nothing() {
        for (bits, want) in TABLE {
            for extra in [0x08, 0x10, 0x80, 0xf8] {
                let facts = PartitionFacts::from_bits(bits | extra);
                assert_eq!(facts.bits(), bits);
                assert_eq!(facts.refusal(), want);
            }
        }
        assert_eq!(PartitionFacts::from_bits(0xf8), PartitionFacts::NONE);
    }

    #[test]
    fn no_facts_is_the_default_and_is_not_refused() {
        assert_eq!(PartitionFacts::default(), PartitionFacts::NONE);
        assert_eq!(PartitionFacts::NONE.refusal(), None);
    }

    #[test]
    fn messages_are_distinct_sentences() {
        let all = [
            Refusal::Isolated,
            Refusal::Paravisor,
            Refusal::RootPartition,
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(!a.message().is_empty());
            assert!(!a.message().ends_with('.'));
            for b in &all[i + 1..] {
                assert_ne!(a.message(), b.message());
            }
        }
        assert!(Refusal::Isolated.message().contains("isolated"));
        assert!(Refusal::Paravisor.message().contains("paravisor"));
        assert!(Refusal::RootPartition.message().contains("root partition"));
    }
}
