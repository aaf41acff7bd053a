// SPDX-License-Identifier: GPL-2.0

//! The full barrier for memory shared with the host, as Linux's `virt_mb()`.
//!
//! On x86-64 it is one locked add of zero to the stack, inline, as the
//! kernel's `smp_mb()` and `virt_mb()` are: about 4 ns, where the kernel's
//! `mb()` is an `mfence` (about 13 ns measured on these machines) and, from
//! Rust, also a call into C. The ring buffers issue one per packet.

/// Orders every access before it against every access after it, as the
/// host sees them; on x86-64 the order it adds is store → load (a store to
/// a ring index before a load of the other side's index or mask).
#[inline(always)]
pub(crate) fn virt_mb() {
    // SAFETY: A locked add of zero to the word below the stack pointer is
    // an atomic read-modify-write that leaves the word as it was, so it
    // cannot corrupt what an interrupt may have written there (the kernel
    // has no red zone); the asm is a compiler barrier for memory (no
    // `nomem`), and it clobbers only the flags (no `preserves_flags`).
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!("lock addl $0, -4(%rsp)", options(att_syntax))
    };
    #[cfg(not(target_arch = "x86_64"))]
    kernel::sync::barrier::smp_mb(kernel::sync::barrier::Full);
}
