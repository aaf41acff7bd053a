// SPDX-License-Identifier: GPL-2.0

//! The synthetic keyboard as Linux's hyperv-keyboard drives it: a scripted
//! guest opens the keyboard channel, asks for protocol 1.0 with a
//! completion requested and gets an in-band response that accepts it;
//! `keyboard-type` then sends a make and a break per character; messages
//! the guest should not send are counted, and the host goes on.

mod common;

use common::guest::{Guest, GuestChannel};
use common::HostProc;
use vmbus_host::vmbus::offers::KBD_CLASS;
use vmbus_proto::packet::{encode_inband, parse};
use vmbus_proto::version::Version;
use vmbus_proto::wire::packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED};

/// Linux's protocol request: type 1, version 1.0.
const REQUEST: [u8; 8] = [1, 0, 0, 0, 0, 0, 1, 0];

/// Starts the host with a keyboard, connects and opens its channel.
fn open_keyboard() -> (HostProc, Guest, GuestChannel) {
    let h = HostProc::start(&["--device", "keyboard"]);
    let mut g = Guest::new(&h);
    let offers = g.connect(Version::V5_3);
    let o = offers
        .into_iter()
        .find(|o| o.if_type() == KBD_CLASS)
        .expect("no keyboard offer");
    let ch = g.open(o, 4);
    (h, g, ch)
}

/// The next host packet: checked to be in-band without a completion
/// request; its transaction id and payload.
fn recv_inband(g: &mut Guest, ch: &mut GuestChannel) -> (u64, Vec<u8>) {
    let raw = g.recv_packet(ch).unwrap();
    let pkt = parse(&raw).unwrap();
    assert_eq!(pkt.desc.ptype, PacketType::DATA_INBAND);
    assert_eq!(pkt.desc.flags, 0);
    (pkt.desc.trans_id, pkt.payload.to_vec())
}

/// Negotiates as hyperv-keyboard does; returns the stats prefix.
fn negotiate(h: &HostProc, g: &mut Guest, ch: &mut GuestChannel) -> String {
    g.send_inband(ch, PACKET_FLAG_COMPLETION_REQUESTED, 0x1234, &REQUEST);
    let (tid, p) = recv_inband(g, ch);
    assert_eq!(tid, 0x1234);
    // PROTOCOL_RESPONSE with PROTOCOL_ACCEPTED (the payload is padded to
    // eight bytes, which it already is).
    assert_eq!(p, [2, 0, 0, 0, 1, 0, 0, 0]);
    let prefix = format!("dev.{}.keyboard", ch.relid.get());
    assert_eq!(h.stat(&format!("{prefix}.protocol_ok")), 1);
    prefix
}

#[test]
fn protocol_request_answered() {
    let (h, mut g, mut ch) = open_keyboard();
    let prefix = negotiate(&h, &mut g, &mut ch);
    assert_eq!(h.stat(&format!("{prefix}.bad")), 0);
    let trace = std::fs::read_to_string(&h.trace).unwrap();
    assert!(
        trace.contains(&format!(" h2g {} KBD-PROTOCOL-ACCEPTED ", ch.relid.get())),
        "{trace}"
    );
}

#[test]
fn keyboard_type_sends_make_and_break() {
    let (h, mut g, mut ch) = open_keyboard();
    // Nothing is typed before the guest negotiated.
    let (code, _, _) = h.ctl(&["keyboard-type", "x"]);
    assert_ne!(code, 0);
    let prefix = negotiate(&h, &mut g, &mut ch);
    // Characters it cannot type are refused whole.
    let (code, _, _) = h.ctl(&["keyboard-type", "Hello"]);
    assert_ne!(code, 0);
    h.ctl_ok(&["keyboard-type", "hello"]);
    for code in [0x23u8, 0x12, 0x26, 0x26, 0x18] {
        for info in [0u8, 2] {
            let (_, p) = recv_inband(&mut g, &mut ch);
            // SYNTH_KBD_EVENT, make_code, reserved, info (IS_BREAK for the
            // break), padded to 16 bytes.
            assert_eq!(p.len(), 16);
            assert_eq!(p[..12], [3, 0, 0, 0, code, 0, 0, 0, info, 0, 0, 0]);
        }
    }
    assert_eq!(h.stat(&format!("{prefix}.keys_sent")), 5);
    // Two words are typed with the space between them; \n is Enter.
    h.ctl_ok(&["keyboard-type", "a", "1\\n"]);
    for code in [0x1eu8, 0x39, 0x02, 0x1c] {
        for info in [0u8, 2] {
            let (_, p) = recv_inband(&mut g, &mut ch);
            assert_eq!(p[..12], [3, 0, 0, 0, code, 0, 0, 0, info, 0, 0, 0]);
        }
    }
    assert_eq!(h.stat(&format!("{prefix}.keys_sent")), 9);
}

#[test]
fn bad_messages_counted() {
    let (h, mut g, mut ch) = open_keyboard();
    let prefix = format!("dev.{}.keyboard", ch.relid.get());
    // No message at all (packets carry whole 8-byte units, so an empty
    // payload is the only one shorter than a type), a host-only type, an
    // unknown type, and a completion, which the guest never sends.
    g.send_inband(&mut ch, 0, 1, &[]);
    g.send_inband(&mut ch, 0, 3, &[3, 0, 0, 0, 0x23, 0, 0, 0, 0, 0, 0, 0]);
    g.send_inband(&mut ch, 0, 4, &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    let mut b = [0u8; 32];
    let n = encode_inband(&mut b, PacketType::COMP, 0, 5, &REQUEST).unwrap();
    g.send_packet(&mut ch, &b[..n]).unwrap();
    h.wait_stat(&format!("{prefix}.bad"), 4);
    // An LED message is counted; a request for another version refused,
    // as is a request cut short (its padding reads as version 0).
    g.send_inband(&mut ch, 0, 5, &[4, 0, 0, 0, 2, 0, 0, 0]);
    h.wait_stat(&format!("{prefix}.leds"), 1);
    g.send_inband(&mut ch, 0, 6, &[1, 0, 0, 0, 0, 0, 2, 0]);
    g.send_inband(&mut ch, 0, 7, &[1, 0]);
    for tid in [6, 7] {
        assert_eq!(
            recv_inband(&mut g, &mut ch),
            (tid, vec![2, 0, 0, 0, 0, 0, 0, 0])
        );
    }
    assert_eq!(h.stat(&format!("{prefix}.protocol_refused")), 2);
    // Nothing is typed after a refusal.
    let (code, _, _) = h.ctl(&["keyboard-type", "x"]);
    assert_ne!(code, 0);
    // The host goes on: the right request is still accepted.
    negotiate(&h, &mut g, &mut ch);
    assert_eq!(h.stat(&format!("{prefix}.bad")), 4);
}
