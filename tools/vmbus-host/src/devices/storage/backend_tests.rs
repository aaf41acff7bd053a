// SPDX-License-Identifier: GPL-2.0

//! Tests of the storage channel backend: the initialisation exchange as
//! storvsc does it, SRBs with data in guest RAM, sub-channels, bus change
//! notifications, and malformed or untimely requests.

use vmbus_proto::packet::{encode_gpa_direct, encode_inband, parse, Packet};
use vmbus_proto::types::Relid;
use vmbus_proto::wire::channel_msg::GpaRange;
use vmbus_proto::wire::packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED};
use vmbus_proto::wire::storage::{
    ChannelProperties, SrbStatus, VmscsiRequest, VstorOperation, VstorPacketHeader, DATA_IN_READ,
    DATA_IN_WRITE, REQUEST_COMPLETION_FLAG, SRB_STATUS_AUTOSENSE_VALID, VERSION_WIN10,
    VERSION_WIN8_1,
};
use vmbus_proto::wire::Wire;

use super::backend::{
    Storvsp, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_REVISION_MISMATCH,
};
use super::controller::{Controller, SharedController, MAX_SUBCHANNELS};
use super::disk::DiskSpec;
use crate::devices::{ChannelIo, Device, SubchannelHost};
use crate::guest_mem::MemRegion;

const PAGE: u64 = 4096;
const RAM_PAGES: u64 = 64;

#[derive(Default)]
struct Subs {
    offered: u16,
}

impl SubchannelHost for Subs {
    fn offer_subchannels(&mut self, n: u16) -> u16 {
        self.offered += n;
        n
    }
}

struct Rig {
    _files: Vec<tempfile::NamedTempFile>,
    ram: MemRegion,
    ctl: SharedController,
    dev: Storvsp,
    subs: Subs,
}

/// The guest's answer to one request: the completion's status and union.
struct Reply {
    trans_id: u64,
    hdr: VstorPacketHeader,
    body: Vec<u8>,
}

impl Rig {
    /// A controller with a writable disk at LUN 0 and a read-only one at
    /// LUN 2, each of `blocks` blocks.
    fn new(blocks: u64) -> Self {
        let ctl = Controller::shared(0);
        let mut files = Vec::new();
        for (lun, ro) in [(0u8, false), (2, true)] {
            let f = tempfile::NamedTempFile::new().unwrap();
            f.as_file().set_len(blocks * 512).unwrap();
            ctl.borrow_mut()
                .add(&DiskSpec {
                    path: f.path().to_path_buf(),
                    read_only: ro,
                    lun: Some(lun),
                    controller: 0,
                })
                .unwrap();
            files.push(f);
        }
        let mut rig = Self {
            _files: files,
            ram: MemRegion::anonymous(RAM_PAGES * PAGE).unwrap(),
            dev: Storvsp::new(ctl.clone(), 0),
            ctl,
            subs: Subs::default(),
        };
        rig.with(|d, io| d.on_open(io));
        rig
    }

    fn with(&mut self, f: impl FnOnce(&mut Storvsp, &mut ChannelIo<'_>)) -> Vec<Vec<u8>> {
        let mut io = ChannelIo::new(Relid::new(5).unwrap(), &self.ram, Some(&mut self.subs));
        f(&mut self.dev, &mut io);
        io.into_packets()
    }

    fn send_raw(&mut self, raw: &[u8]) -> Vec<Reply> {
        let p: Packet<'_> = parse(raw).unwrap();
        let out = self.with(|d, io| d.on_packet(io, &p));
        out.iter()
            .map(|b| {
                let p = parse(b).unwrap();
                assert_eq!(p.desc.ptype, PacketType::COMP);
                let hdr = VstorPacketHeader::read_from(p.payload).unwrap();
                assert_eq!(hdr.operation, VstorOperation::COMPLETE_IO);
                assert!(p.payload.len() >= 64);
                Reply {
                    trans_id: p.desc.trans_id,
                    hdr,
                    body: p.payload[12..].to_vec(),
                }
            })
            .collect()
    }

    fn send(&mut self, op: VstorOperation, body: &[u8], trans_id: u64) -> Reply {
        let mut pkt = [0u8; 64];
        VstorPacketHeader {
            operation: op,
            flags: REQUEST_COMPLETION_FLAG,
            status: 0,
        }
        .write_to(&mut pkt)
        .unwrap();
        pkt[12..12 + body.len()].copy_from_slice(body);
        let mut raw = [0u8; 128];
        let n = encode_inband(
            &mut raw,
            PacketType::DATA_INBAND,
            PACKET_FLAG_COMPLETION_REQUESTED,
            trans_id,
            &pkt,
        )
        .unwrap();
        let mut r = self.send_raw(&raw[..n]);
        assert_eq!(r.len(), 1);
        r.remove(0)
    }

    /// storvsc's initialisation: begin, versions, properties, end.
    fn init(&mut self) -> ChannelProperties {
        assert_eq!(
            self.send(VstorOperation::BEGIN_INITIALIZATION, &[], 1)
                .hdr
                .status,
            0
        );
        let r = self.send(
            VstorOperation::QUERY_PROTOCOL_VERSION,
            &[0x03, 0x06, 0, 0],
            1,
        );
        assert_eq!(r.hdr.status, STATUS_REVISION_MISMATCH);
        let v = VERSION_WIN10.to_le_bytes();
        assert_eq!(
            self.send(
                VstorOperation::QUERY_PROTOCOL_VERSION,
                &[v[0], v[1], 0, 0],
                1
            )
            .hdr
            .status,
            0
        );
        let r = self.send(VstorOperation::QUERY_PROPERTIES, &[], 1);
        assert_eq!(r.hdr.status, 0);
        let p = ChannelProperties::read_from(&r.body).unwrap();
        assert_eq!(
            self.send(VstorOperation::END_INITIALIZATION, &[], 1)
                .hdr
                .status,
            0
        );
        p
    }

    /// An SRB for LUN `lun` with `cdb`; with `data`, a buffer of
    /// `data.len()` bytes at page 8 of guest RAM (filled with `data`
    /// first), described by `pages` of GPA range.
    fn srb(
        &mut self,
        lun: u8,
        cdb: &[u8],
        data: Option<(&[u8], bool)>,
        trans_id: u64,
    ) -> (VmscsiRequest, Vec<u8>) {
        let mut r = VmscsiRequest::zeroed();
        r.length = 52;
        r.lun = lun;
        r.cdb_length = cdb.len() as u8;
        r.buf[..cdb.len()].copy_from_slice(cdb);
        r.sense_info_length = 20;
        let mut pkt = [0u8; 64];
        VstorPacketHeader {
            operation: VstorOperation::EXECUTE_SRB,
            flags: REQUEST_COMPLETION_FLAG,
            status: 0,
        }
        .write_to(&mut pkt)
        .unwrap();
        let mut raw = vec![0u8; 4096];
        let n = match data {
            None => {
                r.data_in = DATA_IN_READ;
                r.write_to(&mut pkt[12..]).unwrap();
                encode_inband(&mut raw, PacketType::DATA_INBAND, 1, trans_id, &pkt).unwrap()
            }
            Some((bytes, write)) => {
                r.data_in = if write { DATA_IN_WRITE } else { DATA_IN_READ };
                r.data_transfer_length = bytes.len() as u32;
                r.write_to(&mut pkt[12..]).unwrap();
                self.ram.write(8 * PAGE + 100, bytes).unwrap();
                let pages = (100 + bytes.len() as u64).div_ceil(PAGE);
                let pfns: Vec<u64> = (8..8 + pages).collect();
                let range = GpaRange {
                    byte_count: bytes.len() as u32,
                    byte_offset: 100,
                };
                encode_gpa_direct(&mut raw, 1, trans_id, &[(range, &pfns)], &pkt).unwrap()
            }
        };
        let mut replies = self.send_raw(&raw[..n]);
        assert_eq!(replies.len(), 1);
        let rep = replies.remove(0);
        assert_eq!(rep.trans_id, trans_id);
        assert_eq!(rep.hdr.status, 0);
        let out = VmscsiRequest::read_from(&rep.body).unwrap();
        let len = data.map_or(0, |(b, _)| b.len());
        let mut back = vec![0u8; len];
        self.ram.read(8 * PAGE + 100, &mut back).unwrap();
        (out, back)
    }
}

#[test]
fn initialisation_as_storvsc_does_it() {
    let mut rig = Rig::new(128);
    let p = rig.init();
    assert_eq!(p.max_channel_cnt, MAX_SUBCHANNELS);
    assert_eq!(p.flags, 1);
    assert_eq!(p.max_transfer_bytes, 512 * 1024);
    assert_eq!(rig.ctl.borrow().version, Some(VERSION_WIN10));
    let r = rig.send(VstorOperation::CREATE_SUB_CHANNELS, &[3, 0], 1);
    assert_eq!(r.hdr.status, 0);
    assert_eq!(rig.subs.offered, 3);
    // More than are left: only what is left.
    rig.send(VstorOperation::CREATE_SUB_CHANNELS, &[100, 0], 1);
    assert_eq!(rig.subs.offered, MAX_SUBCHANNELS);
    // A sub-channel serves SRBs once the primary negotiated.
    let mut sub = Storvsp::new(rig.ctl.clone(), 1);
    let out = rig.with(|_, io| sub.on_open(io));
    assert!(out.is_empty());
}

#[test]
fn older_versions_and_refusals() {
    let mut rig = Rig::new(16);
    rig.send(VstorOperation::BEGIN_INITIALIZATION, &[], 1);
    let v = VERSION_WIN8_1.to_le_bytes();
    assert_eq!(
        rig.send(
            VstorOperation::QUERY_PROTOCOL_VERSION,
            &[v[0], v[1], 0, 0],
            1
        )
        .hdr
        .status,
        0
    );
    // FCHBA data is for fibre channel controllers only.
    assert_ne!(rig.send(VstorOperation::FCHBA_DATA, &[], 1).hdr.status, 0);
}

#[test]
fn srbs_before_initialisation_are_refused() {
    let mut rig = Rig::new(16);
    let mut pkt = [0u8; 64];
    VstorPacketHeader {
        operation: VstorOperation::EXECUTE_SRB,
        flags: 1,
        status: 0,
    }
    .write_to(&mut pkt)
    .unwrap();
    pkt[12 + 8] = 6;
    let r = rig.send(VstorOperation::EXECUTE_SRB, &pkt[12..], 9);
    assert_eq!(r.hdr.status, STATUS_INVALID_DEVICE_STATE);
    // So is END before a version.
    rig.send(VstorOperation::BEGIN_INITIALIZATION, &[], 1);
    assert_eq!(
        rig.send(VstorOperation::END_INITIALIZATION, &[], 1)
            .hdr
            .status,
        STATUS_INVALID_DEVICE_STATE
    );
}

#[test]
fn inquiry_write_and_read_through_guest_ram() {
    let mut rig = Rig::new(128);
    rig.init();
    let (r, back) = rig.srb(0, &[0x12, 0, 0, 0, 36, 0], Some((&[0u8; 36], false)), 10);
    assert_eq!(r.srb_status, SrbStatus::SUCCESS.0);
    assert_eq!(r.data_transfer_length, 36);
    assert_eq!(&back[8..14], b"RVMBUS");
    // Two blocks spanning a page boundary (offset 100 in page 8).
    let data: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 256) as u8).collect();
    let (r, _) = rig.srb(
        0,
        &[0x2a, 0, 0, 0, 0, 4, 0, 0, 16, 0],
        Some((&data, true)),
        11,
    );
    assert_eq!(
        (r.srb_status, r.scsi_status, r.data_transfer_length),
        (1, 0, 8192)
    );
    let (r, back) = rig.srb(
        0,
        &[0x28, 0, 0, 0, 0, 4, 0, 0, 16, 0],
        Some((&[0u8; 8192], false)),
        12,
    );
    assert_eq!(r.data_transfer_length, 8192);
    assert_eq!(back, data);
    assert_eq!(rig.ctl.borrow().stats.bytes_read, 8192);
    // TEST UNIT READY in-band.
    let (r, _) = rig.srb(0, &[0, 0, 0, 0, 0, 0], None, 13);
    assert_eq!(r.srb_status, SrbStatus::SUCCESS.0);
}

#[test]
fn direct_and_copied_disk_io_agree() {
    let mut rig = Rig::new(128);
    rig.init();
    let a: Vec<u8> = (0..8192u32).map(|i| (i * 13 % 251) as u8).collect();
    let b: Vec<u8> = (0..8192u32).map(|i| (i * 5 % 241) as u8).collect();
    // Written straight from guest RAM, read back through a host buffer;
    // then the other way round.
    for (data, lba, write_direct) in [(&a, 4u8, true), (&b, 40u8, false)] {
        crate::prof::set_direct_io(write_direct);
        let (r, _) = rig.srb(
            0,
            &[0x2a, 0, 0, 0, 0, lba, 0, 0, 16, 0],
            Some((data, true)),
            20,
        );
        assert_eq!((r.srb_status, r.data_transfer_length), (1, 8192));
        crate::prof::set_direct_io(!write_direct);
        let (r, back) = rig.srb(
            0,
            &[0x28, 0, 0, 0, 0, lba, 0, 0, 16, 0],
            Some((&[0u8; 8192], false)),
            21,
        );
        assert_eq!((r.srb_status, r.data_transfer_length), (1, 8192));
        assert_eq!(&back, data);
    }
    crate::prof::set_direct_io(true);
}

#[test]
fn check_condition_carries_sense() {
    let mut rig = Rig::new(16);
    rig.init();
    // Past the end of the disk.
    let (r, _) = rig.srb(
        0,
        &[0x28, 0, 0, 0, 0, 16, 0, 0, 1, 0],
        Some((&[0u8; 512], false)),
        20,
    );
    assert_eq!(
        r.srb_status,
        SrbStatus::ERROR.0 | SRB_STATUS_AUTOSENSE_VALID
    );
    assert_eq!(r.scsi_status, 2);
    assert_eq!(r.sense_info_length, 18);
    assert_eq!((r.buf[0], r.buf[2], r.buf[12]), (0x70, 5, 0x21));
    assert_eq!(r.data_transfer_length, 0);
    // A write to the read-only disk.
    let (r, _) = rig.srb(
        2,
        &[0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        Some((&[1u8; 512], true)),
        21,
    );
    assert_eq!((r.scsi_status, r.buf[2], r.buf[12]), (2, 7, 0x27));
    // An unknown opcode.
    let (r, _) = rig.srb(0, &[0xc0, 0, 0, 0, 0, 0], None, 22);
    assert_eq!((r.scsi_status, r.buf[12]), (2, 0x20));
    // A LUN without a disk: INQUIRY says so, other commands get
    // INVALID_LUN (the guest drops the device).
    let (r, back) = rig.srb(1, &[0x12, 0, 0, 0, 36, 0], Some((&[0u8; 36], false)), 23);
    assert_eq!((r.srb_status, back[0]), (1, 0x7f));
    let (r, _) = rig.srb(1, &[0, 0, 0, 0, 0, 0], None, 24);
    assert_eq!(r.srb_status, SrbStatus::INVALID_LUN.0);
}

#[test]
fn transfer_longer_than_the_ranges_is_refused() {
    let mut rig = Rig::new(16);
    rig.init();
    // The SRB claims 1024 bytes; the range describes 512.
    let mut r = VmscsiRequest::zeroed();
    r.cdb_length = 10;
    r.buf[..10].copy_from_slice(&[0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0]);
    r.data_transfer_length = 1024;
    let mut pkt = [0u8; 64];
    VstorPacketHeader {
        operation: VstorOperation::EXECUTE_SRB,
        flags: 1,
        status: 0,
    }
    .write_to(&mut pkt)
    .unwrap();
    r.write_to(&mut pkt[12..]).unwrap();
    let mut raw = vec![0u8; 256];
    let range = GpaRange {
        byte_count: 512,
        byte_offset: 0,
    };
    let n = encode_gpa_direct(&mut raw, 1, 30, &[(range, &[8])], &pkt).unwrap();
    let rep = rig.send_raw(&raw[..n]);
    let out = VmscsiRequest::read_from(&rep[0].body).unwrap();
    assert_eq!(out.srb_status, SrbStatus::INVALID_REQUEST.0);
    // A range outside guest RAM.
    r.data_transfer_length = 512;
    r.write_to(&mut pkt[12..]).unwrap();
    let n = encode_gpa_direct(&mut raw, 1, 31, &[(range, &[RAM_PAGES + 5])], &pkt).unwrap();
    let rep = rig.send_raw(&raw[..n]);
    let out = VmscsiRequest::read_from(&rep[0].body).unwrap();
    assert_eq!(out.srb_status, SrbStatus::INVALID_REQUEST.0);
}

#[test]
fn garbage_gets_an_error_each() {
    let mut rig = Rig::new(16);
    rig.init();
    // Too short, unknown operation, zero CDB length.
    let mut raw = [0u8; 128];
    let n = encode_inband(&mut raw, PacketType::DATA_INBAND, 1, 40, &[3, 0, 0, 0]).unwrap();
    let r = rig.send_raw(&raw[..n]);
    assert_eq!(
        (r[0].trans_id, r[0].hdr.status),
        (40, STATUS_INVALID_PARAMETER)
    );
    assert_eq!(
        rig.send(VstorOperation(99), &[], 41).hdr.status,
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(
        rig.send(VstorOperation::EXECUTE_SRB, &[0; 52], 42)
            .hdr
            .status,
        STATUS_INVALID_PARAMETER
    );
    // Sub-channels on a sub-channel are refused.
    let mut sub = Storvsp::new(rig.ctl.clone(), 1);
    let mut pkt = [0u8; 64];
    pkt[0] = 13;
    pkt[12] = 1;
    let n = encode_inband(&mut raw, PacketType::DATA_INBAND, 1, 43, &pkt).unwrap();
    let p = parse(&raw[..n]).unwrap();
    let out = rig.with(|_, io| sub.on_packet(io, &p));
    let q = parse(&out[0]).unwrap();
    assert_eq!(
        VstorPacketHeader::read_from(q.payload).unwrap().status,
        STATUS_INVALID_PARAMETER
    );
    // The channel still serves good requests.
    let (r, _) = rig.srb(0, &[0, 0, 0, 0, 0, 0], None, 44);
    assert_eq!(r.srb_status, SrbStatus::SUCCESS.0);
    assert!(rig.ctl.borrow().stats.bad_packets >= 3);
}

#[test]
fn hot_add_sends_enumerate_bus() {
    let mut rig = Rig::new(16);
    rig.init();
    assert!(rig.with(|d, io| d.tick(io)).is_empty());
    rig.ctl.borrow_mut().remove(2).unwrap();
    let out = rig.with(|d, io| d.tick(io));
    assert_eq!(out.len(), 1);
    let p = parse(&out[0]).unwrap();
    assert_eq!(p.desc.trans_id, 0);
    assert_eq!(
        VstorPacketHeader::read_from(p.payload).unwrap().operation,
        VstorOperation::ENUMERATE_BUS
    );
    assert!(rig.with(|d, io| d.tick(io)).is_empty());
    let mut out = Vec::new();
    let sent = rig.with(|d, io| {
        assert_eq!(d.control(io, "storage-rescan", &[], &mut out), Some(Ok(())));
    });
    assert_eq!(sent.len(), 1);
}
