// SPDX-License-Identifier: GPL-2.0

//! The adapter against a real Linux network stack: a TAP device in a fresh
//! network namespace (of this test's thread only), with its own address,
//! a static neighbour entry for the simulated guest and a small UDP echo
//! server. The simulated guest sends a UDP datagram through the send
//! buffer; the server must receive it, and its answer must come back to
//! the guest through the receive buffer as an RNDIS data packet.
//!
//! It needs root (or CAP_NET_ADMIN), `/dev/net/tun` and the `ip` tool;
//! where one is missing it prints that it was skipped and passes.

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use vmbus_proto::packet::parse;
use vmbus_proto::rndis::{encode_oid_request, encode_packet, parse as parse_rndis, RndisMessage};
use vmbus_proto::wire::nvsp::NvspStatus;
use vmbus_proto::wire::packet::PacketType;
use vmbus_proto::wire::rndis::{Oid, RndisMsgType};

use super::tests::Guest;
use super::*;

const TAP: &str = "rvnet0";
const HOST_IP: [u8; 4] = [10, 99, 0, 1];
const GUEST_IP: [u8; 4] = [10, 99, 0, 2];
const GUEST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
const PORT: u16 = 7777;
const GUEST_PORT: u16 = 5555;

fn skip(why: &str) {
    eprintln!("tap_udp_round_trip: skipped: {why}");
}

fn ip(args: &[&str]) -> Result<String, String> {
    let o = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An Ethernet frame with an IPv4 UDP datagram (no UDP checksum).
fn udp_frame(dst_mac: [u8; 6], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&GUEST_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    let mut iph = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    iph[2..4].copy_from_slice(&total.to_be_bytes());
    iph.extend_from_slice(&GUEST_IP);
    iph.extend_from_slice(&HOST_IP);
    let c = csum(&iph);
    iph[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&iph);
    f.extend_from_slice(&GUEST_PORT.to_be_bytes());
    f.extend_from_slice(&PORT.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn mac_of(dev: &str) -> Option<[u8; 6]> {
    let out = ip(&["-o", "link", "show", "dev", dev]).ok()?;
    let text = out.split("link/ether ").nth(1)?.split_whitespace().next()?;
    let mut m = [0u8; 6];
    for (b, p) in m.iter_mut().zip(text.split(':')) {
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    Some(m)
}

/// Runs in a thread of its own: the network namespace it creates is that
/// thread's, whatever thread the test harness runs tests on.
#[test]
fn tap_udp_round_trip() {
    if std::thread::spawn(round_trip).join().is_err() {
        panic!("the TAP round trip failed (see above)");
    }
}

fn round_trip() {
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .is_err()
    {
        return skip("/dev/net/tun is not usable");
    }
    // SAFETY: unshare takes no pointers; CLONE_NEWNET moves only this
    // thread (the test's own) into a new network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return skip(&format!(
            "no new network namespace: {}",
            std::io::Error::last_os_error()
        ));
    }
    if let Err(e) = ip(&["link", "set", "lo", "up"]) {
        return skip(&e);
    }
    let cfg: NicConfig = format!("tap={TAP},mac=02:00:00:00:00:02").parse().unwrap();
    let mut g = Guest::new(cfg);
    if g.nic.shared.borrow().tap.is_none() {
        return skip("the TAP device could not be opened");
    }
    let guest_mac = "02:00:00:00:00:02";
    for args in [
        vec!["addr", "add", "10.99.0.1/24", "dev", TAP],
        vec!["link", "set", TAP, "up"],
        vec!["neigh", "add", "10.99.0.2", "lladdr", guest_mac, "dev", TAP],
    ] {
        ip(&args).unwrap();
    }
    let server = UdpSocket::bind(("10.99.0.1", PORT)).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let tap_mac = mac_of(TAP).unwrap();

    g.bring_up();
    let mut b = [0u8; 64];
    let n = encode_oid_request(
        &mut b,
        RndisMsgType::SET,
        20,
        Oid::GEN_CURRENT_PACKET_FILTER,
        &0x9u32.to_le_bytes(),
    )
    .unwrap();
    let out = g.rndis_in_section(1, &b[..n]);
    assert_eq!(Guest::send_status(&out), NvspStatus::SUCCESS);
    for p in &out {
        if parse(p).unwrap().desc.ptype == PacketType::DATA_USING_XFER_PAGES {
            g.receive(p);
        }
    }

    // Guest to host.
    let frame = udp_frame(tap_mac, b"ping from the guest");
    let mut msg = vec![0u8; frame.len() + 64];
    let n = encode_packet(&mut msg, &frame, &[]).unwrap();
    let out = g.rndis_in_section(2, &msg[..n]);
    assert_eq!(Guest::send_status(&out), NvspStatus::SUCCESS);
    let mut buf = [0u8; 128];
    let (len, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"ping from the guest");
    assert_eq!(from.port(), GUEST_PORT);

    // Host to guest.
    server.send_to(b"pong from the host", from).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let got = loop {
        let out = g.run(None, |d, io| d.tick(io));
        let mut found = None;
        for p in &out {
            let m = g.receive(p);
            if let Ok(RndisMessage::Packet(pk)) = parse_rndis(&m) {
                if pk.data.len() >= 42 && pk.data[23] == 17 {
                    found = Some(pk.data.to_vec());
                }
            }
        }
        if let Some(f) = found {
            break f;
        }
        assert!(Instant::now() < deadline, "no answer reached the guest");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(&got[..6], &GUEST_MAC);
    assert_eq!(&got[42..], b"pong from the host");
    let stats = g.nic.stats();
    assert!(stats.iter().any(|&(k, v)| k == "tx_frames" && v >= 1));
    assert!(stats.iter().any(|&(k, v)| k == "rx_frames" && v >= 1));

    // Closing the channel lets the TAP device go; opening attaches again.
    g.nic.on_close();
    assert!(g.nic.shared.borrow().tap.is_none());
    g.run(None, |d, io| d.on_open(io));
    assert!(g.nic.shared.borrow().tap.is_some());
}
