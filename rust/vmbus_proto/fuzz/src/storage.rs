// SPDX-License-Identifier: GPL-2.0

//! The storage protocol's targets: `storage`, `vmbus_proto`'s decoder of
//! the guest's `vstor_packet` and the host's completion encoder, and
//! `host-storage`, the host's storage backend over two small disks (one
//! read-only), driven by a `host-devices` script.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use vmbus_host::devices::storage::backend::Storvsp;
use vmbus_host::devices::storage::controller::Controller;
use vmbus_host::devices::storage::disk::DiskSpec;
use vmbus_proto::packet::{self, encode_gpa_direct, encode_inband};
use vmbus_proto::storage::{
    encode_completion, encode_notification, packet_size, parse_request, CompletionBody, Request,
    SrbResult, MIN_PACKET_SIZE,
};
use vmbus_proto::wire::channel_msg::GpaRange;
use vmbus_proto::wire::packet::PacketType;
use vmbus_proto::wire::storage::{
    VmscsiRequest, VstorOperation, VstorPacketHeader, MAX_CDB_LEN, VERSION_WIN10, VERSION_WIN7,
    VSTOR_PACKET_SIZE,
};
use vmbus_proto::wire::Wire;

use crate::host::{DeviceOp, DeviceRig};
use crate::script::{Script, ScriptWriter};

/// Blocks of each `host-storage` disk.
pub const DISK_BLOCKS: u64 = 64;
/// Most operations of one `host-storage` script.
const MAX_OPS: usize = 256;

/// `storage`: the first byte picks the negotiated packet size (before
/// negotiation, win7 or win8 and later); the rest is a guest packet.
/// Whatever decodes is answered, and the answer decodes as a completion.
pub fn storage(data: &[u8]) {
    let Some((&sel, msg)) = data.split_first() else {
        return;
    };
    let size = match sel % 3 {
        0 => MIN_PACKET_SIZE,
        1 => packet_size(VERSION_WIN7),
        _ => packet_size(VERSION_WIN10),
    };
    let Ok((hdr, req)) = parse_request(msg, size) else {
        return;
    };
    assert!(msg.len() >= size);
    assert_eq!(VstorPacketHeader::read_from(msg), Some(hdr));
    let mut out = [0u8; VSTOR_PACKET_SIZE];
    let n = match req {
        Request::ExecuteSrb(srb) => {
            assert!((1..=MAX_CDB_LEN).contains(&srb.cdb_len));
            assert_eq!(srb.cdb().len(), srb.cdb_len);
            let r = SrbResult {
                srb_status: sel,
                scsi_status: 2,
                data_transfer_length: srb.raw.data_transfer_length,
                sense: [sel; 20],
                sense_len: sel,
            };
            encode_completion(&mut out, size, 0, CompletionBody::Srb(&srb, &r))
        }
        Request::QueryVersion(v) => {
            encode_completion(&mut out, size, 0, CompletionBody::Version(v))
        }
        _ => encode_completion(&mut out, size, 0, CompletionBody::None),
    }
    .expect("a completion fits a whole packet");
    let back = VstorPacketHeader::read_from(&out[..n]).expect("the completion has a header");
    assert_eq!(back.operation, VstorOperation::COMPLETE_IO);
    encode_notification(&mut out, size, VstorOperation::ENUMERATE_BUS).expect("fits");
}

/// A fresh sparse file of [`DISK_BLOCKS`] blocks.
fn scratch_disk(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("rvmbus-fuzz-{}-{tag}-{n}.img", std::process::id()));
    let f = std::fs::File::create(&p).expect("a scratch disk");
    f.set_len(DISK_BLOCKS * 512).expect("a sparse scratch disk");
    p
}

/// storvsc's initialisation, in-band packets with transaction id 1.
pub fn init_packets() -> Vec<Vec<u8>> {
    let v = VERSION_WIN10.to_le_bytes();
    [
        (VstorOperation::BEGIN_INITIALIZATION, [0u8; 4]),
        (VstorOperation::QUERY_PROTOCOL_VERSION, [v[0], v[1], 0, 0]),
        (VstorOperation::QUERY_PROPERTIES, [0; 4]),
        (VstorOperation::END_INITIALIZATION, [0; 4]),
    ]
    .iter()
    .map(|(op, body)| {
        let mut p = [0u8; VSTOR_PACKET_SIZE];
        VstorPacketHeader {
            operation: *op,
            flags: 1,
            status: 0,
        }
        .write_to(&mut p)
        .expect("fits");
        p[12..16].copy_from_slice(body);
        let mut raw = vec![0u8; 128];
        let n = encode_inband(&mut raw, PacketType::DATA_INBAND, 1, 1, &p).expect("fits");
        raw.truncate(n);
        raw
    })
    .collect()
}

/// `host-storage`: the first byte's low bit says whether the rig does
/// storvsc's initialisation first; the rest is a `host-devices` script
/// (without its kind byte). Every packet the backend sends must parse.
pub fn host_storage(data: &[u8]) {
    run_storage(data);
}

/// Runs a `host-storage` script; returns the backend's counters.
pub fn run_storage(data: &[u8]) -> Vec<(&'static str, u64)> {
    let mut s = Script::new(data);
    let pre_init = s.u8() & 1 != 0;
    let ctl = Controller::shared(0);
    let files = [scratch_disk("rw"), scratch_disk("ro")];
    for (i, f) in files.iter().enumerate() {
        let spec = DiskSpec {
            path: f.clone(),
            read_only: i == 1,
            lun: Some(if i == 0 { 0 } else { 2 }),
            controller: 0,
        };
        ctl.borrow_mut().add(&spec).expect("a scratch disk opens");
    }
    let mut rig = DeviceRig::with_device(Box::new(Storvsp::new(ctl.clone(), 0)));
    rig.open();
    if pre_init {
        for p in init_packets() {
            for reply in rig.packet(&p) {
                assert!(packet::parse(&reply).is_ok());
            }
        }
    }
    let mut ops = 0;
    while !s.is_empty() && ops < MAX_OPS {
        ops += 1;
        let op = DeviceOp::read(&mut s);
        // A controller change now and then, as the operator makes them.
        if let DeviceOp::Control { pick } = op {
            let mut c = ctl.borrow_mut();
            if pick & 1 != 0 {
                let _ = c.remove(2);
            } else {
                let _ = c.add(&DiskSpec {
                    path: files[1].clone(),
                    read_only: true,
                    lun: Some(2),
                    controller: 0,
                });
            }
            continue;
        }
        rig.apply(&op);
    }
    let stats = rig_stats(&mut rig);
    drop(rig);
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    stats
}

fn rig_stats(rig: &mut DeviceRig) -> Vec<(&'static str, u64)> {
    rig.close();
    rig.stats()
}

/// An `EXECUTE_SRB` `vstor_packet` for `lun` with `cdb` over `len` bytes.
fn srb_packet(lun: u8, cdb: &[u8], len: u32) -> [u8; VSTOR_PACKET_SIZE] {
    let mut r = VmscsiRequest::zeroed();
    r.length = 52;
    r.lun = lun;
    // CAST: the CDBs below are at most 16 bytes.
    r.cdb_length = cdb.len() as u8;
    r.buf[..cdb.len()].copy_from_slice(cdb);
    r.sense_info_length = 20;
    r.data_transfer_length = len;
    let mut p = [0u8; VSTOR_PACKET_SIZE];
    VstorPacketHeader {
        operation: VstorOperation::EXECUTE_SRB,
        flags: 1,
        status: 0,
    }
    .write_to(&mut p)
    .expect("fits");
    r.write_to(&mut p[12..]).expect("fits");
    p
}

/// A GPA-direct SRB packet whose buffer is `len` bytes at the start of
/// the rig's guest RAM.
fn srb_gpa(tid: u64, lun: u8, cdb: &[u8], len: u32) -> Vec<u8> {
    let pages: Vec<u64> = (0..u64::from(len).div_ceil(4096)).collect();
    let range = GpaRange {
        byte_count: len,
        byte_offset: 0,
    };
    let mut raw = vec![0u8; 512];
    let n = encode_gpa_direct(
        &mut raw,
        1,
        tid,
        &[(range, &pages)],
        &srb_packet(lun, cdb, len),
    )
    .expect("fits");
    raw.truncate(n);
    raw
}

/// The seeds of `storage` and `host-storage`.
pub fn seeds(out: &mut Vec<crate::seeds::Seed>) {
    for (i, p) in init_packets().iter().enumerate() {
        let payload = packet::parse(p).expect("parses").payload.to_vec();
        let mut s = vec![2u8];
        s.extend_from_slice(&payload);
        out.push(("storage", format!("init-{i}"), s));
    }
    let read10 = [0x28u8, 0, 0, 0, 0, 1, 0, 0, 2, 0];
    let mut s = vec![2u8];
    s.extend_from_slice(&srb_packet(0, &read10, 1024));
    out.push(("storage", "srb-read10".into(), s));
    let mut s = vec![1u8];
    s.extend_from_slice(&srb_packet(0, &read10, 1024)[..MIN_PACKET_SIZE]);
    out.push(("storage", "srb-win7".into(), s));

    // A session after the rig's initialisation: data written to guest
    // RAM, WRITE (10) and READ (10) over it, INQUIRY, a VPD page, REPORT
    // LUNS, MODE SENSE, UNMAP, a write to the read-only disk, a LUN
    // removed and re-added, and garbage.
    let mut w = ScriptWriter::new();
    w.u8(1);
    DeviceOp::Write {
        addr: 0,
        bytes: &[0x5a; 255],
    }
    .write(&mut w);
    let mut unmap = vec![0u8, 22, 0, 16];
    unmap.extend_from_slice(&[0; 4]);
    unmap.extend_from_slice(&3u64.to_be_bytes());
    unmap.extend_from_slice(&2u32.to_be_bytes());
    unmap.extend_from_slice(&[0; 4]);
    let report = [0xa0u8, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0];
    let packets = [
        srb_gpa(2, 0, &[0x2a, 0, 0, 0, 0, 1, 0, 0, 2, 0], 1024),
        srb_gpa(3, 0, &read10, 1024),
        srb_gpa(4, 0, &[0x12, 0, 0, 0, 36, 0], 36),
        srb_gpa(5, 0, &[0x12, 1, 0xb0, 0, 64, 0], 64),
        srb_gpa(6, 0, &report, 64),
        srb_gpa(7, 0, &[0x1a, 0, 0x3f, 0, 64, 0], 64),
        srb_gpa(9, 2, &[0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], 512),
        srb_gpa(10, 1, &[0, 0, 0, 0, 0, 0], 512),
        srb_gpa(
            11,
            0,
            &[0x88, 0, 0, 0, 0, 0, 0, 0, 0, 63, 0, 0, 0, 1, 0, 0],
            512,
        ),
    ];
    for p in &packets {
        DeviceOp::Packet(p).write(&mut w);
    }
    DeviceOp::Write {
        addr: 0,
        bytes: &unmap,
    }
    .write(&mut w);
    DeviceOp::Packet(&srb_gpa(8, 0, &[0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], 24)).write(&mut w);
    DeviceOp::Control { pick: 1 }.write(&mut w);
    DeviceOp::Tick.write(&mut w);
    DeviceOp::Control { pick: 0 }.write(&mut w);
    DeviceOp::Tick.write(&mut w);
    DeviceOp::Inband {
        ptype: 0,
        flags: 1,
        payload: &[0xff; 20],
    }
    .write(&mut w);
    DeviceOp::Reopen.write(&mut w);
    out.push(("host-storage", "session".into(), w.finish()));

    // The initialisation by the script itself, then sub-channels.
    let mut w = ScriptWriter::new();
    w.u8(0);
    for p in init_packets() {
        DeviceOp::Packet(&p).write(&mut w);
    }
    let mut sub = [0u8; VSTOR_PACKET_SIZE];
    sub[0] = 13;
    sub[4] = 1;
    sub[12] = 2;
    DeviceOp::Inband {
        ptype: 0,
        flags: 1,
        payload: &sub,
    }
    .write(&mut w);
    out.push(("host-storage", "init-and-subchannels".into(), w.finish()));
}
