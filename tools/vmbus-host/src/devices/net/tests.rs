// SPDX-License-Identifier: GPL-2.0

//! The adapter driven the way Linux's netvsc drives it, with guest RAM,
//! GPADLs and the channel simulated: every NVSP and RNDIS step, the send
//! and receive paths, and the malformed requests a hostile guest could
//! make.

use vmbus_proto::gpadl::range_word;
use vmbus_proto::nvsp::encode;
use vmbus_proto::packet::{encode_gpa_direct, encode_inband, parse, PacketKind};
use vmbus_proto::rndis::{encode_init_request, encode_oid_request, encode_packet};
use vmbus_proto::types::{GpadlId, Relid};
use vmbus_proto::wire::channel_msg::GpaRange;
use vmbus_proto::wire::nvsp::*;
use vmbus_proto::wire::packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED};
use vmbus_proto::wire::rndis::{
    Oid, RndisHeader, RndisInitRequest, RndisMsgType, RndisQueryComplete, RndisStatus,
};
use vmbus_proto::wire::{PackedU32, Wire};

use super::*;
use crate::devices::SubchannelHost;
use crate::guest_mem::MemRegion;
use crate::vmbus::gpadl::{Gpadls, Progress};

pub(super) const PAGE: u64 = 4096;
const RAM_PAGES: u64 = 256;
/// Receive buffer: 16 pages from PFN 16, GPADL 1.
const RECV_PFN: u64 = 16;
/// Send buffer: 6 pages from PFN 64, GPADL 2 (4 sections).
pub(super) const SEND_PFN: u64 = 64;
/// Pages the guest sends frames from by GPA.
const DATA_PFN: u64 = 100;

pub(super) struct Guest {
    pub(super) mem: MemRegion,
    gpadls: Gpadls,
    relid: Relid,
    pub(super) nic: Nic,
    next_id: u64,
}

pub(super) struct Subs(pub(super) u16);
impl SubchannelHost for Subs {
    fn offer_subchannels(&mut self, n: u16) -> u16 {
        self.0 += n;
        n
    }
}

fn gpadl(g: &mut Gpadls, relid: Relid, id: u32, first: u64, pages: u64) {
    let mut w = vec![range_word(GpaRange {
        byte_count: (pages * PAGE) as u32,
        byte_offset: 0,
    })];
    w.extend(first..first + pages);
    let n = (w.len() * 8) as u16;
    assert_eq!(
        g.header(relid, GpadlId::new(id).unwrap(), n, 1, &w, RAM_PAGES * PAGE),
        Ok(Progress::Created(relid))
    );
}

impl Guest {
    pub(super) fn new(cfg: NicConfig) -> Self {
        let relid = Relid::new(7).unwrap();
        let mut gpadls = Gpadls::default();
        gpadl(&mut gpadls, relid, 1, RECV_PFN, 16);
        gpadl(&mut gpadls, relid, 2, SEND_PFN, 6);
        gpadl(&mut gpadls, Relid::new(8).unwrap(), 3, 200, 4);
        let mut g = Self {
            mem: MemRegion::anonymous(RAM_PAGES * PAGE).unwrap(),
            gpadls,
            relid,
            nic: Nic::new(cfg),
            next_id: 1,
        };
        let mut io = ChannelIo::new(g.relid, &g.mem, None);
        g.nic.on_open(&mut io);
        g
    }

    /// Runs `f` on the device and returns the parsed packets it sent.
    pub(super) fn run(
        &mut self,
        subs: Option<&mut Subs>,
        f: impl FnOnce(&mut Nic, &mut ChannelIo<'_>),
    ) -> Vec<Vec<u8>> {
        let host: Option<&mut dyn SubchannelHost> = match subs {
            Some(s) => Some(s),
            None => None,
        };
        let mut io = ChannelIo::new(self.relid, &self.mem, host).with_gpadls(&self.gpadls);
        f(&mut self.nic, &mut io);
        io.into_packets()
    }

    pub(super) fn packet(&mut self, raw: &[u8]) -> Vec<Vec<u8>> {
        let raw = raw.to_vec();
        self.run(None, |n, io| n.on_packet(io, &parse(&raw).unwrap()))
    }

    fn inband(&mut self, body: &[u8]) -> Vec<Vec<u8>> {
        let mut b = vec![0u8; 16 + body.len() + 8];
        let id = self.next_id;
        self.next_id += 1;
        let n = encode_inband(
            &mut b,
            PacketType::DATA_INBAND,
            PACKET_FLAG_COMPLETION_REQUESTED,
            id,
            body,
        )
        .unwrap();
        self.packet(&b[..n])
    }

    fn nvsp<T: Wire>(&mut self, t: NvspMsgType, body: &T) -> Vec<Vec<u8>> {
        self.inband(&encode(t, body).unwrap())
    }

    /// Completes the guest's request: the single answer's payload.
    fn answer<T: Wire>(&mut self, t: NvspMsgType, body: &T) -> Vec<u8> {
        let out = self.nvsp(t, body);
        assert_eq!(out.len(), 1, "{t:?}");
        let p = parse(&out[0]).unwrap();
        assert_eq!(p.kind, PacketKind::Completion);
        p.payload.to_vec()
    }

    /// Puts an RNDIS message into send section `index` and sends it.
    pub(super) fn rndis_in_section(&mut self, index: u32, msg: &[u8]) -> Vec<Vec<u8>> {
        self.mem
            .write(SEND_PFN * PAGE + u64::from(index) * 6144, msg)
            .unwrap();
        self.nvsp(
            NvspMsgType::SEND_RNDIS_PKT,
            &NvspRndisPacket {
                channel_type: RNDIS_CHANNEL_CONTROL,
                send_buf_section_index: index,
                send_buf_section_size: msg.len() as u32,
            },
        )
    }

    /// Reads the RNDIS message a transfer-page packet hands over, and
    /// completes it.
    pub(super) fn receive(&mut self, pkt: &[u8]) -> Vec<u8> {
        let p = parse(pkt).unwrap();
        let PacketKind::TransferPages {
            pageset_id, ranges, ..
        } = p.kind
        else {
            panic!("{:?}", p.kind)
        };
        assert_eq!(pageset_id, RECEIVE_BUFFER_ID);
        let r = ranges.iter().next().unwrap();
        let mut v = vec![0u8; r.byte_count as usize];
        self.mem
            .read(RECV_PFN * PAGE + u64::from(r.byte_offset), &mut v)
            .unwrap();
        let c = encode(
            NvspMsgType::SEND_RNDIS_PKT_COMPLETE,
            &NvspRndisPacketComplete {
                status: NvspStatus::SUCCESS,
            },
        )
        .unwrap();
        let mut b = [0u8; 64];
        let n = encode_inband(&mut b, PacketType::COMP, 0, p.desc.trans_id, &c).unwrap();
        assert!(self.packet(&b[..n]).is_empty());
        v
    }

    /// The status of the `SEND_RNDIS_PKT_COMPLETE` among `out`.
    pub(super) fn send_status(out: &[Vec<u8>]) -> NvspStatus {
        out.iter()
            .filter_map(|p| parse(p).ok())
            .filter(|p| p.kind == PacketKind::Completion)
            .find_map(|p| {
                let m = vmbus_proto::nvsp::parse(p.payload).ok()?;
                match m {
                    vmbus_proto::nvsp::NvspMessage::Other(NvspMsgType::SEND_RNDIS_PKT_COMPLETE) => {
                        NvspStatus::read_from(p.payload.get(4..)?)
                    }
                    vmbus_proto::nvsp::NvspMessage::RndisPacketComplete(c) => Some(c.status),
                    _ => None,
                }
            })
            .unwrap()
    }

    /// NVSP 6.1, NDIS 6.30, both buffers, RNDIS initialised.
    pub(super) fn bring_up(&mut self) {
        let a = self.answer(
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
        assert!(self
            .nvsp(
                NvspMsgType::SEND_NDIS_VERSION,
                &NvspNdisVersion {
                    ndis_major_ver: 6,
                    ndis_minor_ver: 30
                }
            )
            .is_empty());
        let a = self.answer(
            NvspMsgType::SEND_RECV_BUF,
            &NvspBufferGpadl {
                gpadl_handle: PackedU32::new(1),
                id: RECEIVE_BUFFER_ID,
            },
        );
        assert_eq!(
            NvspRecvBufComplete::read_from(&a[4..]).unwrap().status,
            NvspStatus::SUCCESS
        );
        let a = self.answer(
            NvspMsgType::SEND_SEND_BUF,
            &NvspBufferGpadl {
                gpadl_handle: PackedU32::new(2),
                id: SEND_BUFFER_ID,
            },
        );
        assert_eq!(
            NvspSendBufComplete::read_from(&a[4..])
                .unwrap()
                .section_size,
            6144
        );
        let mut b = [0u8; 64];
        let n = encode_init_request(
            &mut b,
            &RndisInitRequest {
                req_id: 1,
                major_ver: 1,
                minor_ver: 0,
                max_xfer_size: 0x4000,
            },
        )
        .unwrap();
        let out = self.rndis_in_section(0, &b[..n]);
        assert_eq!(Guest::send_status(&out), NvspStatus::SUCCESS);
        let ans = out
            .iter()
            .find(|p| parse(p).unwrap().desc.ptype == PacketType::DATA_USING_XFER_PAGES)
            .unwrap()
            .clone();
        let m = self.receive(&ans);
        assert_eq!(
            RndisHeader::read_from(&m).unwrap().msg_type,
            RndisMsgType::INIT_C
        );
    }

    pub(super) fn query(&mut self, oid: Oid) -> (RndisStatus, Vec<u8>) {
        let mut b = [0u8; 64];
        let n = encode_oid_request(&mut b, RndisMsgType::QUERY, 9, oid, &[]).unwrap();
        let out = self.rndis_in_section(1, &b[..n]);
        let xfer = out
            .iter()
            .find(|p| parse(p).unwrap().desc.ptype == PacketType::DATA_USING_XFER_PAGES)
            .unwrap()
            .clone();
        let m = self.receive(&xfer);
        let c = RndisQueryComplete::read_from(&m[8..]).unwrap();
        let off = 8 + c.info_buf_offset as usize;
        (c.status, m[off..off + c.info_buflen as usize].to_vec())
    }
}

#[test]
fn netvsc_bring_up_and_queries() {
    let mut g = Guest::new(NicConfig::default());
    g.bring_up();
    assert_eq!(
        g.query(Oid::ETH_PERMANENT_ADDRESS).1,
        NicConfig::default().mac
    );
    assert_eq!(g.query(Oid::GEN_MEDIA_CONNECT_STATUS).1, 0u32.to_le_bytes());
    assert_eq!(g.query(Oid(0xdead_beef)).0, RndisStatus::NOT_SUPPORTED);
    let s = g.nic.stats();
    assert!(s.contains(&("nvsp_version", u64::from(NVSP_VERSION_61))));
    assert!(s.contains(&("in_flight", 0)));
}

#[test]
fn versions_are_refused_until_one_fits() {
    let mut g = Guest::new(NicConfig::default());
    let a = g.answer(
        NvspMsgType::INIT,
        &NvspInit {
            min_protocol_ver: 0x70000,
            max_protocol_ver: 0x70000,
        },
    );
    assert_eq!(
        NvspInitComplete::read_from(&a[4..]).unwrap().status,
        NvspStatus::PROTOCOL_UNSUPPORTED
    );
    // Buffers before a version are refused.
    let a = g.answer(
        NvspMsgType::SEND_RECV_BUF,
        &NvspBufferGpadl {
            gpadl_handle: PackedU32::new(1),
            id: RECEIVE_BUFFER_ID,
        },
    );
    assert_eq!(
        NvspRecvBufComplete::read_from(&a[4..]).unwrap().status,
        NvspStatus::FAIL
    );
}

#[test]
fn another_channels_gpadl_is_not_a_buffer() {
    let mut g = Guest::new(NicConfig::default());
    g.answer(
        NvspMsgType::INIT,
        &NvspInit {
            min_protocol_ver: NVSP_VERSION_5,
            max_protocol_ver: NVSP_VERSION_5,
        },
    );
    for handle in [3, 99] {
        let a = g.answer(
            NvspMsgType::SEND_RECV_BUF,
            &NvspBufferGpadl {
                gpadl_handle: PackedU32::new(handle),
                id: RECEIVE_BUFFER_ID,
            },
        );
        assert_eq!(
            NvspRecvBufComplete::read_from(&a[4..]).unwrap().status,
            NvspStatus::FAIL
        );
    }
}

#[test]
fn frames_from_the_guest_by_section_and_by_gpa() {
    let mut g = Guest::new(NicConfig::default());
    g.bring_up();
    let mut msg = [0u8; 200];
    let n = encode_packet(&mut msg, &[0xab; 60], &[]).unwrap();
    let out = g.rndis_in_section(2, &msg[..n]);
    assert_eq!(Guest::send_status(&out), NvspStatus::SUCCESS);
    // No TAP device: the frame is counted as dropped.
    assert!(g.nic.stats().contains(&("tx_dropped", 1)));
    // The same message in guest pages, split over a page boundary.
    g.mem.write(DATA_PFN * PAGE + 4000, &msg[..n]).unwrap();
    let range = GpaRange {
        byte_count: n as u32,
        byte_offset: 4000,
    };
    let nv = encode(
        NvspMsgType::SEND_RNDIS_PKT,
        &NvspRndisPacket {
            channel_type: RNDIS_CHANNEL_DATA,
            send_buf_section_index: INVALID_SECTION_INDEX,
            send_buf_section_size: 0,
        },
    )
    .unwrap();
    let mut b = [0u8; 256];
    let k = encode_gpa_direct(
        &mut b,
        PACKET_FLAG_COMPLETION_REQUESTED,
        77,
        &[(range, &[DATA_PFN, DATA_PFN + 1])],
        &nv,
    )
    .unwrap();
    let out = g.packet(&b[..k]);
    assert_eq!(Guest::send_status(&out), NvspStatus::SUCCESS);
    assert!(g.nic.stats().contains(&("tx_dropped", 2)));
    // A GPA range outside guest RAM fails this packet only.
    let k = encode_gpa_direct(
        &mut b,
        PACKET_FLAG_COMPLETION_REQUESTED,
        78,
        &[(range, &[DATA_PFN, 1 << 40])],
        &nv,
    )
    .unwrap();
    assert_eq!(Guest::send_status(&g.packet(&b[..k])), NvspStatus::FAIL);
    assert_eq!(g.query(Oid::GEN_LINK_SPEED).0, RndisStatus::SUCCESS);
}

#[test]
fn malformed_sends_fail_alone() {
    let mut g = Guest::new(NicConfig::default());
    g.bring_up();
    let bad = |index, size| NvspRndisPacket {
        channel_type: RNDIS_CHANNEL_DATA,
        send_buf_section_index: index,
        send_buf_section_size: size,
    };
    // A section past the buffer, a size past the section, no data.
    for r in [
        bad(4, 10),
        bad(u32::MAX - 1, 10),
        bad(0, 6145),
        bad(INVALID_SECTION_INDEX, 0),
    ] {
        let out = g.nvsp(NvspMsgType::SEND_RNDIS_PKT, &r);
        assert_eq!(Guest::send_status(&out), NvspStatus::FAIL, "{r:?}");
    }
    // An RNDIS length that lies.
    let mut msg = [0u8; 100];
    let n = encode_packet(&mut msg, &[1; 20], &[]).unwrap();
    msg[4..8].copy_from_slice(&5000u32.to_le_bytes());
    let out = g.rndis_in_section(0, &msg[..n]);
    assert_eq!(Guest::send_status(&out), NvspStatus::INVALID_RNDIS_PKT);
    msg[4..8].copy_from_slice(&(n as u32 + 100).to_le_bytes());
    g.mem.write(SEND_PFN * PAGE, &msg[..n]).unwrap();
    let out = g.nvsp(NvspMsgType::SEND_RNDIS_PKT, &bad(0, n as u32));
    assert_eq!(Guest::send_status(&out), NvspStatus::INVALID_RNDIS_PKT);
    // A completion of a packet the host never sent.
    let mut b = [0u8; 64];
    let k = encode_inband(&mut b, PacketType::COMP, 0, 0x5555, &[0; 8]).unwrap();
    assert!(g.packet(&b[..k]).is_empty());
    // A truncated NVSP message.
    assert!(g.inband(&[1, 0, 0]).is_empty());
    // The adapter still works.
    assert_eq!(
        g.query(Oid::GEN_MAXIMUM_FRAME_SIZE).1,
        1500u32.to_le_bytes()
    );
}

#[test]
fn subchannels_share_the_adapter() {
    let cfg: NicConfig = "queues=3".parse().unwrap();
    let mut g = Guest::new(cfg);
    g.bring_up();
    let mut subs = Subs(0);
    let body = encode(
        NvspMsgType::SUBCHANNEL,
        &NvspSubchannelRequest {
            op: SUBCHANNEL_ALLOCATE,
            num_subchannels: 7,
        },
    )
    .unwrap();
    let mut b = [0u8; 64];
    let n = encode_inband(
        &mut b,
        PacketType::DATA_INBAND,
        PACKET_FLAG_COMPLETION_REQUESTED,
        50,
        &body,
    )
    .unwrap();
    let raw = b[..n].to_vec();
    let out = g.run(Some(&mut subs), |d, io| {
        d.on_packet(io, &parse(&raw).unwrap())
    });
    assert_eq!(subs.0, 2);
    let p = parse(&out[0]).unwrap();
    let c = NvspSubchannelComplete::read_from(&p.payload[4..]).unwrap();
    assert_eq!((c.status, c.num_subchannels), (NvspStatus::SUCCESS, 2));
    // Then the send table: 16 entries over the three channels.
    let t = parse(&out[1]).unwrap();
    assert_eq!(t.desc.ptype, PacketType::DATA_INBAND);
    assert_eq!(
        &t.payload[..4],
        &NvspMsgType::SEND_INDIRECTION_TABLE.0.to_le_bytes()
    );
    assert_eq!(&t.payload[4..12], &[16, 0, 0, 0, 40, 0, 0, 0]);
    assert_eq!(&t.payload[48..52], &2u32.to_le_bytes());
    let mut sub = g.nic.subchannel_device(1).unwrap();
    let mem = MemRegion::anonymous(PAGE).unwrap();
    let mut io = ChannelIo::new(Relid::new(9).unwrap(), &mem, None);
    sub.on_open(&mut io);
    // A sub-channel does not take set-up messages.
    let init = encode(
        NvspMsgType::INIT,
        &NvspInit {
            min_protocol_ver: NVSP_VERSION_61,
            max_protocol_ver: NVSP_VERSION_61,
        },
    )
    .unwrap();
    let n = encode_inband(
        &mut b,
        PacketType::DATA_INBAND,
        PACKET_FLAG_COMPLETION_REQUESTED,
        1,
        &init,
    )
    .unwrap();
    sub.on_packet(&mut io, &parse(&b[..n]).unwrap());
    assert!(io.into_packets().is_empty());
    assert!(g.nic.stats().iter().any(|&(k, v)| k == "bad" && v == 1));
}

#[test]
fn link_changes_are_indicated() {
    let mut g = Guest::new(NicConfig::default());
    g.bring_up();
    let mut lines = Vec::new();
    let out = g.run(None, |d, io| {
        assert_eq!(
            d.control(io, "nic-link", &["down"], &mut lines),
            Some(Ok(()))
        );
        assert!(d
            .control(io, "nic-link", &["sideways"], &mut lines)
            .unwrap()
            .is_err());
        assert_eq!(d.control(io, "other", &[], &mut lines), None);
    });
    assert_eq!(out.len(), 1);
    let m = g.receive(&out[0]);
    assert_eq!(
        RndisHeader::read_from(&m).unwrap().msg_type,
        RndisMsgType::INDICATE
    );
    assert_eq!(&m[8..12], &RndisStatus::MEDIA_DISCONNECT.0.to_le_bytes());
    assert_eq!(g.query(Oid::GEN_MEDIA_CONNECT_STATUS).1, 1u32.to_le_bytes());
}

#[test]
fn held_sends_are_completed_when_due() {
    let mut g = Guest::new(NicConfig::default());
    g.bring_up();
    let mut lines = Vec::new();
    g.run(None, |d, io| {
        assert_eq!(d.control(io, "nic-hold", &["50"], &mut lines), Some(Ok(())));
        assert!(d
            .control(io, "nic-hold", &["sixty"], &mut lines)
            .unwrap()
            .is_err());
        assert!(d
            .control(io, "nic-hold", &["60001"], &mut lines)
            .unwrap()
            .is_err());
    });
    let mut msg = [0u8; 200];
    let n = encode_packet(&mut msg, &[0xab; 60], &[]).unwrap();
    // The send is taken, its completion held back.
    assert!(g.rndis_in_section(1, &msg[..n]).is_empty());
    assert!(g.nic.stats().contains(&("held", 1)));
    assert!(g.nic.wants_fast_ticks());
    assert!(g.run(None, |d, io| d.tick(io)).is_empty());
    std::thread::sleep(Duration::from_millis(60));
    let out = g.run(None, |d, io| d.tick(io));
    assert_eq!(Guest::send_status(&out), NvspStatus::SUCCESS);
    assert!(g.nic.stats().contains(&("held", 0)));
    assert!(g.nic.stats().contains(&("late_completions", 1)));
    // Held again; the guest closes the channel: nothing is written.
    assert!(g.rndis_in_section(1, &msg[..n]).is_empty());
    g.nic.on_close();
    assert!(g.nic.stats().contains(&("held", 0)));
}

#[test]
fn nic_options() {
    let c: NicConfig = "tap=rv0,mac=02:00:00:00:00:05,queues=8".parse().unwrap();
    assert_eq!(c.tap_name(), Some("rv0"));
    assert_eq!(c.mac, [2, 0, 0, 0, 0, 5]);
    assert_eq!(c.queues, 8);
    assert_eq!(NicConfig::default().tap_name(), None);
    for bad in [
        "tap=",
        "tap=a/b",
        "mac=01:00:00:00:00:00",
        "mac=1:2:3",
        "queues=0",
        "queues=65",
        "x=1",
        "tap",
    ] {
        assert!(bad.parse::<NicConfig>().is_err(), "{bad}");
    }
}

#[test]
fn flow_hash_spreads_by_addresses() {
    let mut f = vec![0u8; 60];
    f[12] = 0x08;
    f[14] = 0x45;
    let a = flow_hash(&f);
    f[29] = 1;
    assert_ne!(a, flow_hash(&f));
    assert_eq!(flow_hash(&[0; 10]), 0);
}

#[test]
fn frames_to_the_guest_wait_for_sections_and_big_ones_drop() {
    let mut g = Guest::new(NicConfig::default());
    g.bring_up();
    let sections = 16 * PAGE as usize / rx::RECV_SECTION_SIZE as usize;
    {
        let mut sh = g.nic.shared.borrow_mut();
        sh.queues[0].push_back(vec![7; 1800]);
        for i in 0..sections + 3 {
            sh.queues[0].push_back(vec![i as u8; 60]);
        }
    }
    let out = g.run(None, |d, io| d.tick(io));
    assert_eq!(out.len(), sections);
    assert!(g.nic.stats().contains(&("rx_dropped", 1)));
    assert_eq!(g.nic.shared.borrow().queues[0].len(), 3);
    // Nothing more until the guest completes a packet.
    assert!(g.run(None, |d, io| d.tick(io)).is_empty());
    let m = g.receive(&out[0]);
    let RndisMessage::Packet(p) = vmbus_proto::rndis::parse(&m).unwrap() else {
        panic!()
    };
    assert_eq!(p.data, &[0u8; 60][..]);
    assert_eq!(g.run(None, |d, io| d.tick(io)).len(), 1);
    assert!(g.nic.stats().contains(&("rx_frames", sections as u64 + 1)));
}

#[test]
fn with_rss_frames_carry_their_hash() {
    let mut g = Guest::new(NicConfig::default());
    g.bring_up();
    g.nic.shared.borrow_mut().rndis.indirection = vec![0, 0];
    let mut frame = vec![0u8; 60];
    frame[12] = 0x08;
    frame[14] = 0x45;
    frame[29] = 9;
    g.nic.shared.borrow_mut().queues[0].push_back(frame.clone());
    let out = g.run(None, |d, io| d.tick(io));
    let m = g.receive(&out[0]);
    let RndisMessage::Packet(p) = vmbus_proto::rndis::parse(&m).unwrap() else {
        panic!()
    };
    assert_eq!(p.data, &frame[..]);
    let e = vmbus_proto::rndis::ppis(p.ppi).next().unwrap().unwrap();
    assert_eq!(
        e.ppi_type,
        vmbus_proto::wire::rndis::PpiType::NBL_HASH_VALUE
    );
    assert_eq!(e.value, flow_hash(&frame).to_le_bytes());
}

#[test]
fn closing_the_primary_channel_forgets_the_set_up() {
    let mut g = Guest::new(NicConfig::default());
    g.bring_up();
    g.nic.on_close();
    let mut io = ChannelIo::new(g.relid, &g.mem, None);
    g.nic.on_open(&mut io);
    let sh = g.nic.shared.borrow();
    assert!(sh.recv.is_none() && sh.send.is_none() && !sh.rndis.initialized);
    assert_eq!(sh.neg.version, None);
}
