// SPDX-License-Identifier: GPL-2.0

//! One test per hostile mode: the scripted guest sees the misbehaviour on
//! the wire (in its message slot, its rings or its interrupts).

mod common;

use std::time::Duration;

use common::guest::Guest;
use common::{HostProc, VECTOR};
use vmbus_proto::ivshmem::HvStatus;
use vmbus_proto::message::{DecodeError, GuestMessage, HostMessage, Offer};
use vmbus_proto::ring::{Corruption, RingError};
use vmbus_proto::version::Version;
use vmbus_proto::wire::channel_msg::MessageType;

fn start(mode: &str) -> (HostProc, Guest) {
    let h = HostProc::start(&["--device", "echo", "--hostile", mode]);
    let g = Guest::new(&h);
    (h, g)
}

/// Contacts and asks for offers; returns the raw messages up to and with
/// the first `ALL_OFFERS_DELIVERED`.
fn offers_raw(g: &mut Guest) -> Vec<Vec<u8>> {
    assert_eq!(g.contact(Version::V5_3, 4), HvStatus::SUCCESS);
    assert!(g.version_reply().0);
    assert_eq!(g.post(4, &GuestMessage::RequestOffers), HvStatus::SUCCESS);
    let mut v = Vec::new();
    loop {
        let m = g.recv_raw();
        let done = HostMessage::decode(&m) == Ok(HostMessage::AllOffersDelivered);
        v.push(m);
        if done {
            return v;
        }
    }
}

fn offer(m: &[u8]) -> Offer {
    match HostMessage::decode(m) {
        Ok(HostMessage::Offer(o)) => o,
        r => panic!("{r:?}"),
    }
}

/// Opens the echo channel, sends one packet and returns what the guest's
/// ring reader makes of the answer.
fn echo_once(mode: &str) -> Result<Vec<u8>, RingError> {
    let (_h, mut g) = start(mode);
    let o = g.connect(Version::V5_3);
    let mut ch = g.open(o[0], 1);
    g.send_inband(&mut ch, 0, 1, b"0123456789abcdef");
    g.recv_packet(&mut ch)
}

#[test]
fn corrupt_ring_indices() {
    let r = echo_once("corrupt-ring-indices");
    assert_eq!(
        r,
        Err(RingError::Corrupt(Corruption::WriteIndex(4096 + 12)))
    );
}

#[test]
fn oversized_packet() {
    let r = echo_once("oversized-packet");
    assert!(
        matches!(r, Err(RingError::Corrupt(Corruption::Descriptor { len8, .. })) if len8 == 4096 / 8 + 16),
        "{r:?}"
    );
}

#[test]
fn truncated_packet() {
    assert_eq!(
        echo_once("truncated-packet"),
        Err(RingError::Corrupt(Corruption::Truncated(16)))
    );
}

#[test]
fn misaligned_packet() {
    let r = echo_once("misaligned-packet");
    assert!(
        matches!(
            r,
            Err(RingError::Corrupt(Corruption::Descriptor {
                offset8: 1,
                ..
            }))
        ),
        "{r:?}"
    );
}

#[test]
fn bogus_offer() {
    let (_h, mut g) = start("bogus-offer");
    let msgs = offers_raw(&mut g);
    assert_eq!(HostMessage::decode(&msgs[0]), Err(DecodeError::BadRelid(0)));
    assert_eq!(offer(&msgs[1]).relid.get(), 1);
}

#[test]
fn duplicate_relid() {
    let (_h, mut g) = start("duplicate-relid");
    let msgs = offers_raw(&mut g);
    let (a, b) = (offer(&msgs[0]), offer(&msgs[1]));
    assert_eq!(a.relid, b.relid);
    assert_ne!(a.if_instance(), b.if_instance());
}

#[test]
fn out_of_range_monitor_id() {
    let (_h, mut g) = start("out-of-range-monitor-id");
    let msgs = offers_raw(&mut g);
    assert_eq!(
        HostMessage::decode(&msgs[0]),
        Err(DecodeError::BadMonitorId(201))
    );
}

#[test]
fn unknown_message_type() {
    let (_h, mut g) = start("unknown-message-type");
    let msgs = offers_raw(&mut g);
    assert_eq!(
        HostMessage::decode(&msgs[0]),
        Err(DecodeError::UnknownType(MessageType(99)))
    );
    offer(&msgs[1]);
}

#[test]
fn wrong_message_size() {
    let (_h, mut g) = start("wrong-message-size");
    let msgs = offers_raw(&mut g);
    assert_eq!(msgs[0].len(), 64);
    assert!(matches!(
        HostMessage::decode(&msgs[0]),
        Err(DecodeError::TooShort { .. })
    ));
}

#[test]
fn message_flood() {
    let (h, mut g) = start("message-flood");
    let msgs = offers_raw(&mut g);
    // The flood came first: the first ALL_OFFERS_DELIVERED ends the
    // offers as the guest sees them, and the real offers follow the rest.
    assert_eq!(msgs.len(), 1);
    let mut n = 1;
    while g.try_recv_raw(Duration::from_millis(200)).is_some() {
        n += 1;
    }
    assert!(n >= 60, "{n}");
    assert!(h.ctl_ok(&["stats"]).contains("vmbus.post_failures="));
}

#[test]
fn interrupt_flood() {
    let (_h, mut g) = start("interrupt-flood");
    assert_eq!(g.contact(Version::V5_3, 4), HvStatus::SUCCESS);
    assert!(g.version_reply().0);
    let mut n = 0;
    while n < 500 {
        n += g.q.wait_irq(VECTOR);
    }
    // No event flag or message explains them.
    assert!(g.try_recv_raw(Duration::from_millis(50)).is_none());
}

#[test]
fn silent_then_switched_off() {
    let (h, mut g) = start("silent");
    assert_eq!(g.contact(Version::V5_3, 4), HvStatus::SUCCESS);
    assert!(g.try_recv_raw(Duration::from_millis(300)).is_none());
    assert!(h.ctl_ok(&["hostile", "list"]).contains("silent on"));
    h.ctl_ok(&["hostile", "silent", "off"]);
    assert_eq!(g.contact(Version::V5_3, 4), HvStatus::SUCCESS);
    assert!(g.version_reply().0);
}

#[test]
fn die_mid_handshake() {
    let (mut h, mut g) = start("die-mid-handshake");
    assert_eq!(g.contact(Version::V5_3, 4), HvStatus::SUCCESS);
    assert_eq!(h.wait_exit().code(), Some(3));
    assert!(
        g.version_reply().0,
        "the accepting VERSION_RESPONSE was posted first"
    );
}

#[test]
fn rescind_mid_open() {
    let (_h, mut g) = start("rescind-mid-open");
    let o = g.connect(Version::V5_3);
    let r = g.try_open(o[0], 1, 4).err().map(|b| *b);
    assert_eq!(r, Some(HostMessage::Rescind { relid: o[0].relid }));
}

#[test]
fn gpadl_fail() {
    let (_h, mut g) = start("gpadl-fail");
    let o = g.connect(Version::V5_3);
    let r = g.try_open(o[0], 1, 4).err().map(|b| *b);
    assert!(
        matches!(r, Some(HostMessage::GpadlCreated { status, .. }) if status != 0),
        "{r:?}"
    );
}

#[test]
fn open_fail_switched_on_at_run_time() {
    let h = HostProc::start(&["--device", "echo:2"]);
    let mut g = Guest::new(&h);
    let o = g.connect(Version::V5_3);
    g.open(o[0], 1);
    h.ctl_ok(&["hostile", "open-fail", "on"]);
    let r = g.try_open(o[1], 1, 4).err().map(|b| *b);
    assert!(
        matches!(r, Some(HostMessage::OpenResult { status, .. }) if status != 0),
        "{r:?}"
    );
    let (code, _, _) = h.ctl(&["hostile", "no-such-mode"]);
    assert_eq!(code, 1);
}

#[test]
fn rescind_on_close_still_tears_the_gpadl_down() {
    let (_h, mut g) = start("rescind-on-close");
    let o = g.connect(Version::V5_3);
    let relid = o[0].relid;
    g.open(o[0], 1);
    let close = GuestMessage::CloseChannel { relid };
    assert_eq!(g.post(4, &close), HvStatus::SUCCESS);
    assert_eq!(g.recv(), HostMessage::Rescind { relid });
    // The guest was closing: its teardown is still answered, and the
    // relid is released after it.
    let gpadl = vmbus_proto::types::GpadlId::new(0x100).unwrap();
    let teardown = GuestMessage::GpadlTeardown { relid, gpadl };
    assert_eq!(g.post(4, &teardown), HvStatus::SUCCESS);
    assert_eq!(g.recv(), HostMessage::GpadlTorndown { gpadl });
    let released = GuestMessage::RelidReleased { relid };
    assert_eq!(g.post(4, &released), HvStatus::SUCCESS);
    let list = _h.ctl_ok(&["list"]);
    assert!(!list.contains(&format!("relid={} ", relid.get())), "{list}");
}

#[test]
fn unload_delay_answers_late() {
    let h = HostProc::start(&["--device", "echo"]);
    let mut g = Guest::new(&h);
    g.connect(Version::V5_3);
    assert!(h.ctl_ok(&["unload-delay", "600"]).contains("after 600 ms"));
    let t0 = std::time::Instant::now();
    assert_eq!(g.post(4, &GuestMessage::Unload), HvStatus::SUCCESS);
    assert!(g.try_recv_raw(Duration::from_millis(300)).is_none());
    assert_eq!(g.recv(), HostMessage::UnloadResponse);
    assert!(t0.elapsed() >= Duration::from_millis(600));
    let (code, _, _) = h.ctl(&["unload-delay", "x"]);
    assert_eq!(code, 1);
}
