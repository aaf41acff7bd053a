// SPDX-License-Identifier: GPL-2.0

//! Property tests of the ring buffer: arbitrary interleavings of writes,
//! reads and commits against a model, and arbitrary corruption of the words
//! and bytes the peer controls.

use std::cell::Cell;
use std::collections::VecDeque;

use proptest::prelude::*;
use vmbus_proto::ring::{
    init_control, CellRingMem, ControlWord, RingConsumer, RingError, RingMem, RingProducer,
};
use vmbus_proto::wire::packet::{PacketType, VmPacketDescriptor, RING_FEATURE_PENDING_SEND_SIZE};
use vmbus_proto::wire::Wire;

struct Ring {
    control: Vec<Cell<u8>>,
    data: Vec<Cell<u8>>,
}

impl Ring {
    fn new(size: usize) -> Self {
        Self {
            control: (0..4096).map(|_| Cell::new(0)).collect(),
            data: (0..size).map(|_| Cell::new(0)).collect(),
        }
    }

    fn mem(&self) -> CellRingMem<'_> {
        CellRingMem::new(&self.control, &self.data)
    }
}

fn packet(words: usize, tag: u64) -> Vec<u8> {
    let len = 16 + words * 8;
    let mut p: Vec<u8> = (0..len).map(|i| (i as u64 ^ tag) as u8).collect();
    VmPacketDescriptor {
        ptype: PacketType::DATA_INBAND,
        offset8: 2,
        len8: (len / 8) as u16,
        flags: 0,
        trans_id: tag,
    }
    .write_to(&mut p)
    .unwrap();
    p
}

#[derive(Clone, Debug)]
enum Op {
    Write(usize),
    Stage(usize),
    Publish,
    Read,
    Commit,
    Pending(u32),
    Batch,
    Finish,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..40).prop_map(Op::Write),
        2 => (0usize..40).prop_map(Op::Stage),
        1 => Just(Op::Publish),
        3 => Just(Op::Read),
        2 => Just(Op::Commit),
        1 => (0u32..600).prop_map(Op::Pending),
        1 => Just(Op::Batch),
        1 => Just(Op::Finish),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Packets come out in order and intact, staged ones only once
    /// published; the ring is full exactly when the model says so; the
    /// producer signals exactly on empty → non-empty with interrupts
    /// unmasked, once per publish; the consumer signals the producer exactly
    /// when a commit moves the free space across `pending_send_sz`, alone
    /// or as part of `finish_batch`.
    #[test]
    fn interleavings_match_model(size_words in 8usize..80, ops in prop::collection::vec(op(), 1..200)) {
        let size = size_words * 8;
        let r = Ring::new(size);
        let m = r.mem();
        init_control(&m, RING_FEATURE_PENDING_SEND_SIZE);
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        // Packets published and not yet read; staged and not yet
        // published; bytes not yet committed (staged ones included), and
        // of those, staged.
        let mut queue: VecDeque<Vec<u8>> = VecDeque::new();
        let mut staged: VecDeque<Vec<u8>> = VecDeque::new();
        let mut staged_bytes = 0usize;
        let mut uncommitted = 0usize;
        let mut used = 0usize;
        let mut tag = 0u64;
        let mut buf = vec![0u8; size];
        let mut masked = false;
        let mut pending = 0usize;
        // Whether a commit that frees `uncommitted` of `used` published
        // bytes signals (the consumer neither sees nor counts staged ones).
        let signals = |used: usize, uncommitted: usize, pending: usize| {
            pending != 0 && size - used <= pending && size - (used - uncommitted) > pending
        };
        for o in ops {
            match o {
                Op::Write(words) | Op::Stage(words) => {
                    tag += 1;
                    let p = packet(words, tag);
                    let total = p.len() + 8;
                    // Empty as the consumer sees it: everything published
                    // was read and committed.
                    let was_empty = used == staged_bytes;
                    let publish = matches!(o, Op::Write(_));
                    let r = if publish {
                        tx.write(&m, &[&p[..3], &p[3..]]).map(Some)
                    } else {
                        tx.stage(&m, &[&p[..3], &p[3..]]).map(|()| None)
                    };
                    match r {
                        Ok(out) => {
                            prop_assert!(used + total < size);
                            used += total;
                            staged.push_back(p);
                            staged_bytes += total;
                            if let Some(out) = out {
                                prop_assert_eq!(out.signal, was_empty && !masked);
                                queue.extend(staged.drain(..));
                                staged_bytes = 0;
                            }
                        }
                        Err(RingError::Full { .. }) => prop_assert!(used + total >= size),
                        Err(RingError::BadPacketLength(_)) => prop_assert!(total >= size),
                        Err(e) => prop_assert!(false, "unexpected {:?}", e),
                    }
                }
                Op::Publish => {
                    let was_empty = used == staged_bytes;
                    let out = tx.publish(&m).unwrap();
                    prop_assert_eq!(out.signal, !staged.is_empty() && was_empty && !masked);
                    queue.extend(staged.drain(..));
                    staged_bytes = 0;
                }
                Op::Read => match rx.read_packet(&m, &mut buf).unwrap() {
                    Some(info) => {
                        let p = queue.pop_front().unwrap();
                        prop_assert_eq!(&buf[..info.len], &p[..]);
                        uncommitted += p.len() + 8;
                    }
                    None => prop_assert!(queue.is_empty()),
                },
                Op::Commit => {
                    let signal = rx.commit(&m).unwrap();
                    prop_assert_eq!(signal, signals(used - staged_bytes, uncommitted, pending));
                    used -= uncommitted;
                    uncommitted = 0;
                }
                Op::Pending(n) => {
                    tx.set_pending_send_size(&m, n);
                    pending = n as usize;
                }
                Op::Finish => {
                    let end = rx.finish_batch(&m).unwrap();
                    prop_assert_eq!(end.signal, signals(used - staged_bytes, uncommitted, pending));
                    prop_assert_eq!(end.more, !queue.is_empty());
                    used -= uncommitted;
                    uncommitted = 0;
                    masked = false;
                }
                Op::Batch => {
                    if masked {
                        let more = rx.end_batch(&m).unwrap();
                        prop_assert_eq!(more, !queue.is_empty());
                    } else {
                        rx.begin_batch(&m);
                    }
                    masked = !masked;
                }
            }
            prop_assert_eq!(tx.free(&m).unwrap() as usize, size - used);
        }
    }

    /// Whatever the peer writes into the words and bytes it controls, no
    /// call panics or loops, reads never exceed the buffer, and a corrupt
    /// end stays corrupt.
    #[test]
    fn corruption_never_panics(
        size_words in 4usize..64,
        script in prop::collection::vec(
            (0u8..10, any::<u32>(), any::<u16>(), any::<u8>(), 0usize..40),
            1..200,
        ),
    ) {
        let size = size_words * 8;
        let r = Ring::new(size);
        let m = r.mem();
        init_control(&m, RING_FEATURE_PENDING_SEND_SIZE);
        let mut tx = RingProducer::new(&m).unwrap();
        let mut rx = RingConsumer::new(&m).unwrap();
        let mut buf = vec![0u8; 256];
        for (kind, v, pos, byte, words) in script {
            match kind {
                0 => m.store(ControlWord::WriteIndex, v),
                1 => m.store(ControlWord::ReadIndex, v),
                2 => m.store(ControlWord::PendingSendSize, v),
                3 => m.store(ControlWord::FeatureBits, v),
                4 => m.write(usize::from(pos) % size, &[byte]),
                5 if words % 2 == 0 => {
                    let _ = tx.write(&m, &[&packet(words, u64::from(v))]);
                }
                5 => {
                    let _ = tx.stage(&m, &[&packet(words, u64::from(v))]);
                }
                9 => {
                    let was_dead = tx.dead().is_some();
                    if tx.publish(&m).is_ok() {
                        prop_assert!(!was_dead);
                    }
                }
                6 => {
                    let was_dead = rx.dead().is_some();
                    match rx.read_packet(&m, &mut buf) {
                        Ok(Some(info)) => {
                            prop_assert!(!was_dead);
                            prop_assert!(info.len <= buf.len());
                            prop_assert!(info.len >= 16 && info.len % 8 == 0);
                        }
                        Ok(None) => prop_assert!(!was_dead),
                        Err(RingError::Corrupt(_)) => prop_assert!(rx.dead().is_some()),
                        Err(RingError::BufferTooSmall { needed }) => prop_assert!(needed > buf.len()),
                        Err(e) => prop_assert!(false, "unexpected {:?}", e),
                    }
                }
                7 => {
                    let _ = rx.commit(&m);
                }
                _ => {
                    rx.begin_batch(&m);
                    let was_dead = rx.dead().is_some();
                    match rx.finish_batch(&m) {
                        Ok(_) => prop_assert!(!was_dead),
                        Err(RingError::Corrupt(_)) => prop_assert!(rx.dead().is_some()),
                        Err(e) => prop_assert!(false, "unexpected {:?}", e),
                    }
                }
            }
        }
    }
}
