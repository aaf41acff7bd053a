// SPDX-License-Identifier: GPL-2.0

//! The workloads of the ring benchmark, shared by the criterion benchmark
//! (`benches/ring.rs`) and the instruction counts (`ring-bench --count`,
//! which `scripts/bench.sh` runs under callgrind).
//!
//! Three implementations do the same work over the same memory:
//!
//! * [`Rvmbus`]: vmbus_proto's [`RingProducer`] and [`RingConsumer`], the
//!   code the guest and the host run, over [`PlainMem`], which accesses the
//!   ring as the kernel glue accesses shared pages.
//! * [`Linux`]: Linux's userspace ring, `tools/hv/vmbus_bufring.c`
//!   (`rte_vmbus_chan_send` and `rte_vmbus_chan_recv_raw`), compiled from
//!   the kernel source by `build.rs`; absent when that source is not there
//!   ([`LINUX_SKIPPED`] says why).
//! * [`Memcpy`]: the baseline, the payload bytes copied into the same data
//!   area and out again.
//!
//! Each ring is one page-aligned block: the 4 KiB control page (Linux's
//! `struct vmbus_bufring`) followed by a [`RING_SIZE`] data area. A packet
//! is a 16-byte descriptor, the payload (a multiple of 8 bytes, since the C
//! code rounds lengths down to 8) and the 8-byte trailer. *single* writes
//! one packet and reads it back; *batch* writes [`BATCH`] and then reads
//! them all.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{compiler_fence, AtomicU32, Ordering};

use vmbus_proto::ring::{
    init_control, ControlWord, RingConsumer, RingMem, RingProducer, TRAILER_SIZE,
};
use vmbus_proto::wire::packet::{PacketType, VmPacketDescriptor, RING_FEATURE_PENDING_SEND_SIZE};
use vmbus_proto::wire::Wire;

/// The data area: 256 KiB, a common VMBus channel ring size.
pub const RING_SIZE: usize = 256 * 1024;
/// The control page in front of it.
pub const PAGE: usize = 4096;
/// Payload sizes of the throughput benchmarks (multiples of 8).
pub const SIZES: [usize; 4] = [64, 256, 1504, 8192];
/// Packets per batch.
pub const BATCH: usize = 16;
/// Bytes of the descriptor in front of every payload.
pub const DESC: usize = VmPacketDescriptor::SIZE;

/// Why the C ring is not in this build, or `None` if it is.
pub const LINUX_SKIPPED: Option<&str> = option_env!("RING_BENCH_LINUX_SKIPPED");

/// How many packets one iteration moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One packet written and read back.
    Single,
    /// [`BATCH`] packets written, then read back.
    Batch,
}

impl Mode {
    /// Both modes.
    pub const ALL: [Mode; 2] = [Mode::Single, Mode::Batch];

    /// The name in benchmark ids and tables.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Single => "single",
            Mode::Batch => "batch",
        }
    }

    /// Parses [`Mode::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Packets per iteration.
    pub fn packets(self) -> usize {
        match self {
            Mode::Single => 1,
            Mode::Batch => BATCH,
        }
    }
}

/// A page-aligned, zeroed buffer: every implementation's payload and
/// receive buffer, so that how the allocator happens to align a buffer
/// (which moves the copies' timing by several percent) is the same for all
/// of them and from run to run.
pub struct PageBuf {
    ptr: NonNull<u8>,
    len: usize,
}

impl PageBuf {
    fn layout(len: usize) -> Layout {
        Layout::from_size_align(len.max(1), PAGE).expect("buffer layout")
    }

    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Self {
        // SAFETY: The layout has a non-zero size.
        let p = unsafe { alloc_zeroed(Self::layout(len)) };
        let ptr = NonNull::new(p).expect("out of memory");
        Self { ptr, len }
    }

    /// A copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        let mut b = Self::zeroed(bytes.len());
        b.copy_from_slice(bytes);
        b
    }
}

impl std::ops::Deref for PageBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: As in `deref`, borrowed exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        // SAFETY: Allocated in `zeroed` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), Self::layout(self.len)) };
    }
}

/// One ring's memory: the control page and the data area, page-aligned,
/// zeroed.
pub struct RingBlock {
    ptr: NonNull<u8>,
    data_len: usize,
}

impl RingBlock {
    fn layout(data_len: usize) -> Layout {
        Layout::from_size_align(PAGE + data_len, PAGE).expect("ring layout")
    }

    /// A block with a `data_len`-byte data area.
    pub fn new(data_len: usize) -> Self {
        // SAFETY: The layout has a non-zero size.
        let p = unsafe { alloc_zeroed(Self::layout(data_len)) };
        let ptr = NonNull::new(p).expect("out of memory");
        Self { ptr, data_len }
    }

    /// The start of the block (the control page).
    pub fn base(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The start of the data area.
    pub fn data(&self) -> *mut u8 {
        // SAFETY: The block is `PAGE + data_len` bytes long.
        unsafe { self.ptr.as_ptr().add(PAGE) }
    }

    /// Bytes of the whole block.
    pub fn len(&self) -> usize {
        PAGE + self.data_len
    }

    /// Never true: a block has at least its control page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The control word at byte `off` of the control page.
    fn word(&self, off: usize) -> &AtomicU32 {
        assert!(off % 4 == 0 && off + 4 <= PAGE);
        // SAFETY: Inside the control page, 4-aligned (page-aligned base),
        // and only ever accessed as an atomic while `self` lives.
        unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(off).cast::<u32>()) }
    }

    /// A pointer to `len` bytes at `off` of the data area, if they are
    /// inside it: the one check the kernel's `SharedPages` makes per copy.
    #[inline(always)]
    fn range(&self, off: usize, len: usize) -> Option<*mut u8> {
        match off.checked_add(len) {
            // SAFETY: `off <= data_len`, so the result is inside the block
            // or one past its data area.
            Some(end) if end <= self.data_len => Some(unsafe { self.data().add(off) }),
            _ => None,
        }
    }

    /// Copies `buf` to `off` of the data area; out of range, nothing.
    #[inline(always)]
    pub fn write(&self, off: usize, buf: &[u8]) {
        if let Some(dst) = self.range(off, buf.len()) {
            // SAFETY: The range is inside the data area (checked); `buf` is
            // a distinct buffer; the block is only used by this thread and
            // no reference into it is live.
            unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), dst, buf.len()) };
        }
    }

    /// Copies `buf.len()` bytes at `off` of the data area into `buf`; out
    /// of range, zeros.
    #[inline(always)]
    pub fn read(&self, off: usize, buf: &mut [u8]) {
        match self.range(off, buf.len()) {
            // SAFETY: As in `write`, with the roles swapped.
            Some(src) => unsafe { std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) },
            None => buf.fill(0),
        }
    }
}

impl Drop for RingBlock {
    fn drop(&mut self) {
        // SAFETY: Allocated in `new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), Self::layout(self.data_len)) };
    }
}

/// The full barrier, as Linux's `virt_mb()` and the C ring's `rte_smp_mb()`
/// are on x86-64: a locked add of zero below the stack's red zone.
#[inline(always)]
pub fn smp_mb() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: A locked add of zero leaves the word as it was; 128 bytes
    // below the stack pointer is past the red zone, which no code uses
    // concurrently with this thread. Clobbers only the flags.
    unsafe {
        std::arch::asm!("lock addl $0, -128(%rsp)", options(att_syntax))
    };
    #[cfg(not(target_arch = "x86_64"))]
    std::sync::atomic::fence(Ordering::SeqCst);
}

/// A [`RingMem`] over a [`RingBlock`], accessed the way the kernel glue
/// accesses shared ring pages (`rust/rvmbus/bus/ring_buffer.rs`): control
/// words with acquire loads and release stores, the data area with one
/// range check and a memcpy per copy, and, if `FENCE`, [`smp_mb`] for
/// `fence`. With `FENCE` false the barrier is a compiler fence only, to
/// measure what the barriers cost.
pub struct PlainMem<const FENCE: bool> {
    block: RingBlock,
}

impl<const FENCE: bool> PlainMem<FENCE> {
    /// A fresh ring with pending-send-size offered, as the guest sets one
    /// up.
    pub fn new() -> Self {
        let mem = Self {
            block: RingBlock::new(RING_SIZE),
        };
        init_control(&mem, RING_FEATURE_PENDING_SEND_SIZE);
        mem
    }
}

impl<const FENCE: bool> Default for PlainMem<FENCE> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const FENCE: bool> RingMem for PlainMem<FENCE> {
    #[inline(always)]
    fn data_len(&self) -> usize {
        self.block.data_len
    }

    #[inline(always)]
    fn load(&self, word: ControlWord) -> u32 {
        self.block.word(word.offset()).load(Ordering::Acquire)
    }

    #[inline(always)]
    fn store(&self, word: ControlWord, value: u32) {
        self.block
            .word(word.offset())
            .store(value, Ordering::Release);
    }

    #[inline(always)]
    fn fence(&self) {
        if FENCE {
            smp_mb();
        } else {
            compiler_fence(Ordering::SeqCst);
        }
    }

    #[inline(always)]
    fn read(&self, off: usize, buf: &mut [u8]) {
        self.block.read(off, buf);
    }

    #[inline(always)]
    fn write(&self, off: usize, buf: &[u8]) {
        self.block.write(off, buf);
    }
}

/// Rounds `n` up to a multiple of 8.
pub const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// Bytes a packet with `payload` bytes occupies in the ring, trailer
/// included.
pub const fn stride(payload: usize) -> usize {
    DESC + align8(payload) + TRAILER_SIZE as usize
}

/// One iteration of a workload.
pub trait Workload {
    /// Moves [`Mode::packets`] packets through the ring (or copies their
    /// payloads, for the baseline).
    ///
    /// Every implementation's `iter` is `#[inline(never)]`: an iteration is
    /// one call, in the benchmark as under callgrind, and the ring code
    /// sits in a function of its own as in the kernel glue (whose
    /// `Rings::send` and `Rings::recv` inline vmbus_proto's per-packet
    /// paths, where the C ring's are calls). Inlined into criterion's
    /// loop instead, rvmbus's ring measured about 2 ns slower per packet
    /// and the C ring's about the same: layout, not the ring.
    fn iter(&mut self);
}

/// The payload every implementation sends: `n` counting bytes.
fn payload_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}

/// [`payload_bytes`] in a page-aligned buffer.
fn payload(n: usize) -> PageBuf {
    PageBuf::from_slice(&payload_bytes(n))
}

/// vmbus_proto's ring: the producer writes each packet as a driver sends
/// one (a freshly encoded descriptor, the payload, padding to 8 bytes: the
/// three parts the C ring's `rte_vmbus_chan_send` writes); the consumer
/// copies each out with `read_packet` and publishes the read index with
/// `commit`, once per packet in single mode and once per batch in batch
/// mode.
pub struct Rvmbus<const FENCE: bool> {
    mem: PlainMem<FENCE>,
    tx: RingProducer,
    rx: RingConsumer,
    mode: Mode,
    payload: PageBuf,
    pad: [u8; 8],
    rxbuf: PageBuf,
    trans_id: u64,
}

impl<const FENCE: bool> Rvmbus<FENCE> {
    /// A fresh ring for packets of `payload` bytes.
    pub fn new(payload_len: usize, mode: Mode) -> Self {
        let mem = PlainMem::<FENCE>::new();
        let tx = RingProducer::new(&mem).expect("producer");
        let rx = RingConsumer::new(&mem).expect("consumer");
        Self {
            mem,
            tx,
            rx,
            mode,
            payload: payload(payload_len),
            pad: [0; 8],
            rxbuf: PageBuf::zeroed(DESC + align8(payload_len)),
            trans_id: 0,
        }
    }

    /// Encodes a descriptor and writes one packet: published at once
    /// (`write`), or staged for one `publish` per batch.
    #[inline(always)]
    fn send(&mut self, publish: bool) {
        let len = DESC + align8(self.payload.len());
        self.trans_id += 1;
        let mut desc = [0u8; DESC];
        VmPacketDescriptor {
            ptype: PacketType::DATA_INBAND,
            offset8: (DESC / 8) as u16,
            len8: (len / 8) as u16,
            flags: 0,
            trans_id: self.trans_id,
        }
        .write_to(&mut desc)
        .expect("descriptor");
        let pad = &self.pad[..len - DESC - self.payload.len()];
        let parts: [&[u8]; 3] = [&desc, &self.payload, pad];
        if publish {
            let out = self.tx.write(&self.mem, &parts);
            assert!(out.is_ok(), "write: {out:?}");
        } else {
            let out = self.tx.stage(&self.mem, &parts);
            assert!(out.is_ok(), "stage: {out:?}");
        }
    }

    /// Copies one packet out (not committed).
    #[inline(always)]
    fn recv(&mut self) {
        let r = self.rx.read_packet(&self.mem, &mut self.rxbuf);
        assert!(matches!(r, Ok(Some(_))), "read: {r:?}");
    }

    /// Publishes the read index.
    #[inline(always)]
    fn commit(&mut self) {
        let r = self.rx.commit(&self.mem);
        assert!(r.is_ok(), "commit: {r:?}");
    }

    /// The last packet read.
    pub fn received(&self) -> &[u8] {
        &self.rxbuf
    }
}

impl<const FENCE: bool> Workload for Rvmbus<FENCE> {
    #[inline(never)]
    fn iter(&mut self) {
        match self.mode {
            Mode::Single => {
                self.send(true);
                self.recv();
                self.commit();
            }
            Mode::Batch => {
                for _ in 0..BATCH {
                    self.send(false);
                }
                let out = self.tx.publish(&self.mem);
                assert!(out.is_ok(), "publish: {out:?}");
                for _ in 0..BATCH {
                    self.recv();
                }
                self.commit();
            }
        }
    }
}

/// The baseline: the payload copied into the data area where the ring
/// would put it and out again (single), or [`BATCH`] payloads in and then
/// out (batch).
pub struct Memcpy {
    block: RingBlock,
    mode: Mode,
    payload: PageBuf,
    rxbuf: PageBuf,
    off: usize,
}

impl Memcpy {
    /// A fresh data area for payloads of `payload_len` bytes.
    pub fn new(payload_len: usize, mode: Mode) -> Self {
        Self {
            block: RingBlock::new(RING_SIZE),
            mode,
            payload: payload(payload_len),
            rxbuf: PageBuf::zeroed(payload_len),
            off: 0,
        }
    }

    /// Where the next payload goes, advancing as the ring's would.
    #[inline(always)]
    fn next_off(&mut self) -> usize {
        let n = self.payload.len();
        if self.off + DESC + n > RING_SIZE {
            self.off = 0;
        }
        let at = self.off + DESC;
        self.off = (self.off + stride(n)) % RING_SIZE;
        at
    }
}

impl Workload for Memcpy {
    #[inline(never)]
    fn iter(&mut self) {
        let count = self.mode.packets();
        let start = self.off;
        for _ in 0..count {
            let at = self.next_off();
            self.block.write(at, &self.payload);
        }
        self.off = start;
        for _ in 0..count {
            let at = self.next_off();
            self.block.read(at, &mut self.rxbuf);
            std::hint::black_box(&self.rxbuf[..]);
        }
    }
}

#[cfg(linux_bufring)]
mod linux_ffi {
    use std::ffi::{c_int, c_uint, c_void};

    /// `struct vmbus_br` of `tools/hv/vmbus_bufring.h`.
    #[repr(C)]
    pub struct VmbusBr {
        pub vbr: *mut c_void,
        pub dsize: u32,
        pub windex: u32,
    }

    extern "C" {
        pub fn vmbus_br_setup(br: *mut VmbusBr, buf: *mut c_void, blen: c_uint);
        pub fn rte_vmbus_chan_send(
            txbr: *mut VmbusBr,
            ptype: u16,
            data: *mut c_void,
            dlen: u32,
            flags: u32,
        ) -> c_int;
        pub fn rte_vmbus_chan_recv_raw(
            rxbr: *mut VmbusBr,
            data: *mut c_void,
            len: *mut u32,
        ) -> c_int;
    }
}

/// Linux's userspace ring (`tools/hv/vmbus_bufring.c`): the producer sends
/// with `rte_vmbus_chan_send` (which builds the descriptor and writes it,
/// the payload and the padding), the consumer reads with
/// `rte_vmbus_chan_recv_raw` (which peeks at the descriptor, checks it,
/// copies the packet out and publishes the read index: once per packet,
/// its API has no other way). Its barriers are its own: a locked
/// `cmpxchg` to reserve the space and another to publish the write index.
#[cfg(linux_bufring)]
pub struct Linux {
    block: RingBlock,
    tx: linux_ffi::VmbusBr,
    rx: linux_ffi::VmbusBr,
    mode: Mode,
    payload: PageBuf,
    rxbuf: PageBuf,
}

#[cfg(linux_bufring)]
impl Linux {
    /// A fresh ring for packets of `payload_len` bytes (a multiple of 8).
    pub fn new(payload_len: usize, mode: Mode) -> Self {
        assert!(payload_len % 8 == 0, "the C ring rounds lengths down to 8");
        let block = RingBlock::new(RING_SIZE);
        // The same control page as the other ring's.
        init_control(&BlockControl(&block), RING_FEATURE_PENDING_SEND_SIZE);
        let mut tx = linux_ffi::VmbusBr {
            vbr: std::ptr::null_mut(),
            dsize: 0,
            windex: 0,
        };
        let mut rx = linux_ffi::VmbusBr {
            vbr: std::ptr::null_mut(),
            dsize: 0,
            windex: 0,
        };
        let blen = u32::try_from(block.len()).expect("ring size");
        // SAFETY: The block is a control page and a data area, laid out as
        // `struct vmbus_bufring` and its data. It is heap memory owned by
        // the `Linux` that also holds both ends, so it does not move and
        // outlives every call through them.
        unsafe {
            linux_ffi::vmbus_br_setup(&mut tx, block.base().cast(), blen);
            linux_ffi::vmbus_br_setup(&mut rx, block.base().cast(), blen);
        }
        assert_eq!(tx.dsize as usize, RING_SIZE);
        Self {
            block,
            tx,
            rx,
            mode,
            payload: payload(payload_len),
            rxbuf: PageBuf::zeroed(DESC + payload_len),
        }
    }

    #[inline(always)]
    fn send(&mut self) {
        // CAST: The payload is at most a few KiB.
        let dlen = self.payload.len() as u32;
        // SAFETY: `tx` was set up over `block`, which lives as long as
        // `self`; the C code only reads `dlen` bytes of the payload.
        let rc = unsafe {
            linux_ffi::rte_vmbus_chan_send(
                &mut self.tx,
                PacketType::DATA_INBAND.0,
                self.payload.as_mut_ptr().cast(),
                dlen,
                0,
            )
        };
        assert_eq!(rc, 0, "rte_vmbus_chan_send");
    }

    #[inline(always)]
    fn recv(&mut self) {
        // CAST: As in `send`.
        let mut len = self.rxbuf.len() as u32;
        // SAFETY: `rx` was set up over `block`; the C code writes at most
        // `len` bytes to the buffer.
        let rc = unsafe {
            linux_ffi::rte_vmbus_chan_recv_raw(
                &mut self.rx,
                self.rxbuf.as_mut_ptr().cast(),
                &mut len,
            )
        };
        assert!(rc > 0, "rte_vmbus_chan_recv_raw: {rc}");
    }

    /// The last packet read.
    pub fn received(&self) -> &[u8] {
        &self.rxbuf
    }

    /// The block both ends work in (for checks).
    pub fn block(&self) -> &RingBlock {
        &self.block
    }
}

/// The control words of a [`RingBlock`], for [`init_control`].
#[cfg(linux_bufring)]
struct BlockControl<'a>(&'a RingBlock);

#[cfg(linux_bufring)]
impl RingMem for BlockControl<'_> {
    fn data_len(&self) -> usize {
        self.0.data_len
    }
    fn load(&self, word: ControlWord) -> u32 {
        self.0.word(word.offset()).load(Ordering::Acquire)
    }
    fn store(&self, word: ControlWord, value: u32) {
        self.0.word(word.offset()).store(value, Ordering::Release);
    }
    fn fence(&self) {
        smp_mb();
    }
    fn read(&self, off: usize, buf: &mut [u8]) {
        self.0.read(off, buf);
    }
    fn write(&self, off: usize, buf: &[u8]) {
        self.0.write(off, buf);
    }
}

#[cfg(linux_bufring)]
impl Workload for Linux {
    #[inline(never)]
    fn iter(&mut self) {
        match self.mode {
            Mode::Single => {
                self.send();
                self.recv();
            }
            Mode::Batch => {
                for _ in 0..BATCH {
                    self.send();
                }
                for _ in 0..BATCH {
                    self.recv();
                }
            }
        }
    }
}

/// Runs `iters` iterations of `w`; not inlined, so that callgrind can count
/// the instructions of exactly this (`--toggle-collect=ring_bench::counted`).
#[inline(never)]
pub fn counted(w: &mut dyn Workload, iters: u64) {
    for _ in 0..iters {
        w.iter();
    }
}

/// The implementations by name: `rvmbus`, `linux`, `memcpy`.
pub fn workload(name: &str, size: usize, mode: Mode) -> Result<Box<dyn Workload>, String> {
    match name {
        "rvmbus" => Ok(Box::new(Rvmbus::<true>::new(size, mode))),
        "memcpy" => Ok(Box::new(Memcpy::new(size, mode))),
        #[cfg(linux_bufring)]
        "linux" => Ok(Box::new(Linux::new(size, mode))),
        #[cfg(not(linux_bufring))]
        "linux" => Err(format!(
            "Linux's C ring is not in this build: {}",
            LINUX_SKIPPED.unwrap_or("not compiled")
        )),
        _ => Err(format!("unknown implementation {name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both rings deliver the same packet bytes: descriptor (but the
    /// transaction id), payload, for every size and mode.
    #[test]
    fn rings_agree() {
        for size in SIZES {
            for mode in Mode::ALL {
                let mut r = Rvmbus::<true>::new(size, mode);
                for _ in 0..50 {
                    r.iter();
                }
                let got = r.received();
                assert_eq!(got.len(), DESC + size);
                assert_eq!(&got[DESC..], &payload_bytes(size)[..]);
                let d = VmPacketDescriptor::read_from(got).unwrap();
                assert_eq!(usize::from(d.len8) * 8, DESC + size);
                #[cfg(linux_bufring)]
                {
                    let mut l = Linux::new(size, mode);
                    for _ in 0..50 {
                        l.iter();
                    }
                    let c = l.received();
                    assert_eq!(&c[DESC..], &got[DESC..]);
                    assert_eq!(&c[..8], &got[..8]);
                }
            }
        }
    }

    #[test]
    fn memcpy_stays_inside() {
        for size in SIZES {
            let mut m = Memcpy::new(size, Mode::Batch);
            for _ in 0..1000 {
                m.iter();
            }
            assert_eq!(&m.rxbuf[..], &payload_bytes(size)[..]);
        }
    }
}
