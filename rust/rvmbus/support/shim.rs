// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers around the C shim (`shim.c`).

use kernel::{ffi::c_void, page::Page, prelude::*, str::CStr};

mod ffi {
    use kernel::ffi::c_void;

    extern "C" {
        pub(super) fn rvmbus_shim_transport_param() -> *const kernel::ffi::c_char;
        pub(super) fn rvmbus_shim_timeout_ms() -> kernel::ffi::c_uint;
        pub(super) fn rvmbus_shim_pending_send_size() -> bool;
        pub(super) fn rvmbus_shim_irq_events() -> bool;
        pub(super) fn rvmbus_shim_rust_cb_work() -> bool;
        pub(super) fn rvmbus_shim_in_task() -> bool;
        pub(super) fn rvmbus_shim_hyperv_present() -> bool;
        pub(super) fn rvmbus_shim_fatal_signal_pending() -> bool;
        pub(super) fn rvmbus_shim_page_to_phys(page: *mut c_void) -> u64;
        pub(super) fn rvmbus_shim_wmb();
        pub(super) fn rvmbus_shim_rmb();
        pub(super) fn rvmbus_shim_mb();
        pub(super) fn rvmbus_shim_alloc_pages(npages: usize) -> *mut c_void;
        pub(super) fn rvmbus_shim_free_pages(addr: *mut c_void, npages: usize);
        pub(super) fn rvmbus_shim_pages_kept(npages: usize);
        pub(super) fn rvmbus_shim_pages_report();
        pub(super) fn rvmbus_shim_virt_to_phys(addr: *mut c_void) -> u64;
        pub(super) fn rvmbus_shim_cpu_to_node(cpu: u32) -> i32;
        pub(super) fn rvmbus_shim_nr_cpu_ids() -> u32;
        pub(super) fn rvmbus_shim_cpu_online(cpu: u32) -> bool;
        pub(super) fn rvmbus_shim_cpus_read_lock();
        pub(super) fn rvmbus_shim_cpus_read_unlock();
    }
}

/// Which transport the user asked for with the `transport=` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransportParam {
    /// Hyper-V if the CPU says so, else an rvmbus ivshmem device.
    Auto,
    /// Only real Hyper-V.
    HyperV,
    /// Only the ivshmem test transport.
    Ivshmem,
}

/// Reads the `transport=` module parameter.
pub(crate) fn transport_param() -> Result<TransportParam> {
    // SAFETY: The shim returns a pointer to a static, NUL-terminated buffer
    // that lives as long as the module; the parameter is read-only (0444)
    // after load, so nobody writes it while we read.
    let s = unsafe { CStr::from_char_ptr(ffi::rvmbus_shim_transport_param()) };
    match s.to_bytes() {
        b"auto" | b"" => Ok(TransportParam::Auto),
        b"hyperv" => Ok(TransportParam::HyperV),
        b"ivshmem" => Ok(TransportParam::Ivshmem),
        _ => {
            pr_err!("transport={:?} is not one of auto, hyperv, ivshmem\n", s);
            Err(EINVAL)
        }
    }
}

/// The `timeout_ms=` module parameter: how long to wait for the host.
pub(crate) fn timeout_ms() -> u32 {
    // SAFETY: The shim reads a module parameter with READ_ONCE; no
    // preconditions.
    unsafe { ffi::rvmbus_shim_timeout_ms() }
}

/// The `pending_send_size=` module parameter: whether new rings offer the
/// host pending-send-size flow control (on by default, as in Linux).
pub(crate) fn pending_send_size() -> bool {
    // SAFETY: The shim reads a module parameter with READ_ONCE; no
    // preconditions.
    unsafe { ffi::rvmbus_shim_pending_send_size() }
}

/// The `irq_events` module parameter: the event flags are scanned in the
/// transport's interrupt handler (`true`, the default) or in the message
/// work (`false`, the old path, kept for the benchmark's comparison).
pub(crate) fn irq_events() -> bool {
    // SAFETY: As for `pending_send_size`.
    unsafe { ffi::rvmbus_shim_irq_events() }
}

/// The `rust_cb_work` module parameter: the Rust driver API runs packet
/// and completion callbacks from a work item (`true`, the old path, kept
/// for the benchmark's comparison) instead of in the channel's tasklet
/// (`false`, the default). A binding reads it once, when it is made.
pub(crate) fn rust_cb_work() -> bool {
    // SAFETY: As for `pending_send_size`.
    unsafe { ffi::rvmbus_shim_rust_cb_work() }
}

/// Whether the caller runs in task context (Linux's `in_task()`): not in
/// a hard or soft interrupt, nor in NMI. Only there may rvmbus sleep on a
/// caller's behalf. Any context.
pub(crate) fn in_task() -> bool {
    // SAFETY: `in_task()` reads the preempt count; no preconditions.
    unsafe { ffi::rvmbus_shim_in_task() }
}

/// The monotonic clock (`ktime_get`) in nanoseconds since boot.
pub(crate) fn ktime_ns() -> i64 {
    // SAFETY: `ktime_get` may be called in any context but NMI, where
    // rvmbus never runs.
    unsafe { kernel::bindings::ktime_get() }
}

/// Whether the kernel found it runs on Hyper-V (CPUID hypervisor vendor).
pub(crate) fn hyperv_present() -> bool {
    // SAFETY: Reads a variable set once at boot; no preconditions.
    unsafe { ffi::rvmbus_shim_hyperv_present() }
}

/// Whether the current task has a fatal signal pending (`SIGKILL`, or a
/// signal that will kill it): the only signal that ends a wait for the
/// host early.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: Reads the current task's signal state; callable from any
    // process context, where the waits that ask it run.
    unsafe { ffi::rvmbus_shim_fatal_signal_pending() }
}

/// The guest physical address of `page`.
pub(crate) fn page_phys(page: &Page) -> u64 {
    // SAFETY: `page.as_ptr()` is a valid `struct page` for as long as `page`
    // lives, which covers this call.
    unsafe { ffi::rvmbus_shim_page_to_phys(page.as_ptr().cast::<c_void>()) }
}

/// A write memory barrier (`wmb()`), ordering stores to shared memory.
pub(crate) fn wmb() {
    // SAFETY: A barrier has no preconditions.
    unsafe { ffi::rvmbus_shim_wmb() }
}

/// A read memory barrier (`rmb()`), ordering loads from shared memory.
pub(crate) fn rmb() {
    // SAFETY: A barrier has no preconditions.
    unsafe { ffi::rvmbus_shim_rmb() }
}

/// A full memory barrier (`mb()`), ordering stores before later loads.
pub(crate) fn mb() {
    // SAFETY: A barrier has no preconditions.
    unsafe { ffi::rvmbus_shim_mb() }
}

/// Allocates exactly `npages` zeroed, physically contiguous pages in the
/// direct map (`alloc_pages_exact`); returns their address, or null when
/// out of memory or when `npages` is beyond the page allocator's largest
/// block.
pub(crate) fn alloc_pages(npages: usize) -> *mut c_void {
    // SAFETY: `alloc_pages_exact` has no preconditions; it fails (returns
    // null) for sizes above its largest order.
    unsafe { ffi::rvmbus_shim_alloc_pages(npages) }
}

/// Frees pages from [`alloc_pages`].
///
/// # Safety
///
/// `addr` was returned by [`alloc_pages`] with the same `npages`, is not
/// freed yet, and nobody (the host included) uses the pages any more.
pub(crate) unsafe fn free_pages(addr: *mut c_void, npages: usize) {
    // SAFETY: Guaranteed by the caller.
    unsafe { ffi::rvmbus_shim_free_pages(addr, npages) }
}

/// Counts `npages` pages from [`alloc_pages`] as kept for the host: never
/// freed, and not a leak.
pub(crate) fn pages_kept(npages: usize) {
    // SAFETY: An atomic counter update; no preconditions.
    unsafe { ffi::rvmbus_shim_pages_kept(npages) }
}

/// Logs whether every page from [`alloc_pages`] was freed or kept; an
/// error line names the difference (the test harness fails on it).
pub(crate) fn pages_report() {
    // SAFETY: Reads counters; no preconditions.
    unsafe { ffi::rvmbus_shim_pages_report() }
}

/// The physical address of a direct-map address.
pub(crate) fn virt_to_phys(addr: *mut c_void) -> u64 {
    // SAFETY: `virt_to_phys` is arithmetic on the address; it does not
    // dereference it.
    unsafe { ffi::rvmbus_shim_virt_to_phys(addr) }
}

/// The NUMA node of `cpu`.
pub(crate) fn cpu_to_node(cpu: u32) -> i32 {
    // SAFETY: `cpu_to_node` reads a per-CPU variable; callers pass
    // `cpu < nr_cpu_ids`.
    unsafe { ffi::rvmbus_shim_cpu_to_node(cpu.min(nr_cpu_ids().saturating_sub(1))) }
}

/// The number of possible CPU ids.
pub(crate) fn nr_cpu_ids() -> u32 {
    // SAFETY: Reads a variable set at boot.
    unsafe { ffi::rvmbus_shim_nr_cpu_ids() }
}

/// Whether `cpu` is online.
pub(crate) fn cpu_online(cpu: u32) -> bool {
    // SAFETY: `cpu_online` tests a bit in a cpumask; out-of-range ids are
    // rejected first.
    cpu < nr_cpu_ids() && unsafe { ffi::rvmbus_shim_cpu_online(cpu) }
}

/// The CPU hotplug lock held for reading (`cpus_read_lock`): no CPU comes
/// or goes, and no CPU hotplug callback runs, while it lives.
///
/// Lock order: taken before the connection lock; never taken inside a
/// CPU hotplug callback (which holds the lock for writing).
pub(crate) struct CpusLocked(());

impl CpusLocked {
    /// Takes the lock; may sleep.
    pub(crate) fn new() -> Self {
        // SAFETY: Process context (callers may sleep); released in `drop`.
        unsafe { ffi::rvmbus_shim_cpus_read_lock() };
        Self(())
    }
}

impl Drop for CpusLocked {
    fn drop(&mut self) {
        // SAFETY: Taken in `new`.
        unsafe { ffi::rvmbus_shim_cpus_read_unlock() };
    }
}
