// SPDX-License-Identifier: GPL-2.0

//! SynIC emulation, host-to-guest direction: the message page (SIMP) with
//! Hyper-V's one-message-per-slot semantics (message-pending flag and EOM),
//! the event flags page (SIEFP), and the interrupt each SINT is routed to.
//!
//! Messages are delivered as Hyper-V delivers them, so that a guest that
//! misses an EOM waits for ever here too: a posted message goes into the
//! slot at once if the slot is free and nothing waits; otherwise it waits
//! in the SINT's queue, and the host sets MessagePending in the busy slot
//! (one atomic step on the slot's header, so it never marks a slot the
//! guest has just freed) and then waits for the guest's EOM, which delivers
//! the next message. Nothing is delivered again periodically, and a new
//! post never jumps over a queue that waits for an EOM.
//!
//! Per vCPU the guest announces, with the SYNIC_SETUP mailbox command, the
//! guest physical addresses of its SIMP and SIEFP pages and, per SINT, the
//! MSI-X vector that stands in for the SINT's interrupt vector.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{fence, Ordering};

use crate::gmem_watch::seal_traced;
use crate::guest_mem::{MemError, MemRegion};
use crate::interrupts::{raise_traced, InterruptSink, IrqError};
use crate::trace::{Dir, Trace};

/// SINTs per vCPU.
pub const SINT_COUNT: u32 = 16;
/// Bytes per message slot and per event flags area.
pub const SLOT_SIZE: u64 = 256;
/// Largest message payload.
pub const MSG_PAYLOAD_MAX: usize = 240;
/// `message_flags` bit: more messages are pending, the guest should EOM.
pub const MSG_FLAG_PENDING: u8 = 1;
/// Event flags per SINT.
pub const EVENT_FLAGS_PER_SINT: u32 = 2048;
/// Guest page size.
pub const PAGE_SIZE: u64 = 4096;
/// The most vCPUs the host keeps state for.
pub const MAX_VCPUS: u32 = 1024;
/// The most messages waiting per SINT before posts fail: room for an offer
/// of every relid (the host posts all offers at once, and the guest takes
/// one per EOM) and the messages that follow them.
pub const QUEUE_LIMIT: usize = 4096;

/// Offsets inside a message slot (struct hv_message).
pub mod slot {
    /// `u32` message type; 0 means the slot is free.
    pub const MESSAGE_TYPE: u64 = 0;
    /// `u8` payload size.
    pub const PAYLOAD_SIZE: u64 = 4;
    /// `u8` message flags.
    pub const MESSAGE_FLAGS: u64 = 5;
    /// `u64` sender / port id.
    pub const SENDER: u64 = 8;
    /// `[u8; 240]` payload.
    pub const PAYLOAD: u64 = 16;
}

/// MessagePending in the slot header's first 64-bit word (type, payload
/// size, flags, reserved).
const HEADER_PENDING: u64 = (MSG_FLAG_PENDING as u64) << 40;
/// How long the `pending-race` behaviour flips MessagePending on a busy
/// slot before it leaves it set.
pub const RACE_LIMIT: std::time::Duration = std::time::Duration::from_millis(20);

/// SIMP/SIEFP register bit: the page is enabled.
const PAGE_ENABLE: u64 = 1;
/// SYNIC_SETUP `args[3]` bit: the SINT is masked.
const SINT_MASKED: u64 = 1 << 32;

/// What went wrong in a SynIC operation.
#[derive(Debug)]
pub enum SynicError {
    /// vCPU number out of range.
    BadVcpu(u32),
    /// SINT number out of range.
    BadSint(u64),
    /// Event flag number out of range.
    BadFlag(u32),
    /// The MSI-X vector is not one the device has, or reserved bits are set.
    BadVector(u64),
    /// A page register value has reserved bits set or the page is not in
    /// guest RAM.
    BadPage(u64),
    /// The vCPU's SIMP (for messages) or SIEFP (for events) is not enabled.
    NotSetUp(u32),
    /// Message payload too large.
    PayloadTooLarge(usize),
    /// Message type 0 is reserved for "empty slot".
    BadMessageType,
    /// The SINT's queue is full.
    QueueFull,
    /// Guest memory access failed.
    Mem(MemError),
    /// Raising the interrupt failed.
    Irq(IrqError),
}

impl fmt::Display for SynicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SynicError::BadVcpu(v) => write!(f, "vCPU {v} out of range"),
            SynicError::BadSint(s) => write!(f, "SINT {s} out of range (0..{SINT_COUNT})"),
            SynicError::BadFlag(b) => {
                write!(f, "event flag {b} out of range (0..{EVENT_FLAGS_PER_SINT})")
            }
            SynicError::BadVector(v) => write!(f, "bad MSI-X vector value {v:#x}"),
            SynicError::BadPage(p) => write!(f, "bad SynIC page value {p:#x}"),
            SynicError::NotSetUp(v) => write!(f, "SynIC of vCPU {v} is not set up"),
            SynicError::PayloadTooLarge(n) => {
                write!(f, "payload of {n} bytes exceeds {MSG_PAYLOAD_MAX}")
            }
            SynicError::BadMessageType => write!(f, "message type 0 is reserved"),
            SynicError::QueueFull => write!(f, "message queue full"),
            SynicError::Mem(e) => write!(f, "guest memory: {e}"),
            SynicError::Irq(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SynicError {}

impl From<MemError> for SynicError {
    fn from(e: MemError) -> Self {
        SynicError::Mem(e)
    }
}

impl From<IrqError> for SynicError {
    fn from(e: IrqError) -> Self {
        SynicError::Irq(e)
    }
}

/// What the SynIC works on: guest RAM, the interrupt sink and the trace.
pub struct SynicEnv<'a> {
    /// Guest RAM.
    pub mem: &'a MemRegion,
    /// Interrupts into the guest.
    pub irq: &'a dyn InterruptSink,
    /// The trace.
    pub trace: &'a Trace,
}

/// Where a SINT's interrupt goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SintRoute {
    /// MSI-X vector.
    pub vector: u16,
    /// Masked SINTs get messages but no interrupt.
    pub masked: bool,
}

/// A message waiting for its slot.
#[derive(Clone, Debug, PartialEq, Eq)]
struct QueuedMsg {
    message_type: u32,
    payload: Vec<u8>,
    /// The host's last word to this guest: once it is in the slot, the
    /// guest's memory is sealed (see [`crate::gmem_watch`]).
    last: bool,
}

#[derive(Default)]
struct VcpuSynic {
    simp: Option<u64>,
    siefp: Option<u64>,
    routes: [Option<SintRoute>; SINT_COUNT as usize],
    queues: [VecDeque<QueuedMsg>; SINT_COUNT as usize],
    /// The host marked the SINT's slot MessagePending (or delivered a
    /// message with it set) and delivers nothing more until EOM.
    awaiting_eom: [bool; SINT_COUNT as usize],
}

/// Whether a posted message went into its slot or waits in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostOutcome {
    /// Written into the slot (and the interrupt raised unless masked).
    Delivered,
    /// The slot was busy; queued, and the pending flag set.
    Queued,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynicStats {
    /// Messages accepted by `post`.
    pub posted: u64,
    /// Messages written into a slot.
    pub delivered: u64,
    /// Messages that had to wait in a queue.
    pub queued: u64,
    /// Messages refused because the queue was full.
    pub dropped: u64,
    /// Event flags newly set.
    pub events: u64,
    /// Interrupts raised.
    pub interrupts: u64,
    /// EOMs from the guest.
    pub eoms: u64,
    /// Busy slots whose MessagePending the `pending-race` behaviour flipped
    /// until the guest freed the slot (or [`RACE_LIMIT`] passed).
    pub races: u64,
    /// Of those, the ones the guest freed while MessagePending was set: it
    /// had to send EOM, though the flag may have been clear when it copied
    /// the slot.
    pub races_set: u64,
    /// Races that [`RACE_LIMIT`] ended on a slot still busy (the flag is
    /// then left set before the guest looked).
    pub races_late: u64,
    /// Messages the `slot-flood` behaviour added (see [`Synic::set_flood`]).
    pub flooded: u64,
}

/// The SynIC state of all vCPUs.
pub struct Synic {
    vcpus: BTreeMap<u32, VcpuSynic>,
    vcpu_limit: u32,
    stats: SynicStats,
    /// The `pending-race` hostile behaviour (see [`Synic::set_pending_race`]).
    pending_race: bool,
    /// The `slot-flood` hostile behaviour (see [`Synic::set_flood`]): the
    /// vCPU, the SINT and the message.
    flood: Option<(u32, usize, QueuedMsg)>,
}

impl Default for Synic {
    fn default() -> Self {
        Self::new()
    }
}

fn decode_page(value: u64, mem: &MemRegion) -> Result<Option<u64>, SynicError> {
    if value & PAGE_ENABLE == 0 {
        return Ok(None);
    }
    let page = value & !(PAGE_SIZE - 1);
    if value & (PAGE_SIZE - 1) & !PAGE_ENABLE != 0 {
        return Err(SynicError::BadPage(value));
    }
    mem.check(page, PAGE_SIZE)
        .map_err(|_| SynicError::BadPage(value))?;
    Ok(Some(page))
}

/// How a `pending-race` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RaceEnd {
    /// The guest freed the slot while MessagePending was set: the host
    /// waits for EOM.
    FreedSet,
    /// The guest freed the slot while it was clear: the host delivers.
    FreedClear,
    /// [`RACE_LIMIT`] passed first; the flag is left set on the busy slot.
    Late,
}

/// The `pending-race` behaviour on the busy slot at `slot`: flips
/// MessagePending until the guest frees the slot or [`RACE_LIMIT`] passes,
/// then leaves it set on a slot still busy.
fn race_pending(mem: &MemRegion, slot: u64) -> Result<RaceEnd, SynicError> {
    let deadline = std::time::Instant::now() + RACE_LIMIT;
    loop {
        let hdr = mem.read_u64(slot)?;
        if hdr as u32 == 0 {
            return Ok(if hdr & HEADER_PENDING != 0 {
                RaceEnd::FreedSet
            } else {
                RaceEnd::FreedClear
            });
        }
        let late = std::time::Instant::now() >= deadline;
        let want = if late {
            hdr | HEADER_PENDING
        } else {
            hdr ^ HEADER_PENDING
        };
        if mem.compare_exchange_u64(slot, hdr, want)? == hdr && late {
            return Ok(RaceEnd::Late);
        }
    }
}

impl Synic {
    /// No vCPU set up.
    pub fn new() -> Self {
        Self {
            vcpus: BTreeMap::new(),
            vcpu_limit: MAX_VCPUS,
            stats: SynicStats::default(),
            pending_race: false,
            flood: None,
        }
    }

    /// Hostile: whenever the last message waiting for `sint` of `vcpu` goes
    /// into the slot, queue a copy of `message_type` / `payload` behind it,
    /// so that every message carries MessagePending and every EOM brings
    /// the next: a host posting exactly as fast as the guest frees the
    /// slot. `None` stops it (what waits is still delivered).
    pub fn set_flood(&mut self, flood: Option<(u32, u32, u32, &[u8])>) {
        self.flood = flood.and_then(|(vcpu, sint, message_type, payload)| {
            (sint < SINT_COUNT && payload.len() <= MSG_PAYLOAD_MAX && message_type != 0).then(
                || {
                    (
                        vcpu,
                        sint as usize,
                        QueuedMsg {
                            message_type,
                            payload: payload.to_vec(),
                            last: false,
                        },
                    )
                },
            )
        });
    }

    /// Hostile: when a message must wait behind a busy slot, flip the
    /// slot's MessagePending on and off as fast as possible until the guest
    /// frees the slot, then wait for EOM if it was set at that moment, or
    /// deliver if it was not (and after [`RACE_LIMIT`], leave it set). A
    /// guest that reads MessagePending from its copy of the slot, rather
    /// than from the slot after freeing it, then misses EOMs that the host
    /// waits for.
    pub fn set_pending_race(&mut self, on: bool) {
        self.pending_race = on;
    }

    /// Whether `sint` of `vcpu` has no message waiting and no EOM owed: a
    /// new post would go straight into a free slot or start a new wait.
    pub fn sint_idle(&self, vcpu: u32, sint: u32) -> bool {
        let s = sint as usize;
        self.vcpus.get(&vcpu).is_none_or(|v| {
            v.queues.get(s).is_none_or(VecDeque::is_empty)
                && !v.awaiting_eom.get(s).copied().unwrap_or(false)
        })
    }

    /// Forgets all set-up and drops all queued messages (HELLO, GOODBYE).
    pub fn reset(&mut self) {
        self.vcpus.clear();
        self.vcpu_limit = MAX_VCPUS;
    }

    /// Limits vCPU numbers to `0..n` (from HELLO); `n` is capped at
    /// [`MAX_VCPUS`].
    pub fn set_vcpu_limit(&mut self, n: u32) {
        self.vcpu_limit = n.min(MAX_VCPUS);
    }

    /// The counters.
    pub fn stats(&self) -> SynicStats {
        self.stats
    }

    /// vCPUs with an enabled SIMP or SIEFP.
    pub fn vcpus_set_up(&self) -> Vec<u32> {
        self.vcpus
            .iter()
            .filter(|(_, v)| v.simp.is_some() || v.siefp.is_some())
            .map(|(&n, _)| n)
            .collect()
    }

    /// Messages waiting, over all vCPUs and SINTs.
    pub fn queued_now(&self) -> usize {
        self.vcpus
            .values()
            .flat_map(|v| v.queues.iter())
            .map(VecDeque::len)
            .sum()
    }

    /// One line per vCPU describing its set-up.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (n, v) in &self.vcpus {
            let mut s = format!(
                "vcpu {n}: simp {} siefp {}",
                v.simp.map_or("off".to_string(), |p| format!("{p:#x}")),
                v.siefp.map_or("off".to_string(), |p| format!("{p:#x}"))
            );
            for (i, r) in v.routes.iter().enumerate() {
                if let Some(r) = r {
                    s.push_str(&format!(
                        " sint{i}->vec{}{}",
                        r.vector,
                        if r.masked { "(masked)" } else { "" }
                    ));
                }
            }
            let q: usize = v.queues.iter().map(VecDeque::len).sum();
            s.push_str(&format!(" queued {q}"));
            if v.awaiting_eom.iter().any(|&w| w) {
                s.push_str(" awaiting EOM");
            }
            out.push(s);
        }
        out
    }

    fn check_vcpu(&self, vcpu: u32) -> Result<(), SynicError> {
        if vcpu >= self.vcpu_limit {
            return Err(SynicError::BadVcpu(vcpu));
        }
        Ok(())
    }

    fn check_sint(sint: u64) -> Result<usize, SynicError> {
        if sint >= u64::from(SINT_COUNT) {
            return Err(SynicError::BadSint(sint));
        }
        Ok(sint as usize)
    }

    /// SYNIC_SETUP for `vcpu`: SIMP and SIEFP register values (page GPA |
    /// enable bit), the SINT number, and its vector value (vector in the low
    /// 16 bits, bit 32 = masked). Nothing changes unless all values are
    /// valid. Messages that wait for this SINT are delivered if possible.
    pub fn setup(
        &mut self,
        env: &SynicEnv<'_>,
        vcpu: u32,
        simp: u64,
        siefp: u64,
        sint: u64,
        vector: u64,
    ) -> Result<(), SynicError> {
        self.check_vcpu(vcpu)?;
        let sint = Self::check_sint(sint)?;
        let simp = decode_page(simp, env.mem)?;
        let siefp = decode_page(siefp, env.mem)?;
        let vec_no = vector & !SINT_MASKED;
        if vec_no >= u64::from(env.irq.num_vectors()) {
            return Err(SynicError::BadVector(vector));
        }
        let route = SintRoute {
            vector: vec_no as u16,
            masked: vector & SINT_MASKED != 0,
        };
        let v = self.vcpus.entry(vcpu).or_default();
        v.simp = simp;
        v.siefp = siefp;
        v.routes[sint] = Some(route);
        self.pump(env, vcpu, sint)?;
        // An unmasked SINT whose slot already holds a message gets the
        // interrupt it may have missed while masked.
        if !route.masked {
            if let Some(page) = simp {
                let slot = page + sint as u64 * SLOT_SIZE;
                if env.mem.read_u32(slot + slot::MESSAGE_TYPE)? != 0 {
                    self.interrupt(env, route)?;
                }
            }
        }
        Ok(())
    }

    fn interrupt(&mut self, env: &SynicEnv<'_>, route: SintRoute) -> Result<(), SynicError> {
        if route.masked {
            return Ok(());
        }
        raise_traced(env.irq, env.trace, route.vector)?;
        self.stats.interrupts += 1;
        Ok(())
    }

    /// Posts a message to `sint` of `vcpu` with Hyper-V's slot semantics.
    pub fn post(
        &mut self,
        env: &SynicEnv<'_>,
        vcpu: u32,
        sint: u32,
        message_type: u32,
        payload: &[u8],
    ) -> Result<PostOutcome, SynicError> {
        self.post_msg(env, vcpu, sint, message_type, payload, false)
    }

    /// Posts the host's last message to this guest (the answer to its
    /// UNLOAD): as [`Synic::post`], and once the message is in the slot
    /// the guest's memory is sealed: the host writes nothing more there
    /// until the guest hands memory over again.
    pub fn post_last(
        &mut self,
        env: &SynicEnv<'_>,
        vcpu: u32,
        sint: u32,
        message_type: u32,
        payload: &[u8],
    ) -> Result<PostOutcome, SynicError> {
        self.post_msg(env, vcpu, sint, message_type, payload, true)
    }

    fn post_msg(
        &mut self,
        env: &SynicEnv<'_>,
        vcpu: u32,
        sint: u32,
        message_type: u32,
        payload: &[u8],
        last: bool,
    ) -> Result<PostOutcome, SynicError> {
        self.check_vcpu(vcpu)?;
        let s = Self::check_sint(u64::from(sint))?;
        if payload.len() > MSG_PAYLOAD_MAX {
            return Err(SynicError::PayloadTooLarge(payload.len()));
        }
        if message_type == 0 {
            return Err(SynicError::BadMessageType);
        }
        let v = self
            .vcpus
            .get_mut(&vcpu)
            .filter(|v| v.simp.is_some())
            .ok_or(SynicError::NotSetUp(vcpu))?;
        if v.queues[s].len() >= QUEUE_LIMIT {
            self.stats.dropped += 1;
            return Err(SynicError::QueueFull);
        }
        v.queues[s].push_back(QueuedMsg {
            message_type,
            payload: payload.to_vec(),
            last,
        });
        let waits = v.awaiting_eom[s];
        self.stats.posted += 1;
        if !waits {
            self.pump(env, vcpu, s)?;
        }
        let still = self.vcpus.get(&vcpu).map_or(0, |v| v.queues[s].len());
        if still == 0 {
            Ok(PostOutcome::Delivered)
        } else {
            // Only the newest message can tell: if anything is left, the
            // new one (the last) is among it.
            self.stats.queued += 1;
            Ok(PostOutcome::Queued)
        }
    }

    /// Delivers the first waiting message if the slot is free; if the slot
    /// is busy, sets MessagePending in it (atomically, only while it is
    /// busy) so that the guest sends EOM. Either way the SINT then waits for
    /// EOM when messages remain. Does nothing while an EOM is owed.
    fn pump(&mut self, env: &SynicEnv<'_>, vcpu: u32, sint: usize) -> Result<(), SynicError> {
        let race = self.pending_race;
        let Some(v) = self.vcpus.get_mut(&vcpu) else {
            return Ok(());
        };
        let Some(page) = v.simp else {
            return Ok(());
        };
        let route = v.routes[sint];
        let slot = page + sint as u64 * SLOT_SIZE;
        let mut raced = false;
        let mut delivered = false;
        // Bounded: a round ends the pump, or sees the guest change the
        // header (free the slot) since the round before.
        for _ in 0..64 {
            if v.queues[sint].is_empty() || v.awaiting_eom[sint] {
                break;
            }
            fence(Ordering::SeqCst);
            let hdr = env.mem.read_u64(slot + slot::MESSAGE_TYPE)?;
            if hdr as u32 == 0 {
                // The guest has released the slot: we own it until we
                // write a non-zero message type.
                let Some(m) = v.queues[sint].pop_front() else {
                    break;
                };
                if let Some((_, _, f)) = self
                    .flood
                    .as_ref()
                    .filter(|(fv, fs, _)| *fv == vcpu && *fs == sint)
                {
                    if v.queues[sint].is_empty() {
                        v.queues[sint].push_back(f.clone());
                        self.stats.flooded += 1;
                    }
                }
                let more = !v.queues[sint].is_empty();
                let mut buf = [0u8; MSG_PAYLOAD_MAX];
                buf[..m.payload.len()].copy_from_slice(&m.payload);
                env.mem.write(slot + slot::PAYLOAD, &buf)?;
                env.mem.write_u64(slot + slot::SENDER, 0)?;
                let flags = if more { MSG_FLAG_PENDING } else { 0 };
                // payload_size, message_flags, reserved[2] as one word.
                env.mem.write_u32(
                    slot + slot::PAYLOAD_SIZE,
                    u32::from(m.payload.len() as u8) | u32::from(flags) << 8,
                )?;
                fence(Ordering::Release);
                env.mem
                    .write_u32(slot + slot::MESSAGE_TYPE, m.message_type)?;
                fence(Ordering::SeqCst);
                let mut rec = Vec::with_capacity(8 + m.payload.len());
                rec.extend_from_slice(&vcpu.to_le_bytes());
                rec.extend_from_slice(&m.message_type.to_le_bytes());
                rec.extend_from_slice(&m.payload);
                env.trace
                    .event(Dir::H2g, None, &format!("synic-msg-sint{sint}"), &rec);
                if m.last {
                    seal_traced(env.mem.watch(), env.trace);
                }
                // One message per free slot: with more waiting, it carries
                // MessagePending and the next one waits for its EOM.
                v.awaiting_eom[sint] = more;
                delivered = true;
                break;
            }
            if hdr & HEADER_PENDING != 0 {
                v.awaiting_eom[sint] = true;
                break;
            }
            if race && !raced {
                raced = true;
                self.stats.races += 1;
                match race_pending(env.mem, slot)? {
                    RaceEnd::FreedSet => self.stats.races_set += 1,
                    RaceEnd::Late => self.stats.races_late += 1,
                    // Freed while clear: the next round delivers.
                    RaceEnd::FreedClear => continue,
                }
                v.awaiting_eom[sint] = true;
                break;
            }
            // Busy: ask for an EOM, unless the guest frees the slot first.
            if env
                .mem
                .compare_exchange_u64(slot + slot::MESSAGE_TYPE, hdr, hdr | HEADER_PENDING)?
                == hdr
            {
                v.awaiting_eom[sint] = true;
                break;
            }
        }
        if delivered {
            self.stats.delivered += 1;
            if let Some(r) = route {
                self.interrupt(env, r)?;
            }
        }
        Ok(())
    }

    /// EOM on `vcpu`: every SINT delivers its next waiting message if its
    /// slot is free (or asks for another EOM if it is not).
    pub fn eom(&mut self, env: &SynicEnv<'_>, vcpu: u32) -> Result<(), SynicError> {
        self.check_vcpu(vcpu)?;
        let Some(v) = self.vcpus.get_mut(&vcpu) else {
            return Ok(());
        };
        v.awaiting_eom = [false; SINT_COUNT as usize];
        self.stats.eoms += 1;
        for s in 0..SINT_COUNT as usize {
            self.pump(env, vcpu, s)?;
        }
        Ok(())
    }

    /// Sets event flag `bit` of `sint` on `vcpu` and, if it was clear,
    /// raises the SINT's interrupt. Returns whether the flag was newly set.
    pub fn signal(
        &mut self,
        env: &SynicEnv<'_>,
        vcpu: u32,
        sint: u32,
        bit: u32,
    ) -> Result<bool, SynicError> {
        self.check_vcpu(vcpu)?;
        let s = Self::check_sint(u64::from(sint))?;
        if bit >= EVENT_FLAGS_PER_SINT {
            return Err(SynicError::BadFlag(bit));
        }
        let v = self.vcpus.get(&vcpu).ok_or(SynicError::NotSetUp(vcpu))?;
        let page = v.siefp.ok_or(SynicError::NotSetUp(vcpu))?;
        let route = v.routes[s];
        let addr = page + s as u64 * SLOT_SIZE + u64::from(bit / 8);
        let mask = 1u8 << (bit % 8);
        let old = env.mem.fetch_or_u8(addr, mask)?;
        fence(Ordering::SeqCst);
        let mut rec = Vec::with_capacity(12);
        rec.extend_from_slice(&vcpu.to_le_bytes());
        rec.extend_from_slice(&sint.to_le_bytes());
        rec.extend_from_slice(&bit.to_le_bytes());
        env.trace.event(Dir::H2g, None, "synic-event", &rec);
        if old & mask != 0 {
            return Ok(false);
        }
        self.stats.events += 1;
        if let Some(r) = route {
            self.interrupt(env, r)?;
        }
        Ok(true)
    }

    /// The vector the vCPU set up (SINT 2, VMBus's, preferred; else its
    /// lowest routed SINT); without set-up, vector number `vcpu` if the
    /// device has it.
    pub fn vcpu_vector(&self, vcpu: u32, num_vectors: u16) -> Option<u16> {
        if let Some(v) = self.vcpus.get(&vcpu) {
            if let Some(r) = v.routes[2].or_else(|| v.routes.iter().flatten().next().copied()) {
                return Some(r.vector);
            }
        }
        u16::try_from(vcpu).ok().filter(|&n| n < num_vectors)
    }

    /// Raises the vCPU's vector (a test aid).
    pub fn raise_vcpu(&mut self, env: &SynicEnv<'_>, vcpu: u32) -> Result<u16, SynicError> {
        let vector = self
            .vcpu_vector(vcpu, env.irq.num_vectors())
            .ok_or(SynicError::BadVcpu(vcpu))?;
        raise_traced(env.irq, env.trace, vector)?;
        self.stats.interrupts += 1;
        Ok(vector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupts::RecordingIrqs;

    const SIMP: u64 = 0x3000;
    const SIEFP: u64 = 0x5000;

    struct Rig {
        mem: MemRegion,
        irq: RecordingIrqs,
        trace: Trace,
        synic: Synic,
    }

    impl Rig {
        fn new() -> Self {
            Self {
                mem: MemRegion::anonymous(0x10000).unwrap(),
                irq: RecordingIrqs::new(4),
                trace: Trace::disabled(),
                synic: Synic::new(),
            }
        }
        fn setup(&mut self, vcpu: u32, sint: u64, vector: u64) -> Result<(), SynicError> {
            let env = SynicEnv {
                mem: &self.mem,
                irq: &self.irq,
                trace: &self.trace,
            };
            self.synic
                .setup(&env, vcpu, SIMP | 1, SIEFP | 1, sint, vector)
        }
        fn post(
            &mut self,
            vcpu: u32,
            sint: u32,
            ty: u32,
            p: &[u8],
        ) -> Result<PostOutcome, SynicError> {
            let env = SynicEnv {
                mem: &self.mem,
                irq: &self.irq,
                trace: &self.trace,
            };
            self.synic.post(&env, vcpu, sint, ty, p)
        }
        fn eom(&mut self, vcpu: u32) {
            let env = SynicEnv {
                mem: &self.mem,
                irq: &self.irq,
                trace: &self.trace,
            };
            self.synic.eom(&env, vcpu).unwrap();
        }
        fn slot(&self, sint: u64) -> (u32, u8, u8, Vec<u8>) {
            let base = SIMP + sint * SLOT_SIZE;
            let mut hdr = [0u8; 16];
            self.mem.read(base, &mut hdr).unwrap();
            let size = hdr[4];
            let mut p = vec![0u8; usize::from(size)];
            self.mem.read(base + 16, &mut p).unwrap();
            (
                u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]),
                size,
                hdr[5],
                p,
            )
        }
        fn guest_consume(&self, sint: u64) -> bool {
            // What a Linux guest does: clear the type, barrier, check pending.
            let base = SIMP + sint * SLOT_SIZE;
            self.mem.write_u32(base, 0).unwrap();
            fence(Ordering::SeqCst);
            let mut f = [0u8];
            self.mem.read(base + 5, &mut f).unwrap();
            f[0] & MSG_FLAG_PENDING != 0
        }
    }

    #[test]
    fn setup_validates() {
        let mut r = Rig::new();
        assert!(matches!(r.setup(0, 16, 0), Err(SynicError::BadSint(16))));
        assert!(matches!(r.setup(0, 2, 4), Err(SynicError::BadVector(4))));
        assert!(matches!(
            r.setup(0, 2, 1 << 33),
            Err(SynicError::BadVector(_))
        ));
        assert!(matches!(
            r.setup(MAX_VCPUS, 2, 0),
            Err(SynicError::BadVcpu(_))
        ));
        let env = SynicEnv {
            mem: &r.mem,
            irq: &r.irq,
            trace: &r.trace,
        };
        let mut s = Synic::new();
        // Reserved bits, out-of-RAM page.
        assert!(matches!(
            s.setup(&env, 0, SIMP | 3, 0, 2, 0),
            Err(SynicError::BadPage(_))
        ));
        assert!(matches!(
            s.setup(&env, 0, 0x10000 | 1, 0, 2, 0),
            Err(SynicError::BadPage(_))
        ));
        assert!(matches!(
            s.setup(&env, 0, !0xffe, 0, 2, 0),
            Err(SynicError::BadPage(_))
        ));
        assert!(s.vcpus_set_up().is_empty());
        s.setup(&env, 0, SIMP | 1, 0, 2, 1).unwrap();
        assert_eq!(s.vcpus_set_up(), vec![0]);
        s.set_vcpu_limit(1);
        assert!(matches!(
            s.setup(&env, 1, SIMP | 1, 0, 2, 1),
            Err(SynicError::BadVcpu(1))
        ));
    }

    #[test]
    fn post_requires_simp() {
        let mut r = Rig::new();
        assert!(matches!(
            r.post(0, 2, 1, &[1]),
            Err(SynicError::NotSetUp(0))
        ));
        r.setup(0, 2, 1).unwrap();
        assert!(matches!(
            r.post(0, 2, 1, &[0; 241]),
            Err(SynicError::PayloadTooLarge(241))
        ));
        assert!(matches!(
            r.post(0, 2, 0, &[1]),
            Err(SynicError::BadMessageType)
        ));
        assert!(matches!(
            r.post(0, 16, 1, &[1]),
            Err(SynicError::BadSint(16))
        ));
    }

    #[test]
    fn one_message_per_slot_with_pending_and_eom() {
        let mut r = Rig::new();
        r.setup(0, 2, 3).unwrap();
        assert_eq!(
            r.post(0, 2, 0x10, &[1, 2, 3]).unwrap(),
            PostOutcome::Delivered
        );
        assert_eq!(r.slot(2), (0x10, 3, 0, vec![1, 2, 3]));
        assert_eq!(*r.irq.raised.borrow(), vec![3]);
        // Busy slot: queued, pending flag set, no interrupt.
        assert_eq!(r.post(0, 2, 0x11, &[9; 240]).unwrap(), PostOutcome::Queued);
        assert_eq!(r.post(0, 2, 0x12, &[]).unwrap(), PostOutcome::Queued);
        let (ty, _, flags, _) = r.slot(2);
        assert_eq!((ty, flags), (0x10, MSG_FLAG_PENDING));
        assert_eq!(r.irq.raised.borrow().len(), 1);
        // EOM without consuming changes nothing.
        r.eom(0);
        assert_eq!(r.slot(2).0, 0x10);
        // Guest consumes, sees pending, EOMs: next message, still pending.
        assert!(r.guest_consume(2));
        r.eom(0);
        let (ty, size, flags, p) = r.slot(2);
        assert_eq!((ty, size, flags), (0x11, 240, MSG_FLAG_PENDING));
        assert_eq!(p, vec![9; 240]);
        assert_eq!(*r.irq.raised.borrow(), vec![3, 3]);
        assert!(r.guest_consume(2));
        r.eom(0);
        assert_eq!(r.slot(2), (0x12, 0, 0, vec![]));
        assert!(!r.guest_consume(2));
        let st = r.synic.stats();
        assert_eq!(
            (st.posted, st.delivered, st.queued, st.interrupts),
            (3, 3, 2, 3)
        );
        assert_eq!(r.synic.queued_now(), 0);
    }

    #[test]
    fn last_message_seals_guest_memory_once_delivered() {
        let mut r = Rig::new();
        r.mem = MemRegion::anonymous(0x10000).unwrap().watch_writes();
        r.setup(0, 2, 0).unwrap();
        r.post(0, 2, 1, b"first").unwrap();
        // The slot is busy: the last message waits, and nothing is sealed.
        let env = SynicEnv {
            mem: &r.mem,
            irq: &r.irq,
            trace: &r.trace,
        };
        assert_eq!(
            r.synic.post_last(&env, 0, 2, 1, b"last").unwrap(),
            PostOutcome::Queued
        );
        assert!(!r.mem.watch().unwrap().is_sealed());
        assert!(r.guest_consume(2));
        r.eom(0);
        assert_eq!(r.slot(2).3, b"last");
        let w = r.mem.watch().unwrap();
        assert!(w.is_sealed());
        // Anything written after it is counted against the host.
        let env = SynicEnv {
            mem: &r.mem,
            irq: &r.irq,
            trace: &r.trace,
        };
        r.synic.signal(&env, 0, 2, 5).unwrap();
        let v = w.unseal().unwrap();
        assert_eq!(v.count, 1);
        assert_eq!(v.first.map(|(_, len)| len), Some(1));
    }

    #[test]
    fn slot_freed_without_eom_waits_for_the_eom() {
        let mut r = Rig::new();
        r.setup(0, 2, 0).unwrap();
        r.post(0, 2, 1, &[1]).unwrap();
        r.post(0, 2, 2, &[2]).unwrap();
        // A guest that frees the slot and ignores MessagePending: nothing
        // comes, also not when more is posted.
        assert!(r.guest_consume(2));
        assert_eq!(r.post(0, 2, 3, &[3]).unwrap(), PostOutcome::Queued);
        assert_eq!(r.slot(2).0, 0);
        assert!(!r.synic.sint_idle(0, 2));
        r.eom(0);
        assert_eq!(r.slot(2), (2, 1, MSG_FLAG_PENDING, vec![2]));
        assert!(r.guest_consume(2));
        r.eom(0);
        assert_eq!(r.slot(2), (3, 1, 0, vec![3]));
        assert!(!r.guest_consume(2));
        assert!(r.synic.sint_idle(0, 2));
        assert_eq!(r.synic.stats().eoms, 2);
    }

    #[test]
    fn pending_is_only_set_on_a_busy_slot() {
        let mut r = Rig::new();
        r.setup(0, 2, 0).unwrap();
        r.post(0, 2, 1, &[1]).unwrap();
        // The guest freed the slot (stale flags stay); a new post with
        // nothing waiting goes straight in.
        r.mem.write_u32(SIMP + 2 * SLOT_SIZE, 0).unwrap();
        assert_eq!(r.post(0, 2, 2, &[2]).unwrap(), PostOutcome::Delivered);
        assert_eq!(r.slot(2), (2, 1, 0, vec![2]));
        assert!(r.synic.sint_idle(0, 2));
    }

    #[test]
    fn pending_race_leaves_it_set_on_a_slot_that_stays_busy() {
        let mut r = Rig::new();
        r.setup(0, 2, 0).unwrap();
        r.synic.set_pending_race(true);
        r.post(0, 2, 1, &[1]).unwrap();
        let t0 = std::time::Instant::now();
        assert_eq!(r.post(0, 2, 2, &[2]).unwrap(), PostOutcome::Queued);
        assert!(t0.elapsed() >= RACE_LIMIT);
        assert_eq!(r.slot(2).2, MSG_FLAG_PENDING);
        let st = r.synic.stats();
        assert_eq!((st.races, st.races_set, st.races_late), (1, 0, 1));
        assert!(r.guest_consume(2));
        r.eom(0);
        assert_eq!(r.slot(2).0, 2);
    }

    #[test]
    fn flood_refills_as_fast_as_the_guest_frees() {
        let mut r = Rig::new();
        r.setup(0, 2, 0).unwrap();
        r.synic.set_flood(Some((0, 2, 9, &[9])));
        r.post(0, 2, 1, &[1]).unwrap();
        assert_eq!(r.slot(2), (1, 1, MSG_FLAG_PENDING, vec![1]));
        for _ in 0..5 {
            assert!(r.guest_consume(2));
            r.eom(0);
            assert_eq!(r.slot(2), (9, 1, MSG_FLAG_PENDING, vec![9]));
        }
        r.synic.set_flood(None);
        assert!(r.guest_consume(2));
        r.eom(0);
        assert_eq!(r.slot(2), (9, 1, 0, vec![9]));
        assert!(!r.guest_consume(2));
        assert_eq!(r.synic.stats().flooded, 6);
    }

    #[test]
    fn queue_is_bounded() {
        let mut r = Rig::new();
        r.setup(0, 2, 0).unwrap();
        r.post(0, 2, 1, &[]).unwrap();
        for _ in 0..QUEUE_LIMIT {
            assert_eq!(r.post(0, 2, 1, &[]).unwrap(), PostOutcome::Queued);
        }
        assert!(matches!(r.post(0, 2, 1, &[]), Err(SynicError::QueueFull)));
        assert_eq!(r.synic.stats().dropped, 1);
        r.synic.reset();
        assert_eq!(r.synic.queued_now(), 0);
    }

    #[test]
    fn masked_sint_gets_message_but_no_interrupt_until_unmasked() {
        let mut r = Rig::new();
        r.setup(1, 5, 2 | SINT_MASKED).unwrap();
        r.post(1, 5, 7, &[7]).unwrap();
        assert_eq!(r.slot(5).0, 7);
        assert!(r.irq.raised.borrow().is_empty());
        r.setup(1, 5, 2).unwrap();
        assert_eq!(*r.irq.raised.borrow(), vec![2]);
    }

    #[test]
    fn event_flags() {
        let mut r = Rig::new();
        r.setup(0, 2, 1).unwrap();
        let env = SynicEnv {
            mem: &r.mem,
            irq: &r.irq,
            trace: &r.trace,
        };
        let mut s = std::mem::take(&mut r.synic);
        assert!(s.signal(&env, 0, 2, 0).unwrap());
        assert!(s.signal(&env, 0, 2, 2047).unwrap());
        assert!(s.signal(&env, 0, 2, 10).unwrap());
        // Already set: no second interrupt.
        assert!(!s.signal(&env, 0, 2, 10).unwrap());
        assert!(matches!(
            s.signal(&env, 0, 2, 2048),
            Err(SynicError::BadFlag(_))
        ));
        assert!(matches!(
            s.signal(&env, 3, 2, 1),
            Err(SynicError::NotSetUp(3))
        ));
        let mut area = [0u8; 256];
        r.mem.read(SIEFP + 2 * SLOT_SIZE, &mut area).unwrap();
        assert_eq!(area[0], 1);
        assert_eq!(area[1], 1 << 2);
        assert_eq!(area[255], 0x80);
        assert_eq!(area[2..255].iter().filter(|&&b| b != 0).count(), 0);
        assert_eq!(*r.irq.raised.borrow(), vec![1, 1, 1]);
        assert_eq!(s.stats().events, 3);
    }

    #[test]
    fn vcpu_vector_prefers_sint2() {
        let mut r = Rig::new();
        assert_eq!(r.synic.vcpu_vector(1, 4), Some(1));
        assert_eq!(r.synic.vcpu_vector(9, 4), None);
        r.setup(1, 3, 0).unwrap();
        assert_eq!(r.synic.vcpu_vector(1, 4), Some(0));
        r.setup(1, 2, 3).unwrap();
        assert_eq!(r.synic.vcpu_vector(1, 4), Some(3));
    }
}
