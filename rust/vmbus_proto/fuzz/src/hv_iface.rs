// SPDX-License-Identifier: GPL-2.0

//! `hv-iface`: the packet paths of the hv_vmbus interface as Linux's
//! drivers drive them, with the host's side arbitrary: `vmbus_proto`'s
//! request-id table ([`vmbus_proto::rqstor`], behind
//! `vmbus_next_request_id()` and `vmbus_request_addr_match()`) and the
//! per-channel copy of received packets ([`vmbus_proto::rx_copy`], behind
//! `hv_pkt_iter_first()`, `__hv_pkt_iter_next()` and
//! `vmbus_recvpacket()`).
//!
//! The driver takes ids for its requests; the host answers with packets
//! of its choosing, whose transaction ids the driver looks up (netvsc and
//! storvsc look up every completion's id); the packets arrive through the
//! receiver's copy and parse ([`packet::parse`], as the core does) and
//! are read by iteration or by receive. A model of the table (which ids
//! are out, with which values) and of the held packet checks each answer.

use std::collections::{BTreeMap, VecDeque};

use vmbus_proto::packet::{self, encode_inband};
use vmbus_proto::rqstor::{bitmap_words, Requestor, RQST_ADDR_ANY, RQST_ERROR};
use vmbus_proto::rx_copy::{RxCursor, RxError, RxPacket};
use vmbus_proto::wire::packet::{PacketType, VmPacketDescriptor};
use vmbus_proto::wire::Wire;

use crate::script::{Script, ScriptWriter};

/// The most operations one input runs.
const MAX_OPS: usize = 1024;

/// The largest table (a table of more than one bitmap word is reached).
pub const MAX_SLOTS: usize = 130;

/// The channel as a driver sees it through the interface.
pub struct Iface {
    slots: Vec<u64>,
    bits: Vec<u64>,
    next: u64,
    /// The ids out and their values (the model).
    out: BTreeMap<u64, u64>,
    /// Packets the host wrote that were not yet copied.
    ring: VecDeque<Vec<u8>>,
    /// The receiver's copy and the packet held in it.
    copy: Vec<u8>,
    cur: RxCursor,
    /// The trans_id of the held packet, as the model knows it.
    held: Option<u64>,
    /// Counters, for the seeds' test.
    pub stats: IfaceStats,
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfaceStats {
    /// Ids the driver took.
    pub ids: u64,
    /// Host ids that named a request.
    pub matched: u64,
    /// Host ids refused.
    pub refused: u64,
    /// Packets handed to the driver (iteration or receive).
    pub delivered: u64,
    /// Packets the receiver refused.
    pub bad_packets: u64,
    /// Receives into a buffer too short.
    pub too_small: u64,
}

impl Iface {
    /// A channel opened with a table of `size` slots.
    pub fn new(size: usize) -> Self {
        let mut t = Self {
            slots: vec![0; size],
            bits: vec![0; bitmap_words(size)],
            next: 0,
            out: BTreeMap::new(),
            ring: VecDeque::new(),
            copy: vec![0; 4096],
            cur: RxCursor::new(),
            held: None,
            stats: IfaceStats::default(),
        };
        t.table().reset();
        t
    }

    fn table(&mut self) -> Requestor<'_> {
        Requestor::new(&mut self.slots, &mut self.bits, &mut self.next)
            .expect("the bitmap fits the table")
    }

    /// Checks the table against the model.
    fn check_table(&mut self) {
        let ids: Vec<u64> = self.out.keys().copied().collect();
        let n = self.out.len();
        let t = self.table();
        assert_eq!(t.outstanding(), n, "slots in use");
        for id in ids {
            assert!(t.in_use(id as usize - 1), "id {id} out but its slot free");
        }
    }

    /// `vmbus_next_request_id()`.
    pub fn take_id(&mut self, value: u64) -> u64 {
        let size = self.slots.len();
        let id = self.table().next_id(value);
        if self.out.len() == size {
            assert_eq!(id, RQST_ERROR, "an id from a full table");
        } else {
            assert!(id >= 1 && id <= size as u64, "id {id} of {size} slots");
            assert!(self.out.insert(id, value).is_none(), "id {id} given twice");
            self.stats.ids += 1;
        }
        id
    }

    /// `vmbus_request_addr_match()` of an id from the host.
    pub fn host_id(&mut self, id: u64, want: u64) -> u64 {
        let v = self.table().addr_match(id, want);
        match self.out.get(&id).copied() {
            None => {
                assert_eq!(v, RQST_ERROR, "host id {id} matched no request");
                self.stats.refused += 1;
            }
            Some(value) => {
                assert_eq!(v, value, "host id {id}");
                if want == RQST_ADDR_ANY || want == value {
                    self.out.remove(&id);
                }
                self.stats.matched += 1;
            }
        }
        v
    }

    /// The receiver: copies the next packet the host wrote and parses it,
    /// as the core does; a packet that does not parse is dropped (the
    /// core's `EIO`). True when a packet is held after.
    fn hold_next(&mut self) -> bool {
        while !self.cur.is_holding() {
            let Some(raw) = self.ring.pop_front() else {
                return false;
            };
            if raw.len() > self.copy.len() {
                self.copy.resize(raw.len().next_power_of_two(), 0);
            }
            self.copy[..raw.len()].copy_from_slice(&raw);
            let Ok(p) = packet::parse(&self.copy[..raw.len()]) else {
                self.stats.bad_packets += 1;
                continue;
            };
            let total = usize::from(p.desc.len8) * 8;
            assert!(total <= raw.len());
            let rx = RxPacket::of(&p, total);
            self.cur.hold(rx);
            self.held = Some(rx.trans_id);
        }
        true
    }

    /// What the driver reads through the pointer it got, as the inline
    /// helpers of `<linux/hyperv.h>` do: the descriptor again, then
    /// `hv_pkt_data()` and `hv_pkt_datalen()`.
    fn driver_reads(&mut self, total: usize) {
        let rx = *self.cur.held().expect("a packet is held");
        let d = VmPacketDescriptor::read_from(&self.copy).expect("a descriptor");
        assert_eq!(usize::from(d.len8) * 8, total);
        assert!(total <= self.copy.len());
        let off = usize::from(d.offset8) * 8;
        assert!(off <= total, "hv_pkt_data() past the packet");
        assert_eq!(off, rx.offset);
        assert_eq!(total - off, rx.len, "hv_pkt_datalen()");
        assert_eq!(Some(d.trans_id), self.held);
        self.stats.delivered += 1;
        if rx.ptype == PacketType::COMP {
            // netvsc and storvsc look up every completion's id.
            self.host_id(d.trans_id, RQST_ADDR_ANY);
        }
    }

    /// `hv_pkt_iter_first()`.
    pub fn first(&mut self) {
        let before = self.held;
        if !self.hold_next() {
            assert!(!self.cur.is_holding());
            return;
        }
        if before.is_some() {
            assert_eq!(self.held, before, "first returns the held packet again");
        }
        let total = self
            .cur
            .desc(&self.copy)
            .expect("a packet the receiver parsed passes the check")
            .expect("a packet is held");
        self.driver_reads(total);
    }

    /// `__hv_pkt_iter_next()`, with the driver's pointer naming the held
    /// packet or not.
    pub fn next(&mut self, is_current: bool) {
        let was = self.cur;
        match self.cur.advance(is_current) {
            Err(e) => {
                assert_eq!(e, RxError::NotCurrent);
                assert!(!is_current || !was.is_holding());
                // Its ring space is released: kept, it would hide from
                // `hv_end_read()`.
                assert!(
                    !self.cur.is_holding(),
                    "a refused next drops the held packet"
                );
                self.held = None;
            }
            Ok(()) => {
                assert!(is_current && was.is_holding());
                assert!(!self.cur.is_holding());
                self.held = None;
                self.first();
            }
        }
    }

    /// `vmbus_recvpacket()` (`raw`: `vmbus_recvpacket_raw()`) into a
    /// buffer of `cap` bytes.
    pub fn recv(&mut self, raw: bool, cap: usize) {
        if !self.hold_next() {
            return;
        }
        let rx = *self.cur.held().expect("held");
        let total = rx.offset + rx.len;
        match self.cur.take(&self.copy, raw, cap) {
            Ok(Some(d)) => {
                let want = if raw { (0, total) } else { (rx.offset, rx.len) };
                assert_eq!((d.start, d.len), want);
                assert!(d.len <= cap && d.start + d.len <= self.copy.len());
                assert_eq!(d.trans_id, rx.trans_id);
                assert!(!self.cur.is_holding());
                self.held = None;
                self.stats.delivered += 1;
                if rx.ptype == PacketType::COMP {
                    self.host_id(rx.trans_id, RQST_ADDR_ANY);
                }
            }
            Err(RxError::TooSmall { len, trans_id }) => {
                assert_eq!(len, if raw { total } else { rx.len });
                assert!(len > cap);
                assert_eq!(trans_id, rx.trans_id);
                assert!(self.cur.is_holding(), "kept for the next receive");
                self.stats.too_small += 1;
            }
            r => panic!("receive of a parsed packet: {r:?}"),
        }
    }

    /// `vmbus_close()` then `vmbus_open()`: a new table, nothing held.
    pub fn reopen(&mut self) {
        self.cur.clear();
        self.held = None;
        self.ring.clear();
        self.out.clear();
        self.table().reset();
    }
}

/// Checks the cursor's check over an arbitrary record and copy: whatever
/// it accepts keeps the driver's reads inside the copy.
fn arbitrary_record(offset: usize, len: usize, copy: &[u8]) {
    let mut c = RxCursor::new();
    c.hold(RxPacket {
        ptype: PacketType::DATA_INBAND,
        offset,
        len,
        trans_id: 0,
    });
    match c.desc(copy) {
        Ok(Some(total)) => {
            let d = VmPacketDescriptor::read_from(copy).expect("a descriptor");
            assert!(total <= copy.len());
            assert_eq!(usize::from(d.len8) * 8, total);
            assert!(usize::from(d.offset8) <= usize::from(d.len8));
            assert_eq!(usize::from(d.offset8) * 8, offset);
            assert!(c.is_holding());
        }
        Ok(None) => panic!("nothing held"),
        Err(e) => {
            assert_eq!(e, RxError::Broken);
            assert!(!c.is_holding(), "a broken packet is dropped");
        }
    }
}

/// An operation of the `hv-iface` script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfaceOp<'a> {
    /// `0 VALUE:u64`: the driver takes an id.
    TakeId(u64),
    /// `1 ID:u64 ALT`: the host names an id (`ALT`: the driver expects
    /// another value, as storvsc's `VMBUS_RQST_INIT` lookups).
    HostId {
        /// The host's id.
        id: u64,
        /// The value the driver expects is the id's own plus one.
        other: bool,
    },
    /// `2 PICK`: the host answers an id that is out (picked by index).
    Answer(u8),
    /// `3 LEN:u16 BYTES`: the host writes a packet, as it is.
    Packet(&'a [u8]),
    /// `4 TYPE ID:u64 LEN BYTES`: the host writes a well-formed in-band
    /// packet (a completion when `TYPE` is odd) with id `ID`.
    Inband {
        /// Completion or data.
        comp: bool,
        /// Its transaction id.
        id: u64,
        /// Its payload.
        payload: &'a [u8],
    },
    /// `5`: `hv_pkt_iter_first()`.
    First,
    /// `6 CUR`: `__hv_pkt_iter_next()`, with the driver's pointer the
    /// current packet's when `CUR` is odd.
    Next(bool),
    /// `7 RAW CAP:u16`: a receive into a buffer of `CAP` bytes.
    Recv {
        /// `vmbus_recvpacket_raw()`.
        raw: bool,
        /// The buffer's size.
        cap: u16,
    },
    /// `8`: close and open again.
    Reopen,
    /// `9 OFF:u32 LEN:u32 BYTES`: an arbitrary record over an arbitrary
    /// copy.
    Record {
        /// The record's payload offset.
        offset: u32,
        /// Its payload length.
        len: u32,
        /// The copy.
        copy: &'a [u8],
    },
}

impl<'a> IfaceOp<'a> {
    /// Reads the next operation.
    pub fn read(s: &mut Script<'a>) -> Self {
        match s.u8() % 10 {
            0 => IfaceOp::TakeId(s.u64()),
            1 => IfaceOp::HostId {
                id: s.u64(),
                other: s.u8() & 1 != 0,
            },
            2 => IfaceOp::Answer(s.u8()),
            3 => IfaceOp::Packet(s.chunk16()),
            4 => IfaceOp::Inband {
                comp: s.u8() & 1 != 0,
                id: s.u64(),
                payload: s.chunk(),
            },
            5 => IfaceOp::First,
            6 => IfaceOp::Next(s.u8() & 1 != 0),
            7 => IfaceOp::Recv {
                raw: s.u8() & 1 != 0,
                cap: s.u16(),
            },
            8 => IfaceOp::Reopen,
            _ => IfaceOp::Record {
                offset: s.u32(),
                len: s.u32(),
                copy: s.chunk16(),
            },
        }
    }

    /// Writes the operation.
    pub fn write(&self, w: &mut ScriptWriter) {
        match *self {
            IfaceOp::TakeId(v) => {
                w.u8(0).u64(v);
            }
            IfaceOp::HostId { id, other } => {
                w.u8(1).u64(id).u8(u8::from(other));
            }
            IfaceOp::Answer(i) => {
                w.u8(2).u8(i);
            }
            IfaceOp::Packet(p) => {
                w.u8(3).chunk16(p);
            }
            IfaceOp::Inband { comp, id, payload } => {
                w.u8(4).u8(u8::from(comp)).u64(id).chunk(payload);
            }
            IfaceOp::First => {
                w.u8(5);
            }
            IfaceOp::Next(c) => {
                w.u8(6).u8(u8::from(c));
            }
            IfaceOp::Recv { raw, cap } => {
                w.u8(7).u8(u8::from(raw)).u16(cap);
            }
            IfaceOp::Reopen => {
                w.u8(8);
            }
            IfaceOp::Record { offset, len, copy } => {
                w.u8(9).u32(offset).u32(len).chunk16(copy);
            }
        }
    }
}

impl Iface {
    /// Carries out one operation.
    pub fn apply(&mut self, op: &IfaceOp<'_>) {
        match *op {
            IfaceOp::TakeId(v) => {
                self.take_id(v);
            }
            IfaceOp::HostId { id, other } => {
                let want = match (other, self.out.get(&id)) {
                    (true, Some(v)) => v.wrapping_add(1),
                    _ => RQST_ADDR_ANY,
                };
                self.host_id(id, want);
            }
            IfaceOp::Answer(i) => {
                if !self.out.is_empty() {
                    let id = *self
                        .out
                        .keys()
                        .nth(usize::from(i) % self.out.len())
                        .expect("an id");
                    self.host_id(id, RQST_ADDR_ANY);
                }
            }
            IfaceOp::Packet(p) => self.ring.push_back(p.to_vec()),
            IfaceOp::Inband { comp, id, payload } => {
                let t = if comp {
                    PacketType::COMP
                } else {
                    PacketType::DATA_INBAND
                };
                let mut p = vec![0u8; payload.len() + 24];
                if let Ok(n) = encode_inband(&mut p, t, 0, id, payload) {
                    p.truncate(n);
                    self.ring.push_back(p);
                }
            }
            IfaceOp::First => self.first(),
            IfaceOp::Next(c) => self.next(c),
            IfaceOp::Recv { raw, cap } => self.recv(raw, usize::from(cap)),
            IfaceOp::Reopen => self.reopen(),
            IfaceOp::Record { offset, len, copy } => {
                arbitrary_record(offset as usize, len as usize, copy)
            }
        }
        self.check_table();
    }
}

/// Runs an `hv-iface` script: the first byte is the table's size (at most
/// [`MAX_SLOTS`]), the rest [`IfaceOp`]s.
pub fn run_hv_iface(data: &[u8]) -> IfaceStats {
    let mut s = Script::new(data);
    let size = usize::from(s.u8()) % (MAX_SLOTS + 1);
    let mut f = Iface::new(size);
    let mut ops = 0;
    while !s.is_empty() && ops < MAX_OPS {
        ops += 1;
        let op = IfaceOp::read(&mut s);
        f.apply(&op);
    }
    f.stats
}

/// `hv-iface`: see the module's documentation.
pub fn hv_iface(data: &[u8]) {
    run_hv_iface(data);
}

/// A seed script under construction: each operation is written and run
/// on the model as it goes, so the seed's ids are the ones the table
/// gives.
struct SeedWriter {
    w: ScriptWriter,
    f: Iface,
}

impl SeedWriter {
    /// A script for a table of `size` slots.
    fn new(size: u8) -> Self {
        let mut w = ScriptWriter::new();
        w.u8(size);
        Self {
            w,
            f: Iface::new(usize::from(size)),
        }
    }

    /// Writes and runs `o`.
    fn op(&mut self, o: IfaceOp<'_>) -> &mut Self {
        o.write(&mut self.w);
        self.f.apply(&o);
        self
    }

    /// Writes and runs `vmbus_next_request_id(value)`; the id it gave.
    fn take_id(&mut self, value: u64) -> u64 {
        IfaceOp::TakeId(value).write(&mut self.w);
        let id = self.f.take_id(value);
        self.f.check_table();
        id
    }

    /// The host writes a completion with `id` and `payload`.
    fn completion(&mut self, id: u64, payload: &[u8]) -> &mut Self {
        self.op(IfaceOp::Inband {
            comp: true,
            id,
            payload,
        })
    }

    /// The host answers `id`; with `other`, the driver expects another
    /// value.
    fn host_id(&mut self, id: u64, other: bool) -> &mut Self {
        self.op(IfaceOp::HostId { id, other })
    }

    /// A receive into a buffer of `cap` bytes.
    fn recv(&mut self, raw: bool, cap: u16) -> &mut Self {
        self.op(IfaceOp::Recv { raw, cap })
    }

    /// An arbitrary record over `copy`.
    fn record(&mut self, offset: u32, len: u32, copy: &[u8]) -> &mut Self {
        self.op(IfaceOp::Record { offset, len, copy })
    }

    /// The script.
    fn finish(&mut self) -> Vec<u8> {
        self.w.finish()
    }
}

/// The `hv-iface` seeds: the packet flow of a storvsc-like and a
/// netvsc-like channel, and a host that answers ids it never got.
pub fn seeds(out: &mut Vec<(&'static str, String, Vec<u8>)>) {
    // storvsc: a table of the ring's requests, completions for each id,
    // read by iteration (a misused next drops one unread); one lookup
    // expecting another value (an initialisation packet's id).
    let mut s = SeedWriter::new(3);
    let ids: Vec<u64> = [
        0xffff_8880_0001_0000u64,
        0xffff_8880_0001_0200,
        0xffff_8880_0001_0400,
    ]
    .into_iter()
    .map(|v| s.take_id(v))
    .collect();
    s.op(IfaceOp::TakeId(1));
    // A storvsc completion: vstor_packet of 0x34 bytes, COMPLETE_IO.
    let mut vstor = [0u8; 0x34];
    vstor[0] = 1;
    for &id in ids.iter().rev() {
        s.completion(id, &vstor);
    }
    s.op(IfaceOp::First)
        .op(IfaceOp::First)
        .op(IfaceOp::Next(true))
        .op(IfaceOp::Next(false))
        .op(IfaceOp::Next(true))
        .op(IfaceOp::Next(true))
        .host_id(0, false);
    let id = s.take_id(7);
    s.host_id(id, true).host_id(id, false).host_id(id, false);
    out.push(("hv-iface", "storvsc".into(), s.finish()));

    // netvsc: a larger table (two bitmap words), data packets and
    // completions read by receive, one into a buffer too short.
    let mut s = SeedWriter::new(70);
    for i in 0..66u64 {
        s.op(IfaceOp::TakeId(0x1000 + i));
    }
    s.op(IfaceOp::Answer(65));
    let mut nvsp = [0u8; 40];
    nvsp[0] = 0x6b; // NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE
    nvsp[4] = 1;
    for id in [66u64, 65, 64, 1] {
        s.completion(id, &nvsp);
    }
    s.op(IfaceOp::Inband {
        comp: false,
        id: 0,
        payload: b"an unsolicited data packet.",
    })
    .recv(false, 16)
    .recv(false, 40)
    .recv(true, 56)
    .recv(true, 56)
    .op(IfaceOp::First)
    .recv(false, 4096)
    .recv(false, 4096)
    .op(IfaceOp::Reopen)
    .op(IfaceOp::TakeId(5));
    out.push(("hv-iface", "netvsc".into(), s.finish()));

    // A hostile host: broken packets, ids beyond the table, a repeated
    // answer, a record over a copy it wrote.
    let mut s = SeedWriter::new(2);
    s.op(IfaceOp::TakeId(9));
    let mut bad = vec![0u8; 32];
    bad[0] = 0x0b; // VM_PKT_COMP
    bad[2] = 2; // offset8
    bad[4] = 9; // len8 beyond the packet
    s.op(IfaceOp::Packet(&bad));
    bad[4] = 4;
    bad[2] = 5; // offset8 beyond len8
    s.op(IfaceOp::Packet(&bad));
    bad[2] = 2;
    bad[8] = 1; // trans_id 1
    s.op(IfaceOp::Packet(&bad))
        .op(IfaceOp::Packet(&bad))
        .op(IfaceOp::First)
        .op(IfaceOp::Next(true))
        .host_id(3, false)
        .host_id(u64::MAX, false)
        .record(16, 16, &bad)
        .record(16, 8, &bad);
    out.push(("hv-iface", "hostile".into(), s.finish()));
}
