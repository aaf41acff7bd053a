// SPDX-License-Identifier: GPL-2.0

//! The network adapter through the whole host: a scripted guest (netvsc's
//! steps, in netvsc's order) connects, opens the adapter's channel, gives
//! it receive and send buffers by GPADL over the VMBus server, speaks NVSP
//! and RNDIS through the ring, asks for vRSS sub-channels and opens one,
//! and the operator changes the link; no TAP device (frames are dropped
//! and counted).

mod common;

use std::time::{Duration, Instant};

use common::guest::{Guest, GuestChannel, SCRATCH};
use common::HostProc;
use vmbus_proto::gpadl::GpadlMessages;
use vmbus_proto::message::{GuestMessage, HostMessage};
use vmbus_proto::nvsp::encode;
use vmbus_proto::packet::{encode_inband, parse, PacketKind};
use vmbus_proto::rndis::{self, RndisMessage};
use vmbus_proto::types::GpadlId;
use vmbus_proto::version::Version;
use vmbus_proto::wire::nvsp::*;
use vmbus_proto::wire::packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED};
use vmbus_proto::wire::rndis::{Oid, RndisInitRequest, RndisMsgType, RndisStatus};
use vmbus_proto::wire::{PackedU32, Wire};

const NET: &str = "f8615163-df3e-46c5-913f-f2d2f965ed0e";
const RECV_PAGE: u64 = SCRATCH / 4096;
const SEND_PAGE: u64 = RECV_PAGE + 16;

/// Creates a GPADL of `pages` whole pages from `first` on the channel.
fn buffer_gpadl(g: &mut Guest, ch: &GuestChannel, id: u32, first: u64, pages: u64) {
    let pfns: Vec<u64> = (first..first + pages).collect();
    let gpadl = GpadlId::new(id).unwrap();
    for m in GpadlMessages::new(ch.relid, gpadl, &pfns).unwrap() {
        g.post(4, &m);
    }
    match g.recv() {
        HostMessage::GpadlCreated { status: 0, .. } => {}
        m => panic!("{m:?}"),
    }
}

/// Sends an NVSP message and returns the completion's payload.
fn request<T: Wire>(g: &mut Guest, ch: &mut GuestChannel, t: NvspMsgType, body: &T) -> Vec<u8> {
    g.send_inband(
        ch,
        PACKET_FLAG_COMPLETION_REQUESTED,
        0x77,
        &encode(t, body).unwrap(),
    );
    let p = g.recv_packet(ch).unwrap();
    let pkt = parse(&p).unwrap();
    assert_eq!(
        (pkt.desc.ptype, pkt.desc.trans_id),
        (PacketType::COMP, 0x77)
    );
    pkt.payload.to_vec()
}

/// Copies the frame at `offset` (`count` bytes) out of the receive buffer
/// and completes transfer-page packet `trans_id`, as netvsc does.
fn take_frame(
    g: &mut Guest,
    ch: &mut GuestChannel,
    offset: u32,
    count: u32,
    trans_id: u64,
) -> Vec<u8> {
    let mut m = vec![0u8; count as usize];
    g.q.ram
        .read(RECV_PAGE * 4096 + u64::from(offset), &mut m)
        .unwrap();
    let c = encode(
        NvspMsgType::SEND_RNDIS_PKT_COMPLETE,
        &NvspRndisPacketComplete {
            status: NvspStatus::SUCCESS,
        },
    )
    .unwrap();
    let mut b = [0u8; 64];
    let n = encode_inband(&mut b, PacketType::COMP, 0, trans_id, &c).unwrap();
    g.send_packet(ch, &b[..n]).unwrap();
    m
}

/// Reads the RNDIS message of the next transfer-page packet and
/// completes it.
fn receive(g: &mut Guest, ch: &mut GuestChannel) -> Vec<u8> {
    loop {
        let p = g.recv_packet(ch).unwrap();
        let pkt = parse(&p).unwrap();
        let PacketKind::TransferPages {
            pageset_id, ranges, ..
        } = pkt.kind
        else {
            continue;
        };
        assert_eq!(pageset_id, RECEIVE_BUFFER_ID);
        let r = ranges.iter().next().unwrap();
        return take_frame(g, ch, r.byte_offset, r.byte_count, pkt.desc.trans_id);
    }
}

/// Writes an RNDIS message into send section `index` and sends it; returns
/// the completion's status and the answer, if one comes.
fn rndis_request(g: &mut Guest, ch: &mut GuestChannel, index: u32, msg: &[u8]) -> Vec<u8> {
    g.q.ram
        .write(SEND_PAGE * 4096 + u64::from(index) * 6144, msg)
        .unwrap();
    let r = NvspRndisPacket {
        channel_type: RNDIS_CHANNEL_CONTROL,
        send_buf_section_index: index,
        send_buf_section_size: msg.len() as u32,
    };
    g.send_inband(
        ch,
        PACKET_FLAG_COMPLETION_REQUESTED,
        0x99,
        &encode(NvspMsgType::SEND_RNDIS_PKT, &r).unwrap(),
    );
    // The completion and the answer may come in either order.
    let mut answer = None;
    let mut completed = false;
    while !(completed && answer.is_some()) {
        let p = g.recv_packet(ch).unwrap();
        let pkt = parse(&p).unwrap();
        match pkt.kind {
            PacketKind::Completion => {
                assert_eq!(pkt.desc.trans_id, 0x99);
                assert_eq!(&pkt.payload[..8], &[108, 0, 0, 0, 1, 0, 0, 0]);
                completed = true;
            }
            PacketKind::TransferPages { ranges, .. } => {
                let r = ranges.iter().next().unwrap();
                answer = Some(take_frame(
                    g,
                    ch,
                    r.byte_offset,
                    r.byte_count,
                    pkt.desc.trans_id,
                ));
            }
            k => panic!("{k:?}"),
        }
    }
    answer.unwrap()
}

#[test]
fn netvsc_session_over_the_vmbus_server() {
    let h = HostProc::start(&["--device", "net", "--nic", "mac=02:00:00:00:00:07,queues=3"]);
    let mut g = Guest::new(&h);
    let offers = g.connect(Version::V5_3);
    assert_eq!(offers[0].if_type().to_string(), NET);
    let mut ch = g.open(offers[0], 4);

    // NVSP: netvsc tries 6.1 first.
    let a = request(
        &mut g,
        &mut ch,
        NvspMsgType::INIT,
        &NvspInit {
            min_protocol_ver: NVSP_VERSION_61,
            max_protocol_ver: NVSP_VERSION_61,
        },
    );
    assert_eq!(
        NvspInitComplete::read_from(&a[4..]).unwrap().status,
        NvspStatus::SUCCESS
    );
    let v = encode(
        NvspMsgType::SEND_NDIS_VERSION,
        &NvspNdisVersion {
            ndis_major_ver: 6,
            ndis_minor_ver: 30,
        },
    )
    .unwrap();
    g.send_inband(&mut ch, 0, 0, &v);

    // The buffers, as GPADLs of the channel.
    buffer_gpadl(&mut g, &ch, 0x900, RECV_PAGE, 16);
    buffer_gpadl(&mut g, &ch, 0x901, SEND_PAGE, 6);
    let a = request(
        &mut g,
        &mut ch,
        NvspMsgType::SEND_RECV_BUF,
        &NvspBufferGpadl {
            gpadl_handle: PackedU32::new(0x900),
            id: RECEIVE_BUFFER_ID,
        },
    );
    let c = NvspRecvBufComplete::read_from(&a[4..]).unwrap();
    assert_eq!((c.status, c.num_sections), (NvspStatus::SUCCESS, 1));
    // A GPADL that does not exist.
    let a = request(
        &mut g,
        &mut ch,
        NvspMsgType::SEND_SEND_BUF,
        &NvspBufferGpadl {
            gpadl_handle: PackedU32::new(0x999),
            id: SEND_BUFFER_ID,
        },
    );
    assert_eq!(
        NvspSendBufComplete::read_from(&a[4..]).unwrap().status,
        NvspStatus::FAIL
    );
    let a = request(
        &mut g,
        &mut ch,
        NvspMsgType::SEND_SEND_BUF,
        &NvspBufferGpadl {
            gpadl_handle: PackedU32::new(0x901),
            id: SEND_BUFFER_ID,
        },
    );
    assert_eq!(
        NvspSendBufComplete::read_from(&a[4..])
            .unwrap()
            .section_size,
        6144
    );

    // RNDIS.
    let mut b = [0u8; 64];
    let n = rndis::encode_init_request(
        &mut b,
        &RndisInitRequest {
            req_id: 1,
            major_ver: 1,
            minor_ver: 0,
            max_xfer_size: 0x4000,
        },
    )
    .unwrap();
    let m = rndis_request(&mut g, &mut ch, 0, &b[..n]);
    assert_eq!(&m[..4], &RndisMsgType::INIT_C.0.to_le_bytes());
    let n = rndis::encode_oid_request(
        &mut b,
        RndisMsgType::QUERY,
        2,
        Oid::ETH_PERMANENT_ADDRESS,
        &[],
    )
    .unwrap();
    let m = rndis_request(&mut g, &mut ch, 1, &b[..n]);
    assert_eq!(&m[m.len() - 6..], &[2, 0, 0, 0, 0, 7]);
    let n = rndis::encode_oid_request(
        &mut b,
        RndisMsgType::SET,
        3,
        Oid::GEN_CURRENT_PACKET_FILTER,
        &9u32.to_le_bytes(),
    )
    .unwrap();
    let m = rndis_request(&mut g, &mut ch, 2, &b[..n]);
    assert_eq!(&m[12..16], &RndisStatus::SUCCESS.0.to_le_bytes());

    // vRSS: two sub-channels (queues=3), offered before the answer.
    g.send_inband(
        &mut ch,
        PACKET_FLAG_COMPLETION_REQUESTED,
        0x55,
        &encode(
            NvspMsgType::SUBCHANNEL,
            &NvspSubchannelRequest {
                op: SUBCHANNEL_ALLOCATE,
                num_subchannels: 7,
            },
        )
        .unwrap(),
    );
    let mut subs = Vec::new();
    for i in 1..=2u16 {
        match g.recv() {
            HostMessage::Offer(o) => {
                assert_eq!(o.if_instance(), offers[0].if_instance());
                assert_eq!(o.sub_channel_index(), i);
                subs.push(o);
            }
            m => panic!("{m:?}"),
        }
    }
    let p = g.recv_packet(&mut ch).unwrap();
    let pkt = parse(&p).unwrap();
    let c = NvspSubchannelComplete::read_from(&pkt.payload[4..]).unwrap();
    assert_eq!((c.status, c.num_subchannels), (NvspStatus::SUCCESS, 2));
    let p = g.recv_packet(&mut ch).unwrap();
    let t = parse(&p).unwrap();
    assert_eq!(
        &t.payload[..4],
        &NvspMsgType::SEND_INDIRECTION_TABLE.0.to_le_bytes()
    );
    let mut sc = g.open(subs[0], 1);
    // A sub-channel shares the adapter: RNDIS on it is answered on it.
    let n = rndis::encode_id_request(&mut b, RndisMsgType::KEEPALIVE, 4).unwrap();
    let m = rndis_request(&mut g, &mut sc, 3, &b[..n]);
    assert_eq!(&m[..4], &RndisMsgType::KEEPALIVE_C.0.to_le_bytes());

    // A frame from the guest (no TAP device: dropped, counted).
    let mut msg = vec![0u8; 200];
    let n = rndis::encode_packet(&mut msg, &[0xee; 60], &[]).unwrap();
    let _ = rndis_request_no_answer(&mut g, &mut ch, 0, &msg[..n]);
    let relid = ch.relid.get();
    assert_eq!(h.stat(&format!("dev.{relid}.net.tx_dropped")), 1);

    // The operator takes the link down.
    let out = h.ctl_ok(&["nic-link", &relid.to_string(), "down"]);
    assert!(out.contains("link down (indicated)"), "{out}");
    let m = receive(&mut g, &mut ch);
    let RndisMessage::Other(t) = rndis::parse(&m).unwrap() else {
        panic!()
    };
    assert_eq!(t, RndisMsgType::INDICATE);
    assert_eq!(&m[8..12], &RndisStatus::MEDIA_DISCONNECT.0.to_le_bytes());
    assert_eq!(h.stat(&format!("dev.{relid}.net.link_up")), 0);
    assert!(h.ctl(&["nic-link", "99", "up"]).0 != 0);

    // Every section came back.
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.stat(&format!("dev.{relid}.net.in_flight")) != 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        h.stat(&format!("dev.{relid}.net.bad")),
        1,
        "the unknown GPADL"
    );

    // Closing the primary channel rescinds its sub-channels (the open one
    // closed first, as netvsc does, and the one never opened), so that the
    // next open numbers new ones from 1 again; the primary stays offered.
    g.post(4, &GuestMessage::CloseChannel { relid: sc.relid });
    g.post(4, &GuestMessage::CloseChannel { relid: ch.relid });
    let mut gone = Vec::new();
    for _ in 0..2 {
        match g.recv() {
            HostMessage::Rescind { relid } => gone.push(relid.get()),
            m => panic!("{m:?}"),
        }
    }
    gone.sort_unstable();
    let mut want: Vec<u32> = subs.iter().map(|o| o.relid.get()).collect();
    want.sort_unstable();
    assert_eq!(gone, want);
    assert!(!gone.contains(&relid));
    let _ = g.post(4, &GuestMessage::Unload);
}

/// Sends an RNDIS data message from a section and waits for the
/// completion only.
fn rndis_request_no_answer(
    g: &mut Guest,
    ch: &mut GuestChannel,
    index: u32,
    msg: &[u8],
) -> Vec<u8> {
    g.q.ram
        .write(SEND_PAGE * 4096 + u64::from(index) * 6144, msg)
        .unwrap();
    let r = NvspRndisPacket {
        channel_type: RNDIS_CHANNEL_DATA,
        send_buf_section_index: index,
        send_buf_section_size: msg.len() as u32,
    };
    g.send_inband(
        ch,
        PACKET_FLAG_COMPLETION_REQUESTED,
        0x98,
        &encode(NvspMsgType::SEND_RNDIS_PKT, &r).unwrap(),
    );
    let p = g.recv_packet(ch).unwrap();
    let pkt = parse(&p).unwrap();
    assert_eq!(
        (pkt.kind, pkt.desc.trans_id),
        (PacketKind::Completion, 0x98)
    );
    pkt.payload.to_vec()
}

#[test]
fn rescind_and_reoffer_give_a_fresh_adapter() {
    let h = HostProc::start(&["--device", "net"]);
    let mut g = Guest::new(&h);
    let offers = g.connect(Version::V5_3);
    let mut ch = g.open(offers[0], 2);
    let init = NvspInit {
        min_protocol_ver: NVSP_VERSION_5,
        max_protocol_ver: NVSP_VERSION_5,
    };
    request(&mut g, &mut ch, NvspMsgType::INIT, &init);
    let old = ch.relid.get();
    assert_eq!(
        h.stat(&format!("dev.{old}.net.nvsp_version")),
        u64::from(NVSP_VERSION_5)
    );
    h.ctl_ok(&["reoffer", &old.to_string()]);
    assert_eq!(g.recv(), HostMessage::Rescind { relid: ch.relid });
    let new = match g.recv() {
        HostMessage::Offer(o) => o,
        m => panic!("{m:?}"),
    };
    assert_eq!(new.if_instance(), offers[0].if_instance());
    g.post(4, &GuestMessage::CloseChannel { relid: ch.relid });
    g.post(4, &GuestMessage::RelidReleased { relid: ch.relid });
    let mut ch = g.open(new, 2);
    let r = ch.relid.get();
    assert_eq!(h.stat(&format!("dev.{r}.net.nvsp_version")), 0);
    let a = request(&mut g, &mut ch, NvspMsgType::INIT, &init);
    assert_eq!(
        NvspInitComplete::read_from(&a[4..]).unwrap().status,
        NvspStatus::SUCCESS
    );
}
