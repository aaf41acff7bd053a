// SPDX-License-Identifier: GPL-2.0

//! Hyper-V sockets end to end: a scripted guest connects to
//! `--hvsock-echo` ports as Linux's hv_sock does (TL_CONNECT_REQUEST, the
//! host's offer, an open with rings of different sizes, pipe packets, FIN),
//! sees the host rescind the channel after the FINs and releases the relid;
//! and the host connects to the guest with `hvsock-connect`.

mod common;

use common::guest::{Guest, GuestChannel};
use common::HostProc;
use vmbus_host::devices::hvsock::pattern_byte;
use vmbus_host::vmbus::offers::hvsock_service_id;
use vmbus_proto::message::{GuestMessage, HostMessage, Offer};
use vmbus_proto::packet::parse;
use vmbus_proto::version::Version;
use vmbus_proto::wire::channel_msg::{OFFER_FLAG_NAMED_PIPE_MODE, OFFER_FLAG_TLNPI_PROVIDER};
use vmbus_proto::wire::packet::PacketType;
use vmbus_proto::wire::Guid;

/// The message connection id of version 5.3.
const CONN: u32 = 4;
/// Linux's `HVS_SEND_BUF_SIZE`: the most data bytes hv_sock puts in one
/// packet.
const GUEST_CHUNK: usize = 4096 - 8;

/// A guest endpoint id as hv_sock makes it: the template with the guest's
/// local port.
fn endpoint(port: u32) -> Guid {
    hvsock_service_id(port)
}

/// Sends one pipe packet (`data` empty: a FIN) as hv_sock does.
fn send_pipe(g: &mut Guest, ch: &mut GuestChannel, data: &[u8]) {
    let mut p = Vec::with_capacity(8 + data.len());
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&(data.len() as u32).to_le_bytes());
    p.extend_from_slice(data);
    g.send_inband(ch, 0, 0, &p);
}

/// Reads the next pipe packet: its data (empty for a FIN), checked to be
/// an in-band packet without completion of at most 16 KiB of data.
fn recv_pipe(g: &mut Guest, ch: &mut GuestChannel) -> Vec<u8> {
    let raw = g.recv_packet(ch).unwrap();
    let pkt = parse(&raw).unwrap();
    assert_eq!(pkt.desc.ptype, PacketType::DATA_INBAND);
    assert_eq!(pkt.desc.flags, 0);
    let p = pkt.payload;
    assert_eq!(u32::from_le_bytes(p[..4].try_into().unwrap()), 1);
    let n = u32::from_le_bytes(p[4..8].try_into().unwrap()) as usize;
    assert!(n <= 16 * 1024, "{n} bytes in one packet");
    assert!(8 + n <= p.len());
    p[8..8 + n].to_vec()
}

fn host_with_echo() -> (HostProc, Guest) {
    let h = HostProc::start(&["--hvsock-echo", "5001", "--hvsock-echo", "5003"]);
    let mut g = Guest::new(&h);
    g.connect(Version::V5_3);
    (h, g)
}

fn tl_connect(g: &mut Guest, ep: Guid, svc: Guid) {
    g.post(
        CONN,
        &GuestMessage::TlConnectRequest {
            endpoint_id: ep,
            service_id: svc,
        },
    );
}

fn expect_offer(g: &mut Guest) -> Offer {
    match g.recv() {
        HostMessage::Offer(o) => o,
        m => panic!("expected an offer, got {m:?}"),
    }
}

/// Checks what makes `o` an hv_sock offer.
fn check_pipe_offer(o: &Offer, if_type: Guid, if_instance: Guid, from_host: u8) {
    assert_eq!(o.if_type(), if_type);
    assert_eq!(o.if_instance(), if_instance);
    assert_eq!(
        o.offer.chn_flags,
        OFFER_FLAG_TLNPI_PROVIDER | OFFER_FLAG_NAMED_PIPE_MODE
    );
    assert_eq!(o.offer.pipe_mode(), Some(0));
    assert_eq!(o.offer.user_def[4], from_host);
    assert!(o.offer.user_def[5..].iter().all(|&b| b == 0));
    assert_eq!(o.offer.mmio_megabytes, 0);
    assert_eq!(o.sub_channel_index(), 0);
    assert!(o.monitor_id.is_none());
}

/// Closes a rescinded channel as Linux does and releases its relid.
fn close_and_release(g: &mut Guest, ch: &GuestChannel) {
    g.post(CONN, &GuestMessage::CloseChannel { relid: ch.relid });
    g.post(
        CONN,
        &GuestMessage::GpadlTeardown {
            relid: ch.relid,
            gpadl: ch.gpadl,
        },
    );
    assert_eq!(g.recv(), HostMessage::GpadlTorndown { gpadl: ch.gpadl });
    g.post(CONN, &GuestMessage::RelidReleased { relid: ch.relid });
}

#[test]
fn guest_connect_echo_fin_rescind_release() {
    let (h, mut g) = host_with_echo();
    let svc = hvsock_service_id(5001);
    let mut relids = Vec::new();
    for round in 0..2u32 {
        let ep = endpoint(0x8000_0000 + round);
        tl_connect(&mut g, ep, svc);
        let o = expect_offer(&mut g);
        check_pipe_offer(&o, svc, ep, 0);
        relids.push(o.relid);
        // hv_sock with SO_SNDBUF set: 132 KiB out, 28 KiB in.
        let mut ch = g.try_open_sized(o, 32, 6, CONN).unwrap();
        // More than the guest's inbound ring holds: the host waits for
        // room, and the guest's reads signal it.
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 13 + round) as u8).collect();
        for c in data.chunks(GUEST_CHUNK) {
            send_pipe(&mut g, &mut ch, c);
        }
        let mut back = Vec::new();
        while back.len() < data.len() {
            let d = recv_pipe(&mut g, &mut ch);
            assert!(!d.is_empty(), "FIN before the data");
            back.extend_from_slice(&d);
        }
        assert_eq!(back, data);
        send_pipe(&mut g, &mut ch, &[]);
        assert!(recv_pipe(&mut g, &mut ch).is_empty(), "the host's FIN");
        assert_eq!(g.recv(), HostMessage::Rescind { relid: ch.relid });
        close_and_release(&mut g, &ch);
        h.wait_stat("vmbus.released", u64::from(round) + 1);
    }
    // The relid came back free and was used again.
    assert_eq!(relids[0], relids[1]);
    let list = h.ctl_ok(&["list"]);
    assert!(!list.contains("hvsock"), "{list}");
    assert_eq!(h.stat("vmbus.hvsock_offers"), 2);
    assert_eq!(h.stat("vmbus.hvsock_rx_bytes"), 200_000);
    assert_eq!(h.stat("vmbus.hvsock_tx_bytes"), 200_000);
    assert_eq!(h.stat("vmbus.hvsock_fins_rx"), 2);
    assert_eq!(h.stat("vmbus.hvsock_rescinds"), 2);
    assert_eq!(h.stat("vmbus.tl_connects"), 2);
    assert_eq!(h.stat("vmbus.tl_refused"), 0);
    assert_eq!(h.stat("vmbus.channels"), 4);
    // The trace names each step, on the channel's relid.
    let trace = std::fs::read_to_string(&h.trace).unwrap();
    let r = relids[0].get();
    for want in [
        format!(" h2g {r} HVSOCK-OFFER "),
        format!(" h2g {r} OFFER_CHANNEL "),
        format!(" g2h {r} HVSOCK-FIN -"),
        format!(" h2g {r} HVSOCK-FIN -"),
        format!(" h2g {r} HVSOCK-RESCIND -"),
        format!(" h2g {r} RESCIND_CHANNEL_OFFER "),
    ] {
        assert_eq!(trace.matches(&want).count(), 2, "{want:?} in\n{trace}");
    }
}

#[test]
fn unserved_ports_are_refused() {
    let (h, mut g) = host_with_echo();
    let ep = endpoint(0x8000_0001);
    for svc in [hvsock_service_id(5002), Guid::from_fields(5, 6, 7, [8; 8])] {
        tl_connect(&mut g, ep, svc);
        assert_eq!(
            g.recv(),
            HostMessage::TlConnectResult {
                endpoint_id: ep,
                service_id: svc,
                status: 0xc000_0236
            }
        );
    }
    assert_eq!(h.stat("vmbus.tl_refused"), 2);
    assert_eq!(h.stat("vmbus.hvsock_offers"), 0);
}

#[test]
fn guest_close_without_fin_is_rescinded() {
    let (h, mut g) = host_with_echo();
    let svc = hvsock_service_id(5003);
    let ep = endpoint(0x8000_0002);
    tl_connect(&mut g, ep, svc);
    let o = expect_offer(&mut g);
    // The same endpoint and service again while the first lives: refused.
    tl_connect(&mut g, ep, svc);
    assert!(matches!(
        g.recv(),
        HostMessage::TlConnectResult { status, .. } if status != 0
    ));
    let mut ch = g.try_open_sized(o, 6, 6, CONN).unwrap();
    send_pipe(&mut g, &mut ch, b"half");
    assert_eq!(recv_pipe(&mut g, &mut ch), b"half");
    g.post(CONN, &GuestMessage::CloseChannel { relid: ch.relid });
    assert_eq!(g.recv(), HostMessage::Rescind { relid: ch.relid });
    g.post(
        CONN,
        &GuestMessage::GpadlTeardown {
            relid: ch.relid,
            gpadl: ch.gpadl,
        },
    );
    assert_eq!(g.recv(), HostMessage::GpadlTorndown { gpadl: ch.gpadl });
    g.post(CONN, &GuestMessage::RelidReleased { relid: ch.relid });
    h.wait_stat("vmbus.released", 1);
    assert_eq!(h.stat("vmbus.hvsock_rescinds"), 1);
    assert_eq!(h.stat("vmbus.channels"), 4);
}

/// The guest's side of a host-initiated connection: reads the host's bytes
/// until its FIN, echoing each chunk back (corrupted if `corrupt`), then
/// sends its FIN.
fn guest_echo(g: &mut Guest, ch: &mut GuestChannel, corrupt: bool) -> usize {
    let mut total = 0;
    loop {
        let mut d = recv_pipe(g, ch);
        if d.is_empty() {
            break;
        }
        for (i, b) in d.iter().enumerate() {
            assert_eq!(*b, pattern_byte((total + i) as u64));
        }
        total += d.len();
        if corrupt {
            d[0] ^= 0xff;
        }
        for c in d.chunks(GUEST_CHUNK) {
            send_pipe(g, ch, c);
        }
    }
    send_pipe(g, ch, &[]);
    total
}

#[test]
fn host_connect_round_trip() {
    let (h, mut g) = host_with_echo();
    for (round, corrupt) in [(0u32, false), (1, true)] {
        let out = h.ctl_ok(&["hvsock-connect", "5002", "100000"]);
        let o = expect_offer(&mut g);
        assert!(out.contains(&format!("relid {}", o.relid.get())), "{out}");
        check_pipe_offer(
            &o,
            hvsock_service_id(5002),
            hvsock_service_id(0x4000_0000 + round),
            1,
        );
        let mut ch = g.try_open_sized(o, 6, 6, CONN).unwrap();
        assert_eq!(guest_echo(&mut g, &mut ch, corrupt), 100_000);
        assert_eq!(g.recv(), HostMessage::Rescind { relid: ch.relid });
        close_and_release(&mut g, &ch);
    }
    h.wait_stat("vmbus.released", 2);
    assert_eq!(h.stat("vmbus.hvsock_host_ok"), 1);
    assert_eq!(h.stat("vmbus.hvsock_host_bad"), 1);
    assert_eq!(h.stat("vmbus.hvsock_tx_bytes"), 200_000);
    assert_eq!(h.stat("vmbus.hvsock_rx_bytes"), 200_000);
    assert_eq!(h.stat("vmbus.hvsock_fins_rx"), 2);
    // Bad arguments are refused.
    for bad in [
        &["hvsock-connect", "5002"][..],
        &["hvsock-connect", "x", "10"],
        &["hvsock-connect", "5002", "99999999999"],
    ] {
        assert_ne!(h.ctl(bad).0, 0, "{bad:?}");
    }
}
