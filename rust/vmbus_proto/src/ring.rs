// SPDX-License-Identifier: GPL-2.0

//! The channel ring buffer algorithm, for both ends of both rings.
//!
//! A ring is a control page and a data area of `data_len` bytes (a multiple
//! of 8). The producer owns `write_index` and `pending_send_size`; the
//! consumer owns `read_index` and `interrupt_mask`. A packet is a multiple
//! of 8 bytes, written at `write_index` with wrap-around and followed by an
//! 8-byte trailer whose upper half is the packet's start offset; the ring
//! is never filled completely, so equal indices mean empty.
//!
//! [`RingProducer`] and [`RingConsumer`] work over any [`RingMem`]: shared
//! pages in the kernel, mapped guest RAM in the host, plain memory
//! ([`CellRingMem`]) in tests. The guest produces into its send ring and
//! consumes from its receive ring; the host does the opposite, with the
//! same code.
//!
//! Every index the peer controls is checked (alignment, bounds, available
//! space) before it is used, and packets are copied out before they are
//! parsed. A check that fails puts the ring end into a dead state in which
//! every call returns [`RingError::Corrupt`]; nothing ever reads or writes
//! outside the data area and no call loops.
//!
//! Batches: the consumer copies packets out with
//! [`RingConsumer::read_packet`] and publishes the read index once with
//! [`RingConsumer::commit`] (or, ending a masked batch,
//! [`RingConsumer::finish_batch`]); the producer can likewise
//! [`RingProducer::stage`] packets and [`RingProducer::publish`] them with
//! one store of the write index. Each publication costs one full barrier
//! and one signal decision, however many packets it covers.
//!
//! The per-packet paths ([`RingProducer::write`], [`RingProducer::stage`],
//! [`RingConsumer::read_packet`]) are inlined into their caller: one check
//! proves a packet's range (free space when writing, the descriptor against
//! the published bytes when reading), the copies then go into that range
//! without further index arithmetic, and the rare cases (a packet that
//! wraps round the end of the data area, errors) are out of line. A
//! [`RingMem`] still checks each copy it is asked for against its data
//! area, as a safe interface must.
//!
//! ```
//! use core::cell::Cell;
//! use vmbus_proto::ring::{CellRingMem, RingConsumer, RingProducer};
//!
//! let mut control = [0u8; 4096];
//! let mut data = [0u8; 4096];
//! let mem = CellRingMem::new(
//!     Cell::from_mut(&mut control[..]).as_slice_of_cells(),
//!     Cell::from_mut(&mut data[..]).as_slice_of_cells(),
//! );
//! let mut tx = RingProducer::new(&mem).unwrap();
//! let mut rx = RingConsumer::new(&mem).unwrap();
//! let pkt = [6, 0, 2, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, b'h', b'i', 0, 0, 0, 0, 0, 0];
//! assert!(tx.write(&mem, &[&pkt]).unwrap().signal);
//! let mut buf = [0u8; 64];
//! let info = rx.read_packet(&mem, &mut buf).unwrap().unwrap();
//! assert_eq!(info.len, 24);
//! assert_eq!(&buf[16..18], b"hi");
//! assert!(!rx.commit(&mem).unwrap());
//! ```

use core::cell::Cell;

use super::wire::packet::{control, VmPacketDescriptor, RING_FEATURE_PENDING_SEND_SIZE};
use super::wire::Wire;

/// Bytes of the trailer after each packet.
pub const TRAILER_SIZE: u32 = 8;
/// The smallest packet: a bare descriptor.
pub const MIN_PACKET_SIZE: u32 = VmPacketDescriptor::SIZE as u32;
/// The largest data area this implementation accepts.
pub const MAX_DATA_LEN: usize = 1 << 30;

/// A shared word of the ring control page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlWord {
    /// `write_index`, owned by the producer.
    WriteIndex,
    /// `read_index`, owned by the consumer.
    ReadIndex,
    /// `interrupt_mask`, owned by the consumer.
    InterruptMask,
    /// `pending_send_sz`, owned by the producer.
    PendingSendSize,
    /// `feature_bits`.
    FeatureBits,
}

impl ControlWord {
    /// The byte offset of the word in the control page.
    pub const fn offset(self) -> usize {
        match self {
            Self::WriteIndex => control::WRITE_INDEX,
            Self::ReadIndex => control::READ_INDEX,
            Self::InterruptMask => control::INTERRUPT_MASK,
            Self::PendingSendSize => control::PENDING_SEND_SIZE,
            Self::FeatureBits => control::FEATURE_BITS,
        }
    }
}

/// Access to one ring's memory, shared with the peer.
///
/// Implementations read shared memory with volatile (or atomic) accesses;
/// the values may change at any time and the algorithm treats them so.
pub trait RingMem {
    /// Size of the data area in bytes. Must not change.
    fn data_len(&self) -> usize;

    /// Loads a control word with acquire ordering.
    fn load(&self, word: ControlWord) -> u32;

    /// Stores a control word with release ordering. The algorithm relies
    /// on it to order the data copies before the index that publishes them
    /// (`write_index`) or frees them (`read_index`).
    fn store(&self, word: ControlWord, value: u32);

    /// A full memory barrier (Linux's `virt_mb()`).
    fn fence(&self);

    /// Copies `buf.len()` bytes at `off` of the data area into `buf`. The
    /// algorithm only asks for ranges inside the data area.
    fn read(&self, off: usize, buf: &mut [u8]);

    /// Copies `buf` to `off` of the data area. The algorithm only asks for
    /// ranges inside the data area.
    fn write(&self, off: usize, buf: &[u8]);
}

/// How the peer broke the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// A write index that is unaligned or out of bounds.
    WriteIndex(u32),
    /// A read index that is unaligned or out of bounds.
    ReadIndex(u32),
    /// Our own index was changed by the peer.
    OwnIndexChanged(u32),
    /// Fewer bytes available than a packet and its trailer need.
    Truncated(u32),
    /// A descriptor with impossible lengths.
    Descriptor {
        /// `offset8` as read.
        offset8: u16,
        /// `len8` as read.
        len8: u16,
    },
}

/// Errors of ring operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The data area size is not a non-zero multiple of 8 up to
    /// [`MAX_DATA_LEN`].
    BadRingSize(usize),
    /// Not enough free space; retry after the consumer made room.
    Full {
        /// Bytes needed (packet and trailer).
        needed: u32,
        /// Bytes free.
        available: u32,
    },
    /// The packet to write is empty, not a multiple of 8 bytes, or too
    /// large for the ring.
    BadPacketLength(usize),
    /// The caller's buffer cannot hold the next packet.
    BufferTooSmall {
        /// The packet's length.
        needed: usize,
    },
    /// The peer corrupted the ring; this ring end is dead.
    Corrupt(Corruption),
}

/// Checks a data area size and returns it as `u32`.
fn ring_size<M: RingMem>(mem: &M) -> Result<u32, RingError> {
    let n = mem.data_len();
    if n == 0 || n % 8 != 0 || n > MAX_DATA_LEN {
        return Err(RingError::BadRingSize(n));
    }
    u32::try_from(n).map_err(|_| RingError::BadRingSize(n))
}

/// Whether an index is usable: 8-aligned and inside the data area.
fn index_ok(i: u32, size: u32) -> bool {
    i < size && i % 8 == 0
}

/// Bytes from `from` forward to `to` in a ring of `size` (both in range).
fn distance(from: u32, to: u32, size: u32) -> u32 {
    if to >= from {
        to - from
    } else {
        // NO-OVERFLOW: `from < size`, so `size - from + to < 2 * size`.
        size - from + to
    }
}

/// Free bytes for the producer (`hv_get_bytes_to_write`).
fn free_bytes(write: u32, read: u32, size: u32) -> u32 {
    // NO-OVERFLOW: `distance` is below `size`.
    size - distance(read, write, size)
}

/// Advances an index by `n` (`n <= size`), wrapping.
#[inline(always)]
fn advance(i: u32, n: u32, size: u32) -> u32 {
    // NO-OVERFLOW: both are at most `MAX_DATA_LEN` (2^30), so the sum
    // fits; `wrapping_add` only spares the overflow check.
    let s = i.wrapping_add(n);
    if s >= size {
        s - size
    } else {
        s
    }
}

/// Reads `buf.len()` (at most `size`) bytes at `off` with wrap-around.
#[inline(always)]
fn read_wrapped<M: RingMem>(mem: &M, off: u32, size: u32, buf: &mut [u8]) {
    let first = (size - off) as usize;
    if buf.len() <= first {
        mem.read(off as usize, buf);
    } else {
        read_split(mem, off, first, buf);
    }
}

/// The part of [`read_wrapped`] that wraps: once per trip round the ring.
#[cold]
#[inline(never)]
fn read_split<M: RingMem>(mem: &M, off: u32, first: usize, buf: &mut [u8]) {
    let (a, b) = buf.split_at_mut(first.min(buf.len()));
    mem.read(off as usize, a);
    mem.read(0, b);
}

/// Writes `buf` (at most `size` bytes) at `off` with wrap-around and
/// returns the offset after it.
fn write_wrapped<M: RingMem>(mem: &M, off: u32, size: u32, buf: &[u8]) -> u32 {
    let first = (size - off) as usize;
    if buf.len() <= first {
        mem.write(off as usize, buf);
    } else {
        let (a, b) = buf.split_at(first);
        mem.write(off as usize, a);
        mem.write(0, b);
    }
    // CAST: callers pass at most `size` bytes.
    advance(off, buf.len() as u32, size)
}

/// Copies a packet that wraps round the end of the data area, part by
/// part, and returns the index after it: once per trip round the ring.
#[cold]
#[inline(never)]
fn copy_in_wrapped<M: RingMem>(
    mem: &M,
    start: u32,
    size: u32,
    parts: &[&[u8]],
    trailer: &[u8; 8],
) -> u32 {
    let mut off = start;
    for p in parts {
        off = write_wrapped(mem, off, size, p);
    }
    write_wrapped(mem, off, size, trailer)
}

/// Sets up a fresh ring: zero indices, no mask, no pending size, and the
/// given feature bits (normally [`RING_FEATURE_PENDING_SEND_SIZE`]). Only
/// the side that allocates the ring does this, before sharing it.
pub fn init_control<M: RingMem>(mem: &M, feature_bits: u32) {
    mem.store(ControlWord::WriteIndex, 0);
    mem.store(ControlWord::ReadIndex, 0);
    mem.store(ControlWord::InterruptMask, 0);
    mem.store(ControlWord::PendingSendSize, 0);
    mem.store(ControlWord::FeatureBits, feature_bits);
}

/// The result of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Whether the consumer must be signalled: the ring went from empty to
    /// non-empty while the consumer had interrupts unmasked.
    pub signal: bool,
}

/// The producing end of a ring.
///
/// [`RingProducer::write`] writes and publishes one packet.
/// [`RingProducer::stage`] writes one without publishing it, and
/// [`RingProducer::publish`] then publishes every staged packet with one
/// store of `write_index`, one barrier and one signal decision, as
/// [`RingConsumer::commit`] does for the read index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingProducer {
    size: u32,
    /// The published write index.
    write: u32,
    /// The private write index: the end of the packets written so far,
    /// staged ones included.
    next: u32,
    dead: Option<Corruption>,
}

impl RingProducer {
    /// Attaches to a ring, taking over its current write index.
    pub fn new<M: RingMem>(mem: &M) -> Result<Self, RingError> {
        let size = ring_size(mem)?;
        let write = mem.load(ControlWord::WriteIndex);
        if !index_ok(write, size) {
            return Err(RingError::Corrupt(Corruption::WriteIndex(write)));
        }
        Ok(Self {
            size,
            write,
            next: write,
            dead: None,
        })
    }

    /// The corruption that killed this end, if any.
    pub fn dead(&self) -> Option<Corruption> {
        self.dead
    }

    fn fail(&mut self, c: Corruption) -> RingError {
        self.dead = Some(c);
        RingError::Corrupt(c)
    }

    /// Reads and checks both indices; returns the read index.
    #[inline(always)]
    fn indices<M: RingMem>(&mut self, mem: &M) -> Result<u32, RingError> {
        if let Some(c) = self.dead {
            return Err(RingError::Corrupt(c));
        }
        let read = mem.load(ControlWord::ReadIndex);
        if !index_ok(read, self.size) {
            return Err(self.fail(Corruption::ReadIndex(read)));
        }
        let write = mem.load(ControlWord::WriteIndex);
        if write != self.write {
            return Err(self.fail(Corruption::OwnIndexChanged(write)));
        }
        Ok(read)
    }

    /// Free bytes in the ring (one packet needs its length plus
    /// [`TRAILER_SIZE`] plus one byte, since the ring is never full).
    pub fn free<M: RingMem>(&mut self, mem: &M) -> Result<u32, RingError> {
        let read = self.indices(mem)?;
        Ok(free_bytes(self.next, read, self.size))
    }

    /// Writes one packet, given as parts that are concatenated (the
    /// descriptor first). The total must be a non-zero multiple of 8.
    ///
    /// The write index is published after the data and the trailer; the
    /// outcome tells whether to signal the consumer, as Linux's
    /// `hv_ringbuffer_write` decides it. Packets staged before are
    /// published with it.
    #[inline(always)]
    pub fn write<M: RingMem>(
        &mut self,
        mem: &M,
        parts: &[&[u8]],
    ) -> Result<WriteOutcome, RingError> {
        self.stage(mem, parts)?;
        self.publish(mem)
    }

    /// Writes one packet as [`RingProducer::write`] does, without
    /// publishing it: the consumer sees it, and every packet staged before
    /// it, at the next [`RingProducer::publish`] (or `write`). Space, the
    /// indices and the packet are checked as for `write`.
    ///
    /// The consumer neither sees nor counts staged packets, so a producer
    /// that finds the ring full publishes what it staged before it asks
    /// for space ([`RingProducer::set_pending_send_size`]) and waits.
    #[inline(always)]
    pub fn stage<M: RingMem>(&mut self, mem: &M, parts: &[&[u8]]) -> Result<(), RingError> {
        let read = self.indices(mem)?;
        let mut len: usize = 0;
        for p in parts {
            len = len
                .checked_add(p.len())
                .ok_or(RingError::BadPacketLength(usize::MAX))?;
        }
        let total = u32::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(TRAILER_SIZE))
            .filter(|&t| len != 0 && len % 8 == 0 && t < self.size)
            .ok_or(RingError::BadPacketLength(len))?;
        let available = free_bytes(self.next, read, self.size);
        if available <= total {
            return Err(RingError::Full {
                needed: total,
                available,
            });
        }
        self.next = self.copy_in(mem, self.next, total, parts);
        Ok(())
    }

    /// Publishes the packets staged since the last publish and tells
    /// whether to signal the consumer: once for all of them, if the ring
    /// was empty before the first. Nothing staged: nothing to do.
    #[inline(always)]
    pub fn publish<M: RingMem>(&mut self, mem: &M) -> Result<WriteOutcome, RingError> {
        if let Some(c) = self.dead {
            return Err(RingError::Corrupt(c));
        }
        let old = self.write;
        if self.next == old {
            return Ok(WriteOutcome { signal: false });
        }
        // The release store orders the copies before the new index.
        mem.store(ControlWord::WriteIndex, self.next);
        self.write = self.next;

        // Signal only on the empty → non-empty transition, and only if the
        // consumer has not masked interrupts. The full barrier orders the
        // `write_index` store above before the loads of `read_index` and
        // `interrupt_mask` below (Linux's `hv_signal_on_write`): without it
        // the loads may pass the store, see a consumer that has not caught
        // up yet and skip the signal, while that consumer, having drained
        // the old data, unmasks and reads the old `write_index`: a lost
        // wake-up. `read_index` is looked at first: while the consumer is
        // behind (a stream of packets) it alone decides, and the mask is
        // not loaded at all. Both loads come after the barrier, so their
        // order does not matter to the argument.
        mem.fence();
        let signal =
            mem.load(ControlWord::ReadIndex) == old && mem.load(ControlWord::InterruptMask) == 0;
        Ok(WriteOutcome { signal })
    }

    /// Copies a packet of `total` bytes (the parts, then the trailer) to
    /// `start` and returns the index after it. The caller proved the range
    /// free: `total` is below the ring size and within the free space.
    #[inline(always)]
    fn copy_in<M: RingMem>(&self, mem: &M, start: u32, total: u32, parts: &[&[u8]]) -> u32 {
        let trailer = (u64::from(start) << 32).to_le_bytes();
        // Both are below `MAX_DATA_LEN`, so the sum fits.
        let end = start as usize + total as usize;
        let size = self.size as usize;
        if end <= size {
            // The packet does not wrap: it is the one range [start, end)
            // of the data area, proven above, and the parts follow each
            // other in it without further index arithmetic. Their lengths
            // add up to `total - TRAILER_SIZE`, so `off` stays inside it.
            let mut off = start as usize;
            for p in parts {
                if !p.is_empty() {
                    mem.write(off, p);
                }
                off += p.len();
            }
            // `off` is 8-aligned and at most `size - 8`: the trailer never
            // wraps.
            mem.write(off, &trailer);
            // CAST: `end <= size`, which fits in `u32`.
            if end == size {
                0
            } else {
                end as u32
            }
        } else {
            copy_in_wrapped(mem, start, self.size, parts, &trailer)
        }
    }

    /// Asks the consumer to signal once `size` bytes are free (zero: stop
    /// asking). Meaningful if this side set
    /// [`RING_FEATURE_PENDING_SEND_SIZE`].
    pub fn set_pending_send_size<M: RingMem>(&self, mem: &M, size: u32) {
        mem.store(ControlWord::PendingSendSize, size);
        // The caller looks at `read_index` again next: the barrier orders
        // this store before that load, so a consumer that freed space
        // before it saw the request is seen freeing it here (no signal
        // lost between the two).
        mem.fence();
    }
}

/// A packet copied out of the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketInfo {
    /// Bytes copied (`len8 * 8`): descriptor, headers and payload.
    pub len: usize,
    /// The descriptor, as checked.
    pub desc: VmPacketDescriptor,
}

/// The consuming end of a ring.
///
/// Reads are batched: [`RingConsumer::read_packet`] copies packets out and
/// advances a private index; [`RingConsumer::commit`] publishes it, once
/// for any number of packets (or [`RingConsumer::finish_batch`], which also
/// ends a masked batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConsumer {
    size: u32,
    /// The published read index.
    read: u32,
    /// The private read index: the end of the packets copied so far.
    next: u32,
    /// Bytes from `next` up to the write index as last loaded and
    /// checked. They were published by then (the acquire load saw the
    /// index), so the packets in them are read without loading it again;
    /// only when none are left is it loaded anew.
    avail: u32,
    dead: Option<Corruption>,
}

impl RingConsumer {
    /// Attaches to a ring, taking over its current read index.
    pub fn new<M: RingMem>(mem: &M) -> Result<Self, RingError> {
        let size = ring_size(mem)?;
        let read = mem.load(ControlWord::ReadIndex);
        if !index_ok(read, size) {
            return Err(RingError::Corrupt(Corruption::ReadIndex(read)));
        }
        Ok(Self {
            size,
            read,
            next: read,
            avail: 0,
            dead: None,
        })
    }

    /// The corruption that killed this end, if any.
    pub fn dead(&self) -> Option<Corruption> {
        self.dead
    }

    fn fail(&mut self, c: Corruption) -> RingError {
        self.dead = Some(c);
        RingError::Corrupt(c)
    }

    /// Loads and checks the write index.
    #[inline(always)]
    fn write_index<M: RingMem>(&mut self, mem: &M) -> Result<u32, RingError> {
        if let Some(c) = self.dead {
            return Err(RingError::Corrupt(c));
        }
        let write = mem.load(ControlWord::WriteIndex);
        if !index_ok(write, self.size) {
            return Err(self.fail(Corruption::WriteIndex(write)));
        }
        Ok(write)
    }

    /// Bytes written by the producer and not yet copied out.
    pub fn available<M: RingMem>(&mut self, mem: &M) -> Result<u32, RingError> {
        let write = self.write_index(mem)?;
        self.avail = distance(self.next, write, self.size);
        Ok(self.avail)
    }

    /// Copies the next packet into `buf` and advances the private read
    /// index past it and its trailer. Returns `None` if the ring is empty.
    ///
    /// The descriptor is copied out and checked (lengths in order, inside
    /// the written bytes); `buf` then gets the packet with that checked
    /// copy as its descriptor, so a peer that rewrites the descriptor
    /// meanwhile changes nothing the caller sees. If `buf` is too small
    /// nothing is consumed.
    #[inline(always)]
    pub fn read_packet<M: RingMem>(
        &mut self,
        mem: &M,
        buf: &mut [u8],
    ) -> Result<Option<PacketInfo>, RingError> {
        if let Some(c) = self.dead {
            return Err(RingError::Corrupt(c));
        }
        // Bytes published and not yet copied out: what is left of the last
        // load of `write_index`, and only when nothing is, a new load.
        if self.avail == 0 {
            let write = self.write_index(mem)?;
            self.avail = distance(self.next, write, self.size);
            if self.avail == 0 {
                return Ok(None);
            }
        }
        let avail = self.avail;
        if avail < MIN_PACKET_SIZE + TRAILER_SIZE {
            return Err(self.fail(Corruption::Truncated(avail)));
        }
        let start = self.next;
        let mut raw = [0u8; VmPacketDescriptor::SIZE];
        read_wrapped(mem, start, self.size, &mut raw);
        let Some(desc) = VmPacketDescriptor::read_from(&raw) else {
            return Err(RingError::Corrupt(Corruption::Truncated(avail)));
        };
        let len = u32::from(desc.len8) * 8;
        let off = u32::from(desc.offset8) * 8;
        // `len + TRAILER_SIZE` cannot overflow: `len` is below 2^19.
        if len < MIN_PACKET_SIZE || off < MIN_PACKET_SIZE || off > len || len + TRAILER_SIZE > avail
        {
            return Err(self.fail(Corruption::Descriptor {
                offset8: desc.offset8,
                len8: desc.len8,
            }));
        }
        // From here the packet is proven: `len` bytes from `start`, inside
        // the published bytes, at least a descriptor long.
        let n = len as usize;
        let Some(dst) = buf.get_mut(..n) else {
            return Err(RingError::BufferTooSmall { needed: n });
        };
        // The packet is copied out in one piece (one copy of the length
        // the caller's buffer starts with, as Linux's does), and then its
        // descriptor is replaced by the checked copy: the peer may rewrite
        // the descriptor at any time, and what the caller gets must be what
        // was checked.
        read_wrapped(mem, start, self.size, dst);
        let (head, _) = dst.split_at_mut(raw.len());
        head.copy_from_slice(&raw);
        self.next = advance(start, len + TRAILER_SIZE, self.size);
        // NO-OVERFLOW: checked against `avail` above.
        self.avail = avail - (len + TRAILER_SIZE);
        Ok(Some(PacketInfo { len: n, desc }))
    }

    /// Publishes the private read index and tells whether to signal the
    /// producer, as Linux's `hv_pkt_iter_close` decides it: only if the
    /// producer announced a pending send size (and the feature bit) and
    /// this commit moved the free space from "not enough" to "enough".
    ///
    /// Any number of packets read with [`RingConsumer::read_packet`] can be
    /// committed at once, as Linux commits once per batch.
    #[inline]
    pub fn commit<M: RingMem>(&mut self, mem: &M) -> Result<bool, RingError> {
        if let Some(c) = self.dead {
            return Err(RingError::Corrupt(c));
        }
        let start = self.publish(mem);
        if mem.load(ControlWord::FeatureBits) & RING_FEATURE_PENDING_SEND_SIZE == 0 {
            return Ok(false);
        }
        // The barrier orders the `read_index` store above before the load
        // of `pending_send_sz` (Linux's `hv_pkt_iter_close`): a producer
        // that stored its pending size and then found the ring still full
        // by an old `read_index` is signalled here, not left waiting.
        mem.fence();
        self.producer_unblocked(mem, start)
    }

    /// Stores the private read index as `read_index` and returns the one
    /// published before.
    #[inline(always)]
    fn publish<M: RingMem>(&mut self, mem: &M) -> u32 {
        let start = self.read;
        // The release store orders the copies out of the ring before the
        // index that lets the producer overwrite them.
        mem.store(ControlWord::ReadIndex, self.next);
        self.read = self.next;
        start
    }

    /// After `read_index` moved from `start` to `self.read` and a full
    /// barrier: whether the producer waits for the space this freed
    /// (`pending_send_sz` set, not enough free before, enough now).
    #[inline(always)]
    fn producer_unblocked<M: RingMem>(&mut self, mem: &M, start: u32) -> Result<bool, RingError> {
        let pending = mem.load(ControlWord::PendingSendSize);
        if pending == 0 {
            return Ok(false);
        }
        let write = self.write_index(mem)?;
        let free_now = free_bytes(write, self.read, self.size);
        let freed = distance(start, self.read, self.size);
        // Enough space before this commit: the producer was not blocked.
        if free_now.wrapping_sub(freed) > pending {
            return Ok(false);
        }
        // Still not enough space.
        if free_now <= pending {
            return Ok(false);
        }
        Ok(true)
    }

    /// Masks the producer's interrupts while a batch is read.
    pub fn begin_batch<M: RingMem>(&self, mem: &M) {
        mem.store(ControlWord::InterruptMask, 1);
        // Orders the mask before the reads of the batch, as Linux's
        // `hv_begin_read`; a producer that still saw it clear signals,
        // which costs one interrupt, never a lost packet.
        mem.fence();
    }

    /// Unmasks interrupts and tells whether more data arrived meanwhile (in
    /// which case the caller reads another batch).
    pub fn end_batch<M: RingMem>(&mut self, mem: &M) -> Result<bool, RingError> {
        mem.store(ControlWord::InterruptMask, 0);
        // The barrier orders the unmask before the load of `write_index`
        // (Linux's `hv_end_read`): a producer that wrote while the mask was
        // set did not signal, so the reader must see its packet now;
        // without the barrier the load could pass the unmask, find
        // nothing, and the packet would wait for the next signal.
        mem.fence();
        Ok(self.available(mem)? != 0)
    }

    /// Ends a batch begun with [`RingConsumer::begin_batch`] and read with
    /// [`RingConsumer::read_packet`]: [`RingConsumer::commit`] and
    /// [`RingConsumer::end_batch`] in one, with one full barrier where the
    /// two take one each.
    ///
    /// The barrier comes after both stores (`read_index`, the unmask) and
    /// before every load that decides a signal (`pending_send_sz`,
    /// `write_index`), so it gives each of the two orders the separate
    /// calls rely on.
    pub fn finish_batch<M: RingMem>(&mut self, mem: &M) -> Result<BatchEnd, RingError> {
        if let Some(c) = self.dead {
            return Err(RingError::Corrupt(c));
        }
        let start = self.publish(mem);
        mem.store(ControlWord::InterruptMask, 0);
        mem.fence();
        let signal = mem.load(ControlWord::FeatureBits) & RING_FEATURE_PENDING_SEND_SIZE != 0
            && self.producer_unblocked(mem, start)?;
        let more = self.available(mem)? != 0;
        Ok(BatchEnd { signal, more })
    }
}

/// What [`RingConsumer::finish_batch`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchEnd {
    /// The producer waits for the space this batch freed: signal it (as
    /// [`RingConsumer::commit`] returning true).
    pub signal: bool,
    /// Packets came while interrupts were masked: read another batch (as
    /// [`RingConsumer::end_batch`] returning true).
    pub more: bool,
}

/// A [`RingMem`] over plain memory viewed as cells: for tests, fuzzing and
/// single-threaded simulations. Fences are no-ops.
pub struct CellRingMem<'a> {
    control: &'a [Cell<u8>],
    data: &'a [Cell<u8>],
}

impl<'a> CellRingMem<'a> {
    /// A ring whose control page is `control` (at least 68 bytes) and whose
    /// data area is `data`.
    pub fn new(control: &'a [Cell<u8>], data: &'a [Cell<u8>]) -> Self {
        Self { control, data }
    }
}

impl RingMem for CellRingMem<'_> {
    fn data_len(&self) -> usize {
        self.data.len()
    }

    fn load(&self, word: ControlWord) -> u32 {
        let o = word.offset();
        let mut b = [0u8; 4];
        for (i, v) in b.iter_mut().enumerate() {
            *v = self.control.get(o + i).map_or(0, Cell::get);
        }
        u32::from_le_bytes(b)
    }

    fn store(&self, word: ControlWord, value: u32) {
        let o = word.offset();
        for (i, v) in value.to_le_bytes().iter().enumerate() {
            if let Some(c) = self.control.get(o + i) {
                c.set(*v);
            }
        }
    }

    fn fence(&self) {}

    fn read(&self, off: usize, buf: &mut [u8]) {
        for (i, v) in buf.iter_mut().enumerate() {
            *v = off
                .checked_add(i)
                .and_then(|j| self.data.get(j))
                .map_or(0, Cell::get);
        }
    }

    fn write(&self, off: usize, buf: &[u8]) {
        for (i, v) in buf.iter().enumerate() {
            if let Some(c) = off.checked_add(i).and_then(|j| self.data.get(j)) {
                c.set(*v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::wire::packet::PacketType;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    pub(crate) struct Ring {
        pub control: Vec<Cell<u8>>,
        pub data: Vec<Cell<u8>>,
    }

    impl Ring {
        pub fn new(size: usize) -> Self {
            Self {
                control: (0..4096).map(|_| Cell::new(0)).collect(),
                data: (0..size).map(|_| Cell::new(0)).collect(),
            }
        }

        pub fn mem(&self) -> CellRingMem<'_> {
            CellRingMem::new(&self.control, &self.data)
        }
    }

    pub(crate) fn packet(payload_words: usize, tag: u8) -> Vec<u8> {
        let len = 16 + payload_words * 8;
        let mut p = vec![tag; len];
        let d = VmPacketDescriptor {
            ptype: PacketType::DATA_INBAND,
            offset8: 2,
            len8: (len / 8) as u16,
            flags: 0,
            trans_id: u64::from(tag),
        };
        d.write_to(&mut p).unwrap();
        p
    }

    #[test]
    fn write_read_wrap() {
        let r = Ring::new(256);
        let m = r.mem();
        init_control(&m, RING_FEATURE_PENDING_SEND_SIZE);
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        let mut buf = [0u8; 256];
        for round in 0..50u8 {
            let p = packet(usize::from(round % 7), round);
            let (a, b) = p.split_at(10);
            tx.write(&m, &[a, b]).unwrap();
            let info = rx.read_packet(&m, &mut buf).unwrap().unwrap();
            assert_eq!(&buf[..info.len], &p[..]);
            assert_eq!(info.desc.trans_id, u64::from(round));
            assert_eq!(rx.read_packet(&m, &mut buf), Ok(None));
            rx.commit(&m).unwrap();
        }
    }

    #[test]
    fn trailer_holds_start_offset() {
        let r = Ring::new(128);
        let m = r.mem();
        let mut tx = RingProducer::new(&m).unwrap();
        tx.write(&m, &[&packet(1, 1)]).unwrap();
        tx.write(&m, &[&packet(1, 2)]).unwrap();
        let mut t = [0u8; 8];
        m.read(32 + 24, &mut t);
        assert_eq!(u64::from_le_bytes(t), 32u64 << 32);
        assert_eq!(m.load(ControlWord::WriteIndex), 64);
    }

    #[test]
    fn full_and_never_completely_full() {
        let r = Ring::new(64);
        let m = r.mem();
        let mut tx = RingProducer::new(&m).unwrap();
        // 24 + 8 = 32 bytes each: the second would fill the ring exactly.
        tx.write(&m, &[&packet(1, 1)]).unwrap();
        assert_eq!(
            tx.write(&m, &[&packet(1, 2)]),
            Err(RingError::Full {
                needed: 32,
                available: 32
            })
        );
        assert_eq!(
            tx.write(&m, &[&[0u8; 12]]),
            Err(RingError::BadPacketLength(12))
        );
        assert_eq!(tx.write(&m, &[]), Err(RingError::BadPacketLength(0)));
    }

    #[test]
    fn signal_on_write() {
        let r = Ring::new(256);
        let m = r.mem();
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        assert!(tx.write(&m, &[&packet(0, 1)]).unwrap().signal);
        // Not empty before: no signal.
        assert!(!tx.write(&m, &[&packet(0, 2)]).unwrap().signal);
        let mut buf = [0u8; 64];
        while rx.read_packet(&m, &mut buf).unwrap().is_some() {}
        rx.commit(&m).unwrap();
        // Masked: no signal.
        rx.begin_batch(&m);
        assert!(!tx.write(&m, &[&packet(0, 3)]).unwrap().signal);
        assert!(rx.end_batch(&m).unwrap());
    }

    #[test]
    fn signal_on_read_with_pending_send_size() {
        let r = Ring::new(128);
        let m = r.mem();
        init_control(&m, RING_FEATURE_PENDING_SEND_SIZE);
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        let mut buf = [0u8; 128];
        // Three 32-byte packets: 96 used, 32 free.
        for i in 0..3 {
            tx.write(&m, &[&packet(1, i)]).unwrap();
        }
        assert!(matches!(
            tx.write(&m, &[&packet(1, 9)]),
            Err(RingError::Full { .. })
        ));
        tx.set_pending_send_size(&m, 40);
        // Freeing 32 bytes: 64 free > 40, and 32 free before was not enough.
        rx.read_packet(&m, &mut buf).unwrap().unwrap();
        assert!(rx.commit(&m).unwrap());
        // Freeing more: already enough before, no signal.
        rx.read_packet(&m, &mut buf).unwrap().unwrap();
        assert!(!rx.commit(&m).unwrap());
        // Without the feature bit, never.
        m.store(ControlWord::FeatureBits, 0);
        rx.read_packet(&m, &mut buf).unwrap().unwrap();
        assert!(!rx.commit(&m).unwrap());
    }

    #[test]
    fn corrupt_indices() {
        let r = Ring::new(128);
        let m = r.mem();
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        tx.write(&m, &[&packet(0, 1)]).unwrap();
        m.store(ControlWord::WriteIndex, 130);
        let mut buf = [0u8; 128];
        assert_eq!(
            rx.read_packet(&m, &mut buf),
            Err(RingError::Corrupt(Corruption::WriteIndex(130)))
        );
        // Dead stays dead.
        m.store(ControlWord::WriteIndex, 24);
        assert!(matches!(
            rx.read_packet(&m, &mut buf),
            Err(RingError::Corrupt(_))
        ));
        m.store(ControlWord::ReadIndex, 4);
        assert_eq!(
            tx.write(&m, &[&packet(0, 2)]),
            Err(RingError::Corrupt(Corruption::ReadIndex(4)))
        );
    }

    #[test]
    fn corrupt_descriptor() {
        let r = Ring::new(128);
        let m = r.mem();
        let mut tx = RingProducer::new(&m).unwrap();
        tx.write(&m, &[&packet(0, 1)]).unwrap();
        let mut buf = [0u8; 128];
        // len8 larger than what was written.
        m.write(4, &10u16.to_le_bytes());
        let mut rx = RingConsumer::new(&m).unwrap();
        assert!(matches!(
            rx.read_packet(&m, &mut buf),
            Err(RingError::Corrupt(Corruption::Descriptor { .. }))
        ));
        // offset8 past len8.
        m.write(4, &2u16.to_le_bytes());
        m.write(2, &3u16.to_le_bytes());
        let mut rx = RingConsumer::new(&m).unwrap();
        assert!(matches!(
            rx.read_packet(&m, &mut buf),
            Err(RingError::Corrupt(Corruption::Descriptor { .. }))
        ));
        // A write index that leaves less than a packet.
        m.store(ControlWord::WriteIndex, 8);
        let mut rx = RingConsumer::new(&m).unwrap();
        assert_eq!(
            rx.read_packet(&m, &mut buf),
            Err(RingError::Corrupt(Corruption::Truncated(8)))
        );
    }

    /// A ring whose peer rewrites the descriptor bytes right after the
    /// consumer first reads them.
    struct Rewriting<'a> {
        inner: CellRingMem<'a>,
        reads: Cell<u32>,
    }

    impl RingMem for Rewriting<'_> {
        fn data_len(&self) -> usize {
            self.inner.data_len()
        }
        fn load(&self, word: ControlWord) -> u32 {
            self.inner.load(word)
        }
        fn store(&self, word: ControlWord, value: u32) {
            self.inner.store(word, value)
        }
        fn fence(&self) {}
        fn read(&self, off: usize, buf: &mut [u8]) {
            self.inner.read(off, buf);
            self.reads.set(self.reads.get() + 1);
            // len8 1, offset8 0x7fff, trans_id all ones.
            self.inner.write(off, &[9, 0, 0xff, 0x7f, 1, 0, 0, 0]);
            self.inner.write(off + 8, &[0xff; 8]);
        }
        fn write(&self, off: usize, buf: &[u8]) {
            self.inner.write(off, buf)
        }
    }

    #[test]
    fn descriptor_read_once() {
        let r = Ring::new(128);
        let m = Rewriting {
            inner: r.mem(),
            reads: Cell::new(0),
        };
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        let p = packet(2, 7);
        tx.write(&m, &[&p]).unwrap();
        let mut buf = [0u8; 64];
        let info = rx.read_packet(&m, &mut buf).unwrap().unwrap();
        assert_eq!(&buf[..info.len], &p[..]);
        assert_eq!(info.desc.trans_id, 7);
        assert_eq!(VmPacketDescriptor::read_from(&buf), Some(info.desc));
    }

    #[test]
    fn small_buffer_consumes_nothing() {
        let r = Ring::new(128);
        let m = r.mem();
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        tx.write(&m, &[&packet(2, 1)]).unwrap();
        let mut small = [0u8; 16];
        assert_eq!(
            rx.read_packet(&m, &mut small),
            Err(RingError::BufferTooSmall { needed: 32 })
        );
        let mut buf = [0u8; 32];
        assert!(rx.read_packet(&m, &mut buf).unwrap().is_some());
    }

    #[test]
    fn bad_sizes() {
        let r = Ring::new(100);
        assert_eq!(
            RingProducer::new(&r.mem()),
            Err(RingError::BadRingSize(100))
        );
        let r = Ring::new(0);
        assert_eq!(RingConsumer::new(&r.mem()), Err(RingError::BadRingSize(0)));
    }

    /// A ring that counts the loads of each control word.
    struct Counting<'a> {
        inner: CellRingMem<'a>,
        loads: [Cell<u32>; 5],
    }

    impl Counting<'_> {
        fn index(word: ControlWord) -> usize {
            match word {
                ControlWord::WriteIndex => 0,
                ControlWord::ReadIndex => 1,
                ControlWord::InterruptMask => 2,
                ControlWord::PendingSendSize => 3,
                ControlWord::FeatureBits => 4,
            }
        }

        fn take(&self, word: ControlWord) -> u32 {
            self.loads[Self::index(word)].replace(0)
        }
    }

    impl RingMem for Counting<'_> {
        fn data_len(&self) -> usize {
            self.inner.data_len()
        }
        fn load(&self, word: ControlWord) -> u32 {
            let c = &self.loads[Self::index(word)];
            c.set(c.get() + 1);
            self.inner.load(word)
        }
        fn store(&self, word: ControlWord, value: u32) {
            self.inner.store(word, value)
        }
        fn fence(&self) {}
        fn read(&self, off: usize, buf: &mut [u8]) {
            self.inner.read(off, buf)
        }
        fn write(&self, off: usize, buf: &[u8]) {
            self.inner.write(off, buf)
        }
    }

    /// The control words each operation loads: the producer looks at
    /// `interrupt_mask` only when the ring was empty before its packet,
    /// and the consumer loads `write_index` once for all the packets it
    /// finds published, and once more to find the ring empty.
    #[test]
    fn control_word_loads() {
        let r = Ring::new(1024);
        let m = Counting {
            inner: r.mem(),
            loads: Default::default(),
        };
        init_control(&m, RING_FEATURE_PENDING_SEND_SIZE);
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        m.loads.iter().for_each(|c| c.set(0));
        // Empty before: read_index (checked), write_index (own), then
        // read_index and the mask for the signal.
        assert!(tx.write(&m, &[&packet(1, 1)]).unwrap().signal);
        assert_eq!(m.take(ControlWord::ReadIndex), 2);
        assert_eq!(m.take(ControlWord::WriteIndex), 1);
        assert_eq!(m.take(ControlWord::InterruptMask), 1);
        // Not empty before: the mask is not looked at.
        for i in 2..=16 {
            assert!(!tx.write(&m, &[&packet(1, i)]).unwrap().signal);
        }
        assert_eq!(m.take(ControlWord::ReadIndex), 30);
        assert_eq!(m.take(ControlWord::WriteIndex), 15);
        assert_eq!(m.take(ControlWord::InterruptMask), 0);
        let mut buf = [0u8; 64];
        for i in 1..=16 {
            let info = rx.read_packet(&m, &mut buf).unwrap().unwrap();
            assert_eq!(info.desc.trans_id, i);
        }
        assert_eq!(m.take(ControlWord::WriteIndex), 1);
        assert_eq!(rx.read_packet(&m, &mut buf), Ok(None));
        assert_eq!(m.take(ControlWord::WriteIndex), 1);
        // One commit for the batch: the feature bits and pending_send_sz.
        assert!(!rx.commit(&m).unwrap());
        assert_eq!(m.take(ControlWord::FeatureBits), 1);
        assert_eq!(m.take(ControlWord::PendingSendSize), 1);
        assert_eq!(m.take(ControlWord::WriteIndex), 0);
    }

    /// Packets published before the peer broke `write_index` are still
    /// read (they were checked against the index as it was); the broken
    /// index is found at the next load, and the ring end stays dead.
    #[test]
    fn corrupt_write_index_found_at_next_load() {
        let r = Ring::new(256);
        let m = r.mem();
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        tx.write(&m, &[&packet(1, 1)]).unwrap();
        tx.write(&m, &[&packet(1, 2)]).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            rx.read_packet(&m, &mut buf).unwrap().unwrap().desc.trans_id,
            1
        );
        m.store(ControlWord::WriteIndex, 130);
        assert_eq!(
            rx.read_packet(&m, &mut buf).unwrap().unwrap().desc.trans_id,
            2
        );
        assert_eq!(
            rx.read_packet(&m, &mut buf),
            Err(RingError::Corrupt(Corruption::WriteIndex(130)))
        );
        m.store(ControlWord::WriteIndex, 64);
        assert!(matches!(
            rx.read_packet(&m, &mut buf),
            Err(RingError::Corrupt(_))
        ));
        assert!(matches!(rx.commit(&m), Err(RingError::Corrupt(_))));
        assert!(matches!(rx.finish_batch(&m), Err(RingError::Corrupt(_))));
    }

    /// Staged packets stay invisible to the consumer until `publish`,
    /// which stores `write_index` once and signals once for all of them.
    #[test]
    fn stage_and_publish() {
        let r = Ring::new(256);
        let m = Counting {
            inner: r.mem(),
            loads: Default::default(),
        };
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        let mut buf = [0u8; 64];
        for i in 1..=3 {
            tx.stage(&m, &[&packet(1, i)]).unwrap();
        }
        assert_eq!(m.inner.load(ControlWord::WriteIndex), 0);
        assert_eq!(rx.read_packet(&m, &mut buf), Ok(None));
        // Staged space counts for the producer.
        assert_eq!(tx.free(&m), Ok(256 - 3 * 32));
        m.loads.iter().for_each(|c| c.set(0));
        assert_eq!(tx.publish(&m), Ok(WriteOutcome { signal: true }));
        assert_eq!(m.inner.load(ControlWord::WriteIndex), 96);
        assert_eq!(m.take(ControlWord::ReadIndex), 1);
        assert_eq!(m.take(ControlWord::InterruptMask), 1);
        // Nothing staged: nothing stored, no signal.
        assert_eq!(tx.publish(&m), Ok(WriteOutcome { signal: false }));
        assert_eq!(m.take(ControlWord::ReadIndex), 0);
        for i in 1..=3 {
            assert_eq!(
                rx.read_packet(&m, &mut buf).unwrap().unwrap().desc.trans_id,
                i
            );
        }
        // A write publishes what was staged before it; not empty before
        // (the consumer has not committed): no signal.
        tx.stage(&m, &[&packet(1, 4)]).unwrap();
        assert_eq!(
            tx.write(&m, &[&packet(1, 5)]),
            Ok(WriteOutcome { signal: false })
        );
        for i in 4..=5 {
            assert_eq!(
                rx.read_packet(&m, &mut buf).unwrap().unwrap().desc.trans_id,
                i
            );
        }
        // A dead producer publishes nothing.
        tx.stage(&m, &[&packet(1, 6)]).unwrap();
        m.inner.store(ControlWord::ReadIndex, 3);
        assert!(tx.stage(&m, &[&packet(1, 7)]).is_err());
        assert!(matches!(tx.publish(&m), Err(RingError::Corrupt(_))));
        assert_eq!(m.inner.load(ControlWord::WriteIndex), 160);
    }

    /// `finish_batch` decides as `commit` followed by `end_batch`.
    #[test]
    fn finish_batch_is_commit_and_end_batch() {
        let r = Ring::new(128);
        let m = r.mem();
        init_control(&m, RING_FEATURE_PENDING_SEND_SIZE);
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        let mut buf = [0u8; 128];
        // Three 32-byte packets: 96 used, 32 free; the producer waits for 40.
        for i in 0..3 {
            tx.write(&m, &[&packet(1, i)]).unwrap();
        }
        tx.set_pending_send_size(&m, 40);
        rx.begin_batch(&m);
        rx.read_packet(&m, &mut buf).unwrap().unwrap();
        // 64 free now, 32 before: signal; two packets left: more.
        assert_eq!(
            rx.finish_batch(&m),
            Ok(BatchEnd {
                signal: true,
                more: true
            })
        );
        assert_eq!(m.load(ControlWord::InterruptMask), 0);
        assert_eq!(m.load(ControlWord::ReadIndex), 32);
        rx.begin_batch(&m);
        while rx.read_packet(&m, &mut buf).unwrap().is_some() {}
        // Enough before already: no signal; nothing left.
        assert_eq!(
            rx.finish_batch(&m),
            Ok(BatchEnd {
                signal: false,
                more: false
            })
        );
        assert_eq!(tx.free(&m), Ok(128));
    }
}
