// SPDX-License-Identifier: GPL-2.0

//! Tests of the SCSI target: every command it implements, and the malformed
//! requests it must refuse with the right sense.

use super::disk::{Disk, DiskSpec, BLOCK};
use super::scsi::{execute, Outcome, Target, MAX_TRANSFER_BLOCKS};
use super::sense::Sense;

const BLOCKS: u64 = 64;

struct Fixture {
    _file: tempfile::NamedTempFile,
    disk: Disk,
}

fn disk(read_only: bool) -> Fixture {
    let f = tempfile::NamedTempFile::new().unwrap();
    f.as_file().set_len(BLOCKS * BLOCK).unwrap();
    let disk = Disk::open(&DiskSpec {
        path: f.path().to_path_buf(),
        read_only,
        lun: None,
        controller: 0,
    })
    .unwrap();
    Fixture { _file: f, disk }
}

fn target(d: &Disk) -> Target<'_> {
    Target {
        disk: Some(d),
        luns: &[0, 3],
        lun: 0,
        controller: 0,
    }
}

fn run(t: &Target<'_>, cdb: &[u8], len: usize) -> (Outcome, Vec<u8>) {
    let mut buf = vec![0u8; len];
    let o = execute(t, cdb, &mut buf);
    (o, buf)
}

fn check(o: Outcome) -> Sense {
    match o {
        Outcome::Check(s) => s,
        Outcome::Good(n) => panic!("GOOD ({n} bytes), expected CHECK CONDITION"),
    }
}

fn rw10(op: u8, lba: u32, n: u16) -> [u8; 10] {
    let mut c = [0u8; 10];
    c[0] = op;
    c[2..6].copy_from_slice(&lba.to_be_bytes());
    c[7..9].copy_from_slice(&n.to_be_bytes());
    c
}

fn rw16(op: u8, lba: u64, n: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = op;
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&n.to_be_bytes());
    c
}

#[test]
fn test_unit_ready_and_friends() {
    let f = disk(false);
    let t = target(&f.disk);
    for op in [0x00u8, 0x1b, 0x1e] {
        assert_eq!(run(&t, &[op, 0, 0, 0, 0, 0], 0).0, Outcome::Good(0));
    }
    let (o, b) = run(&t, &[0x03, 0, 0, 0, 18, 0], 32);
    assert_eq!(o, Outcome::Good(18));
    assert_eq!((b[0], b[2]), (0x70, 0));
}

#[test]
fn standard_inquiry() {
    let f = disk(false);
    let t = target(&f.disk);
    let (o, b) = run(&t, &[0x12, 0, 0, 0, 96, 0], 96);
    assert_eq!(o, Outcome::Good(36));
    assert_eq!(b[0], 0);
    assert_eq!(&b[8..16], b"RVMBUS  ");
    // The allocation length cuts the data.
    assert_eq!(run(&t, &[0x12, 0, 0, 0, 5, 0], 96).0, Outcome::Good(5));
    // A page without EVPD is invalid.
    assert_eq!(
        check(run(&t, &[0x12, 0, 0x80, 0, 96, 0], 96).0),
        Sense::INVALID_FIELD_IN_CDB
    );
}

#[test]
fn inquiry_without_a_disk_reports_no_device() {
    let t = Target {
        disk: None,
        luns: &[1],
        lun: 0,
        controller: 0,
    };
    let (o, b) = run(&t, &[0x12, 0, 0, 0, 36, 0], 36);
    assert_eq!(o, Outcome::Good(36));
    assert_eq!(b[0], 0x7f);
    assert_eq!(
        check(run(&t, &[0x12, 1, 0x80, 0, 36, 0], 36).0),
        Sense::LUN_NOT_SUPPORTED
    );
    assert_eq!(
        check(run(&t, &[0x00, 0, 0, 0, 0, 0], 0).0),
        Sense::LUN_NOT_SUPPORTED
    );
    assert_eq!(
        check(run(&t, &rw10(0x28, 0, 1), 512).0),
        Sense::LUN_NOT_SUPPORTED
    );
}

#[test]
fn vpd_pages() {
    let f = disk(false);
    let t = target(&f.disk);
    let (o, b) = run(&t, &[0x12, 1, 0x00, 0, 255, 0], 255);
    assert_eq!(o, Outcome::Good(10));
    assert_eq!(&b[4..10], &[0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
    let (_, b) = run(&t, &[0x12, 1, 0x80, 0, 255, 0], 255);
    assert_eq!((b[1], b[3]), (0x80, 16));
    let (_, b) = run(&t, &[0x12, 1, 0x83, 0, 255, 0], 255);
    assert_eq!((b[1], b[4], b[5]), (0x83, 0x02, 0x01));
    let (_, b) = run(&t, &[0x12, 1, 0xb0, 0, 255, 0], 255);
    assert_eq!(
        u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        MAX_TRANSFER_BLOCKS
    );
    assert_ne!(u32::from_be_bytes([b[20], b[21], b[22], b[23]]), 0);
    let (_, b) = run(&t, &[0x12, 1, 0xb1, 0, 255, 0], 255);
    assert_eq!(b[5], 1);
    let (_, b) = run(&t, &[0x12, 1, 0xb2, 0, 255, 0], 255);
    assert_eq!(b[5] & 0x80, 0x80);
    assert_eq!(
        check(run(&t, &[0x12, 1, 0x99, 0, 255, 0], 255).0),
        Sense::INVALID_FIELD_IN_CDB
    );
}

#[test]
fn report_luns() {
    let f = disk(false);
    let t = target(&f.disk);
    let mut cdb = [0u8; 12];
    cdb[0] = 0xa0;
    cdb[6..10].copy_from_slice(&64u32.to_be_bytes());
    let (o, b) = run(&t, &cdb, 64);
    assert_eq!(o, Outcome::Good(24));
    assert_eq!(&b[0..4], &[0, 0, 0, 16]);
    assert_eq!((b[9], b[17]), (0, 3));
    cdb[6..10].copy_from_slice(&8u32.to_be_bytes());
    assert_eq!(check(run(&t, &cdb, 64).0), Sense::INVALID_FIELD_IN_CDB);
}

#[test]
fn read_capacity() {
    let f = disk(false);
    let t = target(&f.disk);
    let (o, b) = run(&t, &[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8);
    assert_eq!(o, Outcome::Good(8));
    assert_eq!(&b, &[0, 0, 0, 63, 0, 0, 2, 0]);
    let mut c = [0u8; 16];
    c[0] = 0x9e;
    c[1] = 0x10;
    c[13] = 32;
    let (o, b) = run(&t, &c, 32);
    assert_eq!(o, Outcome::Good(32));
    assert_eq!(b[7], 63);
    assert_eq!(b[14], 0xc0);
    c[1] = 0x11;
    assert_eq!(check(run(&t, &c, 32).0), Sense::INVALID_OPCODE);
}

#[test]
fn write_then_read_10_and_16() {
    let f = disk(false);
    let t = target(&f.disk);
    let data: Vec<u8> = (0..1024u32).map(|i| (i % 251) as u8).collect();
    let mut buf = data.clone();
    assert_eq!(
        execute(&t, &rw10(0x2a, 5, 2), &mut buf),
        Outcome::Good(1024)
    );
    let (o, b) = run(&t, &rw10(0x28, 5, 2), 1024);
    assert_eq!(o, Outcome::Good(1024));
    assert_eq!(b, data);
    let (o, b) = run(&t, &rw16(0x88, 6, 1), 512);
    assert_eq!(o, Outcome::Good(512));
    assert_eq!(&b[..], &data[512..]);
    let mut buf = vec![9u8; 512];
    assert_eq!(
        execute(&t, &rw16(0x8a, 63, 1), &mut buf),
        Outcome::Good(512)
    );
    let (_, b) = run(&t, &[0x08, 0, 0, 63, 1, 0], 512);
    assert_eq!(b, vec![9u8; 512]);
    let mut c12 = [0u8; 12];
    c12[0] = 0xa8;
    c12[5] = 63;
    c12[9] = 1;
    assert_eq!(run(&t, &c12, 512).0, Outcome::Good(512));
    // A zero-length transfer moves nothing.
    assert_eq!(run(&t, &rw10(0x28, 0, 0), 0).0, Outcome::Good(0));
}

#[test]
fn lba_out_of_range() {
    let f = disk(false);
    let t = target(&f.disk);
    for cdb in [
        rw10(0x28, 64, 1).to_vec(),
        rw10(0x28, 63, 2).to_vec(),
        rw10(0x2a, 100, 1).to_vec(),
        rw16(0x88, u64::MAX, 1).to_vec(),
        rw16(0x8a, u64::MAX - 1, 4).to_vec(),
        rw10(0x2f, 64, 1).to_vec(),
        rw10(0x35, 65, 0).to_vec(),
    ] {
        assert_eq!(
            check(run(&t, &cdb, 4096).0),
            Sense::LBA_OUT_OF_RANGE,
            "{cdb:x?}"
        );
    }
}

#[test]
fn transfer_longer_than_the_buffer() {
    let f = disk(false);
    let t = target(&f.disk);
    assert_eq!(
        check(run(&t, &rw10(0x28, 0, 2), 1000).0),
        Sense::BUFFER_TOO_SHORT
    );
    assert_eq!(
        check(run(&t, &rw10(0x2a, 0, 1), 0).0),
        Sense::BUFFER_TOO_SHORT
    );
}

#[test]
fn too_many_blocks() {
    let f = tempfile::NamedTempFile::new().unwrap();
    f.as_file().set_len(4096 * BLOCK).unwrap();
    let d = Disk::open(&DiskSpec {
        path: f.path().to_path_buf(),
        read_only: false,
        lun: None,
        controller: 0,
    })
    .unwrap();
    let t = target(&d);
    // CAST: a small constant.
    let n = (MAX_TRANSFER_BLOCKS + 1) as u16;
    assert_eq!(
        check(run(&t, &rw10(0x28, 0, n), 1 << 20).0),
        Sense::INVALID_FIELD_IN_CDB
    );
}

#[test]
fn read_only_disk() {
    let f = disk(true);
    let t = target(&f.disk);
    assert_eq!(
        check(run(&t, &rw10(0x2a, 0, 1), 512).0),
        Sense::WRITE_PROTECTED
    );
    assert_eq!(
        check(run(&t, &rw16(0x8a, 0, 1), 512).0),
        Sense::WRITE_PROTECTED
    );
    assert_eq!(
        check(run(&t, &[0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], 24).0),
        Sense::WRITE_PROTECTED
    );
    assert_eq!(run(&t, &rw10(0x28, 0, 1), 512).0, Outcome::Good(512));
    // MODE SENSE reports write protection.
    let (_, b) = run(&t, &[0x1a, 0, 0x3f, 0, 255, 0], 255);
    assert_eq!(b[2] & 0x80, 0x80);
    // No UNMAP in the provisioning page.
    let (_, b) = run(&t, &[0x12, 1, 0xb2, 0, 255, 0], 255);
    assert_eq!(b[5] & 0x80, 0);
}

#[test]
fn synchronize_cache() {
    let f = disk(false);
    let t = target(&f.disk);
    assert_eq!(run(&t, &rw10(0x35, 0, 0), 0).0, Outcome::Good(0));
    assert_eq!(run(&t, &rw16(0x91, 0, 64), 0).0, Outcome::Good(0));
}

#[test]
fn mode_sense() {
    let f = disk(false);
    let t = target(&f.disk);
    let (o, b) = run(&t, &[0x1a, 0, 0x08, 0, 255, 0], 255);
    assert_eq!(o, Outcome::Good(24));
    assert_eq!((b[0], b[2], b[4], b[6]), (23, 0, 0x08, 0x04));
    let (o, b) = run(&t, &[0x5a, 0, 0x3f, 0, 0, 0, 0, 0, 255, 0], 255);
    assert_eq!(o, Outcome::Good(40));
    assert_eq!(u16::from_be_bytes([b[0], b[1]]), 38);
    // Changeable values: nothing.
    let (_, b) = run(&t, &[0x1a, 0, 0x48, 0, 255, 0], 255);
    assert_eq!(b[6], 0);
    for cdb in [
        [0x1a, 0, 0xc8, 0, 255, 0],
        [0x1a, 0, 0x1c, 0, 255, 0],
        [0x1a, 0, 0x08, 1, 255, 0],
    ] {
        assert_eq!(check(run(&t, &cdb, 255).0).key, 5, "{cdb:x?}");
    }
}

fn unmap_list(descs: &[(u64, u32)]) -> Vec<u8> {
    let mut p = vec![0u8; 8];
    let dlen = (descs.len() * 16) as u16;
    p[0..2].copy_from_slice(&(dlen + 6).to_be_bytes());
    p[2..4].copy_from_slice(&dlen.to_be_bytes());
    for &(lba, n) in descs {
        p.extend_from_slice(&lba.to_be_bytes());
        p.extend_from_slice(&n.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
    }
    p
}

fn unmap_cdb(len: usize) -> [u8; 10] {
    let mut c = [0u8; 10];
    c[0] = 0x42;
    c[7..9].copy_from_slice(&(len as u16).to_be_bytes());
    c
}

#[test]
fn unmap() {
    let f = disk(false);
    let t = target(&f.disk);
    let mut buf = vec![0xaau8; 1024];
    execute(&t, &rw10(0x2a, 2, 2), &mut buf);
    let mut p = unmap_list(&[(2, 1)]);
    assert_eq!(execute(&t, &unmap_cdb(p.len()), &mut p), Outcome::Good(0));
    let (_, b) = run(&t, &rw10(0x28, 2, 2), 1024);
    assert!(b[..512].iter().all(|&x| x == 0));
    assert!(b[512..].iter().all(|&x| x == 0xaa));
    // A descriptor past the end refuses the whole list.
    let mut p = unmap_list(&[(3, 1), (63, 2)]);
    assert_eq!(
        check(execute(&t, &unmap_cdb(p.len()), &mut p)),
        Sense::LBA_OUT_OF_RANGE
    );
    let (_, b) = run(&t, &rw10(0x28, 3, 1), 512);
    assert!(b.iter().all(|&x| x == 0xaa));
    // A parameter list longer than the buffer, or shorter than a header.
    let mut p = unmap_list(&[(3, 1)]);
    assert_eq!(
        check(execute(&t, &unmap_cdb(p.len() + 8), &mut p)),
        Sense::PARAMETER_LIST_LENGTH_ERROR
    );
    assert_eq!(
        check(execute(&t, &unmap_cdb(4), &mut p)),
        Sense::PARAMETER_LIST_LENGTH_ERROR
    );
    // A descriptor length that is not a multiple of 16 or past the list.
    let mut p = unmap_list(&[(3, 1)]);
    p[3] = 15;
    assert_eq!(
        check(execute(&t, &unmap_cdb(p.len()), &mut p)),
        Sense::INVALID_FIELD_IN_PARAMETER_LIST
    );
    p[3] = 32;
    assert_eq!(
        check(execute(&t, &unmap_cdb(p.len()), &mut p)),
        Sense::INVALID_FIELD_IN_PARAMETER_LIST
    );
    // A zero-length list does nothing.
    assert_eq!(execute(&t, &unmap_cdb(0), &mut p), Outcome::Good(0));
}

#[test]
fn short_cdbs_and_unknown_opcodes() {
    let f = disk(false);
    let t = target(&f.disk);
    assert_eq!(check(run(&t, &[], 0).0), Sense::INVALID_OPCODE);
    for cdb in [
        &[0x00u8, 0, 0][..],
        &[0x12, 0, 0, 0, 36],
        &[0x28, 0, 0, 0, 0, 0, 0, 0, 1],
        &[0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        &[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16],
        &[0x2a],
    ] {
        assert_eq!(
            check(run(&t, cdb, 4096).0),
            Sense::INVALID_FIELD_IN_CDB,
            "{cdb:x?}"
        );
    }
    for cdb in [
        &[0x04u8, 0, 0, 0, 0, 0][..],
        &[0x41, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[0x93, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[0xff, 0, 0, 0, 0, 0],
    ] {
        let o = run(&t, cdb, 4096).0;
        assert_eq!(check(o), Sense::INVALID_OPCODE, "{cdb:x?}");
        assert_eq!(o.status(), 2);
        assert_eq!(o.sense().unwrap()[12], 0x20);
    }
}
