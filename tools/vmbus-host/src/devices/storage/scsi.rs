// SPDX-License-Identifier: GPL-2.0

//! The SCSI target: runs one CDB against a disk (or against a LUN with no
//! disk) and a data buffer, and returns the SCSI outcome.
//!
//! It implements the commands a Linux guest's sd and scsi_scan send: TEST
//! UNIT READY, REQUEST SENSE, INQUIRY (standard data and the VPD pages
//! 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2), REPORT LUNS, READ CAPACITY (10)
//! and (16), READ and WRITE (6, 10, 12, 16), SYNCHRONIZE CACHE (10, 16),
//! MODE SENSE (6, 10) with the caching and control pages, START STOP UNIT,
//! PREVENT ALLOW MEDIUM REMOVAL, VERIFY (10, 16) and UNMAP (on writable
//! disks). Every other opcode, a CDB shorter than its opcode's group needs,
//! a field out of range, a transfer longer than the data buffer, or a write
//! to a read-only disk ends in CHECK CONDITION with fixed-format sense data.

use super::buffer::{DataBuf, Fault};
use super::disk::{Disk, BLOCK};
use super::sense::{Sense, FIXED_SENSE_LEN};

/// SCSI status GOOD.
pub const STATUS_GOOD: u8 = 0x00;
/// SCSI status CHECK CONDITION.
pub const STATUS_CHECK_CONDITION: u8 = 0x02;

/// Most blocks one READ or WRITE may move (the 512 KiB advertised as the
/// channel's maximum transfer and in the block limits VPD page).
pub const MAX_TRANSFER_BLOCKS: u32 = 1024;
/// Most blocks one UNMAP descriptor may name.
pub const MAX_UNMAP_BLOCKS: u32 = 0x10_0000;
/// Most descriptors one UNMAP may carry.
pub const MAX_UNMAP_DESCRIPTORS: u32 = 64;

/// The outcome of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// GOOD, with the bytes moved.
    Good(u32),
    /// CHECK CONDITION with this sense; nothing counts as moved.
    Check(Sense),
}

impl Outcome {
    /// The SCSI status byte.
    pub fn status(&self) -> u8 {
        match self {
            Outcome::Good(_) => STATUS_GOOD,
            Outcome::Check(_) => STATUS_CHECK_CONDITION,
        }
    }

    /// The fixed-format sense data, for a CHECK CONDITION.
    pub fn sense(&self) -> Option<[u8; FIXED_SENSE_LEN]> {
        match self {
            Outcome::Good(_) => None,
            Outcome::Check(s) => Some(s.fixed()),
        }
    }
}

/// What a command addresses: a disk, or an address without one.
pub struct Target<'a> {
    /// The disk at this LUN, if any.
    pub disk: Option<&'a Disk>,
    /// The LUNs of the bus this address is on (for REPORT LUNS).
    pub luns: &'a [u8],
    /// The LUN addressed (for the identifiers).
    pub lun: u8,
    /// A name that identifies the controller (for serial numbers).
    pub controller: u8,
}

type CmdResult = Result<u32, Sense>;

/// The length each opcode group needs.
fn group_len(op: u8) -> usize {
    match op >> 5 {
        0 => 6,
        1 | 2 => 10,
        4 => 16,
        5 => 12,
        // Groups 3, 6 and 7 are reserved or vendor specific; no command
        // this target knows is in them.
        _ => 6,
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    u16::from_be_bytes(a)
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_be_bytes(a)
}

fn byte(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// Sends `data`, cut to `alloc` bytes and to the buffer, to the guest.
fn send(buf: &mut dyn DataBuf, data: &[u8], alloc: usize) -> CmdResult {
    // CAST: the minimum is at most data.len(), a usize.
    let n = data
        .len()
        .min(alloc)
        .min(buf.len().min(usize::MAX as u64) as usize);
    let part = data.get(..n).unwrap_or_default();
    buf.write_at(0, part)
        .map_err(|_| Sense::INVALID_FIELD_IN_CDB)?;
    // CAST: at most data.len(), which is small.
    Ok(n as u32)
}

/// Runs `cdb` against `t` with `buf`.
pub fn execute(t: &Target<'_>, cdb: &[u8], buf: &mut dyn DataBuf) -> Outcome {
    let r = match cdb.first() {
        None => Err(Sense::INVALID_OPCODE),
        Some(&op) if cdb.len() < group_len(op) => Err(Sense::INVALID_FIELD_IN_CDB),
        Some(&op) => dispatch(t, op, cdb, buf),
    };
    match r {
        Ok(n) => Outcome::Good(n),
        Err(s) => Outcome::Check(s),
    }
}

fn dispatch(t: &Target<'_>, op: u8, cdb: &[u8], buf: &mut dyn DataBuf) -> CmdResult {
    // These work at any address, with or without a disk.
    match op {
        0x12 => return inquiry(t, cdb, buf),
        0xa0 => return report_luns(t, cdb, buf),
        0x03 => return request_sense(cdb, buf),
        _ => {}
    }
    let Some(d) = t.disk else {
        return Err(Sense::LUN_NOT_SUPPORTED);
    };
    match op {
        0x00 | 0x1b | 0x1e => Ok(0),
        0x25 => read_capacity10(d, buf),
        0x9e if byte(cdb, 1) & 0x1f == 0x10 => read_capacity16(d, cdb, buf),
        0x08 => {
            let lba = u64::from(be32(cdb, 0) & 0x1f_ffff);
            let n = match byte(cdb, 4) {
                0 => 256,
                n => u32::from(n),
            };
            read(d, lba, n, buf)
        }
        0x0a => {
            let lba = u64::from(be32(cdb, 0) & 0x1f_ffff);
            let n = match byte(cdb, 4) {
                0 => 256,
                n => u32::from(n),
            };
            write(d, lba, n, buf)
        }
        0x28 => read(d, u64::from(be32(cdb, 2)), u32::from(be16(cdb, 7)), buf),
        0x2a => write(d, u64::from(be32(cdb, 2)), u32::from(be16(cdb, 7)), buf),
        0xa8 => read(d, u64::from(be32(cdb, 2)), be32(cdb, 6), buf),
        0xaa => write(d, u64::from(be32(cdb, 2)), be32(cdb, 6), buf),
        0x88 => read(d, be64(cdb, 2), be32(cdb, 10), buf),
        0x8a => write(d, be64(cdb, 2), be32(cdb, 10), buf),
        0x2f => verify(d, u64::from(be32(cdb, 2)), u32::from(be16(cdb, 7))),
        0x8f => verify(d, be64(cdb, 2), be32(cdb, 10)),
        0x35 => sync(d, u64::from(be32(cdb, 2)), u32::from(be16(cdb, 7))),
        0x91 => sync(d, be64(cdb, 2), be32(cdb, 10)),
        0x1a => mode_sense(d, cdb, false, buf),
        0x5a => mode_sense(d, cdb, true, buf),
        0x42 if !d.read_only() => unmap(d, cdb, buf),
        0x42 => Err(Sense::WRITE_PROTECTED),
        _ => Err(Sense::INVALID_OPCODE),
    }
}

fn request_sense(cdb: &[u8], buf: &mut dyn DataBuf) -> CmdResult {
    // Sense is always returned with the failed command (autosense), so
    // nothing is pending here.
    let s = Sense::new(super::sense::KEY_NO_SENSE, 0, 0).fixed();
    send(buf, &s, usize::from(byte(cdb, 4)))
}

/// The unit serial number: controller and LUN, so it is stable.
fn serial(t: &Target<'_>) -> [u8; 16] {
    let mut s = *b"RVMB000000000000";
    let v = format!("{:04x}{:08x}", t.controller, t.lun);
    for (d, c) in s.iter_mut().skip(4).zip(v.bytes()) {
        *d = c;
    }
    s
}

fn inquiry(t: &Target<'_>, cdb: &[u8], buf: &mut dyn DataBuf) -> CmdResult {
    let evpd = byte(cdb, 1) & 1 != 0;
    let page = byte(cdb, 2);
    let alloc = usize::from(be16(cdb, 3));
    // Peripheral qualifier 3 and type 0x1f: no device at this LUN.
    let pdt = if t.disk.is_some() { 0x00 } else { 0x7f };
    if !evpd {
        if page != 0 {
            return Err(Sense::INVALID_FIELD_IN_CDB);
        }
        let mut d = [0u8; 36];
        d[0] = pdt;
        // SPC-4, response data format 2, the additional length, and
        // command queueing.
        d[2] = 0x06;
        d[3] = 0x02;
        d[4] = 36 - 5;
        d[7] = 0x02;
        d[8..16].copy_from_slice(b"RVMBUS  ");
        d[16..32].copy_from_slice(b"Virtual Disk    ");
        d[32..36].copy_from_slice(b"1.0 ");
        return send(buf, &d, alloc);
    }
    let Some(disk) = t.disk else {
        return Err(Sense::LUN_NOT_SUPPORTED);
    };
    let mut body: Vec<u8> = Vec::new();
    match page {
        0x00 => body.extend_from_slice(&[0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]),
        0x80 => body.extend_from_slice(&serial(t)),
        0x83 => {
            // One designator: T10 vendor id (code set ASCII, association
            // the logical unit), vendor then the serial number.
            let s = serial(t);
            // CAST: 24 bytes.
            body.extend_from_slice(&[0x02, 0x01, 0x00, (8 + s.len()) as u8]);
            body.extend_from_slice(b"RVMBUS  ");
            body.extend_from_slice(&s);
        }
        0xb0 => {
            let mut b = [0u8; 60];
            // Optimal transfer length granularity: 8 blocks (4 KiB).
            b[2..4].copy_from_slice(&8u16.to_be_bytes());
            b[4..8].copy_from_slice(&MAX_TRANSFER_BLOCKS.to_be_bytes());
            b[8..12].copy_from_slice(&MAX_TRANSFER_BLOCKS.to_be_bytes());
            if !disk.read_only() {
                b[16..20].copy_from_slice(&MAX_UNMAP_BLOCKS.to_be_bytes());
                b[20..24].copy_from_slice(&MAX_UNMAP_DESCRIPTORS.to_be_bytes());
                b[24..28].copy_from_slice(&8u32.to_be_bytes());
            }
            body.extend_from_slice(&b);
        }
        0xb1 => {
            let mut b = [0u8; 60];
            // Medium rotation rate 1: not rotating.
            b[1] = 1;
            body.extend_from_slice(&b);
        }
        0xb2 => {
            // LBPU (UNMAP) on writable disks, LBPRZ: unmapped blocks read
            // as zero.
            let lbpu = if disk.read_only() { 0 } else { 0x80 };
            body.extend_from_slice(&[0, lbpu | 0x04, 0, 0]);
        }
        _ => return Err(Sense::INVALID_FIELD_IN_CDB),
    }
    let mut d = vec![pdt, page];
    // CAST: every page body above is shorter than 64 KiB.
    d.extend_from_slice(&(body.len() as u16).to_be_bytes());
    d.extend_from_slice(&body);
    send(buf, &d, alloc)
}

fn report_luns(t: &Target<'_>, cdb: &[u8], buf: &mut dyn DataBuf) -> CmdResult {
    let alloc = be32(cdb, 6);
    if alloc < 16 {
        return Err(Sense::INVALID_FIELD_IN_CDB);
    }
    let mut d = vec![0u8; 8];
    // CAST: at most 255 LUNs of 8 bytes.
    d[0..4].copy_from_slice(&((t.luns.len() * 8) as u32).to_be_bytes());
    for &l in t.luns {
        // Peripheral device addressing, single level.
        d.extend_from_slice(&[0, l, 0, 0, 0, 0, 0, 0]);
    }
    // CAST: alloc is a u32 and usize holds it on every target this runs on.
    send(buf, &d, alloc as usize)
}

fn read_capacity10(d: &Disk, buf: &mut dyn DataBuf) -> CmdResult {
    let last = u32::try_from(d.blocks() - 1).unwrap_or(u32::MAX);
    let mut b = [0u8; 8];
    b[0..4].copy_from_slice(&last.to_be_bytes());
    // CAST: BLOCK is 512.
    b[4..8].copy_from_slice(&(BLOCK as u32).to_be_bytes());
    send(buf, &b, 8)
}

fn read_capacity16(d: &Disk, cdb: &[u8], buf: &mut dyn DataBuf) -> CmdResult {
    let alloc = be32(cdb, 10);
    let mut b = [0u8; 32];
    b[0..8].copy_from_slice(&(d.blocks() - 1).to_be_bytes());
    // CAST: BLOCK is 512.
    b[8..12].copy_from_slice(&(BLOCK as u32).to_be_bytes());
    // LBPME (thin provisioning) and LBPRZ on writable disks.
    if !d.read_only() {
        b[14] = 0xc0;
    }
    // CAST: alloc is a u32 and usize holds it on every target this runs on.
    send(buf, &b, alloc as usize)
}

/// Checks a transfer of `n` blocks from `lba` and returns its bytes.
fn check_transfer(d: &Disk, lba: u64, n: u32, buf: &dyn DataBuf) -> Result<u64, Sense> {
    if !d.in_range(lba, u64::from(n)) {
        return Err(Sense::LBA_OUT_OF_RANGE);
    }
    if n > MAX_TRANSFER_BLOCKS {
        return Err(Sense::INVALID_FIELD_IN_CDB);
    }
    let bytes = u64::from(n) * BLOCK;
    if bytes > buf.len() {
        return Err(Sense::BUFFER_TOO_SHORT);
    }
    Ok(bytes)
}

fn read(d: &Disk, lba: u64, n: u32, buf: &mut dyn DataBuf) -> CmdResult {
    let bytes = check_transfer(d, lba, n, buf)?;
    buf.read_disk(d, lba * BLOCK, 0, bytes)
        .map_err(|f| match f {
            Fault::Disk(_) => Sense::READ_ERROR,
            Fault::Buffer(_) => Sense::BUFFER_TOO_SHORT,
        })?;
    // CAST: at most MAX_TRANSFER_BLOCKS blocks.
    Ok(bytes as u32)
}

fn write(d: &Disk, lba: u64, n: u32, buf: &mut dyn DataBuf) -> CmdResult {
    if d.read_only() {
        return Err(Sense::WRITE_PROTECTED);
    }
    let bytes = check_transfer(d, lba, n, buf)?;
    buf.write_disk(d, lba * BLOCK, 0, bytes)
        .map_err(|f| match f {
            Fault::Disk(_) => Sense::WRITE_ERROR,
            Fault::Buffer(_) => Sense::BUFFER_TOO_SHORT,
        })?;
    // CAST: at most MAX_TRANSFER_BLOCKS blocks.
    Ok(bytes as u32)
}

fn verify(d: &Disk, lba: u64, n: u32) -> CmdResult {
    if !d.in_range(lba, u64::from(n)) {
        return Err(Sense::LBA_OUT_OF_RANGE);
    }
    Ok(0)
}

fn sync(d: &Disk, lba: u64, n: u32) -> CmdResult {
    // A count of 0 means "to the end of the disk".
    if lba > d.blocks() || (n != 0 && !d.in_range(lba, u64::from(n))) {
        return Err(Sense::LBA_OUT_OF_RANGE);
    }
    d.flush().map_err(|_| Sense::WRITE_ERROR)?;
    Ok(0)
}

/// The caching mode page: write cache enabled (the guest flushes), or its
/// changeable mask (nothing changeable).
fn caching_page(changeable: bool) -> [u8; 20] {
    let mut p = [0u8; 20];
    p[0] = 0x08;
    p[1] = 18;
    if !changeable {
        p[2] = 0x04;
    }
    p
}

/// The control mode page.
fn control_page() -> [u8; 12] {
    let mut p = [0u8; 12];
    p[0] = 0x0a;
    p[1] = 10;
    p
}

fn mode_sense(d: &Disk, cdb: &[u8], ten: bool, buf: &mut dyn DataBuf) -> CmdResult {
    let pc = byte(cdb, 2) >> 6;
    let page = byte(cdb, 2) & 0x3f;
    let subpage = byte(cdb, 3);
    let alloc = if ten {
        usize::from(be16(cdb, 7))
    } else {
        usize::from(byte(cdb, 4))
    };
    if pc == 3 {
        return Err(Sense::SAVING_PARAMETERS_NOT_SUPPORTED);
    }
    if subpage != 0 && subpage != 0xff {
        return Err(Sense::INVALID_FIELD_IN_CDB);
    }
    let changeable = pc == 1;
    let mut pages: Vec<u8> = Vec::new();
    match page {
        0x08 => pages.extend_from_slice(&caching_page(changeable)),
        0x0a => pages.extend_from_slice(&control_page()),
        0x3f => {
            pages.extend_from_slice(&caching_page(changeable));
            pages.extend_from_slice(&control_page());
        }
        _ => return Err(Sense::INVALID_FIELD_IN_CDB),
    }
    // Device-specific parameter: WP for a read-only disk, DPOFUA clear.
    let dsp = if d.read_only() { 0x80 } else { 0x00 };
    let mut out = Vec::new();
    if ten {
        // CAST: the pages are 32 bytes at most.
        let len = (pages.len() + 6) as u16;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0, dsp, 0, 0, 0, 0]);
    } else {
        // CAST: the pages are 32 bytes at most.
        out.extend_from_slice(&[(pages.len() + 3) as u8, 0, dsp, 0]);
    }
    out.extend_from_slice(&pages);
    send(buf, &out, alloc)
}

fn unmap(d: &Disk, cdb: &[u8], buf: &mut dyn DataBuf) -> CmdResult {
    let plen = u64::from(be16(cdb, 7));
    if plen == 0 {
        return Ok(0);
    }
    if plen < 8 || plen > buf.len() {
        return Err(Sense::PARAMETER_LIST_LENGTH_ERROR);
    }
    // CAST: plen is a u16.
    let mut p = vec![0u8; plen as usize];
    buf.read_at(0, &mut p)
        .map_err(|_| Sense::PARAMETER_LIST_LENGTH_ERROR)?;
    let dlen = usize::from(be16(&p, 2));
    if dlen % 16 != 0 || 8 + dlen > p.len() {
        return Err(Sense::INVALID_FIELD_IN_PARAMETER_LIST);
    }
    // CAST: a small constant.
    if dlen / 16 > MAX_UNMAP_DESCRIPTORS as usize {
        return Err(Sense::INVALID_FIELD_IN_PARAMETER_LIST);
    }
    let descs: Vec<(u64, u32)> = p
        .get(8..8 + dlen)
        .unwrap_or_default()
        .chunks_exact(16)
        .map(|c| (be64(c, 0), be32(c, 8)))
        .collect();
    // Every descriptor is checked before any block is touched.
    for &(lba, n) in &descs {
        if !d.in_range(lba, u64::from(n)) {
            return Err(Sense::LBA_OUT_OF_RANGE);
        }
        if n > MAX_UNMAP_BLOCKS {
            return Err(Sense::INVALID_FIELD_IN_PARAMETER_LIST);
        }
    }
    for (lba, n) in descs {
        d.unmap(lba, u64::from(n)).map_err(|_| Sense::WRITE_ERROR)?;
    }
    Ok(0)
}
