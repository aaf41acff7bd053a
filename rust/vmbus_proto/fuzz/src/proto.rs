// SPDX-License-Identifier: GPL-2.0

//! Targets for `vmbus_proto`'s parsers of the other side's input: channel
//! messages and SynIC messages (`decode`), rings (`ring`), the connection
//! and channel state machines (`state`), GPADLs (`gpadl`), packets
//! (`packet`), IC messages (`ic`) and the ivshmem mailbox layout
//! (`ivshmem`).

use std::cell::Cell;

use vmbus_proto::channel::{ChannelEvent, ChannelState, OpenParams};
use vmbus_proto::connection::{ConnectionEvent, ConnectionState};
use vmbus_proto::gpadl::{
    pages_spanned, parse_ranges, GpadlAssembly, GpadlEvent, GpadlMessages, GpadlState,
};
use vmbus_proto::ic::{self, ICMSG_HDR_SIZE, RESPONSE_FLAGS};
use vmbus_proto::ivshmem::{self, mailbox, Header, Request};
use vmbus_proto::message::{GuestMessage, HostMessage};
use vmbus_proto::packet::{self, PacketKind};
use vmbus_proto::ring::{
    init_control, CellRingMem, ControlWord, RingConsumer, RingMem, RingProducer,
};
use vmbus_proto::types::{GpadlId, Relid};
use vmbus_proto::version::ContactConfig;
use vmbus_proto::wire::channel_msg::{GpaRange, MessageType};
use vmbus_proto::wire::ic::{
    HeartbeatMsgData, IcTimesyncData, IcTimesyncRefData, IcVersion, ShutdownMsgData,
};
use vmbus_proto::wire::packet::RING_FEATURE_PENDING_SEND_SIZE;
use vmbus_proto::wire::synic::{HvInputPostMessage, HvMessage};
use vmbus_proto::wire::{Wire, HV_PAGE_SIZE};

use crate::script::Script;

/// Decodes the input as every kind of message and packet; whatever decodes
/// must re-encode to the same value.
pub fn decode(data: &[u8]) {
    let _ = HvMessage::decode_channel(data);
    let _ = HvInputPostMessage::decode(data);
    if let Ok(m) = HostMessage::decode(data) {
        assert_eq!(HostMessage::decode(m.encode().as_bytes()), Ok(m));
    }
    if let Ok(m) = GuestMessage::decode(data) {
        assert_eq!(GuestMessage::decode(m.encode().as_bytes()), Ok(m));
        if let GuestMessage::GpadlHeader {
            relid,
            gpadl,
            range_buflen,
            rangecount,
            data,
        } = m
        {
            if let Ok((a, words)) =
                GpadlAssembly::start(relid, gpadl, range_buflen, rangecount, data.as_slice())
            {
                if a.is_complete() {
                    let _ = parse_ranges(words, usize::from(rangecount)).map(|r| r.count());
                }
            }
        }
    }
    if let Ok(p) = packet::parse(data) {
        assert!(p.payload.len() <= data.len());
        if let packet::PacketKind::GpaDirect(r) = p.kind {
            for range in r.iter() {
                let _ = range.pfns().count();
            }
        }
    }
}

/// Uses the input as a script of peer writes (indices, control words, data
/// bytes) interleaved with our reads and writes on a small ring.
pub fn ring(data: &[u8]) {
    let Some((&sz, script)) = data.split_first() else {
        return;
    };
    let size = (usize::from(sz % 64) + 4) * 8;
    let control: Vec<Cell<u8>> = (0..4096).map(|_| Cell::new(0)).collect();
    let ring: Vec<Cell<u8>> = (0..size).map(|_| Cell::new(0)).collect();
    let m = CellRingMem::new(&control, &ring);
    init_control(&m, RING_FEATURE_PENDING_SEND_SIZE);
    let (Ok(mut tx), Ok(mut rx)) = (RingProducer::new(&m), RingConsumer::new(&m)) else {
        return;
    };
    let mut buf = [0u8; 512];
    for c in script.chunks(5) {
        let op = c.first().copied().unwrap_or(0);
        let mut v = [0u8; 4];
        for (d, s) in v.iter_mut().zip(c.iter().skip(1)) {
            *d = *s;
        }
        let v = u32::from_le_bytes(v);
        match op % 9 {
            0 => m.store(ControlWord::WriteIndex, v),
            1 => m.store(ControlWord::ReadIndex, v),
            2 => m.store(ControlWord::PendingSendSize, v),
            3 => m.store(ControlWord::FeatureBits, v),
            4 => m.write(v as usize % size, &[(v >> 24) as u8]),
            5 => {
                let len = ((v as usize % 32) + 2) * 8;
                let mut p = vec![0u8; len];
                let _ = packet::encode_inband(
                    &mut p,
                    vmbus_proto::wire::packet::PacketType::DATA_INBAND,
                    0,
                    u64::from(v),
                    &vec![op; len - 16],
                );
                let _ = tx.write(&m, &[&p]);
            }
            6 => {
                if let Ok(Some(info)) = rx.read_packet(&m, &mut buf) {
                    assert!(info.len <= buf.len());
                    let _ = packet::parse(&buf[..info.len]);
                }
            }
            7 => {
                let _ = rx.commit(&m);
            }
            _ => {
                rx.begin_batch(&m);
                let _ = rx.end_batch(&m);
            }
        }
    }
}

/// Feeds the connection and channel state machines with host messages cut
/// from the input, interleaved with guest events chosen by the input.
pub fn state(data: &[u8]) {
    let mut conn = ConnectionState::Disconnected;
    if let Ok((s, _)) = conn.on_event(ConnectionEvent::Connect(ContactConfig::default())) {
        conn = s;
    }
    let Some(relid) = Relid::new(5) else { return };
    let Some(gpadl) = GpadlId::new(7) else { return };
    let mut chan = ChannelState::offered(&vmbus_proto::channel::tests_support::offer(relid));
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        let (msg, tail) = tail.split_at(n);
        rest = tail;
        let sel = n % 15;
        let cev = match sel {
            0 => Some(ConnectionEvent::RequestOffers),
            1 => Some(ConnectionEvent::Unload),
            2 => Some(ConnectionEvent::Suspend),
            3 => Some(ConnectionEvent::Resume(ContactConfig::default())),
            4 => Some(ConnectionEvent::Timeout),
            5 => Some(ConnectionEvent::PostFailed {
                invalid_connection_id: n % 2 == 0,
            }),
            _ => None,
        };
        if let Some(ev) = cev {
            if let Ok((s, _)) = conn.on_event(ev) {
                conn = s;
            }
        }
        let chev = match sel {
            6 => Some(ChannelEvent::Open(OpenParams::new(1, gpadl, 0, 4))),
            7 => Some(ChannelEvent::Close),
            8 => Some(ChannelEvent::Release),
            9 => Some(ChannelEvent::Suspend),
            10 => Some(ChannelEvent::Modify {
                target_vp: 2,
                await_response: true,
            }),
            11 => Some(ChannelEvent::ModifyAbandoned),
            12 => Some(ChannelEvent::GpadlNotSent),
            13 => Some(ChannelEvent::PostFailed(MessageType(u32::from(
                msg.first().copied().unwrap_or(0) % 25,
            )))),
            14 => Some(ChannelEvent::DriverKeeps),
            _ => None,
        };
        if let Some(ev) = chev {
            if let Ok((s, _)) = chan.on_event(ev) {
                chan = s;
            }
        }
        if let Ok(m) = HostMessage::decode(msg) {
            if let Ok((s, _)) = conn.on_event(ConnectionEvent::Host(m)) {
                conn = s;
            }
            if let HostMessage::Offer(o) = m {
                if let Ok((s, _)) = chan.on_event(ChannelEvent::Reoffer(o)) {
                    chan = s;
                }
            }
            if let Ok((s, _)) = chan.on_event(ChannelEvent::Host(m)) {
                chan = s;
            }
        }
    }
}

/// Checks what [`parse_ranges`] accepted: every range is as long as its
/// byte count says and together they use every word.
fn check_ranges(words: &[u64], count: usize) {
    let Ok(ranges) = parse_ranges(words, count) else {
        return;
    };
    let mut used = 0;
    let mut n = 0;
    for r in ranges {
        assert!(r.byte_count > 0 && (r.byte_offset as usize) < HV_PAGE_SIZE);
        assert_eq!(
            pages_spanned(r.byte_offset, r.byte_count),
            Some(r.pfns.len())
        );
        used += 1 + r.pfns.len();
        n += 1;
    }
    assert_eq!((n, used), (count, words.len()));
}

/// GPADLs on both sides. The input is a script of operations:
///
/// - `0 LEN MSG`: a guest message as the host receives it; a
///   `GPADL_HEADER` starts an assembly, a `GPADL_BODY` adds to it, and a
///   complete one is split into ranges;
/// - `1 BASE:u32 STRIDE:u8 OFFSET:u16 COUNT:u32`: the guest's encoder
///   (`GpadlMessages`) for one range over the pages `BASE + i * STRIDE`;
///   what it sends must decode and reassemble to the same range;
/// - `2 LEN MSG EV`: the guest's GPADL state machine, with a host message
///   or an event;
/// - `3 COUNT LEN WORDS`: range data as it is, split into ranges.
pub fn gpadl(data: &[u8]) {
    let mut s = Script::new(data);
    let mut asm: Option<(GpadlAssembly, Vec<u64>)> = None;
    let relid = Relid::new(3);
    let gid = GpadlId::new(0x100);
    let (Some(relid), Some(gid)) = (relid, gid) else {
        return;
    };
    let mut state = GpadlState::Creating { relid, gpadl: gid };
    let mut ops = 0;
    while !s.is_empty() && ops < 256 {
        ops += 1;
        match s.u8() % 4 {
            0 => match GuestMessage::decode(s.chunk()) {
                Ok(GuestMessage::GpadlHeader {
                    relid,
                    gpadl,
                    range_buflen,
                    rangecount,
                    data,
                }) => {
                    asm = GpadlAssembly::start(
                        relid,
                        gpadl,
                        range_buflen,
                        rangecount,
                        data.as_slice(),
                    )
                    .ok()
                    .map(|(a, w)| (a, w.to_vec()));
                }
                Ok(GuestMessage::GpadlBody { gpadl, data, .. }) => {
                    if let Some((a, words)) = asm.as_mut() {
                        match a.add_body(gpadl, data.as_slice()) {
                            Ok(keep) => words.extend_from_slice(keep),
                            Err(_) => asm = None,
                        }
                    }
                }
                _ => {}
            },
            1 => {
                let base = u64::from(s.u32());
                let stride = u64::from(s.u8());
                let offset = u32::from(s.u16());
                let count = s.u32();
                let n = pages_spanned(offset, count).unwrap_or(0).min(600);
                let pfns: Vec<u64> = (0..n as u64).map(|i| base + i * stride).collect();
                let Ok(msgs) = GpadlMessages::with_range(relid, gid, offset, count, &pfns) else {
                    continue;
                };
                let expect = msgs.message_count();
                let mut got: Option<(GpadlAssembly, Vec<u64>)> = None;
                let mut sent = 0;
                for m in msgs {
                    sent += 1;
                    let e = m.encode();
                    assert!(e.as_bytes().len() <= 240);
                    match GuestMessage::decode(e.as_bytes()) {
                        Ok(GuestMessage::GpadlHeader {
                            relid,
                            gpadl,
                            range_buflen,
                            rangecount,
                            data,
                        }) => {
                            let (a, w) = GpadlAssembly::start(
                                relid,
                                gpadl,
                                range_buflen,
                                rangecount,
                                data.as_slice(),
                            )
                            .expect("our own header starts an assembly");
                            got = Some((a, w.to_vec()));
                        }
                        Ok(GuestMessage::GpadlBody { gpadl, data, .. }) => {
                            let (a, w) = got.as_mut().expect("a body after the header");
                            let keep = a.add_body(gpadl, data.as_slice()).expect("our own body");
                            w.extend_from_slice(keep);
                        }
                        r => panic!("GpadlMessages sent {r:?}"),
                    }
                }
                assert_eq!(sent, expect);
                let (a, words) = got.expect("a header");
                assert!(a.is_complete());
                let mut ranges = parse_ranges(&words, usize::from(a.rangecount)).expect("ranges");
                let r = ranges.next().expect("one range");
                assert_eq!((r.byte_offset, r.byte_count), (offset, count));
                assert_eq!(r.pfns, &pfns[..]);
                assert!(ranges.next().is_none());
            }
            2 => {
                let msg = s.chunk();
                let ev = match HostMessage::decode(msg) {
                    Ok(HostMessage::GpadlCreated { status, .. }) => GpadlEvent::Created(status),
                    Ok(HostMessage::GpadlTorndown { .. }) => GpadlEvent::Torndown,
                    _ => match s.u8() % 2 {
                        0 => GpadlEvent::Teardown,
                        _ => GpadlEvent::Rescinded,
                    },
                };
                match state.on_event(ev) {
                    Ok((next, post)) => {
                        if let Some(m) = post {
                            assert_eq!(GuestMessage::decode(m.encode().as_bytes()), Ok(m));
                        }
                        state = next;
                    }
                    Err(_) => {
                        if state == GpadlState::Released {
                            state = GpadlState::Creating { relid, gpadl: gid };
                        }
                    }
                }
            }
            _ => {
                let count = usize::from(s.u8());
                let words: Vec<u64> = s
                    .chunk()
                    .chunks(8)
                    .map(|c| {
                        let mut w = [0u8; 8];
                        w[..c.len()].copy_from_slice(c);
                        u64::from_le_bytes(w)
                    })
                    .collect();
                check_ranges(&words, count);
            }
        }
        if let Some((a, words)) = &asm {
            if a.is_complete() {
                check_ranges(words, usize::from(a.rangecount));
                asm = None;
            }
        }
    }
}

/// A packet as a ring delivers it: whatever parses re-encodes with the
/// crate's own encoders to the same packet.
pub fn packet(data: &[u8]) {
    let Ok(p) = packet::parse(data) else {
        return;
    };
    assert!(p.payload.len() <= data.len());
    assert_eq!(p.payload.len() % 8, 0);
    let mut buf = vec![0u8; data.len() + 64];
    match &p.kind {
        PacketKind::GpaDirect(r) => {
            let mut ranges: Vec<(GpaRange, Vec<u64>)> = Vec::new();
            for range in r.iter() {
                assert_eq!(
                    pages_spanned(range.byte_offset, range.byte_count),
                    Some(range.page_count())
                );
                let pfns: Vec<u64> = range.pfns().collect();
                assert_eq!(pfns.len(), range.page_count());
                ranges.push((
                    GpaRange {
                        byte_count: range.byte_count,
                        byte_offset: range.byte_offset,
                    },
                    pfns,
                ));
            }
            assert_eq!(ranges.len(), r.count() as usize);
            let refs: Vec<(GpaRange, &[u64])> =
                ranges.iter().map(|(g, p)| (*g, p.as_slice())).collect();
            let n = packet::encode_gpa_direct(
                &mut buf,
                p.desc.flags,
                p.desc.trans_id,
                &refs,
                p.payload,
            )
            .expect("a parsed GPA-direct packet re-encodes");
            let q = packet::parse(&buf[..n]).expect("our own packet parses");
            assert_eq!((q.payload, q.desc.trans_id), (p.payload, p.desc.trans_id));
            let PacketKind::GpaDirect(qr) = q.kind else {
                panic!("GPA-direct re-encoded as {:?}", q.kind);
            };
            assert!(qr
                .iter()
                .map(|x| (x.byte_count, x.byte_offset, x.pfns().collect::<Vec<_>>()))
                .eq(ranges
                    .iter()
                    .map(|(g, p)| (g.byte_count, g.byte_offset, p.clone()))));
        }
        PacketKind::TransferPages { ranges, .. } => {
            assert_eq!(ranges.iter().count(), ranges.len());
            assert_eq!(ranges.is_empty(), ranges.iter().next().is_none());
        }
        PacketKind::Inband | PacketKind::Completion | PacketKind::Other(_) => {
            let n = packet::encode_inband(
                &mut buf,
                p.desc.ptype,
                p.desc.flags,
                p.desc.trans_id,
                p.payload,
            )
            .expect("a parsed packet re-encodes");
            let q = packet::parse(&buf[..n]).expect("our own packet parses");
            assert_eq!(
                (q.desc.ptype, q.desc.flags, q.desc.trans_id, q.payload),
                (p.desc.ptype, p.desc.flags, p.desc.trans_id, p.payload)
            );
        }
    }
}

/// Version sets a guest or host may support.
const IC_SETS: [&[IcVersion]; 4] = [
    &[IcVersion::new(1, 0), IcVersion::new(3, 0)],
    &[IcVersion::new(3, 0)],
    &[
        IcVersion::new(1, 0),
        IcVersion::new(3, 0),
        IcVersion::new(4, 0),
    ],
    &[],
];

/// IC messages: the host reads the guest's answers (`parse`,
/// `parse_negotiate_response`), the guest reads the host's requests
/// (`parse_negotiate`, `answer_negotiate`, `make_response`) and the
/// bodies of heartbeat, shutdown and time sync. The first byte chooses
/// the version sets; the rest is the message.
pub fn ic(data: &[u8]) {
    let Some((&sel, msg)) = data.split_first() else {
        return;
    };
    if let Ok(m) = ic::parse(msg) {
        assert_eq!(m.body.len() + ICMSG_HDR_SIZE, msg.len());
        let _ = HeartbeatMsgData::read_from(m.body);
        let _ = ShutdownMsgData::read_from(m.body);
        let _ = IcTimesyncData::read_from(m.body);
        let _ = IcTimesyncRefData::read_from(m.body);
    }
    let _ = ic::parse_negotiate_response(msg);
    let frame = IC_SETS[usize::from(sel % 4)];
    let msgv = IC_SETS[usize::from(sel / 4 % 4)];
    if let Ok(n) = ic::parse_negotiate(msg) {
        assert_eq!(n.frame.iter().count(), n.frame.len());
        assert_eq!(n.msg.iter().count(), n.msg.len());
        let mut out = vec![0u8; msg.len() + 64];
        let (len, chosen) =
            ic::answer_negotiate(msg, &mut out, frame, msgv).expect("a parsed request is answered");
        assert!(len >= msg.len());
        if let Some((f, m)) = chosen {
            assert!(frame.contains(&f) && msgv.contains(&m));
            assert!(n.frame.iter().any(|v| v == f) && n.msg.iter().any(|v| v == m));
        }
        let a = &out[..len];
        assert_eq!(ic::parse_negotiate_response(a), Ok(chosen));
        let h = ic::parse(a).expect("our answer parses").hdr;
        assert_eq!(h.icflags, RESPONSE_FLAGS);
    }
    let mut copy = msg.to_vec();
    let status = u32::from(sel) << 24;
    if ic::make_response(&mut copy, status).is_ok() {
        let (a, b) = (ic::parse(&copy), ic::parse(msg));
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("make_response accepted what parse refuses");
        };
        assert_eq!((a.hdr.status, a.hdr.icflags), (status, RESPONSE_FLAGS));
        assert_eq!((a.body, a.hdr.icmsgtype), (b.body, b.hdr.icmsgtype));
    }
}

/// The ivshmem mailbox layout: a mailbox as the host copies it
/// (`Request::decode`) and the header as the guest reads it
/// (`Header::decode`, with the BAR size from the first 8 bytes and the
/// header from the rest); whatever decodes re-encodes to the same value.
pub fn ivshmem(data: &[u8]) {
    if let Ok(r) = Request::decode(data) {
        let mut b = vec![0u8; mailbox::USED];
        r.encode(&mut b).expect("a decoded request encodes");
        assert_eq!(Request::decode(&b), Ok(r));
    }
    let mut s = Script::new(data);
    let bar = s.u64();
    let rest = data.get(8..).unwrap_or(&[]);
    if let Ok(h) = Header::decode(rest, bar) {
        assert!(u64::from(h.shm_size) <= bar);
        let end = ivshmem::mailbox_offset(h.num_mailboxes).expect("checked by decode");
        assert!(end as u64 <= u64::from(h.shm_size));
        let mut b = vec![0u8; ivshmem::header::USED];
        h.encode(&mut b).expect("a decoded header encodes");
        assert_eq!(Header::decode(&b, bar), Ok(h));
    }
}
