// SPDX-License-Identifier: GPL-2.0

//! The data path end to end: a scripted guest opens channels with real
//! ring GPADLs in the fake guest RAM and talks to the echo and IC devices.

mod common;

use std::time::Duration;

use common::guest::{Guest, GuestChannel, SCRATCH};
use common::HostProc;
use vmbus_proto::ic;
use vmbus_proto::message::{GuestMessage, HostMessage, Offer};
use vmbus_proto::packet::{parse, PacketKind};
use vmbus_proto::ring::RingError;
use vmbus_proto::version::Version;
use vmbus_proto::wire::channel_msg::GpaRange;
use vmbus_proto::wire::ic::{
    HeartbeatMsgData, IcMsgType, IcTimesyncRefData, IcVersion, ShutdownMsgData, ICTIMESYNCFLAG_SYNC,
};
use vmbus_proto::wire::packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED};
use vmbus_proto::wire::{Guid, Wire};

const ECHO: &str = "2e1c0f5a-8b1d-4a8e-9c3f-72766d627573";

fn echo_host(extra: &[&str]) -> (HostProc, Guest, Vec<Offer>) {
    let mut args = vec!["--device", "echo"];
    args.extend_from_slice(extra);
    let h = HostProc::start(&args);
    let mut g = Guest::new(&h);
    let offers = g.connect(Version::V5_3);
    (h, g, offers)
}

/// (type, flags, trans id, payload) of a host packet.
fn unpack(p: &[u8]) -> (PacketType, u16, u64, Vec<u8>) {
    let pkt = parse(p).unwrap();
    (
        pkt.desc.ptype,
        pkt.desc.flags,
        pkt.desc.trans_id,
        pkt.payload.to_vec(),
    )
}

#[test]
fn echo_inband_and_gpa_direct_over_monitor() {
    let (h, mut g, offers) = echo_host(&[]);
    assert_eq!(offers[0].if_type().to_string(), ECHO);
    assert!(offers[0].monitor_id.is_some());
    let mut ch = g.open(offers[0], 2);

    g.send_inband(&mut ch, 0, 7, b"hello world");
    let (t, f, tid, p) = unpack(&g.recv_packet(&mut ch).unwrap());
    assert_eq!((t, f, tid), (PacketType::DATA_INBAND, 0, 7));
    assert_eq!(p, b"hello world\0\0\0\0\0");
    assert!(g.take_event(ch.relid), "relid bit in the event flags");

    g.send_inband(&mut ch, PACKET_FLAG_COMPLETION_REQUESTED, 8, &[0xa5; 24]);
    let (t, f, tid, p) = unpack(&g.recv_packet(&mut ch).unwrap());
    assert_eq!((t, f, tid), (PacketType::COMP, 0, 8));
    assert_eq!(p, vec![0xa5; 24]);

    // 5000 bytes from offset 100 of two scattered pages.
    let pages = [SCRATCH / 4096 + 3, SCRATCH / 4096];
    let pattern: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 1) as u8).collect();
    g.q.ram.write(pages[0] * 4096, &pattern[..4096]).unwrap();
    g.q.ram.write(pages[1] * 4096, &pattern[4096..]).unwrap();
    let r = GpaRange {
        byte_count: 5000,
        byte_offset: 100,
    };
    g.send_gpa(
        &mut ch,
        PACKET_FLAG_COMPLETION_REQUESTED,
        9,
        &[(r, &pages)],
        b"xy",
    );
    let (t, _, tid, p) = unpack(&g.recv_packet(&mut ch).unwrap());
    assert_eq!((t, tid), (PacketType::COMP, 9));
    let mut want = b"xy\0\0\0\0\0\0".to_vec();
    want.extend_from_slice(&pattern[100..5100]);
    assert_eq!(&p[..want.len()], &want[..]);
    assert!(p[want.len()..].iter().all(|&b| b == 0) && p.len() - want.len() < 8);

    // A range outside guest RAM: no answer, counted.
    let far = [common::RAM / 4096];
    g.send_gpa(&mut ch, 0, 10, &[(r, &[far[0], far[0] + 1])], b"");
    g.send_inband(&mut ch, 0, 11, b"after");
    assert_eq!(unpack(&g.recv_packet(&mut ch).unwrap()).2, 11);

    assert!(h.stat("vmbus.monitor_triggers") >= 1);
    assert_eq!(h.stat("dev.1.echo.packets_out"), 4);
    assert_eq!(h.stat("dev.1.echo.bad"), 1);
    let list = h.ctl_ok(&["list"]);
    assert!(list.contains("packets_in=5"), "{list}");
    let trace = std::fs::read_to_string(&h.trace).unwrap();
    assert!(
        trace.contains(" g2h 1 DATA_INBAND 0600020004000000070000"),
        "{trace}"
    );
    assert!(trace.contains(" h2g 1 COMP 0b00"), "{trace}");
    assert!(trace.contains(" g2h 1 DATA_USING_GPA_DIRECT "), "{trace}");
}

#[test]
fn echo_without_monitor_uses_signal_event() {
    let (h, mut g, offers) = echo_host(&["--device", "echo:nomonitor:dedicated"]);
    assert!(offers[0].monitor_id.is_some());
    assert!(offers[1].monitor_id.is_none());
    assert!(offers[1].dedicated_interrupt);
    let mut ch = g.open(offers[1], 1);
    g.send_inband(&mut ch, 0, 1, b"ping");
    assert_eq!(unpack(&g.recv_packet(&mut ch).unwrap()).3, b"ping\0\0\0\0");
    assert_eq!(h.stat("vmbus.monitor_triggers"), 0);
    assert!(h.stat("vmbus.signals_in") >= 1);
}

#[test]
fn full_rings_queue_and_resume() {
    let (h, mut g, offers) = echo_host(&[]);
    let mut ch = g.open(offers[0], 1);
    let mut next_reply = 0u64;
    let check = |g: &mut Guest, ch: &mut GuestChannel, next: &mut u64| {
        let (_, _, tid, p) = unpack(&g.recv_packet(ch).unwrap());
        assert_eq!(tid, *next);
        assert_eq!(p, vec![tid as u8; 1000]);
        *next += 1;
    };
    for tid in 0..40u64 {
        loop {
            let mut b = vec![0u8; 1024];
            let n = vmbus_proto::packet::encode_inband(
                &mut b,
                PacketType::DATA_INBAND,
                0,
                tid,
                &[tid as u8; 1000],
            )
            .unwrap();
            match g.send_packet(&mut ch, &b[..n]) {
                Ok(()) => break,
                Err(RingError::Full { .. }) => check(&mut g, &mut ch, &mut next_reply),
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    while next_reply < 40 {
        check(&mut g, &mut ch, &mut next_reply);
    }
    assert_eq!(h.stat("dev.1.echo.packets_out"), 40);
    assert_eq!(h.stat("vmbus.ring_errors"), 0);
}

#[test]
fn echo_burst_fills_the_ring_and_resumes() {
    let (h, mut g, offers) = echo_host(&[]);
    let (code, _, err) = h.ctl(&["echo-burst", "1", "40", "1000"]);
    assert_ne!(code, 0, "a burst on a closed channel");
    assert!(err.contains("not an open echo channel"), "{err}");
    let mut ch = g.open(offers[0], 1);
    // Forty packets of 1000 bytes do not fit a one-page ring: the rest
    // waits for room, and comes as the guest reads.
    h.ctl_ok(&["echo-burst", "1", "40", "1000"]);
    for i in 0..40u64 {
        let (t, _, tid, p) = unpack(&g.recv_packet(&mut ch).unwrap());
        assert_eq!((t, tid), (PacketType::DATA_INBAND, 0xb0b0_0000_0000 + i));
        assert_eq!(p, vec![0xb5; 1000]);
    }
    assert_eq!(h.stat("dev.1.echo.packets_out"), 40);
    assert_eq!(h.stat("vmbus.ring_errors"), 0);
    let (code, _, err) = h.ctl(&["echo-burst", "1", "1001", "1"]);
    assert_ne!(code, 0);
    assert!(err.contains("at most 1000"), "{err}");
}

#[test]
fn echo_sub_channels() {
    let (h, mut g, offers) = echo_host(&[]);
    let mut ch = g.open(offers[0], 1);
    let mut req = b"ECHO-SUB".to_vec();
    req.extend_from_slice(&3u32.to_le_bytes());
    g.send_inband(&mut ch, 0, 42, &req);
    let mut subs = Vec::new();
    for i in 1..=3u16 {
        match g.recv() {
            HostMessage::Offer(o) => {
                assert_eq!(o.if_instance(), offers[0].if_instance());
                assert_eq!(o.if_type(), offers[0].if_type());
                assert_eq!(o.sub_channel_index(), i);
                assert_ne!(o.relid, offers[0].relid);
                subs.push(o);
            }
            m => panic!("{m:?}"),
        }
    }
    let (t, _, tid, p) = unpack(&g.recv_packet(&mut ch).unwrap());
    assert_eq!((t, tid), (PacketType::DATA_INBAND, 42));
    assert_eq!(&p[..12], b"ECHO-SUB\x03\0\0\0");
    // Out of range: none offered.
    let mut req = b"ECHO-SUB".to_vec();
    req.extend_from_slice(&17u32.to_le_bytes());
    g.send_inband(&mut ch, 0, 43, &req);
    assert_eq!(
        &unpack(&g.recv_packet(&mut ch).unwrap()).3[..12],
        b"ECHO-SUB\0\0\0\0"
    );
    // A sub-channel echoes too.
    let mut sc = g.open(subs[1], 1);
    g.send_inband(&mut sc, 0, 5, b"sub");
    assert_eq!(unpack(&g.recv_packet(&mut sc).unwrap()).3, b"sub\0\0\0\0\0");
    assert!(h.ctl_ok(&["list"]).contains("sub=2"));
}

/// A host with one `kind` device (and `extra` arguments), its channel
/// opened by the guest and negotiated with message versions `msg`.
fn ic_channel(
    kind: &str,
    extra: &[&str],
    msg: &[IcVersion],
) -> (HostProc, Guest, GuestChannel, (IcVersion, IcVersion)) {
    let mut args = vec!["--device", kind];
    args.extend_from_slice(extra);
    let h = HostProc::start(&args);
    let mut g = Guest::new(&h);
    let offers = g.connect(Version::V5_3);
    let mut ch = g.open(offers[0], 1);
    let v = negotiate(&mut g, &mut ch, msg);
    (h, g, ch, v)
}

/// Answers the host's NEGOTIATE on `ch` with the guest's versions.
fn negotiate(g: &mut Guest, ch: &mut GuestChannel, msg: &[IcVersion]) -> (IcVersion, IcVersion) {
    let p = g.recv_packet(ch).unwrap();
    let pkt = parse(&p).unwrap();
    assert_eq!(pkt.kind, PacketKind::Inband);
    let req = ic::parse_negotiate(pkt.payload).unwrap();
    assert_eq!(req.hdr.icflags, ic::REQUEST_FLAGS);
    assert!(req
        .frame
        .iter()
        .eq([IcVersion::new(1, 0), IcVersion::new(3, 0)]));
    let mut out = vec![0u8; pkt.payload.len() + 16];
    let fw = [IcVersion::new(3, 0), IcVersion::new(1, 0)];
    let (n, chosen) = ic::answer_negotiate(pkt.payload, &mut out, &fw, msg).unwrap();
    g.send_inband(ch, 0, pkt.desc.trans_id, &out[..n]);
    chosen.unwrap()
}

/// Reads an IC request and answers it after `edit` changed the body.
fn answer(
    g: &mut Guest,
    ch: &mut GuestChannel,
    want: IcMsgType,
    edit: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let p = g.recv_packet(ch).unwrap();
    let pkt = parse(&p).unwrap();
    let m = ic::parse(pkt.payload).unwrap();
    assert_eq!(m.hdr.icmsgtype, want);
    assert_eq!(m.hdr.icflags, ic::REQUEST_FLAGS);
    let body = m.body.to_vec();
    let mut reply = pkt.payload.to_vec();
    edit(&mut reply[ic::ICMSG_HDR_SIZE..]);
    ic::make_response(&mut reply, 0).unwrap();
    g.send_inband(ch, 0, pkt.desc.trans_id, &reply);
    body
}

#[test]
fn heartbeat_negotiation_and_beats() {
    let (h, mut g, mut ch, v) = ic_channel(
        "heartbeat",
        &["--heartbeat-ms", "30"],
        &[IcVersion::new(3, 0), IcVersion::new(1, 0)],
    );
    assert_eq!(v, (IcVersion::new(3, 0), IcVersion::new(3, 0)));
    let mut last = 0;
    for _ in 0..3 {
        let body = answer(&mut g, &mut ch, IcMsgType::HEARTBEAT, |b| {
            let mut d = HeartbeatMsgData::read_from(b).unwrap();
            d.seq_num += 1;
            d.write_to(b).unwrap();
        });
        let seq = HeartbeatMsgData::read_from(&body).unwrap().seq_num;
        assert!(seq > last);
        last = seq;
    }
    // Stop answering: beats go missing.
    h.wait_stat("dev.1.heartbeat.missed", 2);
    assert!(h.stat("dev.1.heartbeat.ok") >= 2);
    assert_eq!(h.stat("dev.1.heartbeat.negotiated"), 1);
}

#[test]
fn timesync_sends_ref_time_with_sync_first() {
    let (_h, mut g, mut ch, v) = ic_channel(
        "timesync",
        &[],
        &[
            IcVersion::new(4, 0),
            IcVersion::new(3, 0),
            IcVersion::new(1, 0),
        ],
    );
    assert_eq!(v.1, IcVersion::new(4, 0));
    let body = answer(&mut g, &mut ch, IcMsgType::TIMESYNC, |_| {});
    let d = IcTimesyncRefData::read_from(&body).unwrap();
    assert_eq!(d.flags, ICTIMESYNCFLAG_SYNC);
    let now = vmbus_host::devices::timesync::host_time();
    assert!(
        now.abs_diff(d.parenttime.get()) < 600_000_000,
        "within a minute"
    );
}

#[test]
fn shutdown_guest_command() {
    let (h, mut g, mut ch, v) = ic_channel(
        "shutdown",
        &[],
        &[IcVersion::new(3, 2), IcVersion::new(3, 0)],
    );
    assert_eq!(v.1, IcVersion::new(3, 2));
    h.wait_stat("dev.1.shutdown.negotiated", 1);
    assert!(h.ctl_ok(&["shutdown-guest", "reboot"]).contains("reboot"));
    let body = answer(&mut g, &mut ch, IcMsgType::SHUTDOWN, |_| {});
    assert_eq!(ShutdownMsgData::read_from(&body).unwrap().flags, 2);
    h.wait_stat("dev.1.shutdown.ok", 1);
    assert_eq!(h.stat("dev.1.shutdown.last_status"), 0);
    // Without a shutdown channel the command fails.
    let (h2, _, _) = echo_host(&[]);
    assert_eq!(h2.ctl(&["shutdown-guest"]).0, 1);
    assert_eq!(h2.ctl(&["shutdown-guest", "halt"]).0, 1);
}

/// A channel rescinded while open keeps being serviced until the guest
/// is done with it: a driver may still send before it sees the rescind,
/// and waits in its `remove()` for the answers (Linux's `hv_netvsc`). The
/// guest's close ends it.
#[test]
fn a_rescinded_channel_is_serviced_until_the_guest_closes_it() {
    let (h, mut g, offers) = echo_host(&[]);
    let mut ch = g.open(offers[0], 1);
    h.ctl_ok(&["rescind", "1"]);
    assert_eq!(g.recv(), HostMessage::Rescind { relid: ch.relid });
    g.take_event(ch.relid);
    g.send_inband(&mut ch, PACKET_FLAG_COMPLETION_REQUESTED, 7, b"late");
    let (t, _, tid, p) = unpack(&g.recv_packet(&mut ch).unwrap());
    assert_eq!((t, tid), (PacketType::COMP, 7));
    assert_eq!(p, b"late\0\0\0\0");
    assert!(g.take_event(ch.relid), "the guest was interrupted");
    // After the close the host no longer reads the ring.
    g.post(4, &GuestMessage::CloseChannel { relid: ch.relid });
    let before = h.stat("vmbus.packets_in");
    g.send_inband(&mut ch, PACKET_FLAG_COMPLETION_REQUESTED, 8, b"closed");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(h.stat("vmbus.packets_in"), before);
    g.post(4, &GuestMessage::RelidReleased { relid: ch.relid });
    assert_eq!(h.stat("vmbus.released"), 1);
}

#[test]
fn reoffer_modify_channel_and_tl_connect() {
    let (h, mut g, offers) = echo_host(&[]);
    let ch = g.open(offers[0], 1);
    let out = h.ctl_ok(&["reoffer", "1"]);
    assert!(out.contains("relid 2"), "{out}");
    assert_eq!(g.recv(), HostMessage::Rescind { relid: ch.relid });
    match g.recv() {
        HostMessage::Offer(o) => {
            assert_eq!(o.relid.get(), 2);
            assert_eq!(o.if_instance(), offers[0].if_instance());
        }
        m => panic!("{m:?}"),
    }
    // The rescinded channel no longer echoes; its release frees relid 1.
    g.post(4, &GuestMessage::CloseChannel { relid: ch.relid });
    g.post(4, &GuestMessage::RelidReleased { relid: ch.relid });

    let (h2, mut g2, offers2) = echo_host(&[]);
    let mut c2 = g2.open(offers2[0], 1);
    let relid = c2.relid;
    g2.post(
        4,
        &GuestMessage::ModifyChannel {
            relid,
            target_vp: 0,
        },
    );
    assert_eq!(
        g2.recv(),
        HostMessage::ModifyChannelResponse { relid, status: 0 }
    );
    g2.post(
        4,
        &GuestMessage::ModifyChannel {
            relid,
            target_vp: 5,
        },
    );
    assert!(matches!(g2.recv(), HostMessage::ModifyChannelResponse { status, .. } if status != 0));
    g2.send_inband(&mut c2, 0, 1, b"still");
    assert_eq!(unpack(&g2.recv_packet(&mut c2).unwrap()).2, 1);
    let ep = Guid::from_fields(1, 2, 3, [4; 8]);
    let svc = Guid::from_fields(5, 6, 7, [8; 8]);
    g2.post(
        4,
        &GuestMessage::TlConnectRequest {
            endpoint_id: ep,
            service_id: svc,
        },
    );
    assert_eq!(
        g2.recv(),
        HostMessage::TlConnectResult {
            endpoint_id: ep,
            service_id: svc,
            status: 0xc000_0236
        }
    );
    assert_eq!(h2.stat("vmbus.modify_channels"), 1);
    h.wait_stat("vmbus.released", 1);
}
