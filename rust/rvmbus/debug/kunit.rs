// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the glue. Built only for kernels with CONFIG_KUNIT (the
//! debug kernel of `make test-debug`); they run when the module is loaded and
//! report to the kernel log as KTAP, which the harness reads.
#![cfg(CONFIG_KUNIT)]

use kernel::prelude::*;

#[kunit_tests(rvmbus_glue)]
mod tests {
    use crate::{proto::partition::PartitionFacts, support::shim, transport::hyperv};
    use kernel::{
        page::{Page, PAGE_SIZE},
        prelude::*,
    };

    /// The transport describes pages to the host by the addresses
    /// `shim::page_phys` returns: they must be page-aligned, non-zero and
    /// distinct for distinct live pages.
    #[test]
    fn page_phys_is_aligned_and_distinct() -> Result {
        let a = Page::alloc_page(GFP_KERNEL)?;
        let b = Page::alloc_page(GFP_KERNEL)?;
        let (pa, pb) = (shim::page_phys(&a), shim::page_phys(&b));
        assert!(pa != 0);
        assert_eq!(pa % PAGE_SIZE as u64, 0);
        assert_eq!(pb % PAGE_SIZE as u64, 0);
        assert!(pa != pb);
        Ok(())
    }

    /// The Hyper-V shim gathers the partition facts from the kernel's
    /// Hyper-V core. The tests run in QEMU guests (with or without KVM's
    /// Hyper-V enlightenments), which are neither isolated nor the root
    /// partition and have no paravisor: the shim must report none of the
    /// facts, so the guests are not refused.
    #[test]
    fn partition_facts_of_a_qemu_guest_are_none() -> Result {
        let facts = hyperv::partition_facts();
        assert_eq!(facts.bits(), 0);
        assert_eq!(facts, PartitionFacts::NONE);
        assert!(facts.refusal().is_none());
        Ok(())
    }
}
