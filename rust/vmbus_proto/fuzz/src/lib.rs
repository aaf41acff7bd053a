// SPDX-License-Identifier: GPL-2.0

//! Fuzz targets for vmbus_proto, usable from libFuzzer (`fuzz_targets/`)
//! and from the plain random-input runner (`src/bin/fuzz-plain.rs`).
//!
//! Each target takes arbitrary bytes and must neither panic nor loop.

use std::cell::Cell;

use vmbus_proto::channel::{ChannelEvent, ChannelState, OpenParams};
use vmbus_proto::connection::{ConnectionEvent, ConnectionState};
use vmbus_proto::gpadl::{parse_ranges, GpadlAssembly};
use vmbus_proto::message::{GuestMessage, HostMessage};
use vmbus_proto::packet;
use vmbus_proto::ring::{
    init_control, CellRingMem, ControlWord, RingConsumer, RingMem, RingProducer,
};
use vmbus_proto::types::{GpadlId, Relid};
use vmbus_proto::version::ContactConfig;
use vmbus_proto::wire::packet::RING_FEATURE_PENDING_SEND_SIZE;
use vmbus_proto::wire::synic::{HvInputPostMessage, HvMessage};

/// A fuzz target.
pub type Target = fn(&[u8]);

/// The targets by name.
pub const TARGETS: &[(&str, Target)] = &[("decode", decode), ("ring", ring), ("state", state)];

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
        let sel = n % 13;
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
