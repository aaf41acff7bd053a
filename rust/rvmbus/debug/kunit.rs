// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the glue. Built only for kernels with CONFIG_KUNIT (the
//! debug kernel of `make test-debug`); they run when the module is loaded and
//! report to the kernel log as KTAP, which the harness reads.
#![cfg(CONFIG_KUNIT)]

use kernel::prelude::*;

#[kunit_tests(rvmbus_glue)]
mod tests {
    use crate::{
        bus::{
            channel::Channel,
            classes,
            connection::{self, Connection},
            shmem::SharedPages,
            upcalls,
        },
        proto::{partition::PartitionFacts, wire::Guid},
        support::shim,
        transport::{hyperv, HvStatus, Session, Transport},
    };
    use kernel::{
        device::Device,
        page::{Page, PAGE_SIZE},
        prelude::*,
        sync::{
            atomic::{
                ordering::{Acquire, Full, Relaxed, Release},
                Atomic,
            },
            Arc, Completion,
        },
        time::{delay::fsleep, Delta, Instant, Monotonic},
        workqueue::{self, impl_has_work, new_work, Work, WorkItem},
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

    /// A transport at a VTL of the test's choice: it keeps the first
    /// message it is asked to post, answers nothing, and lets every other
    /// call succeed without doing anything.
    struct VtlTransport {
        vtl: u8,
        /// How many messages it was asked to post.
        posts: Atomic<u32>,
        /// Of the first post's input (`struct hv_input_post_message`):
        /// bytes 0 to 7 (connection id, reserved), 16 to 23 (the channel
        /// message's header: type, padding) and 32 to 39 (from 5.0 on,
        /// INITIATE_CONTACT's `msg_sint`, `msg_vtl`, two reserved bytes and
        /// the feature flags), each as a little-endian word.
        words: [Atomic<u64>; 3],
    }

    impl VtlTransport {
        fn new(vtl: u8) -> Self {
            Self {
                vtl,
                posts: Atomic::new(0),
                words: [Atomic::new(0), Atomic::new(0), Atomic::new(0)],
            }
        }
    }

    impl Transport for VtlTransport {
        fn name(&self) -> &'static str {
            "kunit"
        }

        fn vcpus(&self) -> u32 {
            1
        }

        fn vtl(&self) -> u8 {
            self.vtl
        }

        fn synic_setup(&self, _cpu: u32, _simp: u64, _siefp: u64, _on: bool) -> Result<HvStatus> {
            Ok(HvStatus::SUCCESS)
        }

        fn post_message(&self, input: &[u8; 256]) -> Result<HvStatus> {
            if self.posts.fetch_add(1, Relaxed) == 0 {
                for (w, at) in self.words.iter().zip([0, 16, 32]) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&input[at..at + 8]);
                    w.store(u64::from_le_bytes(b), Relaxed);
                }
            }
            Ok(HvStatus::SUCCESS)
        }

        fn signal_event(&self, _connection_id: u32) -> Result<HvStatus> {
            Ok(HvStatus::SUCCESS)
        }

        fn eom(&self, _cpu: u32) -> Result<HvStatus> {
            Ok(HvStatus::SUCCESS)
        }

        fn detach(&self) -> Result<HvStatus> {
            Ok(HvStatus::SUCCESS)
        }

        fn post_message_now(&self, input: &[u8; 256]) -> Result<HvStatus> {
            self.post_message(input)
        }

        fn eom_now(&self, _cpu: u32, _may_ipi: bool) -> Result<HvStatus> {
            Ok(HvStatus::SUCCESS)
        }

        fn synic_off_now(&self, _cpu: u32, _may_ipi: bool) -> Result<HvStatus> {
            Ok(HvStatus::SUCCESS)
        }
    }

    /// The device model of the test connections: they never get as far as
    /// offers, so nothing is ever added.
    struct NoDevices;

    impl upcalls::Upper for NoDevices {
        fn add_device(&self, _ch: &Arc<Channel>, _primary: Option<&Arc<Channel>>) -> Result {
            Err(ENODEV)
        }

        fn remove_device(&self, _ch: &Arc<Channel>, _primary: Option<&Arc<Channel>>) {}

        fn restore_subchannels(&self, _ch: &Arc<Channel>, _n: u32) -> Option<Result<u32>> {
            None
        }

        fn connected(&self, _conn: &Connection) {}
    }

    static NO_DEVICES: NoDevices = NoDevices;

    /// INITIATE_CONTACT names the VTL the transport reports (on Hyper-V,
    /// the kernel's `ms_hyperv.vtl`) in `msg_vtl`, byte 17 of the message
    /// as in Linux's `struct vmbus_channel_initiate_contact`, and a VTL 2
    /// guest posts it to the redirect connection id (0x800074). The test
    /// guests all run at VTL 0, where a VTL hard-coded to 0 would go
    /// unnoticed; here a connection over a fake transport at VTL 1 and at
    /// VTL 2 posts its first INITIATE_CONTACT (6.0) through the contact
    /// code of `Connection::connect`, and the transport reads the bytes.
    #[test]
    fn contact_names_the_transports_vtl() -> Result {
        for vtl in [1u8, 2] {
            let t = Arc::new(VtlTransport::new(vtl), GFP_KERNEL)?;
            let conn = Connection::new(t.clone(), &NO_DEVICES)?;
            conn.initiate_contact_for_test()?;
            drop(conn);
            assert_eq!(t.posts.load(Relaxed), 1);
            let conn_id = t.words[0].load(Relaxed) & 0xffff_ffff;
            let msgtype = t.words[1].load(Relaxed) & 0xffff_ffff;
            let target_info = t.words[2].load(Relaxed);
            assert_eq!(conn_id, if vtl == 2 { 0x80_0074 } else { 4 });
            assert_eq!(msgtype, 14);
            assert_eq!(target_info & 0xff, 2);
            assert_eq!((target_info >> 8) & 0xff, u64::from(vtl));
        }
        Ok(())
    }

    /// A bus session as the hyperv transport's handler reaches it: counts
    /// its interrupts and passes each to its connection, as the bus's own
    /// session does.
    struct CountingSession {
        conn: Arc<Connection>,
        interrupts: Atomic<u32>,
    }

    impl Session for CountingSession {
        fn interrupt(&self) {
            self.interrupts.add(1, Relaxed);
            self.conn.kick();
        }

        fn start(&self, _dev: Option<&Device>) -> Result {
            Err(ENODEV)
        }

        fn end(&self) {}

        fn quiesce(&self, _crash: bool) {}
    }

    /// The hyperv transport's vector handler, run as the vector runs it
    /// (a hard IRQ that is never threaded, interrupts off: a "hard"
    /// irq_work): with no context attached it calls nothing; with one
    /// attached it reaches the session once, which takes the connection's
    /// event flags in the interrupt (the relid table's spinlock). The debug
    /// kernel's PROVE_RCU and lockdep check the handler's RCU read-side
    /// section and its locks on the way; the harness fails the run on
    /// "suspicious RCU usage" or any lockdep report. With the
    /// `rcu_read_lock()` taken out of `rvmbus_hv_isr()`, PROVE_RCU reported
    /// here; without the handler's wait-type override (as `vmbus_isr()`'s),
    /// lockdep reported an invalid wait context for the relid table's
    /// `spinlock_t`, which no ivshmem scenario could show (its MSI-X
    /// handler counts as threadable).
    #[test]
    fn hyperv_handler_reads_its_context_under_rcu() -> Result {
        let t = Arc::new(VtlTransport::new(0), GFP_KERNEL)?;
        let conn = Connection::new(t, &NO_DEVICES)?;
        let s = Arc::new(
            CountingSession {
                conn,
                interrupts: Atomic::new(0),
            },
            GFP_KERNEL,
        )?;
        hyperv::interrupt_for_test(None)?;
        assert_eq!(s.interrupts.load(Relaxed), 0);
        hyperv::interrupt_for_test(Some(s.clone()))?;
        assert_eq!(s.interrupts.load(Relaxed), 1);
        hyperv::interrupt_for_test(None)?;
        assert_eq!(s.interrupts.load(Relaxed), 1);
        Ok(())
    }

    mod ffi {
        extern "C" {
            pub(super) fn rvmbus_hv_type_class(ty: u32, guid: *mut u8) -> i32;
        }
    }

    /// rvmbus's class table (`bus/classes.rs`) gives each class Linux's
    /// device type by number, which sysfs shows as `device` and
    /// `uio_hv_generic` uses as an index. The C table of the hv_vmbus
    /// interface (`vmbus_devs`, `hv/hv_vmbus.c`) is built from the
    /// kernel's own `enum vmbus_device_type` and class GUID macros of
    /// `<linux/hyperv.h>`; for every known type, Rust's table must give
    /// the kernel's class that type.
    #[test]
    fn class_table_agrees_with_the_kernels_header() -> Result {
        for ty in 0..classes::LINUX_UNKNOWN {
            let mut guid = Guid([0; 16]);
            // SAFETY: `guid` is 16 writable bytes, which the C side fills.
            let r = unsafe { ffi::rvmbus_hv_type_class(ty.into(), guid.0.as_mut_ptr()) };
            assert_eq!(r, 0);
            assert_eq!(classes::linux_class_type(&guid), ty);
        }
        Ok(())
    }

    /// Times the guest sets a bit, at least.
    const GUEST_SETS: u64 = 200_000;
    /// Rounds of the host (each flips its 32 bits on and off) that must
    /// fall while the guest sets bits, at least.
    const HOST_ROUNDS: u64 = 1000;
    /// The guest's bits: the even bits of the word.
    const GUEST_MASK: u64 = 0x5555_5555_5555_5555;
    /// The host's bits: the odd bits.
    const HOST_MASK: u64 = !GUEST_MASK;

    /// The "host" of the bit test: flips its own bits of the first word of
    /// `pages` on another CPU while the guest sets its bits in the same
    /// word.
    #[pin_data]
    struct BitHost {
        pages: SharedPages,
        started: Atomic<bool>,
        stop: Atomic<bool>,
        /// Rounds done.
        rounds: Atomic<u64>,
        /// Flips that found the bit not as the host had left it: a write
        /// of the guest's undid one of the host's.
        lost: Atomic<u64>,
        #[pin]
        work: Work<BitHost>,
        #[pin]
        done: Completion,
    }

    impl_has_work! {
        impl HasWork<Self> for BitHost { self.work }
    }

    impl WorkItem for BitHost {
        type Pointer = Arc<BitHost>;

        fn run(this: Arc<BitHost>) {
            this.play();
            this.done.complete_all();
        }
    }

    /// Applies `f` to `w` atomically, with a compare-exchange loop as a
    /// host may; returns the value it replaced.
    fn update(w: &Atomic<u64>, f: impl Fn(u64) -> u64) -> u64 {
        let mut old = w.load(Relaxed);
        loop {
            match w.cmpxchg(old, f(old), Full) {
                Ok(prev) => return prev,
                Err(now) => old = now,
            }
        }
    }

    impl BitHost {
        /// Until told to stop: sets each of its bits and clears it again,
        /// atomically, and counts each time the bit was not as it left it.
        fn play(&self) {
            let Ok(w) = self.pages.word64(0) else {
                return;
            };
            self.started.store(true, Release);
            while !self.stop.load(Acquire) {
                for bit in (1..64).step_by(2) {
                    let m = 1u64 << bit;
                    if update(w, |v| v | m) & m != 0 {
                        self.lost.add(1, Relaxed);
                    }
                    if update(w, |v| v & !m) & m == 0 {
                        self.lost.add(1, Relaxed);
                    }
                }
                self.rounds.add(1, Relaxed);
            }
        }
    }

    /// The guest's bit set on the interrupt and monitor pages
    /// (`connection::set_bit`) is one atomic read-modify-write of the
    /// word, which the host changes concurrently: a work item on another
    /// CPU plays the host and flips the odd bits of a word with atomic
    /// compare-exchanges while this thread sets the even bits with
    /// `set_bit`, at least 200000 times and for at least 1000 of the
    /// host's rounds. A load and store in two steps would undo the host's
    /// flips that fall between them, which the host sees on its next flip
    /// of the bit. At the end every guest bit is set, every host bit is
    /// clear (as the host left them), and the host never found a bit
    /// changed behind its back. With one CPU online there is no
    /// concurrent host, and the test only says so.
    #[test]
    fn set_bit_is_atomic_against_the_host() -> Result {
        let online = (0..shim::nr_cpu_ids())
            .filter(|&c| shim::cpu_online(c))
            .count();
        if online < 2 {
            pr_info!("set_bit test: one CPU online, no concurrent host to test against\n");
            return Ok(());
        }
        let pages = SharedPages::new(1)?;
        let host = Arc::pin_init(
            pin_init!(BitHost {
                pages,
                started: Atomic::new(false),
                stop: Atomic::new(false),
                rounds: Atomic::new(0),
                lost: Atomic::new(0),
                work <- new_work!("rvmbus::kunit::BitHost::work"),
                done <- Completion::new(),
            }),
            GFP_KERNEL,
        )?;
        if workqueue::system_unbound().enqueue(host.clone()).is_err() {
            return Err(EBUSY);
        }
        let start = Instant::<Monotonic>::now();
        while !host.started.load(Acquire) && start.elapsed() < Delta::from_secs(10) {
            fsleep(Delta::from_millis(1));
        }
        let r0 = host.rounds.load(Relaxed);
        let mut sets = 0u64;
        let mut during = 0u64;
        while (sets < GUEST_SETS || during < HOST_ROUNDS) && start.elapsed() < Delta::from_secs(30)
        {
            for i in 0..1024usize {
                connection::set_bit(&host.pages, 0, 2 * (i % 32));
            }
            sets += 1024;
            during = host.rounds.load(Relaxed).wrapping_sub(r0);
        }
        host.stop.store(true, Release);
        host.done.wait_for_completion();
        let word = host.pages.word64(0)?.load(Relaxed);
        let lost = host.lost.load(Relaxed);
        pr_info!(
            "set_bit test: {} guest sets, {} host rounds during them, {} host flips undone, word {:#x}\n",
            sets,
            during,
            lost,
            word
        );
        assert_eq!(lost, 0);
        assert_eq!(word & GUEST_MASK, GUEST_MASK);
        assert_eq!(word & HOST_MASK, 0);
        assert!(sets >= GUEST_SETS);
        assert!(during >= HOST_ROUNDS);
        Ok(())
    }
}
