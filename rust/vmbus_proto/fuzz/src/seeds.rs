// SPDX-License-Identifier: GPL-2.0

//! Seed inputs for every target, built with the crates' own encoders: real
//! messages, packets, mailbox requests and rings, and for the host targets
//! whole guest sessions, played against a rig so that each answer the
//! guest gives (IC negotiation, heartbeats) answers what the host really
//! sent. `fuzz-seeds DIR` writes them as `DIR/TARGET/NAME`; the copies in
//! `seeds/` are kept in git and a test checks that they are what this
//! module makes.

use vmbus_host::vmbus::offers::DeviceKind;
use vmbus_proto::channel::tests_support;
use vmbus_proto::gpadl::{range_word, GpadlMessages};
use vmbus_proto::ic::{self, ICMSG_HDR_SIZE};
use vmbus_proto::ivshmem::{self, mailbox as layout, Command, Header, HostState, Request};
use vmbus_proto::message::{ContactRequest, GuestMessage, HostMessage, OpenRequest, VersionReply};
use vmbus_proto::packet::{self, encode_gpa_direct, encode_inband};
use vmbus_proto::ring::ControlWord;
use vmbus_proto::types::{GpadlId, Relid, Words};
use vmbus_proto::version::Version;
use vmbus_proto::wire::channel_msg::{GpaRange, TargetInfo, MAX_USER_DEFINED_BYTES};
use vmbus_proto::wire::ic::{
    HeartbeatMsgData, IcMsgType, IcTimesyncData, IcVersion, ShutdownMsgData,
};
use vmbus_proto::wire::packet::{
    PacketType, TransferPageHeader, TransferPageRange, VmPacketDescriptor,
    PACKET_FLAG_COMPLETION_REQUESTED, RING_FEATURE_PENDING_SEND_SIZE,
};
use vmbus_proto::wire::synic::{HvInputPostMessage, HvMessage};
use vmbus_proto::wire::{Guid, Wire};

use crate::host::{
    DeviceOp, DeviceRig, MailboxOp, Rig, RingAt, Seen, VmbusOp, INTERRUPT_PAGE, MONITOR1, MONITOR2,
    PAGE, SIEFP, SIMP, SINT,
};
use crate::script::ScriptWriter;

/// A seed: its target, its file name and its bytes.
pub type Seed = (&'static str, String, Vec<u8>);

fn relid(v: u32) -> Relid {
    Relid::new(v).expect("a valid relid")
}

fn gpadl_id(v: u32) -> GpadlId {
    GpadlId::new(v).expect("a valid GPADL id")
}

fn bytes_of(m: &GuestMessage) -> Vec<u8> {
    m.encode().as_bytes().to_vec()
}

fn host_bytes(m: &HostMessage) -> Vec<u8> {
    m.encode().as_bytes().to_vec()
}

fn contact(v: Version, monitor: bool) -> GuestMessage {
    let info = if v.uses_target_info() {
        TargetInfo {
            msg_sint: SINT as u8,
            msg_vtl: 0,
            feature_flags: 0,
        }
        .to_u64()
    } else {
        INTERRUPT_PAGE
    };
    GuestMessage::InitiateContact(ContactRequest {
        version: v,
        target_vcpu: 0,
        interrupt_page_or_target_info: info,
        monitor_page1: if monitor { MONITOR1 } else { 0 },
        monitor_page2: if monitor { MONITOR2 } else { 0 },
    })
}

fn open_request(r: Relid, g: GpadlId, offset: u32, target_vp: u32) -> GuestMessage {
    GuestMessage::OpenChannel(OpenRequest {
        relid: r,
        open_id: r.get() + 0x100,
        ring_gpadl: g,
        target_vp,
        downstream_page_offset: offset,
        user_data: [0; MAX_USER_DEFINED_BYTES],
    })
}

fn inband(ptype: PacketType, flags: u16, trans: u64, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; payload.len() + 24];
    let n = encode_inband(&mut b, ptype, flags, trans, payload).expect("a small packet");
    b.truncate(n);
    b
}

fn gpa_direct(trans: u64, ranges: &[(GpaRange, &[u64])], payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    let n = encode_gpa_direct(
        &mut b,
        PACKET_FLAG_COMPLETION_REQUESTED,
        trans,
        ranges,
        payload,
    )
    .expect("a small packet");
    b.truncate(n);
    b
}

fn xfer_pages(trans: u64, ranges: &[(u32, u32)], payload: &[u8]) -> Vec<u8> {
    let off = TransferPageHeader::SIZE + ranges.len() * TransferPageRange::SIZE;
    let total = off + packet::align8(payload.len());
    let mut b = vec![0u8; total];
    let h = TransferPageHeader {
        d: VmPacketDescriptor {
            ptype: PacketType::DATA_USING_XFER_PAGES,
            offset8: (off / 8) as u16,
            len8: (total / 8) as u16,
            flags: PACKET_FLAG_COMPLETION_REQUESTED,
            trans_id: trans,
        },
        xfer_pageset_id: 1,
        sender_owns_set: 0,
        reserved: 0,
        range_cnt: ranges.len() as u32,
    };
    let mut pos = 0;
    h.put(&mut b, &mut pos).expect("room for the header");
    for &(byte_count, byte_offset) in ranges {
        TransferPageRange {
            byte_count,
            byte_offset,
        }
        .put(&mut b, &mut pos)
        .expect("room for the ranges");
    }
    b[off..off + payload.len()].copy_from_slice(payload);
    b
}

/// Every guest message type, as the host receives them.
fn guest_messages() -> Vec<(&'static str, GuestMessage)> {
    let r = relid(4);
    let g = gpadl_id(0x100);
    let pfns: Vec<u64> = (8..60).collect();
    let mut gm = GpadlMessages::new(r, g, &pfns).expect("a ring GPADL");
    let header = gm.next().expect("a header");
    let body = gm.next().expect("a body");
    vec![
        ("contact-5.3", contact(Version::V5_3, true)),
        ("contact-4.0", contact(Version::WIN10, true)),
        ("request-offers", GuestMessage::RequestOffers),
        ("gpadl-header", header),
        ("gpadl-body", body),
        ("open", open_request(r, g, 2, 0)),
        ("close", GuestMessage::CloseChannel { relid: r }),
        (
            "teardown",
            GuestMessage::GpadlTeardown { relid: r, gpadl: g },
        ),
        ("released", GuestMessage::RelidReleased { relid: r }),
        ("unload", GuestMessage::Unload),
        (
            "tl-connect",
            GuestMessage::TlConnectRequest {
                endpoint_id: Guid([1; 16]),
                service_id: Guid([2; 16]),
            },
        ),
        (
            "modify",
            GuestMessage::ModifyChannel {
                relid: r,
                target_vp: 1,
            },
        ),
    ]
}

/// Every host message type, as the guest receives them.
fn host_messages() -> Vec<(&'static str, HostMessage)> {
    let r = relid(5);
    let g = gpadl_id(7);
    vec![
        (
            "version-response",
            HostMessage::VersionResponse(VersionReply {
                supported: true,
                connection_state: 0,
                msg_conn_id: 4,
                supported_features: None,
            }),
        ),
        ("offer", HostMessage::Offer(tests_support::offer(r))),
        ("all-offers", HostMessage::AllOffersDelivered),
        (
            "gpadl-created",
            HostMessage::GpadlCreated {
                relid: r,
                gpadl: g,
                status: 0,
            },
        ),
        (
            "open-result",
            HostMessage::OpenResult {
                relid: r,
                open_id: 1,
                status: 0,
            },
        ),
        ("rescind", HostMessage::Rescind { relid: r }),
        ("gpadl-torndown", HostMessage::GpadlTorndown { gpadl: g }),
        ("unload-response", HostMessage::UnloadResponse),
        (
            "modify-response",
            HostMessage::ModifyChannelResponse {
                relid: r,
                status: 0,
            },
        ),
        (
            "tl-connect-result",
            HostMessage::TlConnectResult {
                endpoint_id: Guid([1; 16]),
                service_id: Guid([2; 16]),
                status: 0xc000_0236,
            },
        ),
    ]
}

fn decode_seeds(out: &mut Vec<Seed>) {
    for (n, m) in guest_messages() {
        out.push(("decode", format!("guest-{n}"), bytes_of(&m)));
    }
    for (n, m) in host_messages() {
        out.push(("decode", format!("host-{n}"), host_bytes(&m)));
    }
    let payload = host_bytes(&HostMessage::AllOffersDelivered);
    if let Ok(m) = HvMessage::channel(&payload) {
        let mut b = vec![0u8; HvMessage::SIZE];
        m.write_to(&mut b);
        out.push(("decode", "synic-message".into(), b));
    }
    let payload = bytes_of(&GuestMessage::RequestOffers);
    if let Ok(m) = HvInputPostMessage::channel(4, &payload) {
        let mut b = vec![0u8; HvInputPostMessage::SIZE];
        m.write_to(&mut b);
        out.push(("decode", "post-message-input".into(), b));
    }
    out.push((
        "decode",
        "packet-inband".into(),
        inband(PacketType::DATA_INBAND, 1, 7, b"hello"),
    ));
}

/// A `ring` script op: `OP V:u32` (the target reads five bytes).
fn ring_op(w: &mut ScriptWriter, op: u8, v: u32) {
    w.u8(op).u32(v);
}

fn ring_seeds(out: &mut Vec<Seed>) {
    // Packets written, read and committed, with batches.
    let mut w = ScriptWriter::new();
    w.u8(0);
    for i in 0..4 {
        ring_op(&mut w, 5, 3 + i);
    }
    for _ in 0..4 {
        ring_op(&mut w, 6, 0);
    }
    ring_op(&mut w, 7, 0);
    ring_op(&mut w, 8, 0);
    out.push(("ring", "write-read".into(), w.finish()));
    // The ring filled, a pending send size, the peer's indices moved.
    let mut w = ScriptWriter::new();
    w.u8(8);
    for _ in 0..12 {
        ring_op(&mut w, 5, 31);
    }
    ring_op(&mut w, 2, 64);
    ring_op(&mut w, 3, RING_FEATURE_PENDING_SEND_SIZE);
    ring_op(&mut w, 6, 0);
    ring_op(&mut w, 7, 0);
    ring_op(&mut w, 5, 31);
    ring_op(&mut w, 0, 0x100);
    ring_op(&mut w, 1, 0x40);
    ring_op(&mut w, 6, 0);
    ring_op(&mut w, 4, 0x0300_0010);
    ring_op(&mut w, 6, 0);
    out.push(("ring", "full-and-peer".into(), w.finish()));
}

fn state_seeds(out: &mut Vec<Seed>) {
    // A connection and a channel's life, as the host's messages tell it.
    let mut w = ScriptWriter::new();
    for (_, m) in host_messages() {
        w.chunk(&host_bytes(&m));
    }
    out.push(("state", "host-messages".into(), w.finish()));
    let r = relid(5);
    let g = gpadl_id(7);
    let mut w = ScriptWriter::new();
    for m in [
        HostMessage::VersionResponse(VersionReply {
            supported: true,
            connection_state: 0,
            msg_conn_id: 4,
            supported_features: None,
        }),
        HostMessage::Offer(tests_support::offer(r)),
        HostMessage::AllOffersDelivered,
        HostMessage::GpadlCreated {
            relid: r,
            gpadl: g,
            status: 0,
        },
        HostMessage::OpenResult {
            relid: r,
            open_id: 1,
            status: 0,
        },
        HostMessage::Rescind { relid: r },
        HostMessage::UnloadResponse,
    ] {
        w.chunk(&host_bytes(&m));
        // Guest events between the messages (the selector is the length).
        for n in [6u8, 7, 10] {
            w.u8(n).bytes(&vec![0; usize::from(n)]);
        }
    }
    out.push(("state", "open-rescind-unload".into(), w.finish()));
}

fn gpadl_seeds(out: &mut Vec<Seed>) {
    // Header and bodies of ring GPADLs, small and large.
    for (name, n) in [("one-page", 1u64), ("ring-4", 4), ("ring-60", 60)] {
        let pfns: Vec<u64> = (8..8 + n).collect();
        let mut w = ScriptWriter::new();
        for m in GpadlMessages::new(relid(3), gpadl_id(0x100), &pfns).expect("a GPADL") {
            w.u8(0).chunk(&bytes_of(&m));
        }
        out.push(("gpadl", name.into(), w.finish()));
    }
    // Two ranges in one header, and the guest's encoder.
    let mut data = Words::new();
    for x in [
        range_word(GpaRange {
            byte_count: 100,
            byte_offset: 4000,
        }),
        9,
        10,
        range_word(GpaRange {
            byte_count: 8192,
            byte_offset: 0,
        }),
        20,
        21,
    ] {
        data.push(x);
    }
    let m = GuestMessage::GpadlHeader {
        relid: relid(3),
        gpadl: gpadl_id(0x101),
        range_buflen: 48,
        rangecount: 2,
        data,
    };
    let mut w = ScriptWriter::new();
    w.u8(0).chunk(&bytes_of(&m));
    w.u8(1).u32(0x10).u8(1).u16(100).u32(3 * 4096);
    w.u8(1).u32(0x20).u8(3).u16(0).u32(40 * 4096);
    w.u8(3).u8(2).chunk(
        &[
            range_word(GpaRange {
                byte_count: 10,
                byte_offset: 5,
            }),
            1,
            range_word(GpaRange {
                byte_count: 4096,
                byte_offset: 0,
            }),
            2,
        ]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect::<Vec<u8>>(),
    );
    out.push(("gpadl", "two-ranges-and-encoder".into(), w.finish()));
    // The guest's GPADL state: created, teardown, torndown.
    let mut w = ScriptWriter::new();
    w.u8(2).chunk(&host_bytes(&HostMessage::GpadlCreated {
        relid: relid(3),
        gpadl: gpadl_id(0x100),
        status: 0,
    }));
    w.u8(2).chunk(&[]).u8(0);
    w.u8(2).chunk(&host_bytes(&HostMessage::GpadlTorndown {
        gpadl: gpadl_id(0x100),
    }));
    w.u8(2).chunk(&[]).u8(1);
    out.push(("gpadl", "state".into(), w.finish()));
}

fn packet_seeds(out: &mut Vec<Seed>) {
    out.push((
        "packet",
        "inband".into(),
        inband(
            PacketType::DATA_INBAND,
            PACKET_FLAG_COMPLETION_REQUESTED,
            1,
            b"ping",
        ),
    ));
    out.push((
        "packet",
        "completion".into(),
        inband(PacketType::COMP, 0, 1, &[0; 16]),
    ));
    let p1: [u64; 2] = [0x10, 0x11];
    let p2: [u64; 1] = [0x20];
    out.push((
        "packet",
        "gpa-direct".into(),
        gpa_direct(
            2,
            &[
                (
                    GpaRange {
                        byte_count: 6000,
                        byte_offset: 100,
                    },
                    &p1,
                ),
                (
                    GpaRange {
                        byte_count: 10,
                        byte_offset: 0,
                    },
                    &p2,
                ),
            ],
            b"gpa",
        ),
    ));
    out.push((
        "packet",
        "xfer-pages".into(),
        xfer_pages(3, &[(100, 0), (200, 4096)], b"rndis"),
    ));
}

/// Linux's IC version lists (framework; heartbeat, shutdown, time sync).
const FW: &[IcVersion] = &[IcVersion::new(1, 0), IcVersion::new(3, 0)];
const HB: &[IcVersion] = &[IcVersion::new(1, 0), IcVersion::new(3, 0)];
const SD: &[IcVersion] = &[
    IcVersion::new(1, 0),
    IcVersion::new(3, 0),
    IcVersion::new(3, 1),
    IcVersion::new(3, 2),
];
const TS: &[IcVersion] = &[
    IcVersion::new(1, 0),
    IcVersion::new(3, 0),
    IcVersion::new(4, 0),
];

fn ic_request(t: IcMsgType, body: &[u8]) -> Vec<u8> {
    let hdr = ic::request_header(t, IcVersion::new(3, 0), IcVersion::new(3, 0), 1);
    let mut b = vec![0u8; ICMSG_HDR_SIZE + body.len()];
    ic::encode(&mut b, &hdr, body).expect("room");
    b
}

fn ic_seeds(out: &mut Vec<Seed>) {
    let mut req = [0u8; 256];
    let n = ic::build_negotiate_request(&mut req, FW, TS, 0).expect("a request");
    let req = &req[..n];
    let mut s = vec![0u8];
    s.extend_from_slice(req);
    out.push(("ic", "negotiate-request".into(), s));
    let mut ans = vec![0u8; 256];
    let (n, _) = ic::answer_negotiate(req, &mut ans, FW, TS).expect("an answer");
    let mut s = vec![9u8];
    s.extend_from_slice(&ans[..n]);
    out.push(("ic", "negotiate-answer".into(), s));
    let mut body = vec![0u8; HeartbeatMsgData::SIZE];
    HeartbeatMsgData {
        seq_num: 5,
        reserved: [0; 8],
    }
    .write_to(&mut body);
    let mut hb = ic_request(IcMsgType::HEARTBEAT, &body);
    let mut s = vec![1u8];
    s.extend_from_slice(&hb);
    out.push(("ic", "heartbeat-request".into(), s));
    ic::make_response(&mut hb, 0).expect("a response");
    let mut s = vec![1u8];
    s.extend_from_slice(&hb);
    out.push(("ic", "heartbeat-answer".into(), s));
    let mut body = vec![0u8; ShutdownMsgData::SIZE];
    let mut sd = ShutdownMsgData::zeroed();
    sd.flags = 2;
    sd.write_to(&mut body);
    let mut s = vec![2u8];
    s.extend_from_slice(&ic_request(IcMsgType::SHUTDOWN, &body));
    out.push(("ic", "shutdown-request".into(), s));
    let mut body = vec![0u8; IcTimesyncData::SIZE];
    IcTimesyncData::zeroed().write_to(&mut body);
    let mut s = vec![3u8];
    s.extend_from_slice(&ic_request(IcMsgType::TIMESYNC, &body));
    out.push(("ic", "timesync-request".into(), s));
}

fn mailbox_request(cmd: Command, vcpu: u32, args: [u64; 4], data: &[u8]) -> Vec<u8> {
    let mut d = [0u8; ivshmem::MAILBOX_DATA_SIZE];
    d[..data.len()].copy_from_slice(data);
    let mut b = vec![0u8; layout::USED];
    Request {
        seq: 1,
        cmd,
        vcpu,
        args,
        data: d,
    }
    .encode(&mut b)
    .expect("a mailbox");
    b
}

fn post_input(conn: u32, payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    for w in [conn, 0, 1, payload.len() as u32] {
        d.extend_from_slice(&w.to_le_bytes());
    }
    d.extend_from_slice(payload);
    d
}

fn ivshmem_seeds(out: &mut Vec<Seed>) {
    let hello = u64::from(ivshmem::VERSION_MAJOR) << 16;
    for (name, cmd, args, data) in [
        ("hello", Command::HELLO, [hello, 2, 0, 0], vec![]),
        (
            "synic-setup",
            Command::SYNIC_SETUP,
            [0x1001, 0x2001, 2, 1],
            vec![],
        ),
        (
            "post-message",
            Command::POST_MESSAGE,
            [0; 4],
            post_input(4, &bytes_of(&GuestMessage::RequestOffers)),
        ),
        ("signal", Command::SIGNAL_EVENT, [0x1_0005, 0, 0, 0], vec![]),
        ("ping", Command::PING, [0x8000, 16, 1, 0xcafe], vec![]),
    ] {
        out.push(("ivshmem", name.into(), mailbox_request(cmd, 0, args, &data)));
    }
    let h = Header {
        version_major: ivshmem::VERSION_MAJOR,
        version_minor: ivshmem::VERSION_MINOR,
        shm_size: 0x10000,
        features: 0,
        host_state: HostState::READY,
        num_vectors: 4,
        num_mailboxes: 2,
        host_peer_id: 1,
        guest_ram_size: 256 << 20,
    };
    let mut b = 0x10000u64.to_le_bytes().to_vec();
    let mut hb = vec![0u8; ivshmem::header::USED];
    h.encode(&mut hb).expect("a header");
    b.extend_from_slice(&hb);
    out.push(("ivshmem", "header".into(), b));
}

/// Linux's answer to an IC request: status 0, a heartbeat's sequence
/// number plus one, a time sample's times zeroed (the host does not read
/// them, and the seeds must not depend on the clock).
fn ic_answer(request: &[u8]) -> Option<Vec<u8>> {
    let mut body = request.to_vec();
    let m = ic::parse(&body).ok()?;
    let t = m.hdr.icmsgtype;
    if t == IcMsgType::HEARTBEAT {
        let mut h = HeartbeatMsgData::read_from(m.body)?;
        h.seq_num += 1;
        h.write_to(&mut body[ICMSG_HDR_SIZE..])?;
    } else if t == IcMsgType::TIMESYNC {
        body[ICMSG_HDR_SIZE..].fill(0);
    }
    ic::make_response(&mut body, 0).ok()?;
    Some(body)
}

/// A `host-vmbus` session: applies each operation to a rig and records
/// it, so that the guest can answer what the host really sent.
struct Session {
    rig: Rig,
    w: ScriptWriter,
    next_page: u64,
    next_gpadl: u32,
}

/// A channel the session opened: its rings.
#[derive(Clone, Copy)]
struct Open {
    relid: Relid,
    g2h: RingAt,
    h2g: RingAt,
    gpadl: GpadlId,
}

impl Session {
    fn new(profile_byte: u8) -> Self {
        let mut rig = Rig::new(crate::host::profile(profile_byte));
        rig.attach_guest();
        let mut w = ScriptWriter::new();
        w.u8(profile_byte);
        Self {
            rig,
            w,
            next_page: 8,
            next_gpadl: 0x100,
        }
    }

    fn op(&mut self, op: VmbusOp<'_>) -> Seen {
        op.write(&mut self.w);
        self.rig.apply(&op)
    }

    fn post(&mut self, conn: u32, m: &GuestMessage) -> Seen {
        let b = bytes_of(m);
        self.op(VmbusOp::Post {
            vcpu: 0,
            connection_id: conn,
            payload: &b,
        })
    }

    /// Contacts at `v` and asks for offers; returns them.
    fn connect(&mut self, v: Version, monitor: bool) -> Vec<vmbus_proto::message::Offer> {
        let c = v.contact_connection_id();
        self.post(c, &contact(v, monitor));
        let seen = self.post(c, &GuestMessage::RequestOffers);
        seen.messages
            .iter()
            .filter_map(|m| match m {
                HostMessage::Offer(o) => Some(*o),
                _ => None,
            })
            .collect()
    }

    /// Creates a ring GPADL of one data page per ring and opens `r`.
    fn open(&mut self, conn: u32, r: Relid) -> Open {
        let p = self.next_page;
        self.next_page += 4;
        let g = gpadl_id(self.next_gpadl);
        self.next_gpadl += 1;
        let at = |c: u64| RingAt {
            control: c as u8,
            first: (c + 1) as u8,
            pages: 0,
        };
        let (g2h, h2g) = (at(p), at(p + 2));
        for c in [p, p + 2] {
            let addr = (c * PAGE) as u32 + ControlWord::FeatureBits.offset() as u32;
            self.op(VmbusOp::Write {
                addr,
                bytes: &RING_FEATURE_PENDING_SEND_SIZE.to_le_bytes(),
            });
        }
        let pfns: Vec<u64> = (p..p + 4).collect();
        for m in GpadlMessages::new(r, g, &pfns).expect("a ring GPADL") {
            self.post(conn, &m);
        }
        self.post(conn, &open_request(r, g, 2, 0));
        Open {
            relid: r,
            g2h,
            h2g,
            gpadl: g,
        }
    }

    /// The guest writes `pkt` and signals (HvSignalEvent, or the monitor
    /// bit and a poll); returns what the host wrote back.
    fn send(&mut self, o: Open, monitor: Option<u8>, pkt: &[u8]) -> Vec<Vec<u8>> {
        self.op(VmbusOp::RingWrite {
            at: o.g2h,
            packet: pkt,
        });
        match monitor {
            Some(id) => {
                self.op(VmbusOp::Monitor { id });
                self.op(VmbusOp::Poll);
            }
            None => {
                self.op(VmbusOp::Signal {
                    relid: o.relid.get() as u8,
                });
            }
        }
        self.op(VmbusOp::RingRead { at: o.h2g }).packets
    }

    /// Answers the IC negotiation the host sent on `o`, with Linux's
    /// versions `msg`; returns what the host sent next.
    fn negotiate(&mut self, o: Open, monitor: Option<u8>, msg: &[IcVersion]) -> Vec<Vec<u8>> {
        let sent = self.op(VmbusOp::RingRead { at: o.h2g }).packets;
        let Some(req) = sent.first() else {
            return Vec::new();
        };
        let Ok(p) = packet::parse(req) else {
            return Vec::new();
        };
        let mut ans = vec![0u8; p.payload.len() + 64];
        let Ok((n, _)) = ic::answer_negotiate(p.payload, &mut ans, FW, msg) else {
            return Vec::new();
        };
        let a = inband(PacketType::DATA_INBAND, 0, p.desc.trans_id, &ans[..n]);
        self.send(o, monitor, &a)
    }

    /// Answers each IC request in `sent` as Linux does (heartbeat: the
    /// sequence number plus one; others: status 0).
    fn answer(&mut self, o: Open, monitor: Option<u8>, sent: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut back = Vec::new();
        for req in sent {
            let Ok(p) = packet::parse(req) else { continue };
            let Some(body) = ic_answer(p.payload) else {
                continue;
            };
            let a = inband(PacketType::DATA_INBAND, 0, p.desc.trans_id, &body);
            back.extend(self.send(o, monitor, &a));
        }
        back
    }

    fn finish(mut self) -> Vec<u8> {
        self.w.finish()
    }
}

fn monitor_of(offers: &[vmbus_proto::message::Offer], r: u32) -> Option<u8> {
    offers
        .iter()
        .find(|o| o.relid.get() == r)
        .and_then(|o| o.monitor_id.map(|m| m.get()))
}

fn host_vmbus_seeds(out: &mut Vec<Seed>) {
    // Echo on 5.3 (Azure): in-band, GPA-direct, sub-channels, modify,
    // close, teardown, unload.
    let mut s = Session::new(0);
    let offers = s.connect(Version::V5_3, true);
    let e = s.open(4, relid(5));
    s.send(
        e,
        None,
        &inband(
            PacketType::DATA_INBAND,
            PACKET_FLAG_COMPLETION_REQUESTED,
            1,
            b"echo me",
        ),
    );
    s.op(VmbusOp::Write {
        addr: 0x3f000,
        bytes: b"guest data in a page of its own",
    });
    let pfn = [0x3fu64];
    s.send(
        e,
        None,
        &gpa_direct(
            2,
            &[(
                GpaRange {
                    byte_count: 31,
                    byte_offset: 0,
                },
                &pfn,
            )],
            b"gpa",
        ),
    );
    let mut sub = b"ECHO-SUB".to_vec();
    sub.extend_from_slice(&2u32.to_le_bytes());
    s.send(e, None, &inband(PacketType::DATA_INBAND, 0, 3, &sub));
    s.post(
        4,
        &GuestMessage::ModifyChannel {
            relid: e.relid,
            target_vp: 1,
        },
    );
    s.post(4, &GuestMessage::CloseChannel { relid: e.relid });
    s.post(
        4,
        &GuestMessage::GpadlTeardown {
            relid: e.relid,
            gpadl: e.gpadl,
        },
    );
    let m4 = monitor_of(&offers, 4);
    let e4 = s.open(4, relid(4));
    s.send(e4, m4, &inband(PacketType::DATA_INBAND, 0, 4, b"monitored"));
    s.post(
        4,
        &GuestMessage::TlConnectRequest {
            endpoint_id: Guid([1; 16]),
            service_id: Guid([2; 16]),
        },
    );
    s.post(4, &GuestMessage::Unload);
    out.push(("host-vmbus", "echo-5.3".into(), s.finish()));

    // Heartbeat (monitored): negotiation, heartbeats answered.
    let mut s = Session::new(0);
    let offers = s.connect(Version::V5_3, true);
    let m = monitor_of(&offers, 1);
    let o = s.open(4, relid(1));
    // Each poll falls due (period 0): answer the latest heartbeat only.
    let mut sent = s.negotiate(o, m, HB);
    for _ in 0..3 {
        let last = sent.split_off(sent.len().saturating_sub(1));
        sent = s.answer(o, m, &last);
    }
    out.push(("host-vmbus", "heartbeat".into(), s.finish()));

    // Shutdown: negotiation, the operator's request, the guest's answer.
    let mut s = Session::new(0);
    let offers = s.connect(Version::V5_3, true);
    let m = monitor_of(&offers, 2);
    let o = s.open(4, relid(2));
    s.negotiate(o, m, SD);
    s.op(VmbusOp::Control { cmd: 3, relid: 2 });
    let sent = s.op(VmbusOp::RingRead { at: o.h2g }).packets;
    s.answer(o, m, &sent);
    out.push(("host-vmbus", "shutdown".into(), s.finish()));

    // Time sync: negotiated at 4.0 (reference-time samples).
    let mut s = Session::new(0);
    let offers = s.connect(Version::V5_3, true);
    let m = monitor_of(&offers, 3);
    let o = s.open(4, relid(3));
    let sent = s.negotiate(o, m, TS);
    s.answer(o, m, &sent);
    out.push(("host-vmbus", "timesync".into(), s.finish()));

    // An old guest (3.0, connection id 1, interrupt page) on the old
    // profile: the shared event connection, rescind and release.
    let mut s = Session::new(2);
    s.connect(Version::WIN8_1, false);
    let o = s.open(1, relid(5));
    s.op(VmbusOp::RingWrite {
        at: o.g2h,
        packet: &inband(PacketType::DATA_INBAND, 0, 1, b"old"),
    });
    s.op(VmbusOp::Signal { relid: 0 });
    s.op(VmbusOp::RingRead { at: o.h2g });
    s.op(VmbusOp::Control { cmd: 0, relid: 5 });
    s.post(1, &GuestMessage::CloseChannel { relid: o.relid });
    s.post(1, &GuestMessage::RelidReleased { relid: o.relid });
    s.op(VmbusOp::Control { cmd: 1, relid: 0 });
    s.op(VmbusOp::Control { cmd: 2, relid: 4 });
    s.post(1, &GuestMessage::Unload);
    out.push(("host-vmbus", "old-guest".into(), s.finish()));

    // QEMU's profile: 4.0 on connection 1, a refused version first.
    let mut s = Session::new(1);
    s.post(1, &contact(Version::V5_3, true));
    s.connect(Version::WIN10, true);
    let o = s.open(1, relid(5));
    s.send(o, None, &inband(PacketType::DATA_INBAND, 0, 1, b"qemu"));
    s.post(1, &contact(Version::WIN10, true));
    out.push(("host-vmbus", "qemu-profile".into(), s.finish()));
}

fn host_mailbox_seeds(out: &mut Vec<Seed>) {
    let hello = u64::from(ivshmem::VERSION_MAJOR) << 16 | u64::from(ivshmem::VERSION_MINOR);
    let mut w = ScriptWriter::new();
    w.u8(0);
    let req = |w: &mut ScriptWriter, index: u8, cmd, vcpu, args, data: &[u8]| {
        MailboxOp::Request {
            index,
            bytes: &MailboxOp::encode(cmd, vcpu, args, data),
        }
        .write(w);
    };
    req(&mut w, 0, Command::HELLO, 0, [hello, 2, 0, 0], &[]);
    for vcpu in 0..2u32 {
        let i = vcpu as usize;
        req(
            &mut w,
            0,
            Command::SYNIC_SETUP,
            vcpu,
            [SIMP[i] | 1, SIEFP[i] | 1, SINT, 1 + u64::from(vcpu)],
            &[],
        );
    }
    let c = bytes_of(&contact(Version::V5_3, true));
    req(
        &mut w,
        0,
        Command::POST_MESSAGE,
        0,
        [0; 4],
        &post_input(4, &c),
    );
    req(&mut w, 0, Command::EOM, 0, [0; 4], &[]);
    let ro = bytes_of(&GuestMessage::RequestOffers);
    req(
        &mut w,
        0,
        Command::POST_MESSAGE,
        0,
        [0; 4],
        &post_input(4, &ro),
    );
    for _ in 0..3 {
        req(&mut w, 0, Command::EOM, 0, [0; 4], &[]);
    }
    MailboxOp::Write {
        addr: 0x8000,
        bytes: &[1, 2, 3, 4],
    }
    .write(&mut w);
    req(&mut w, 1, Command::PING, 1, [0x8000, 4, 2, 0x77], &[]);
    req(
        &mut w,
        1,
        Command::SIGNAL_EVENT,
        0,
        [0x1_0005, 0, 0, 0],
        &[],
    );
    MailboxOp::Poll.write(&mut w);
    req(&mut w, 0, Command(99), 0, [0; 4], &[]);
    req(&mut w, 0, Command::GOODBYE, 0, [0; 4], &[]);
    out.push(("host-mailbox", "session".into(), w.finish()));

    // Requests that must be refused, and a raw write of the shared memory
    // (a request whose sequence number the guest bumped by hand).
    let mut w = ScriptWriter::new();
    w.u8(1);
    req(&mut w, 0, Command::HELLO, 0, [hello, 0, 0, 0], &[]);
    req(&mut w, 0, Command::HELLO, 0, [hello, 1, 0, 0], &[]);
    req(
        &mut w,
        0,
        Command::SYNIC_SETUP,
        0,
        [0xfff_ffff_f001, 1, 20, 9],
        &[],
    );
    req(
        &mut w,
        0,
        Command::SYNIC_SETUP,
        3,
        [0x1001, 0x2001, 2, 1 | 1 << 32],
        &[],
    );
    let mut bad = post_input(1, &ro);
    bad[4] = 1;
    req(&mut w, 0, Command::POST_MESSAGE, 0, [0; 4], &bad);
    req(
        &mut w,
        0,
        Command::POST_MESSAGE,
        0,
        [0; 4],
        &post_input(77, &ro),
    );
    req(
        &mut w,
        0,
        Command::SIGNAL_EVENT,
        0,
        [1 << 40, 1 << 20, 0, 0],
        &[],
    );
    req(&mut w, 0, Command::PING, 0, [u64::MAX - 3, 8, 0, 0], &[]);
    let base = ivshmem::mailbox_offset(1).expect("mailbox 1") as u16;
    MailboxOp::Shm {
        off: base + layout::CMD as u16,
        bytes: &Command::EOM.0.to_le_bytes(),
    }
    .write(&mut w);
    MailboxOp::Shm {
        off: base,
        bytes: &7u32.to_le_bytes(),
    }
    .write(&mut w);
    out.push(("host-mailbox", "refused".into(), w.finish()));
}

fn host_gpadl_seeds(out: &mut Vec<Seed>) {
    let mut w = ScriptWriter::new();
    for (g, n) in [(0x100u32, 4u64), (0x101, 40)] {
        let pfns: Vec<u64> = (8..8 + n).collect();
        for m in GpadlMessages::new(relid(1), gpadl_id(g), &pfns).expect("a GPADL") {
            w.u8(0).chunk(&bytes_of(&m));
        }
    }
    w.u8(0).chunk(&bytes_of(&GuestMessage::GpadlTeardown {
        relid: relid(1),
        gpadl: gpadl_id(0x100),
    }));
    w.u8(1).u8(1);
    w.u8(2);
    out.push(("host-gpadl", "create-teardown".into(), w.finish()));
    // A PFN outside guest RAM, a body for no GPADL, a duplicate.
    let mut w = ScriptWriter::new();
    let pfns = [3u64, 500];
    for m in GpadlMessages::new(relid(2), gpadl_id(0x200), &pfns).expect("a GPADL") {
        w.u8(0).chunk(&bytes_of(&m));
    }
    let pfns: Vec<u64> = (1..30).collect();
    let mut it = GpadlMessages::new(relid(2), gpadl_id(0x201), &pfns).expect("a GPADL");
    let header = it.next().expect("a header");
    let body = it.next().expect("a body");
    w.u8(0).chunk(&bytes_of(&body));
    w.u8(0).chunk(&bytes_of(&header));
    w.u8(0).chunk(&bytes_of(&header));
    out.push(("host-gpadl", "refused".into(), w.finish()));
}

fn host_ring_seeds(out: &mut Vec<Seed>) {
    // Contiguous rings, initialised: packets both ways until full.
    let mut w = ScriptWriter::new();
    w.u8(0).u8(0).bytes(&[2, 3, 4, 5]).u8(1);
    for i in 0..6u8 {
        w.u8(0).u8(1).chunk(&[i; 40]);
    }
    w.u8(1).u8(3).u8(1).u8(7);
    for i in 0..40u8 {
        w.u8(2).chunk(&[i; 200]);
    }
    w.u8(4).u8(3).u8(4);
    out.push(("host-ring", "both-ways".into(), w.finish()));
    // Scattered pages of two data pages each; the guest breaks an index.
    let mut w = ScriptWriter::new();
    w.u8(1).u8(1).bytes(&[9, 3, 12, 1, 7, 14]).u8(1);
    for i in 0..30u8 {
        w.u8(0).u8(0).chunk(&[i; 250]);
        if i % 4 == 3 {
            w.u8(1).u8(7);
        }
    }
    w.u8(5).u8(0).u16(0).chunk(&0x7fff_fff8u32.to_le_bytes());
    w.u8(0).u8(0).chunk(b"after");
    w.u8(1).u8(7);
    out.push(("host-ring", "scattered-corrupt".into(), w.finish()));
}

/// A `host-devices` script against a backend of `kind`: the backend,
/// opened, the script, which starts with the kind, and what the backend
/// sent on its open.
fn device_script(kind: DeviceKind) -> (DeviceRig, ScriptWriter, Vec<Vec<u8>>) {
    let k = DeviceKind::ALL
        .iter()
        .position(|&x| x == kind)
        .expect("a kind") as u8;
    let mut rig = DeviceRig::new(kind);
    let mut w = ScriptWriter::new();
    w.u8(k);
    let sent = rig.open();
    (rig, w, sent)
}

/// Writes `o` to the script and carries it out; what the backend sent.
fn device_op(rig: &mut DeviceRig, w: &mut ScriptWriter, o: DeviceOp<'_>) -> Vec<Vec<u8>> {
    o.write(w);
    rig.apply(&o)
}

/// The guest's answer to the backend's negotiation request `req`, offering
/// `msg`, written and carried out; what the backend sent.
fn negotiate(
    rig: &mut DeviceRig,
    w: &mut ScriptWriter,
    req: &[u8],
    msg: &[IcVersion],
) -> Vec<Vec<u8>> {
    let p = packet::parse(req).expect("the host's packet parses");
    let mut ans = vec![0u8; p.payload.len() + 64];
    let (n, _) = ic::answer_negotiate(p.payload, &mut ans, FW, msg).expect("an answer");
    let a = inband(PacketType::DATA_INBAND, 0, p.desc.trans_id, &ans[..n]);
    device_op(rig, w, DeviceOp::Packet(&a))
}

/// A `host-devices` session against a backend of its own.
fn device_session(kind: DeviceKind, msg: &[IcVersion], name: &str, out: &mut Vec<Seed>) {
    let (mut rig, mut w, mut sent) = device_script(kind);
    if let Some(req) = sent.first() {
        sent = negotiate(&mut rig, &mut w, req, msg);
    }
    // The devices that act on the operator's commands: a shutdown request,
    // a KVP set, a VSS thaw, a copy of an empty file.
    if matches!(
        kind,
        DeviceKind::Shutdown | DeviceKind::Kvp | DeviceKind::Vss | DeviceKind::Fcopy
    ) {
        sent = device_op(&mut rig, &mut w, DeviceOp::Control { pick: 1 });
    }
    for _ in 0..2 {
        for req in std::mem::take(&mut sent) {
            let p = packet::parse(&req).expect("the host's packet parses");
            if let Some(body) = ic_answer(p.payload) {
                let a = inband(PacketType::DATA_INBAND, 0, p.desc.trans_id, &body);
                device_op(&mut rig, &mut w, DeviceOp::Packet(&a));
            }
        }
        sent = device_op(&mut rig, &mut w, DeviceOp::Tick);
    }
    device_op(&mut rig, &mut w, DeviceOp::Reopen);
    out.push(("host-devices", name.into(), w.finish()));
}

/// The UTF-16 bytes of `s` and its NUL, as the guest's daemons write them.
fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// Writes `bytes` at `at` of `body`, if they fit.
fn put(body: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(d) = body.get_mut(at..at + bytes.len()) {
        d.copy_from_slice(bytes);
    }
}

/// The answer of Linux's hv_kvp_daemon to a KVP request (the `n`th answer
/// of the session): an enumerated pair, a value, an adapter's addresses,
/// or a failure (the fourth answer, as a delete of an unknown key).
fn kvp_answer(request: &[u8], n: usize) -> Option<Vec<u8>> {
    use std::mem::offset_of;
    use vmbus_proto::wire::kvp::{
        KvpExchgMsgValue as V, KvpHdr, KvpIpMsg, KvpIpaddrValue as Ip, KvpMsgEnumerate, KvpOp,
        ADDR_FAMILY_IPV4, REG_SZ,
    };
    let mut body = request.to_vec();
    let m = ic::parse(request).ok()?;
    if m.hdr.icmsgtype != IcMsgType::KVPEXCHANGE {
        return ic_answer(request);
    }
    let at = request.len() - m.body.len();
    let op = KvpOp(*m.body.first()?);
    let pair = |body: &mut Vec<u8>, data: usize, key: &str, value: &str| {
        let (k, v) = (utf16z(key), utf16z(value));
        put(
            body,
            data + offset_of!(V, value_type),
            &REG_SZ.to_le_bytes(),
        );
        put(
            body,
            data + offset_of!(V, key_size),
            &(k.len() as u32).to_le_bytes(),
        );
        put(
            body,
            data + offset_of!(V, value_size),
            &(v.len() as u32).to_le_bytes(),
        );
        put(body, data + offset_of!(V, key), &k);
        put(body, data + offset_of!(V, value), &v);
    };
    let mut status = 0;
    if op == KvpOp::ENUMERATE {
        let data = at + KvpHdr::SIZE + offset_of!(KvpMsgEnumerate, data);
        pair(&mut body, data, "OSName", "Debian GNU/Linux");
    } else if op == KvpOp::GET {
        pair(&mut body, at + KvpHdr::SIZE, "", "rvmbus-guest");
    } else if op == KvpOp::GET_IP_INFO {
        let ip = at + offset_of!(KvpIpMsg, kvp_ip_val);
        body[ip + offset_of!(Ip, addr_family)] = ADDR_FAMILY_IPV4;
        body[ip + offset_of!(Ip, dhcp_enabled)] = 1;
        for (field, addr) in [
            (offset_of!(Ip, ip_addr), "10.0.2.15"),
            (offset_of!(Ip, sub_net), "255.255.255.0"),
            (offset_of!(Ip, gate_way), "10.0.2.2"),
            (offset_of!(Ip, dns_addr), "10.0.2.3"),
        ] {
            put(&mut body, ip + field, &utf16z(addr));
        }
    }
    if n == 3 {
        // HV_E_FAIL, as the daemon answers a key it does not have.
        status = 0x8000_4005;
    }
    ic::make_response(&mut body, status).ok()?;
    Some(body)
}

/// The answer of Linux's hv_vss_daemon: a hot-backup query answered with
/// its flags, a freeze that fails (the second answer), the rest done.
fn vss_answer(request: &[u8], n: usize) -> Option<Vec<u8>> {
    use vmbus_proto::wire::vss::{VssOp, VSS_HBU_NO_AUTO_RECOVERY};
    let mut body = request.to_vec();
    let m = ic::parse(request).ok()?;
    if m.hdr.icmsgtype != IcMsgType::VSS {
        return ic_answer(request);
    }
    let at = request.len() - m.body.len();
    if m.body.first().copied() == Some(VssOp::HOT_BACKUP.0) {
        put(&mut body, at + 8, &VSS_HBU_NO_AUTO_RECOVERY.to_le_bytes());
    }
    let status = if n == 1 { 0x8000_4005 } else { 0 };
    ic::make_response(&mut body, status).ok()?;
    Some(body)
}

/// The answer of Linux's hv_fcopy_uio_daemon: every message done, except
/// the `fail`th, which fails (0: none).
fn fcopy_answer(fail: usize) -> impl Fn(&[u8], usize) -> Option<Vec<u8>> {
    move |request, n| {
        let mut body = request.to_vec();
        let m = ic::parse(request).ok()?;
        if m.hdr.icmsgtype != IcMsgType::FCOPY {
            return ic_answer(request);
        }
        let status = if n + 1 == fail { 0x8000_4005 } else { 0 };
        ic::make_response(&mut body, status).ok()?;
        Some(body)
    }
}

/// The guest's answer to a message of the host's (given how many answers
/// came before), if it answers.
type GuestAnswer = dyn Fn(&[u8], usize) -> Option<Vec<u8>>;

/// A `host-devices` session in which the operator makes the requests
/// `picks` ([`DeviceRig::control`]) one after the other and the guest
/// answers each message the backend sends with `answer` (given the
/// message and how many answers came before).
fn answered_session(
    kind: DeviceKind,
    msg: &[IcVersion],
    name: &str,
    picks: &[u8],
    answer: &GuestAnswer,
    out: &mut Vec<Seed>,
) {
    let (mut rig, mut w, sent) = device_script(kind);
    let req = sent.first().expect("a negotiation");
    negotiate(&mut rig, &mut w, req, msg);
    let mut answers = 0;
    for &pick in picks {
        let mut sent = device_op(&mut rig, &mut w, DeviceOp::Control { pick });
        for _ in 0..8 {
            if sent.is_empty() {
                break;
            }
            let mut next = Vec::new();
            for req in std::mem::take(&mut sent) {
                let p = packet::parse(&req).expect("the host's packet parses");
                if let Some(body) = answer(p.payload, answers) {
                    answers += 1;
                    let a = inband(PacketType::DATA_INBAND, 0, p.desc.trans_id, &body);
                    next.extend(device_op(&mut rig, &mut w, DeviceOp::Packet(&a)));
                }
            }
            sent = next;
        }
    }
    out.push(("host-devices", name.into(), w.finish()));
}

fn host_devices_seeds(out: &mut Vec<Seed>) {
    device_session(DeviceKind::Heartbeat, HB, "heartbeat", out);
    device_session(DeviceKind::Shutdown, SD, "shutdown", out);
    device_session(DeviceKind::Timesync, TS, "timesync", out);
    device_session(DeviceKind::Timesync, &TS[..2], "timesync-3.0", out);
    device_session(DeviceKind::Kvp, &TS[..3], "kvp", out);
    device_session(DeviceKind::Vss, &[IcVersion::new(5, 0)], "vss", out);
    device_session(DeviceKind::Fcopy, &[IcVersion::new(1, 1)], "fcopy", out);
    // The guest's answers to every kind of request, as Linux's daemons
    // give them.
    let ic3 = &TS[..3];
    answered_session(
        DeviceKind::Kvp,
        ic3,
        "kvp-answers",
        &[0, 2, 4, 3, 5, 1],
        &kvp_answer,
        out,
    );
    answered_session(
        DeviceKind::Vss,
        &[IcVersion::new(5, 0)],
        "vss-answers",
        &[2, 0, 1, 0, 1],
        &vss_answer,
        out,
    );
    let f11 = &[IcVersion::new(1, 1)];
    answered_session(
        DeviceKind::Fcopy,
        f11,
        "fcopy-file",
        &[2, 0],
        &fcopy_answer(0),
        out,
    );
    answered_session(
        DeviceKind::Fcopy,
        f11,
        "fcopy-fails",
        &[2, 3, 0],
        &fcopy_answer(2),
        out,
    );
    let k = DeviceKind::ALL
        .iter()
        .position(|&x| x == DeviceKind::Echo)
        .expect("echo") as u8;
    let mut w = ScriptWriter::new();
    w.u8(k);
    DeviceOp::Inband {
        ptype: 0,
        flags: 1,
        payload: b"echo",
    }
    .write(&mut w);
    let mut sub = b"ECHO-SUB".to_vec();
    sub.extend_from_slice(&3u32.to_le_bytes());
    DeviceOp::Inband {
        ptype: 0,
        flags: 0,
        payload: &sub,
    }
    .write(&mut w);
    DeviceOp::Write {
        addr: 0x2ff0,
        bytes: &[0x5a; 40],
    }
    .write(&mut w);
    let pfns = [2u64, 3];
    DeviceOp::Packet(&gpa_direct(
        5,
        &[(
            GpaRange {
                byte_count: 40,
                byte_offset: 0xff0,
            },
            &pfns,
        )],
        b"gpa",
    ))
    .write(&mut w);
    DeviceOp::Packet(&xfer_pages(6, &[(8, 0)], b"x")).write(&mut w);
    out.push(("host-devices", "echo".into(), w.finish()));
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut out = Vec::new();
    decode_seeds(&mut out);
    ring_seeds(&mut out);
    state_seeds(&mut out);
    gpadl_seeds(&mut out);
    packet_seeds(&mut out);
    ic_seeds(&mut out);
    ivshmem_seeds(&mut out);
    host_mailbox_seeds(&mut out);
    host_vmbus_seeds(&mut out);
    host_gpadl_seeds(&mut out);
    host_ring_seeds(&mut out);
    host_devices_seeds(&mut out);
    crate::storage::seeds(&mut out);
    crate::net::seeds(&mut out);
    crate::hv_iface::seeds(&mut out);
    out
}
