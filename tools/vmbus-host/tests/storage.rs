// SPDX-License-Identifier: GPL-2.0

//! The storage controller end to end: a scripted guest does what Linux's
//! storvsc does on the host binary (initialisation, sub-channels, SRBs
//! whose data lies in guest RAM), and the operator adds and removes disks
//! on the control socket.

mod common;

use common::guest::{Guest, GuestChannel, SCRATCH};
use common::HostProc;
use vmbus_proto::message::HostMessage;
use vmbus_proto::packet::parse;
use vmbus_proto::version::Version;
use vmbus_proto::wire::channel_msg::GpaRange;
use vmbus_proto::wire::packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED};
use vmbus_proto::wire::storage::{
    ChannelProperties, VmscsiRequest, VstorOperation, VstorPacketHeader, REQUEST_COMPLETION_FLAG,
    VERSION_WIN10,
};
use vmbus_proto::wire::Wire;

const SCSI: &str = "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f";

/// A sparse disk file of `blocks` blocks in `dir`.
fn disk(dir: &std::path::Path, name: &str, blocks: u64) -> String {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .set_len(blocks * 512)
        .unwrap();
    p.to_str().unwrap().to_string()
}

fn vstor(op: VstorOperation, body: &[u8]) -> [u8; 64] {
    let mut p = [0u8; 64];
    VstorPacketHeader {
        operation: op,
        flags: REQUEST_COMPLETION_FLAG,
        status: 0,
    }
    .write_to(&mut p)
    .unwrap();
    p[12..12 + body.len()].copy_from_slice(body);
    p
}

/// Sends a request and returns the completion's status and union.
fn request(
    g: &mut Guest,
    ch: &mut GuestChannel,
    op: VstorOperation,
    body: &[u8],
    tid: u64,
) -> (u32, Vec<u8>) {
    g.send_inband(ch, PACKET_FLAG_COMPLETION_REQUESTED, tid, &vstor(op, body));
    let raw = g.recv_packet(ch).unwrap();
    let p = parse(&raw).unwrap();
    assert_eq!((p.desc.ptype, p.desc.trans_id), (PacketType::COMP, tid));
    assert_eq!(p.payload.len(), 64);
    let h = VstorPacketHeader::read_from(p.payload).unwrap();
    assert_eq!(h.operation, VstorOperation::COMPLETE_IO);
    (h.status, p.payload[12..].to_vec())
}

fn init(g: &mut Guest, ch: &mut GuestChannel) -> ChannelProperties {
    assert_eq!(
        request(g, ch, VstorOperation::BEGIN_INITIALIZATION, &[], 1).0,
        0
    );
    let v = VERSION_WIN10.to_le_bytes();
    assert_eq!(
        request(
            g,
            ch,
            VstorOperation::QUERY_PROTOCOL_VERSION,
            &[v[0], v[1], 0, 0],
            1
        )
        .0,
        0
    );
    let (st, body) = request(g, ch, VstorOperation::QUERY_PROPERTIES, &[], 1);
    assert_eq!(st, 0);
    assert_eq!(
        request(g, ch, VstorOperation::END_INITIALIZATION, &[], 1).0,
        0
    );
    ChannelProperties::read_from(&body).unwrap()
}

/// An SRB to `lun` with `cdb` over `len` bytes of the scratch pages
/// (filled with `fill` first); returns the SRB result and the bytes.
fn srb(
    g: &mut Guest,
    ch: &mut GuestChannel,
    lun: u8,
    cdb: &[u8],
    fill: &[u8],
    tid: u64,
) -> (VmscsiRequest, Vec<u8>) {
    let mut r = VmscsiRequest::zeroed();
    r.length = 52;
    r.lun = lun;
    r.cdb_length = cdb.len() as u8;
    r.buf[..cdb.len()].copy_from_slice(cdb);
    r.sense_info_length = 20;
    r.data_transfer_length = fill.len() as u32;
    let mut body = [0u8; 52];
    r.write_to(&mut body).unwrap();
    let pkt = vstor(VstorOperation::EXECUTE_SRB, &body);
    if fill.is_empty() {
        g.send_inband(ch, PACKET_FLAG_COMPLETION_REQUESTED, tid, &pkt);
    } else {
        g.q.ram.write(SCRATCH, fill).unwrap();
        let pages: Vec<u64> = (0..(fill.len() as u64).div_ceil(4096))
            .map(|i| SCRATCH / 4096 + i)
            .collect();
        let range = GpaRange {
            byte_count: fill.len() as u32,
            byte_offset: 0,
        };
        g.send_gpa(
            ch,
            PACKET_FLAG_COMPLETION_REQUESTED,
            tid,
            &[(range, &pages)],
            &pkt,
        );
    }
    let raw = g.recv_packet(ch).unwrap();
    let p = parse(&raw).unwrap();
    assert_eq!(p.desc.trans_id, tid);
    let out = VmscsiRequest::read_from(&p.payload[12..]).unwrap();
    let mut back = vec![0u8; fill.len()];
    g.q.ram.read(SCRATCH, &mut back).unwrap();
    (out, back)
}

#[test]
fn storvsc_session_hot_add_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let d0 = disk(dir.path(), "d0.img", 2048);
    let d1 = disk(dir.path(), "d1.img", 64);
    let d2 = disk(dir.path(), "d2.img", 64);
    let d1ro = format!("{d1},ro,lun=3");
    let h = HostProc::start(&["--device", "echo", "--disk", &d0, "--disk", &d1ro]);
    let mut g = Guest::new(&h);
    let offers = g.connect(Version::V5_3);
    assert_eq!(offers.len(), 2);
    assert_eq!(offers[1].if_type().to_string(), SCSI);
    let mut ch = g.open(offers[1], 4);
    let props = init(&mut g, &mut ch);
    assert_eq!(props.max_transfer_bytes, 512 * 1024);
    assert_eq!(props.flags, 1);

    // REPORT LUNS: 0 and 3.
    let mut cdb = [0u8; 12];
    cdb[0] = 0xa0;
    cdb[9] = 64;
    let (r, b) = srb(&mut g, &mut ch, 0, &cdb, &[0u8; 64], 2);
    assert_eq!((r.srb_status, r.data_transfer_length), (1, 24));
    assert_eq!((b[3], b[9], b[17]), (16, 0, 3));

    // A write and a read back of 8 KiB.
    let data: Vec<u8> = (0..8192u32).map(|i| (i * 13 + 5) as u8).collect();
    let (r, _) = srb(
        &mut g,
        &mut ch,
        0,
        &[0x2a, 0, 0, 0, 1, 0, 0, 0, 16, 0],
        &data,
        3,
    );
    assert_eq!((r.srb_status, r.scsi_status), (1, 0));
    let (r, b) = srb(
        &mut g,
        &mut ch,
        0,
        &[0x28, 0, 0, 0, 1, 0, 0, 0, 16, 0],
        &[0u8; 8192],
        4,
    );
    assert_eq!(r.data_transfer_length, 8192);
    assert_eq!(b, data);
    let on_disk = std::fs::read(&d0).unwrap();
    assert_eq!(&on_disk[256 * 512..256 * 512 + 8192], &data[..]);

    // The read-only disk refuses writes with DATA PROTECT.
    let (r, _) = srb(
        &mut g,
        &mut ch,
        3,
        &[0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        &[1u8; 512],
        5,
    );
    assert_eq!((r.scsi_status, r.buf[2], r.buf[12]), (2, 7, 0x27));

    // Hot-add on the same controller: ENUMERATE_BUS, then the LUN is
    // there.
    let out = h.ctl_ok(&["disk-add", &format!("{d2},lun=7")]);
    assert!(out.contains("LUN 7 attached"), "{out}");
    let raw = g.recv_packet(&mut ch).unwrap();
    let p = parse(&raw).unwrap();
    assert_eq!(p.desc.trans_id, 0);
    assert_eq!(
        VstorPacketHeader::read_from(p.payload).unwrap().operation,
        VstorOperation::ENUMERATE_BUS
    );
    let (r, b) = srb(&mut g, &mut ch, 7, &[0x12, 0, 0, 0, 36, 0], &[0u8; 36], 6);
    assert_eq!((r.srb_status, b[0]), (1, 0));
    let disks = h.ctl_ok(&["disks"]);
    assert_eq!(
        disks.lines().filter(|l| l.contains("controller=0")).count(),
        3,
        "{disks}"
    );

    // Hot-remove of a LUN: ENUMERATE_BUS, then INVALID_LUN.
    h.ctl_ok(&["disk-remove", "0", "7"]);
    let p = g.recv_packet(&mut ch).unwrap();
    assert_eq!(parse(&p).unwrap().desc.trans_id, 0);
    let (r, _) = srb(&mut g, &mut ch, 7, &[0, 0, 0, 0, 0, 0], &[], 7);
    assert_eq!(r.srb_status, 0x20);

    // Garbage gets an error, and the channel goes on.
    g.send_inband(&mut ch, PACKET_FLAG_COMPLETION_REQUESTED, 8, &[0xff; 20]);
    let p = g.recv_packet(&mut ch).unwrap();
    let p = parse(&p).unwrap();
    assert_ne!(VstorPacketHeader::read_from(p.payload).unwrap().status, 0);
    let (r, _) = srb(&mut g, &mut ch, 0, &[0, 0, 0, 0, 0, 0], &[], 9);
    assert_eq!(r.srb_status, 1);

    // Sub-channels on request.
    let (st, _) = request(
        &mut g,
        &mut ch,
        VstorOperation::CREATE_SUB_CHANNELS,
        &[2, 0],
        10,
    );
    assert_eq!(st, 0);
    let mut subs = Vec::new();
    for i in 1..=2u16 {
        match g.recv() {
            HostMessage::Offer(o) => {
                assert_eq!(o.if_instance(), offers[1].if_instance());
                assert_eq!(o.sub_channel_index(), i);
                subs.push(o);
            }
            m => panic!("{m:?}"),
        }
    }
    // A sub-channel serves SRBs on the same disks, without initialisation.
    let mut sc = g.open(subs[1], 2);
    let (r, b) = srb(
        &mut g,
        &mut sc,
        0,
        &[0x28, 0, 0, 0, 1, 0, 0, 0, 16, 0],
        &[0u8; 8192],
        11,
    );
    assert_eq!((r.srb_status, r.data_transfer_length), (1, 8192));
    assert_eq!(b, data);
    // But it refuses to make sub-channels itself.
    let (st, _) = request(
        &mut g,
        &mut sc,
        VstorOperation::CREATE_SUB_CHANNELS,
        &[1, 0],
        12,
    );
    assert_ne!(st, 0);

    // A new controller: offered at once.
    let out = h.ctl_ok(&["disk-add", &format!("{d2},controller=1")]);
    assert!(out.contains("new controller"), "{out}");
    match g.recv() {
        HostMessage::Offer(o) => assert_eq!(o.if_type().to_string(), SCSI),
        m => panic!("{m:?}"),
    }
    // Removing it rescinds its channel.
    let out = h.ctl_ok(&["disk-remove", "1"]);
    assert!(out.contains("rescinded"), "{out}");
    assert!(matches!(g.recv(), HostMessage::Rescind { .. }));
    let st = h.ctl_ok(&["stats"]);
    assert!(st.contains(".storage.srbs="), "{st}");
}

#[test]
fn bad_disk_options() {
    let dir = tempfile::tempdir().unwrap();
    let d = disk(dir.path(), "d.img", 8);
    let h = HostProc::start(&["--disk", &d]);
    for bad in [
        &["disk-add"][..],
        &["disk-add", "/nonexistent/disk.img"],
        &["disk-add", &format!("{d},lun=0")],
        &["disk-add", &format!("{d},bogus")],
        &["disk-remove", "0", "9"],
        &["disk-remove", "5"],
        &["disk-remove", "x"],
        &["offer", "storage"],
    ] {
        let (code, _, err) = h.ctl(bad);
        assert_eq!(code, 1, "{bad:?}: {err}");
    }
    assert!(h.ctl_ok(&["disks"]).contains("lun=0 blocks=8"));
}
