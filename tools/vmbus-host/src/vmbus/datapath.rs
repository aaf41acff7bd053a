// SPDX-License-Identifier: GPL-2.0

//! The data path of one open channel: the guest → host ring (the host
//! consumes it) and the host → guest ring (the host produces into it),
//! with a bounded queue of packets that did not fit yet.
//!
//! Every index the guest controls is checked by `vmbus_proto`'s ring code;
//! a corrupt ring kills this channel's data path only (the error is
//! returned once and the rings stay dead until the channel is reopened).

use std::collections::VecDeque;

use vmbus_proto::ring::{ControlWord, RingConsumer, RingError, RingMem, RingProducer};
use vmbus_proto::wire::packet::RING_FEATURE_PENDING_SEND_SIZE;

use super::hostile::Mode;
use super::hostile_ring;
use super::ring_mem::RingPages;
use crate::guest_mem::MemRegion;

/// Packets waiting for room in the host → guest ring, per channel. While
/// this many wait, the host stops reading the guest's ring (back-pressure
/// instead of dropping).
pub const QUEUE_HIGH: usize = 64;

/// What a ring operation asks of the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kick {
    /// Signal the guest (its interrupt mask, the empty → non-empty rule and
    /// pending_send_sz already applied).
    pub signal: bool,
    /// A packet did not fit even after pending_send_sz was set, and the
    /// ring was not waiting before: a new wait for the guest to free room
    /// (and, by its pending_send_sz, to signal).
    pub new_wait: bool,
}

/// The rings of an open channel.
pub struct ChannelRings {
    g2h: RingPages,
    h2g: RingPages,
    rx: RingConsumer,
    tx: RingProducer,
    queue: VecDeque<Vec<u8>>,
    dead: bool,
    buf: Vec<u8>,
    /// Waiting for the guest to free room (see [`Kick::new_wait`]).
    waiting: bool,
}

impl ChannelRings {
    /// Attaches to the rings of a GPADL of `pfns` split at
    /// `downstream_offset` pages.
    pub fn new(ram: &MemRegion, pfns: &[u64], downstream_offset: usize) -> Result<Self, String> {
        let (g2h, h2g) = RingPages::split(pfns, downstream_offset)
            .ok_or_else(|| format!("bad ring split {downstream_offset} of {} pages", pfns.len()))?;
        let rx = RingConsumer::new(&g2h.mem(ram)).map_err(|e| format!("guest ring: {e:?}"))?;
        let tx = RingProducer::new(&h2g.mem(ram)).map_err(|e| format!("host ring: {e:?}"))?;
        let buf = vec![0u8; g2h.data.len() * super::ring_mem::PAGE as usize];
        Ok(Self {
            g2h,
            h2g,
            rx,
            tx,
            queue: VecDeque::new(),
            dead: false,
            buf,
            waiting: false,
        })
    }

    /// Whether a corrupt ring stopped this channel.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Hostile `bad-ring-at-open`: writes `value` as the write index of
    /// the guest → host ring, a word only the guest may write.
    pub fn scribble_guest_write_index(&self, ram: &MemRegion, value: u32) {
        self.g2h.mem(ram).store(ControlWord::WriteIndex, value);
    }

    /// Packets waiting for room.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether the host's tick must retry the queued packets: not while
    /// it waits for the guest's signal, which a guest that set the
    /// pending-send-size feature in its ring owes it (Linux's
    /// `hv_pkt_iter_close()`, rvmbus's ring consumer), as Hyper-V waits
    /// for it; a guest that misses the signal then stalls here instead
    /// of being rescued by the tick. Without the feature, Hyper-V has no
    /// way to be told, and neither has the host: it polls.
    pub fn poll_needed(&self, ram: &MemRegion) -> bool {
        if self.queue.is_empty() || self.dead {
            return false;
        }
        let feature = self.h2g.mem(ram).load(ControlWord::FeatureBits);
        !(self.waiting && feature & RING_FEATURE_PENDING_SEND_SIZE != 0)
    }

    fn kill(&mut self, e: RingError) -> String {
        self.dead = true;
        format!("{e:?}")
    }

    /// Copies out up to `max` packets from the guest's ring, publishes the
    /// new read index once for all of them and tells whether the guest
    /// waits for that space,
    /// and whether more packets came while the batch was read. The guest's
    /// interrupts are masked during the batch: a packet it writes then
    /// needs no signal, because the caller reads again when told `more`.
    ///
    /// With `hold` (hostile `hold-ring-space`), the read index is never
    /// published: the packets are read, but their space is not given back.
    pub fn read(
        &mut self,
        ram: &MemRegion,
        max: usize,
        hold: bool,
    ) -> Result<(Vec<Vec<u8>>, Kick, bool), String> {
        if self.dead {
            return Ok((Vec::new(), Kick::default(), false));
        }
        let mut out = Vec::new();
        let m = self.g2h.mem(ram);
        self.rx.begin_batch(&m);
        while out.len() < max && self.queue.len() < QUEUE_HIGH {
            match self.rx.read_packet(&m, &mut self.buf) {
                Ok(Some(info)) => out.push(self.buf.get(..info.len).unwrap_or(&[]).to_vec()),
                Ok(None) => break,
                Err(e) => return Err(self.kill(e)),
            }
        }
        if hold {
            // Unmask only: the guest's space stays taken.
            return match self.rx.end_batch(&m) {
                Ok(more) => Ok((out, Kick::default(), more)),
                Err(e) => Err(self.kill(e)),
            };
        }
        // Commit and unmask in one, with one barrier for both.
        match self.rx.finish_batch(&m) {
            Ok(end) => Ok((
                out,
                Kick {
                    signal: end.signal,
                    new_wait: false,
                },
                end.more,
            )),
            Err(e) => Err(self.kill(e)),
        }
    }

    /// Queues `pkt` and writes as much of the queue as fits.
    pub fn send(
        &mut self,
        ram: &MemRegion,
        hostile: Option<Mode>,
        pkt: Vec<u8>,
    ) -> Result<Kick, String> {
        self.queue.push_back(pkt);
        self.flush(ram, hostile)
    }

    /// Writes queued packets while they fit, broken as the ring mode
    /// `hostile` says if one is given. When one does not fit, asks the
    /// guest (pending_send_sz) to signal once enough space is free.
    pub fn flush(&mut self, ram: &MemRegion, hostile: Option<Mode>) -> Result<Kick, String> {
        let mut kick = Kick::default();
        if self.dead {
            return Ok(kick);
        }
        let m = self.h2g.mem(ram);
        // Whether pending_send_sz is already set for the packet at the
        // front of the queue.
        let mut asked = false;
        while let Some(p) = self.queue.front() {
            if let Some(mode) = hostile {
                let p = p.clone();
                self.queue.pop_front();
                hostile_ring::write(&m, mode, &p);
                kick.signal = true;
                // Take over whatever index the hostile write left.
                match RingProducer::new(&m) {
                    Ok(tx) => self.tx = tx,
                    Err(_) => {
                        self.dead = true;
                        return Ok(kick);
                    }
                }
                if mode == Mode::CorruptRingIndices {
                    self.dead = true;
                    return Ok(kick);
                }
                continue;
            }
            match self.tx.write(&m, &[p]) {
                Ok(o) => {
                    kick.signal |= o.signal;
                    self.queue.pop_front();
                    asked = false;
                    self.waiting = false;
                }
                Err(RingError::Full { .. }) if asked => {
                    kick.new_wait = !self.waiting;
                    self.waiting = true;
                    return Ok(kick);
                }
                Err(RingError::Full { needed, .. }) => {
                    // Ask the guest to signal when space frees, then try
                    // once more: the guest may have drained the ring
                    // after the failed write and before it could see the
                    // request, and then it would never signal.
                    self.tx.set_pending_send_size(&m, needed);
                    asked = true;
                }
                Err(RingError::BadPacketLength(n)) => {
                    self.queue.pop_front();
                    crate::log_limited!(
                        crate::log::Level::Warn,
                        "vmbus: a {n}-byte packet can never fit the guest's ring; dropped"
                    );
                }
                Err(e) => return Err(self.kill(e)),
            }
        }
        self.tx.set_pending_send_size(&m, 0);
        Ok(kick)
    }
}
