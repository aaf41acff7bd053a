// SPDX-License-Identifier: GPL-2.0

//! The debugfs control file `/sys/kernel/debug/rvmbus/ctl`, for tests and
//! for people debugging a host: write one command, read its answer.
//!
//! - `status`: connection state, version, channel count;
//! - `open RELID CPU [KIB]`: opens a channel with rings of KIB KiB
//!   (default 64) and interrupts on CPU;
//! - `close RELID`: closes it;
//! - `echo RELID COUNT SIZE`: sends COUNT in-band packets of SIZE bytes to
//!   an echo device (every other one asking for a completion) and checks
//!   that each comes back unchanged, with its transaction id and the
//!   expected packet type; it waits at most the module's `timeout_ms` for
//!   room in the ring and for each answer (`ETIMEDOUT`);
//! - `echo-gpa RELID COUNT SIZE`: the same with GPA-direct packets whose
//!   range starts mid-page and spans pages; the host echoes the bytes it
//!   read from guest memory. Pages of a packet the host did not answer
//!   are kept for it, never freed ([`SharedPages::keep`]);
//! - `subchannels RELID N`: asks the echo device for N sub-channels.

use core::fmt::Write;

use kernel::{
    ffi::c_char,
    prelude::*,
    sync::{atomic::ordering::Relaxed, Arc},
    time::{Delta, Instant, Monotonic},
};

use crate::{
    bus::{
        self,
        channel::{Channel, RxPacket},
        connection::{Connection, HostWait, RingBytes, DEFAULT_RING_BYTES},
        shmem::{SharedPages, PAGE},
    },
    proto::wire::{channel_msg::GpaRange, packet::PacketType},
    support::shim,
    sysfs::device::BufWriter,
};

/// The largest echo packet the test sends.
const MAX_ECHO: usize = 16 * 1024;

fn num(w: Option<&str>) -> Result<u32> {
    let s = w.ok_or(EINVAL)?;
    s.parse::<u32>().map_err(|_| EINVAL)
}

fn run(conn: &Arc<Connection>, line: &str, out: &mut BufWriter<'_>) -> Result {
    let mut w = line.split_ascii_whitespace();
    match w.next() {
        Some("status") => {
            let _ = writeln!(out, "{}", conn.describe());
            Ok(())
        }
        Some("path") => {
            let _ = crate::support::pathtime::describe(out);
            Ok(())
        }
        Some("open") => {
            let ch = conn.channel(num(w.next())?).ok_or(ENOENT)?;
            let cpu = num(w.next())?;
            let kib = w
                .next()
                .map_or(Ok(DEFAULT_RING_BYTES as u32 / 1024), |s| num(Some(s)))?;
            conn.open(
                &ch,
                RingBytes::both(kib as usize * 1024),
                cpu,
                HostWait::Answer,
            )?;
            let _ = writeln!(out, "open relid={} cpu={}", ch.relid(), cpu);
            Ok(())
        }
        Some("close") => {
            let ch = conn.channel(num(w.next())?).ok_or(ENOENT)?;
            conn.close(&ch, HostWait::Answer)?;
            let _ = writeln!(out, "closed relid={}", ch.relid());
            Ok(())
        }
        Some(cmd @ ("echo" | "echo-gpa")) => {
            let ch = conn.channel(num(w.next())?).ok_or(ENOENT)?;
            let count = num(w.next())?;
            let size = num(w.next())? as usize;
            if size == 0 || size > MAX_ECHO {
                return Err(EINVAL);
            }
            if cmd == "echo" {
                echo(conn, &ch, count, size, out)
            } else {
                echo_gpa(conn, &ch, count, size, out)
            }
        }
        Some("subchannels") => {
            let ch = conn.channel(num(w.next())?).ok_or(ENOENT)?;
            let n = num(w.next())?;
            let got = request_subchannels(conn, &ch, n)?;
            let _ = writeln!(
                out,
                "subchannels relid={} asked={} offered={}",
                ch.relid(),
                n,
                got
            );
            Ok(())
        }
        _ => Err(EINVAL),
    }
}

/// The echo device's sub-channel request (tools/vmbus-host/README.md).
const SUB_MAGIC: &[u8; 8] = b"ECHO-SUB";

/// Asks the echo device of the open channel `ch` for `n` sub-channels and
/// waits for its answer; returns how many it offered. Nobody else may read
/// the channel meanwhile (no driver callbacks: unbound or suspended).
pub(crate) fn request_subchannels(conn: &Connection, ch: &Channel, n: u32) -> Result<u32> {
    let mut req = [0u8; 12];
    req[..8].copy_from_slice(SUB_MAGIC);
    req[8..].copy_from_slice(&n.to_le_bytes());
    ch.send_inband(conn, &req, 0x5ab_0001, false)?;
    let mut buf = [0u8; 128];
    let RxPacket { offset, len, .. } = wait_packet(conn, ch, &mut buf, shim::timeout_ms())?;
    let body = buf.get(offset..offset + len).ok_or(EIO)?;
    match (body.get(..8), body.get(8..12)) {
        (Some(m), Some(&[a, b, c, d])) if m == &SUB_MAGIC[..] => {
            Ok(u32::from_le_bytes([a, b, c, d]))
        }
        _ => Err(EIO),
    }
}

/// Byte offset of the GPA-direct test data in its first page, so that the
/// range starts mid-page and spans pages.
const GPA_OFFSET: usize = 100;

fn echo_gpa(
    conn: &Arc<Connection>,
    ch: &Arc<Channel>,
    count: u32,
    size: usize,
    out: &mut BufWriter<'_>,
) -> Result {
    let pages = (GPA_OFFSET + size).div_ceil(PAGE);
    let mem = SharedPages::new(pages)?;
    let mut pfns = KVec::new();
    mem.pfns(0, pages, &mut pfns)?;
    let mut data = KVec::from_elem(0u8, size, GFP_KERNEL)?;
    let mut buf = KVec::from_elem(0u8, size + 64, GFP_KERNEL)?;
    let mut errors = 0u32;
    // Whether an answer came for another packet than the one sent: the
    // host may then still hold the pages of the one it did not answer.
    let mut unanswered = false;
    let start = Instant::<Monotonic>::now();
    for i in 0..count {
        for (j, b) in data.iter_mut().enumerate() {
            *b = pattern(i ^ 0xa5, j);
        }
        mem.write(GPA_OFFSET, &data)?;
        // CAST: Both are below 64 KiB.
        let range = GpaRange {
            byte_count: size as u32,
            byte_offset: GPA_OFFSET as u32,
        };
        let header = u64::from(i).to_le_bytes();
        let tid = 0x6a_0000_0000 | u64::from(i);
        ch.send_gpa_direct(&**conn, &[(range, &pfns[..])], &header, tid, true)?;
        let RxPacket {
            ptype,
            offset,
            len,
            trans_id,
        } = match wait_packet(conn, ch, &mut buf, shim::timeout_ms()) {
            Ok(p) => p,
            Err(e) => {
                // The host has the packet and did not answer: it may still
                // read or write the pages it names, so they are never
                // freed.
                mem.keep("echo-gpa: the host did not answer");
                return Err(e);
            }
        };
        if trans_id != tid {
            unanswered = true;
        }
        let body = buf.get(offset..offset + len).ok_or(EIO)?;
        let ok = ptype == PacketType::COMP
            && trans_id == tid
            && body.get(..8) == Some(&header[..])
            && body.get(8..8 + size) == Some(&data[..]);
        if !ok {
            errors += 1;
            if errors <= 3 {
                pr_err!(
                    "echo-gpa {}: answer type {} id {:#x} len {} does not match\n",
                    i,
                    ptype.0,
                    trans_id,
                    len
                );
            }
        }
    }
    if unanswered {
        mem.keep("echo-gpa: a packet the host did not answer");
    }
    drop(mem);
    let _ = writeln!(
        out,
        "echo-gpa relid={} packets={} bytes={} pages={} errors={} us={}",
        ch.relid(),
        count,
        u64::from(count) * size as u64,
        pages,
        errors,
        start.elapsed().as_micros_ceil()
    );
    if errors != 0 {
        return Err(EIO);
    }
    Ok(())
}

fn pattern(i: u32, j: usize) -> u8 {
    // CAST: Truncation to a byte is the pattern.
    (i as usize)
        .wrapping_mul(31)
        .wrapping_add(j.wrapping_mul(7)) as u8
}

/// Waits for the next packet on `ch`, at most `timeout_ms`.
fn wait_packet(
    conn: &Connection,
    ch: &Channel,
    buf: &mut [u8],
    timeout_ms: u32,
) -> Result<RxPacket> {
    let start = Instant::<Monotonic>::now();
    let limit = Delta::from_millis(i64::from(timeout_ms));
    loop {
        if let Some(p) = ch.recv(conn, buf)? {
            return Ok(p);
        }
        if start.elapsed() > limit {
            return Err(ETIMEDOUT);
        }
        ch.wait_interrupt();
    }
}

/// Sends one in-band packet, waiting at most `timeout_ms` for room in the
/// ring: a host that never gives the space back must not hold the writer
/// (and the control file) for ever.
fn send_bounded(
    conn: &Arc<Connection>,
    ch: &Channel,
    payload: &[u8],
    tid: u64,
    completion: bool,
    timeout_ms: u32,
) -> Result {
    let start = Instant::<Monotonic>::now();
    let limit = Delta::from_millis(i64::from(timeout_ms));
    loop {
        match ch.send_inband(&**conn, payload, tid, completion) {
            Err(e) if e == EAGAIN => {
                if start.elapsed() > limit {
                    return Err(ETIMEDOUT);
                }
                ch.wait_interrupt();
            }
            r => return r,
        }
    }
}

fn echo(
    conn: &Arc<Connection>,
    ch: &Arc<Channel>,
    count: u32,
    size: usize,
    out: &mut BufWriter<'_>,
) -> Result {
    let mut payload = KVec::from_elem(0u8, size, GFP_KERNEL)?;
    let mut buf = KVec::from_elem(0u8, size + 64, GFP_KERNEL)?;
    let irq0 = ch.stats.interrupts.load(Relaxed);
    let start = Instant::<Monotonic>::now();
    let mut errors = 0u32;
    for i in 0..count {
        for (j, b) in payload.iter_mut().enumerate() {
            *b = pattern(i, j);
        }
        let completion = i % 2 == 1;
        let tid = 0x5eed_0000_0000 | u64::from(i);
        let ms = shim::timeout_ms();
        if let Err(e) = send_bounded(conn, ch, &payload, tid, completion, ms) {
            if e == ETIMEDOUT {
                pr_err!(
                    "echo {}: no room in the ring of channel {} for {} ms\n",
                    i,
                    ch.relid(),
                    ms
                );
            }
            return Err(e);
        }
        let RxPacket {
            ptype,
            offset,
            len,
            trans_id,
        } = wait_packet(conn, ch, &mut buf, shim::timeout_ms())?;
        let want = if completion {
            PacketType::COMP
        } else {
            PacketType::DATA_INBAND
        };
        // Packets are padded to 8 bytes; the echo keeps the padding.
        let body = buf.get(offset..offset + len).ok_or(EIO)?;
        let same = body.get(..size) == Some(&payload[..]);
        if ptype != want || trans_id != tid || !same {
            errors += 1;
            if errors <= 3 {
                pr_err!(
                    "echo {}: got type {} id {:#x} len {} ({}), wanted type {} id {:#x} len {}\n",
                    i,
                    ptype.0,
                    trans_id,
                    len,
                    if same {
                        "same bytes"
                    } else {
                        "different bytes"
                    },
                    want.0,
                    tid,
                    size
                );
            }
        }
    }
    let us = start.elapsed().as_micros_ceil();
    let irqs = ch.stats.interrupts.load(Relaxed) - irq0;
    let _ = writeln!(
        out,
        "echo relid={} cpu={} packets={} bytes={} errors={} interrupts={} us={}",
        ch.relid(),
        ch.target_cpu.load(Relaxed),
        count,
        u64::from(count) * size as u64,
        errors,
        irqs,
        us
    );
    if errors != 0 {
        return Err(EIO);
    }
    Ok(())
}

/// Runs one command written to the control file; the answer goes to
/// `out` (`outlen` bytes). Returns the answer's length or an error.
#[no_mangle]
extern "C" fn rvmbus_rust_ctl(
    cmd: *const c_char,
    len: usize,
    out: *mut c_char,
    outlen: usize,
) -> isize {
    if cmd.is_null() || out.is_null() {
        return EINVAL.to_errno() as isize;
    }
    // SAFETY: The C side passes a buffer of `len` bytes it copied from
    // user space, and an answer buffer of `outlen` bytes.
    let (cmd, out) = unsafe {
        (
            core::slice::from_raw_parts(cmd.cast::<u8>(), len),
            core::slice::from_raw_parts_mut(out.cast::<u8>(), outlen),
        )
    };
    let Ok(line) = core::str::from_utf8(cmd) else {
        return EINVAL.to_errno() as isize;
    };
    let Some(conn) = bus::active() else {
        return ENODEV.to_errno() as isize;
    };
    let mut w = BufWriter::new(out);
    match run(&conn, line.trim(), &mut w) {
        // CAST: At most `outlen`, a few KiB.
        Ok(()) => w.len as isize,
        Err(e) => e.to_errno() as isize,
    }
}
