// SPDX-License-Identifier: GPL-2.0

//! A deterministic simulation of who signals whom, and how often, when
//! packets go through a ring: the decisions are the real ones of
//! [`RingProducer::write`] (empty → non-empty with interrupts unmasked),
//! [`RingConsumer::commit`] (pending_send_sz crossed) and
//! [`RingConsumer::end_batch`]; only the scheduling of the two ends is
//! simulated, by a fixed pseudo-random sequence.

use std::cell::Cell;

use vmbus_proto::ring::{init_control, CellRingMem, RingConsumer, RingError, RingProducer};
use vmbus_proto::wire::packet::{PacketType, VmPacketDescriptor, RING_FEATURE_PENDING_SEND_SIZE};
use vmbus_proto::wire::Wire;

/// Data area of the simulated ring.
pub const RING_SIZE: usize = 256 * 1024;
/// Payload bytes of each simulated packet.
pub const PAYLOAD: usize = 256;
/// Packets sent in each scenario.
pub const PACKETS: u64 = 8192;

/// What one scenario counted.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Short name.
    pub name: &'static str,
    /// What the scenario does.
    pub what: &'static str,
    /// Packets sent and received.
    pub packets: u64,
    /// Signals from the producer to the consumer (`WriteOutcome::signal`):
    /// interrupts the consumer takes.
    pub interrupts: u64,
    /// Of those, the ones that found the consumer already running.
    pub redundant: u64,
    /// Signals from the consumer to the producer (`commit` returned true).
    pub to_producer: u64,
    /// Writes refused because the ring was full.
    pub full: u64,
}

impl Counts {
    /// Interrupts per packet.
    pub fn interrupts_per_packet(&self) -> f64 {
        self.interrupts as f64 / self.packets as f64
    }

    /// Signals to the producer per packet.
    pub fn to_producer_per_packet(&self) -> f64 {
        self.to_producer as f64 / self.packets as f64
    }
}

/// xorshift64: the fixed schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next() % den < num
    }
}

/// One ring with both ends, the consumer's state, and the counters.
struct Sim {
    control: Vec<Cell<u8>>,
    data: Vec<Cell<u8>>,
    pkt: Vec<u8>,
    buf: Vec<u8>,
    counts: Counts,
    sent: u64,
    received: u64,
    /// The consumer is running (was signalled and has not gone idle).
    awake: bool,
}

impl Sim {
    fn new(name: &'static str, what: &'static str, features: u32) -> Self {
        let len = VmPacketDescriptor::SIZE + PAYLOAD;
        let mut pkt = vec![0xa5; len];
        VmPacketDescriptor {
            ptype: PacketType::DATA_INBAND,
            offset8: 2,
            len8: (len / 8) as u16,
            flags: 0,
            trans_id: 0,
        }
        .write_to(&mut pkt)
        .unwrap();
        let s = Self {
            control: (0..4096).map(|_| Cell::new(0)).collect(),
            data: (0..RING_SIZE).map(|_| Cell::new(0)).collect(),
            pkt,
            buf: vec![0; len],
            counts: Counts {
                name,
                what,
                ..Counts::default()
            },
            sent: 0,
            received: 0,
            awake: false,
        };
        init_control(&s.mem(), features);
        s
    }

    fn mem(&self) -> CellRingMem<'_> {
        CellRingMem::new(&self.control, &self.data)
    }

    /// Writes one packet; counts the signal and wakes the consumer.
    /// Returns the bytes needed if the ring was full.
    fn write(&mut self, tx: &mut RingProducer, rx: &RingConsumer, masked: bool) -> Result<(), u32> {
        let mem = CellRingMem::new(&self.control, &self.data);
        match tx.write(&mem, &[&self.pkt]) {
            Ok(out) => {
                self.sent += 1;
                if out.signal {
                    self.counts.interrupts += 1;
                    if self.awake {
                        self.counts.redundant += 1;
                    } else {
                        self.awake = true;
                        if masked {
                            rx.begin_batch(&mem);
                        }
                    }
                }
                Ok(())
            }
            Err(RingError::Full { needed, .. }) => {
                self.counts.full += 1;
                Err(needed)
            }
            Err(e) => panic!("write: {e:?}"),
        }
    }

    /// Reads one packet and commits it. Returns whether there was one and
    /// whether the commit signals the producer.
    fn read_one(&mut self, rx: &mut RingConsumer) -> (bool, bool) {
        let mem = CellRingMem::new(&self.control, &self.data);
        match rx.read_packet(&mem, &mut self.buf).unwrap() {
            Some(_) => {
                self.received += 1;
                let sig = rx.commit(&mem).unwrap();
                if sig {
                    self.counts.to_producer += 1;
                }
                (true, sig)
            }
            None => (false, false),
        }
    }

    /// The consumer found the ring empty: goes idle, or (masked) unmasks
    /// and goes on if data came meanwhile.
    fn empty(&mut self, rx: &mut RingConsumer, masked: bool) {
        let mem = CellRingMem::new(&self.control, &self.data);
        if masked && rx.end_batch(&mem).unwrap() {
            rx.begin_batch(&mem);
        } else {
            self.awake = false;
        }
    }

    fn ends(&self) -> (RingProducer, RingConsumer) {
        let mem = self.mem();
        (
            RingProducer::new(&mem).unwrap(),
            RingConsumer::new(&mem).unwrap(),
        )
    }

    fn done(mut self) -> Counts {
        assert_eq!(self.sent, PACKETS);
        assert_eq!(self.received, PACKETS);
        self.counts.packets = PACKETS;
        self.counts
    }
}

/// The producer writes `burst` packets; then the consumer, woken by the
/// interrupt, reads them all and commits once.
fn bursts(name: &'static str, what: &'static str, burst: u64) -> Counts {
    let mut s = Sim::new(name, what, RING_FEATURE_PENDING_SEND_SIZE);
    let (mut tx, mut rx) = s.ends();
    while s.sent < PACKETS {
        for _ in 0..burst.min(PACKETS - s.sent) {
            s.write(&mut tx, &rx, false).unwrap();
        }
        assert!(s.awake, "a write into an empty ring must signal");
        let mem = CellRingMem::new(&s.control, &s.data);
        while rx.read_packet(&mem, &mut s.buf).unwrap().is_some() {
            s.received += 1;
        }
        if rx.commit(&mem).unwrap() {
            s.counts.to_producer += 1;
        }
        s.awake = false;
    }
    s.done()
}

/// Both ends run at once, interleaved by a fixed pseudo-random schedule: a
/// producer step writes `burst` packets, a consumer step reads and commits
/// one packet. The consumer runs from an interrupt until it finds the ring
/// empty; with `masked` it keeps interrupts masked while it runs.
fn stream(name: &'static str, what: &'static str, burst: u64, masked: bool) -> Counts {
    let mut s = Sim::new(name, what, RING_FEATURE_PENDING_SEND_SIZE);
    let (mut tx, mut rx) = s.ends();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // The consumer is a little faster on average (0.6 against 0.4 packets
    // a step), so the ring neither fills nor stays empty.
    let den = 5 * burst;
    while s.received < PACKETS {
        if s.sent < PACKETS && rng.chance(2, den) {
            for _ in 0..burst.min(PACKETS - s.sent) {
                s.write(&mut tx, &rx, masked).expect("ring full");
            }
        } else if s.awake && !s.read_one(&mut rx).0 {
            s.empty(&mut rx, masked);
        }
    }
    s.done()
}

/// The producer is faster than the consumer and fills the ring. When a
/// write is refused it asks, through pending_send_sz, for `pending(needed)`
/// free bytes and waits for the consumer's signal; with `pending` `None`
/// the ring does not offer the feature and the producer retries on each of
/// its steps. The consumer keeps interrupts masked while it runs.
fn flow(name: &'static str, what: &'static str, pending: Option<fn(u32) -> u32>) -> Counts {
    let features = if pending.is_some() {
        RING_FEATURE_PENDING_SEND_SIZE
    } else {
        0
    };
    let mut s = Sim::new(name, what, features);
    let (mut tx, mut rx) = s.ends();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut blocked = false;
    while s.received < PACKETS {
        if s.sent < PACKETS && !blocked && rng.chance(3, 4) {
            if let Err(needed) = s.write(&mut tx, &rx, true) {
                if let Some(want) = pending {
                    let mem = CellRingMem::new(&s.control, &s.data);
                    tx.set_pending_send_size(&mem, want(needed));
                    // Space may have come before the request was seen.
                    blocked = tx.free(&mem).unwrap() <= needed;
                    if !blocked {
                        tx.set_pending_send_size(&mem, 0);
                    }
                }
            }
        } else if s.awake {
            let (got, sig) = s.read_one(&mut rx);
            if sig {
                blocked = false;
                tx.set_pending_send_size(&s.mem(), 0);
            }
            if !got {
                s.empty(&mut rx, true);
            }
        }
    }
    s.done()
}

/// Every scenario, in the order of the report.
pub fn run_all() -> Vec<Counts> {
    vec![
        bursts("single", "write 1, consumer woken, reads 1", 1),
        bursts("batch-8", "write 8, consumer woken, reads 8", 8),
        bursts("batch-32", "write 32, consumer woken, reads 32", 32),
        stream(
            "stream",
            "both running, 1 packet per producer step, not masked",
            1,
            false,
        ),
        stream(
            "stream-masked",
            "as stream, interrupts masked while draining",
            1,
            true,
        ),
        stream(
            "stream-8",
            "both running, 8 packets per producer step, not masked",
            8,
            false,
        ),
        stream(
            "stream-8-masked",
            "as stream-8, interrupts masked while draining",
            8,
            true,
        ),
        flow(
            "full-pending-1",
            "producer 3x faster, full ring, pending_send_sz = 1 packet",
            Some(|needed| needed),
        ),
        flow(
            "full-pending-half",
            "as full-pending-1, pending_send_sz = half the ring",
            Some(|needed| needed.max(RING_SIZE as u32 / 2)),
        ),
        flow(
            "full-polling",
            "as full-pending-1, no pending_send_sz: producer retries",
            None,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_are_deterministic_and_plausible() {
        let a = run_all();
        let b = run_all();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.interrupts, x.to_producer), (y.interrupts, y.to_producer));
        }
        let by = |n: &str| a.iter().find(|c| c.name == n).unwrap().clone();
        assert_eq!(by("single").interrupts, PACKETS);
        assert_eq!(by("batch-8").interrupts, PACKETS / 8);
        assert_eq!(by("batch-32").interrupts, PACKETS / 32);
        assert_eq!(by("stream-masked").redundant, 0);
        assert!(by("stream").interrupts > by("stream-masked").interrupts);
        assert!(by("full-pending-1").to_producer > 0);
        assert!(by("full-pending-half").to_producer < by("full-pending-1").to_producer);
        assert_eq!(by("full-polling").to_producer, 0);
    }
}
