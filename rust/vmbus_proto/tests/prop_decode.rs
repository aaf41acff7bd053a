// SPDX-License-Identifier: GPL-2.0

//! Property tests of decoding: arbitrary bytes never panic, and whatever
//! decodes re-encodes to something that decodes to the same value. The
//! state machines are fed arbitrary decoded host messages.

use proptest::prelude::*;
use vmbus_proto::channel::{ChannelEvent, ChannelState, OpenParams};
use vmbus_proto::connection::{ConnectionEvent, ConnectionState};
use vmbus_proto::message::{GuestMessage, HostMessage};
use vmbus_proto::packet;
use vmbus_proto::types::{GpadlId, Relid};
use vmbus_proto::version::ContactConfig;
use vmbus_proto::wire::synic::{HvInputPostMessage, HvMessage};

/// A header with a plausible type and an arbitrary body.
fn message_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..260),
        (0u32..30, prop::collection::vec(any::<u8>(), 0..240)).prop_map(|(t, body)| {
            let mut v = t.to_le_bytes().to_vec();
            v.extend_from_slice(&[0; 4]);
            v.extend_from_slice(&body);
            v.truncate(240);
            v
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn host_decode_total(b in message_bytes()) {
        if let Ok(m) = HostMessage::decode(&b) {
            let e = m.encode();
            prop_assert_eq!(HostMessage::decode(e.as_bytes()), Ok(m));
        }
    }

    #[test]
    fn guest_decode_total(b in message_bytes()) {
        if let Ok(m) = GuestMessage::decode(&b) {
            let e = m.encode();
            prop_assert_eq!(GuestMessage::decode(e.as_bytes()), Ok(m));
        }
    }

    #[test]
    fn synic_and_packets_total(b in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = HvMessage::decode_channel(&b);
        let _ = HvInputPostMessage::decode(&b);
        if let Ok(p) = packet::parse(&b) {
            prop_assert!(p.payload.len() <= b.len());
            if let packet::PacketKind::GpaDirect(r) = p.kind {
                prop_assert_eq!(r.iter().count() as u32, r.count());
            }
        }
    }

    #[test]
    fn state_machines_total(msgs in prop::collection::vec(message_bytes(), 0..40), opens in any::<u8>()) {
        let mut conn = ConnectionState::Disconnected;
        if let Ok((s, _)) = conn.on_event(ConnectionEvent::Connect(ContactConfig::default())) {
            conn = s;
        }
        let relid = Relid::new(5).unwrap();
        let mut chan = ChannelState::offered(&vmbus_proto::channel::tests_support::offer(relid));
        for (i, b) in msgs.iter().enumerate() {
            let Ok(m) = HostMessage::decode(b) else { continue };
            if let Ok((s, _)) = conn.on_event(ConnectionEvent::Host(m)) {
                conn = s;
            }
            if let Ok((s, _)) = chan.on_event(ChannelEvent::Host(m)) {
                chan = s;
            }
            let ev = match (i + usize::from(opens)) % 7 {
                0 => ChannelEvent::Open(OpenParams::new(1, GpadlId::new(7).unwrap(), 0, 4)),
                1 => ChannelEvent::Close,
                2 => ChannelEvent::Release,
                3 => ChannelEvent::Suspend,
                4 => ChannelEvent::Modify {
                    target_vp: 1,
                    await_response: i % 2 == 0,
                },
                5 => ChannelEvent::DriverKeeps,
                _ => ChannelEvent::ModifyAbandoned,
            };
            if let Ok((s, _)) = chan.on_event(ev) {
                chan = s;
            }
        }
    }
}
