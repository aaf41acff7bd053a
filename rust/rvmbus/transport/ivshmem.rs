// SPDX-License-Identifier: GPL-2.0

//! The ivshmem test transport: QEMU's `ivshmem-doorbell` PCI device connects
//! the guest to `tools/vmbus-host`.
//!
//! BAR0 holds the doorbell, BAR2 the shared memory with the mailbox
//! (`proto::ivshmem`), and MSI-X vectors carry the host's interrupts. The
//! guest's own memory (SynIC pages, rings) is described to the host by guest
//! physical address, exactly as on Hyper-V.
//!
//! When the kernel goes away under the bus (a reboot or kexec, or a
//! panic), the `support::way_out` hook unloads the connection by polling
//! ([`Session::quiesce`]) and says GOODBYE, all through the way-out
//! mailbox ([`WAY_OUT_MAILBOX`]) without sleeping, so that the host, which
//! outlives the guest's kernel, writes nothing more into its memory.

use core::{marker::PhantomData, ptr::NonNull};

use kernel::{
    device::Core,
    io::Io,
    irq::{self, IrqReturn},
    new_mutex, new_spinlock_irq,
    page::Page,
    pci::{self, DevresBar, IrqTypes, IrqVectorRegistration},
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc, Mutex, SetOnce, SpinLockIrq,
    },
    time::{
        delay::{fsleep, udelay},
        Delta, Instant, Monotonic,
    },
};

use super::{
    mailbox::{self, Reply},
    Session, Transport, Upper,
};
use crate::{
    proto::ivshmem::{self, signal, Command, Header, HostState, HvStatus, Request},
    support::{
        ratelimit::Ratelimit,
        shim,
        way_out::{Hook, WayOut},
    },
};

/// How many ivshmem devices are bound to this driver; the module refuses to
/// load when it found neither Hyper-V nor a device.
pub(crate) static BOUND: Atomic<u32> = Atomic::new(0);

/// The most MSI-X vectors the guest uses.
const MAX_VECTORS: usize = ivshmem::MAX_VECTORS as usize;

/// Bytes the self-test asks the host to read and complement.
const PING_LEN: usize = 256;

/// What the MSI-X handlers reach: interrupt counters (for the self-test)
/// and, once it exists, the bus session to interrupt.
struct IrqCounters {
    hits: [Atomic<u64>; MAX_VECTORS],
    session: SetOnce<Arc<dyn Session>>,
}

/// The handler of one MSI-X vector.
struct VectorHandler {
    counters: Arc<IrqCounters>,
    vector: usize,
}

impl irq::Handler for VectorHandler {
    // Runs in hard IRQ context: count, queue the connection's work, return.
    fn handle(&self) -> IrqReturn {
        if let Some(c) = self.counters.hits.get(self.vector) {
            c.add(1, Relaxed);
        }
        if let Some(s) = self.counters.session.as_ref() {
            s.interrupt();
        }
        IrqReturn::Handled
    }
}

/// The MSI-X vectors and their handlers.
///
/// # Invariants
///
/// `vectors` comes from `KBox::into_raw` and is freed only in `drop`, after
/// every registration in `regs` (which borrow it) has been dropped.
struct Irqs<'bound> {
    regs: KVec<Pin<KBox<irq::Registration<'bound, VectorHandler>>>>,
    vectors: NonNull<IrqVectorRegistration<'bound>>,
}

// SAFETY: `vectors` is only dereferenced to borrow it for the registrations and
// to free it in `drop`; `IrqVectorRegistration` holds a device reference that
// may be used from any thread.
unsafe impl Send for Irqs<'_> {}

// SAFETY: Shared references to `Irqs` only read `regs.len()`; `vectors` is
// not reachable through `&Irqs`.
unsafe impl Sync for Irqs<'_> {}

impl<'bound> Irqs<'bound> {
    fn new(
        pdev: &'bound pci::Device<kernel::device::Bound>,
        want: u32,
        counters: &Arc<IrqCounters>,
    ) -> Result<Self> {
        let msix = IrqTypes::default().with(pci::IrqType::MsiX);
        let vectors = KBox::new(pdev.alloc_irq_vectors(1, want, msix)?, GFP_KERNEL)?;
        let vectors = NonNull::new(KBox::into_raw(vectors)).ok_or(ENOMEM)?;
        let mut this = Self {
            regs: KVec::new(),
            vectors,
        };
        // SAFETY: By the type invariant `vectors` stays allocated until `this`
        // is dropped, and `this.regs` is emptied before it is freed, so the
        // borrow lives long enough for every registration made from it.
        let v: &'bound IrqVectorRegistration<'bound> = unsafe { this.vectors.as_ref() };
        for i in 0..v.len() {
            let handler = VectorHandler {
                counters: counters.clone(),
                vector: i,
            };
            // SAFETY: The registration is kept in `this.regs` and dropped in
            // `Irqs::drop`; it is never leaked.
            let reg = unsafe {
                irq::Registration::new(
                    v.index(i)?.into(),
                    irq::Flags::TRIGGER_NONE,
                    c"rvmbus",
                    Ok::<_, Error>(handler),
                )
            };
            this.regs
                .push(KBox::pin_init(reg, GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(this)
    }

    fn len(&self) -> usize {
        self.regs.len()
    }
}

impl Drop for Irqs<'_> {
    fn drop(&mut self) {
        // Free the IRQs before the vectors they were requested on.
        self.regs.clear();
        // SAFETY: `vectors` came from `KBox::into_raw` (type invariant) and no
        // borrow of it is left now that `regs` is empty.
        drop(unsafe { KBox::from_raw(self.vectors.as_ptr()) });
    }
}

/// A bound rvmbus ivshmem device.
#[pin_data(PinnedDrop)]
pub(crate) struct IvshmemDev<'bound> {
    irqs: Irqs<'bound>,
    transport: Arc<IvshmemTransport>,
    session: Arc<dyn Session>,
    /// The way out, while the bus is up (`None`: another device has it).
    way_out: Option<Hook>,
}

/// The transport half of the device, shared with the connection: the BARs
/// as device-managed resources, so that a call after unbind fails cleanly
/// instead of touching unmapped memory.
///
/// Calls go through mailbox 0 and wait for the answer (process context).
/// Signals (`SIGNAL_EVENT`) go through the signal ring
/// (`proto::ivshmem::signal`) and a doorbell, and never wait: like
/// Hyper-V's fast hypercall they may be made from any context, with
/// interrupts off too, which the data path needs (a driver sends from its
/// channel callback in softirq, or with preemption off). The host drains
/// the ring before it serves a mailbox, so it sees a signal before any
/// call made after it.
///
/// # Contexts and locking
///
/// - `boxes` (mutex): calls on mailbox 0; process context only.
/// - `signals` (spinlock, interrupts off): the guest's end of the signal
///   ring; any context. A leaf: nothing is taken while it is held.
#[pin_data]
pub(crate) struct IvshmemTransport {
    regs: DevresBar<16>,
    shm: DevresBar,
    host_peer: u16,
    nvec: u32,
    /// The sequence number of mailbox 0; the lock serialises calls.
    #[pin]
    boxes: Mutex<Mailboxes>,
    /// The guest's end of the signal ring.
    #[pin]
    signals: SpinLockIrq<SignalRing>,
    /// Offset of the signal ring in BAR2.
    signal_base: usize,
    /// Whether the host announced [`WAY_OUT_MAILBOX`].
    has_way_out: bool,
    /// The last request number on [`WAY_OUT_MAILBOX`].
    way_out_seq: Atomic<u32>,
    /// A way-out call is in flight (the way out runs once, but a panic may
    /// come while a restart's runs).
    way_out_busy: Atomic<bool>,
    warn: Ratelimit,
}

/// The mailbox of the way out: calls that never sleep and take no lock
/// (a stopped CPU may hold `boxes`, and its request may be outstanding in
/// mailbox 0), from any context. (Mailbox 1 carried signals before layout
/// 2.0 and is unused.)
const WAY_OUT_MAILBOX: u32 = 2;

/// How long a way-out call waits between two looks at the answer.
const WAY_OUT_POLL_US: i64 = 10;

/// What [`IvshmemTransport::boxes`] protects.
struct Mailboxes {
    /// The last request number on mailbox 0.
    seq: u32,
}

/// What [`IvshmemTransport::signals`] protects: the guest's own copies of
/// the words it owns in the signal ring (never read back from the shared
/// memory, which the host could change).
struct SignalRing {
    /// Entries written.
    head: u32,
    /// Signals that found the ring full.
    overflows: u32,
}

impl IvshmemTransport {
    fn call(
        &self,
        cmd: Command,
        vcpu: u32,
        args: [u64; 4],
        data: Option<&[u8; 256]>,
    ) -> Result<HvStatus> {
        let mut boxes = self.boxes.lock();
        boxes.seq = boxes.seq.wrapping_add(1);
        let req = Request {
            seq: boxes.seq,
            cmd,
            vcpu,
            args,
            data: data.copied().unwrap_or([0; ivshmem::MAILBOX_DATA_SIZE]),
        };
        self.submit(0, &req)?;
        Ok(self.wait(0, req.seq)?.status)
    }

    /// Writes `req` into mailbox `index` and rings the doorbell.
    fn submit(&self, index: u32, req: &Request) -> Result {
        let regs = self.regs.try_access().ok_or(ENODEV)?;
        let shm = self.shm.try_access().ok_or(ENODEV)?;
        mailbox::submit(&regs, &shm, self.host_peer, index, req)
    }

    /// Waits for the answer to request `seq` in mailbox `index`.
    fn wait(&self, index: u32, seq: u32) -> Result<Reply> {
        mailbox::wait(
            || {
                let shm = self.shm.try_access().ok_or(ENODEV)?;
                mailbox::poll(&shm, index, seq)
            },
            shim::timeout_ms(),
        )
    }

    /// Puts `connection_id` into the signal ring (or counts an overflow
    /// when the host has not drained it) and rings the doorbell. Never
    /// sleeps and never waits for the host.
    fn post_signal(&self, connection_id: u32) -> Result {
        let regs = self.regs.try_access().ok_or(ENODEV)?;
        let shm = self.shm.try_access().ok_or(ENODEV)?;
        let base = self.signal_base;
        {
            let mut ring = self.signals.lock();
            let tail = shm.try_read32(base + signal::TAIL)?;
            match signal::pending(ring.head, tail) {
                Some(n) if n < signal::SLOTS => {
                    shm.try_write32(connection_id, base + signal::entry(ring.head))?;
                    // The entry before the index that publishes it.
                    shim::wmb();
                    ring.head = ring.head.wrapping_add(1);
                    shm.try_write32(ring.head, base + signal::HEAD)?;
                }
                // Full, or a host that broke its index: the host signals
                // every channel when it sees the count change.
                _ => {
                    ring.overflows = ring.overflows.wrapping_add(1);
                    shm.try_write32(ring.overflows, base + signal::OVERFLOWS)?;
                }
            }
        }
        // The ring before the doorbell that makes the host look at it.
        shim::wmb();
        regs.write32(
            ivshmem::doorbell_value(self.host_peer, ivshmem::DOORBELL_VECTOR),
            ivshmem::BAR0_DOORBELL,
        );
        Ok(())
    }

    /// A call on the way out: on [`WAY_OUT_MAILBOX`], polled without
    /// sleeping, at most `timeout_ms`.
    fn call_now(
        &self,
        cmd: Command,
        vcpu: u32,
        args: [u64; 4],
        data: Option<&[u8; 256]>,
    ) -> Result<HvStatus> {
        if !self.has_way_out {
            return Err(ENODEV);
        }
        if self.way_out_busy.xchg(true, Relaxed) {
            return Err(EBUSY);
        }
        let r = self.call_now_claimed(cmd, vcpu, args, data);
        self.way_out_busy.store(false, Relaxed);
        r
    }

    fn call_now_claimed(
        &self,
        cmd: Command,
        vcpu: u32,
        args: [u64; 4],
        data: Option<&[u8; 256]>,
    ) -> Result<HvStatus> {
        let seq = self.way_out_seq.load(Relaxed).wrapping_add(1);
        self.way_out_seq.store(seq, Relaxed);
        let req = Request {
            seq,
            cmd,
            vcpu,
            args,
            data: data.copied().unwrap_or([0; ivshmem::MAILBOX_DATA_SIZE]),
        };
        self.submit(WAY_OUT_MAILBOX, &req)?;
        let polls = shim::timeout_ms().saturating_mul(1000) / WAY_OUT_POLL_US as u32;
        for _ in 0..polls {
            let shm = self.shm.try_access().ok_or(ENODEV)?;
            if let Some(r) = mailbox::poll(&shm, WAY_OUT_MAILBOX, seq)? {
                return Ok(r.status);
            }
            drop(shm);
            udelay(Delta::from_micros(WAY_OUT_POLL_US));
        }
        Err(ETIMEDOUT)
    }
}

impl Transport for IvshmemTransport {
    fn name(&self) -> &'static str {
        "ivshmem"
    }

    fn vcpus(&self) -> u32 {
        self.nvec
    }

    fn synic_setup(&self, cpu: u32, simp: u64, siefp: u64, enable: bool) -> Result<HvStatus> {
        let sint = u64::from(crate::proto::wire::synic::VMBUS_MESSAGE_SINT);
        let args = if enable {
            // One MSI-X vector per vCPU.
            [simp | 1, siefp | 1, sint, u64::from(cpu % self.nvec.max(1))]
        } else {
            [0, 0, sint, 1 << 32]
        };
        self.call(Command::SYNIC_SETUP, cpu, args, None)
    }

    fn post_message(&self, input: &[u8; 256]) -> Result<HvStatus> {
        self.call(Command::POST_MESSAGE, 0, [0; 4], Some(input))
    }

    fn signal_event(&self, connection_id: u32) -> Result<HvStatus> {
        self.post_signal(connection_id)?;
        Ok(HvStatus::SUCCESS)
    }

    fn eom(&self, cpu: u32) -> Result<HvStatus> {
        self.call(Command::EOM, cpu, [0; 4], None)
    }

    fn detach(&self) -> Result<HvStatus> {
        self.call(Command::GOODBYE, 0, [0; 4], None)
    }

    fn post_message_now(&self, input: &[u8; 256]) -> Result<HvStatus> {
        self.call_now(Command::POST_MESSAGE, 0, [0; 4], Some(input))
    }

    fn eom_now(&self, cpu: u32, _may_ipi: bool) -> Result<HvStatus> {
        // The host serves any vCPU's EOM from any CPU.
        self.call_now(Command::EOM, cpu, [0; 4], None)
    }

    fn synic_off_now(&self, cpu: u32, _may_ipi: bool) -> Result<HvStatus> {
        let sint = u64::from(crate::proto::wire::synic::VMBUS_MESSAGE_SINT);
        self.call_now(Command::SYNIC_SETUP, cpu, [0, 0, sint, 1 << 32], None)
    }
}

/// The way out of one device's bus: unload by polling, then GOODBYE.
struct DeviceWayOut {
    session: Arc<dyn Session>,
    transport: Arc<IvshmemTransport>,
}

impl DeviceWayOut {
    /// The hook for the bus of `session` over `transport` (`EBUSY`:
    /// another device has it).
    fn register(session: &Arc<dyn Session>, transport: &Arc<IvshmemTransport>) -> Result<Hook> {
        let w: Arc<dyn WayOut> = Arc::new(
            Self {
                session: session.clone(),
                transport: transport.clone(),
            },
            GFP_KERNEL,
        )?;
        Hook::register(w)
    }
}

impl WayOut for DeviceWayOut {
    fn way_out(&self, crash: bool) {
        self.session.quiesce(crash);
        match self.transport.call_now(Command::GOODBYE, 0, [0; 4], None) {
            Ok(s) if s == HvStatus::SUCCESS => {
                pr_info!("ivshmem: way out: detached from the host\n")
            }
            Ok(s) => pr_err!(
                "ivshmem: way out: the host refused GOODBYE, status {:#x}\n",
                s.0
            ),
            Err(e) => pr_err!("ivshmem: way out: no GOODBYE ({:?})\n", e),
        }
    }
}

/// Everything the probe-time self-test needs, borrowed.
struct Link<'a> {
    regs: &'a pci::Bar<'a, 16>,
    shm: &'a pci::Bar<'a>,
    host_peer: u16,
    counters: &'a IrqCounters,
    nvec: usize,
}

impl<'a> Link<'a> {
    fn new(
        regs: &'a pci::Bar<'a, 16>,
        shm: &'a pci::Bar<'a>,
        header: &Header,
        counters: &'a IrqCounters,
        irqs: &Irqs<'_>,
    ) -> Self {
        Self {
            regs,
            shm,
            host_peer: header.host_peer_id,
            counters,
            nvec: irqs.len().min(header.num_vectors as usize),
        }
    }

    /// One call on mailbox 0; `seq` is its sequence counter.
    fn call(&self, seq: &mut u32, cmd: Command, args: [u64; 4]) -> Result<Reply> {
        *seq = seq.wrapping_add(1);
        let req = Request {
            seq: *seq,
            cmd,
            vcpu: 0,
            args,
            data: [0; ivshmem::MAILBOX_DATA_SIZE],
        };
        mailbox::submit(self.regs, self.shm, self.host_peer, 0, &req)?;
        let n = *seq;
        mailbox::wait(|| mailbox::poll(self.shm, 0, n), shim::timeout_ms())
    }

    /// Waits until vector `v` has fired more than `before` times.
    fn wait_irq(&self, v: usize, before: u64) -> Result {
        let c = self.counters.hits.get(v).ok_or(EINVAL)?;
        let start = Instant::<Monotonic>::now();
        let limit = Delta::from_millis(i64::from(shim::timeout_ms()));
        while c.load(Relaxed) <= before {
            if start.elapsed() > limit {
                return Err(ETIMEDOUT);
            }
            fsleep(Delta::from_micros(50));
        }
        Ok(())
    }

    /// Announces this guest driver to the host; returns the host's layout
    /// version.
    fn hello(&self, seq: &mut u32) -> Result<u64> {
        let ours = (u64::from(ivshmem::VERSION_MAJOR) << 16) | u64::from(ivshmem::VERSION_MINOR);
        let cpus = u64::from(kernel::cpu::nr_cpu_ids());
        let reply = self.call(seq, Command::HELLO, [ours, cpus, 0, 0])?;
        if reply.status != HvStatus::SUCCESS {
            pr_err!(
                "ivshmem: host refused HELLO, status {:#x}\n",
                reply.status.0
            );
            return Err(EIO);
        }
        Ok(reply.result)
    }

    /// One PING through vector `v`: the host must complement the bytes of a
    /// page of our RAM and interrupt us on `v`. Returns the microseconds the
    /// round trip took.
    fn ping(&self, seq: &mut u32, v: usize, cookie: u32) -> Result<i64> {
        let page = Page::alloc_page(GFP_KERNEL)?;
        let mut pattern = [0u8; PING_LEN];
        let mut sum: u32 = 0;
        for (i, b) in pattern.iter_mut().enumerate() {
            // CAST: Truncation to a byte is the pattern.
            *b = (i as u32).wrapping_mul(7).wrapping_add(cookie) as u8;
            sum = sum.wrapping_add(u32::from(*b));
        }
        // SAFETY: `pattern` is a valid buffer of `PING_LEN` bytes and
        // `PING_LEN <= PAGE_SIZE`.
        unsafe { page.write_raw(pattern.as_ptr(), 0, PING_LEN)? };
        let gpa = shim::page_phys(&page);
        let c = self.counters.hits.get(v).ok_or(EINVAL)?;
        let before = c.load(Relaxed);
        let start = Instant::<Monotonic>::now();
        // CAST: `v < MAX_VECTORS` and `PING_LEN` are small.
        let reply = self.call(
            seq,
            Command::PING,
            [gpa, PING_LEN as u64, v as u64, u64::from(cookie)],
        )?;
        if reply.status != HvStatus::SUCCESS {
            pr_err!(
                "ivshmem: PING refused by host, status {:#x}\n",
                reply.status.0
            );
            return Err(EIO);
        }
        self.wait_irq(v, before).inspect_err(|_| {
            pr_err!("ivshmem: no interrupt on MSI-X vector {} after PING\n", v);
        })?;
        let us = start.elapsed().as_micros_ceil();
        let mut back = [0u8; PING_LEN];
        // SAFETY: `back` is a valid buffer of `PING_LEN` bytes and
        // `PING_LEN <= PAGE_SIZE`.
        unsafe { page.read_raw(back.as_mut_ptr(), 0, PING_LEN)? };
        let bad = back
            .iter()
            .zip(pattern.iter())
            .filter(|(b, p)| **b != !**p)
            .count();
        // CAST: The result packs the sum in the low and the cookie in the high half.
        let (got_sum, got_cookie) = (reply.result as u32, (reply.result >> 32) as u32);
        if bad != 0 || got_sum != sum || got_cookie != cookie {
            pr_err!(
                "ivshmem: PING answer wrong: {} bytes not complemented, sum {:#x} (want {:#x}), cookie {:#x} (want {:#x})\n",
                bad, got_sum, sum, got_cookie, cookie
            );
            return Err(EIO);
        }
        Ok(us)
    }

    /// A PING on every vector; returns the slowest round trip in microseconds.
    fn self_test(&self, seq: &mut u32) -> Result<i64> {
        let mut worst = 0;
        for v in 0..self.nvec {
            // CAST: `v < MAX_VECTORS`.
            let us = self.ping(seq, v, 0x5a00 + v as u32)?;
            worst = worst.max(us);
        }
        Ok(worst)
    }
}

#[pinned_drop]
impl PinnedDrop for IvshmemDev<'_> {
    fn drop(self: Pin<&mut Self>) {
        BOUND.fetch_sub(1, Relaxed);
    }
}

/// Reads and validates the header the host put at the start of BAR2.
fn read_header(shm: &pci::Bar<'_>, bar_len: u64) -> Result<Header> {
    let mut buf = [0u8; ivshmem::header::USED];
    for (i, chunk) in buf.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&shm.try_read32(i * 4)?.to_le_bytes());
    }
    Header::decode(&buf, bar_len).map_err(|e| {
        pr_info!("ivshmem: BAR2 holds no rvmbus host ({:?})\n", e);
        ENODEV
    })
}

/// The PCI driver for the rvmbus ivshmem device; `U` starts the bus over
/// each device it binds.
pub(crate) struct IvshmemDriver<U>(PhantomData<fn() -> U>);

kernel::pci_device_table!(
    PCI_TABLE,
    (),
    [(
        pci::DeviceId::from_id(pci::Vendor::REDHAT_QUMRANET, ivshmem::PCI_DEVICE_ID as u32),
        ()
    )]
);

impl<U: Upper> pci::Driver for IvshmemDriver<U> {
    type IdInfo = ();
    type Data<'bound> = IvshmemDev<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            pdev.enable_device_mem().inspect_err(|e| {
                dev_err!(pdev, "cannot enable the device ({:?})\n", e);
            })?;
            // Without bus mastering QEMU drops the device's MSI-X writes.
            pdev.set_master();
            let regs = pdev
                .iomap_region_sized::<16>(0, c"rvmbus-regs")
                .inspect_err(|e| dev_err!(pdev, "cannot map BAR0 ({:?})\n", e))?;
            let shm = pdev
                .iomap_region(2, c"rvmbus-shm")
                .inspect_err(|e| dev_err!(pdev, "cannot map BAR2 ({:?})\n", e))?;
            let bar_len = pdev.resource_len(2)?;
            let header = read_header(&shm, bar_len)?;
            if header.host_state != HostState::READY {
                dev_err!(
                    pdev,
                    "rvmbus host is not ready (state {})\n",
                    header.host_state.0
                );
                return Err(ENODEV);
            }
            let counters = Arc::new(
                IrqCounters {
                    hits: [const { Atomic::new(0) }; MAX_VECTORS],
                    session: SetOnce::new(),
                },
                GFP_KERNEL,
            )?;
            let irqs = Irqs::new(pdev, header.num_vectors, &counters)
                .inspect_err(|e| dev_err!(pdev, "cannot set up MSI-X ({:?})\n", e))?;
            // Number on from what an earlier load of the module left.
            let mut seq = mailbox::last_answered(&shm, 0)?;
            // The signal ring goes on from where an earlier load of the
            // module left it; HELLO makes the host take these as drained.
            let signal_base = ivshmem::signal_offset(header.num_mailboxes).ok_or(EINVAL)?;
            let signals = SignalRing {
                head: shm.try_read32(signal_base + signal::HEAD)?,
                overflows: shm.try_read32(signal_base + signal::OVERFLOWS)?,
            };
            let has_way_out = header.num_mailboxes > WAY_OUT_MAILBOX;
            let way_out_seq = if has_way_out {
                mailbox::last_answered(&shm, WAY_OUT_MAILBOX)?
            } else {
                0
            };
            let link = Link::new(&regs, &shm, &header, &counters, &irqs);
            let host_version = link.hello(&mut seq).inspect_err(|e| {
                dev_err!(pdev, "rvmbus host does not answer ({:?})\n", e);
            })?;
            let us = link.self_test(&mut seq).inspect_err(|e| {
                dev_err!(pdev, "transport self-test failed ({:?})\n", e);
            })?;
            let nvec = link.nvec;
            dev_info!(
                pdev,
                "rvmbus ivshmem transport ready: host layout {}.{}, {} MSI-X vectors, {} mailboxes, round trip ok (slowest {} us)\n",
                host_version >> 16,
                host_version & 0xffff,
                nvec,
                header.num_mailboxes,
                us
            );
            // CAST: At most `MAX_VECTORS`.
            let nvec = nvec as u32;
            let transport = Arc::pin_init(
                try_pin_init!(IvshmemTransport {
                    regs: regs.into_devres()?,
                    shm: shm.into_devres()?,
                    host_peer: header.host_peer_id,
                    nvec,
                    boxes <- new_mutex!(Mailboxes { seq }, "IvshmemTransport::boxes"),
                    signals <- new_spinlock_irq!(signals, "IvshmemTransport::signals"),
                    signal_base,
                    has_way_out,
                    way_out_seq: Atomic::new(way_out_seq),
                    way_out_busy: Atomic::new(false),
                    warn: Ratelimit::new(),
                }? Error),
                GFP_KERNEL,
            )?;
            let session = U::session(transport.clone())?;
            counters.session.populate(session.clone());
            let dev: &kernel::device::Device<Core<'_>> = pdev.as_ref();
            if let Err(e) = session.start(Some(dev)) {
                session.end();
                let _ = transport.detach();
                return Err(e);
            }
            let way_out = if has_way_out {
                DeviceWayOut::register(&session, &transport)
                    .inspect_err(|e| {
                        dev_warn!(
                            pdev,
                            "no way out on kexec or panic for this device ({:?})\n",
                            e
                        )
                    })
                    .ok()
            } else {
                dev_warn!(
                    pdev,
                    "the host announces {} mailboxes, no way-out mailbox: a kexec or panic will not unload\n",
                    header.num_mailboxes
                );
                None
            };
            BOUND.add(1, Relaxed);
            Ok(try_pin_init!(IvshmemDev {
                irqs,
                transport,
                session,
                way_out,
            }))
        })
    }

    fn unbind<'bound>(pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        // No way out may run while, or after, the bus ends.
        if let Some(h) = &this.way_out {
            h.unregister();
        }
        this.session.end();
        match this.transport.detach() {
            Ok(s) if s == HvStatus::SUCCESS => {
                dev_info!(pdev, "ivshmem: detached from the host\n")
            }
            Ok(s) => dev_warn!(pdev, "host refused GOODBYE: status {:#x}\n", s.0),
            Err(e) => dev_warn!(
                pdev,
                "host did not answer GOODBYE ({:?}); detaching anyway\n",
                e
            ),
        }
        let _ = this.irqs.len();
    }
}
