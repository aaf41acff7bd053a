// SPDX-License-Identifier: GPL-2.0

//! The echo/loopback device (class `2e1c0f5a-8b1d-4a8e-9c3f-72766d627573`).
//! The protocol is specified in README.md ("Echo device"):
//!
//! - `DATA_INBAND` with payload P, transaction id T: answered with P and T.
//! - `DATA_USING_GPA_DIRECT` with payload P and ranges: answered with P
//!   followed by the bytes the ranges describe.
//! - In-band `b"ECHO-SUB"` + u32 n: offers n (1..=16) sub-channels and
//!   answers `b"ECHO-SUB"` + u32 count offered.
//!
//! The answer is a `COMP` if the guest set `COMPLETION_REQUESTED`, else a
//! `DATA_INBAND` with flags 0.
//!
//! On the control socket, `echo-burst RELID COUNT SIZE` makes the device
//! send COUNT unsolicited `DATA_INBAND` packets of SIZE bytes (transaction
//! ids from [`BURST_TRANS_ID`]): more than the guest's ring holds, so the
//! host waits for room with a pending-send size, which the guest's reads
//! answer with signals (Linux's `intr_in_full`).

use vmbus_proto::packet::{GpaDirectRanges, Packet, PacketKind};
use vmbus_proto::wire::packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED};

use super::{ChannelIo, Device};
use crate::guest_mem::{MemError, MemRegion};
use crate::log::Level;
use crate::log_limited;

/// The sub-channel request tag.
pub const SUB_TAG: &[u8; 8] = b"ECHO-SUB";
/// Most sub-channels one request may ask for.
pub const MAX_SUB_REQUEST: u32 = 16;
/// Most bytes a GPA-direct packet may describe.
pub const MAX_GPA_BYTES: usize = 256 * 1024;

const PAGE: u64 = 4096;

/// The transaction id of a burst's first packet.
pub const BURST_TRANS_ID: u64 = 0xb0b0_0000_0000;
/// Most packets one burst may send.
pub const MAX_BURST: u64 = 1000;
/// Most bytes of one burst packet.
pub const MAX_BURST_SIZE: u64 = 16 * 1024;

/// Counters of one echo channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo {
    packets_in: u64,
    bytes_in: u64,
    packets_out: u64,
    bytes_out: u64,
    bad: u64,
    subchannels: u64,
}

/// Reads the bytes `ranges` describe, checked against guest RAM.
fn read_ranges(mem: &MemRegion, ranges: &GpaDirectRanges<'_>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for r in ranges.iter() {
        let total = r.byte_count as usize;
        if out.len() + total > MAX_GPA_BYTES {
            return Err(format!("more than {MAX_GPA_BYTES} bytes"));
        }
        let mut left = total;
        let mut off = u64::from(r.byte_offset);
        for pfn in r.pfns() {
            if left == 0 {
                break;
            }
            let n = ((PAGE - off) as usize).min(left);
            let gpa = pfn
                .checked_mul(PAGE)
                .and_then(|a| a.checked_add(off))
                .ok_or_else(|| format!("PFN {pfn:#x} overflows"))?;
            let start = out.len();
            out.resize(start + n, 0);
            mem.read(gpa, &mut out[start..])
                .map_err(|e: MemError| e.to_string())?;
            left -= n;
            off = 0;
        }
        if left != 0 {
            return Err("ranges shorter than their byte counts".into());
        }
    }
    Ok(out)
}

impl Echo {
    fn reply(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>, parts: &[&[u8]]) {
        let ptype = if pkt.desc.flags & PACKET_FLAG_COMPLETION_REQUESTED != 0 {
            PacketType::COMP
        } else {
            PacketType::DATA_INBAND
        };
        let len: usize = parts.iter().map(|p| p.len()).sum();
        match io.send(ptype, 0, pkt.desc.trans_id, parts) {
            Ok(()) => {
                self.packets_out += 1;
                self.bytes_out += len as u64;
            }
            Err(e) => {
                self.bad += 1;
                log_limited!(Level::Warn, "echo: reply of {len} bytes: {e:?}");
            }
        }
    }

    /// `echo-burst COUNT SIZE` (the relid is the server's): sends COUNT
    /// unsolicited packets of SIZE bytes.
    fn burst(
        &mut self,
        io: &mut ChannelIo<'_>,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> crate::server::ControlResult {
        let [count, size] = args else {
            return Err("usage: echo-burst RELID COUNT SIZE".into());
        };
        let count = crate::commands::parse_num("count", count)?;
        let size = crate::commands::parse_num("size", size)?;
        if !(1..=MAX_BURST).contains(&count) || !(1..=MAX_BURST_SIZE).contains(&size) {
            return Err(format!(
                "at most {MAX_BURST} packets of 1 to {MAX_BURST_SIZE} bytes"
            ));
        }
        // CAST: At most MAX_BURST_SIZE.
        let payload = vec![0xb5u8; size as usize];
        for i in 0..count {
            io.send(PacketType::DATA_INBAND, 0, BURST_TRANS_ID + i, &[&payload])
                .map_err(|e| format!("packet {i}: {e:?}"))?;
            self.packets_out += 1;
            self.bytes_out += size;
        }
        out.push(format!(
            "relid {}: {count} packets of {size} bytes sent or queued",
            io.relid.get()
        ));
        Ok(())
    }

    fn subchannel_request(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>) -> bool {
        let Some(rest) = pkt.payload.strip_prefix(SUB_TAG) else {
            return false;
        };
        let Some(n) = rest.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
            return false;
        };
        let n = u32::from_le_bytes(n);
        let offered = if (1..=MAX_SUB_REQUEST).contains(&n) {
            io.offer_subchannels(n as u16)
        } else {
            0
        };
        self.subchannels += u64::from(offered);
        let count = u32::from(offered).to_le_bytes();
        self.reply(io, pkt, &[SUB_TAG, &count]);
        true
    }
}

impl Device for Echo {
    fn on_packet(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>) {
        self.packets_in += 1;
        self.bytes_in += pkt.payload.len() as u64;
        match &pkt.kind {
            PacketKind::Inband => {
                if !self.subchannel_request(io, pkt) {
                    self.reply(io, pkt, &[pkt.payload]);
                }
            }
            PacketKind::GpaDirect(ranges) => match read_ranges(io.mem, ranges) {
                Ok(data) => self.reply(io, pkt, &[pkt.payload, &data]),
                Err(e) => {
                    self.bad += 1;
                    log_limited!(
                        Level::Warn,
                        "echo: relid {}: bad GPA ranges: {e}",
                        io.relid.get()
                    );
                }
            },
            k => {
                self.bad += 1;
                log_limited!(
                    Level::Warn,
                    "echo: relid {}: unexpected packet {k:?}",
                    io.relid.get()
                );
            }
        }
    }

    fn control(
        &mut self,
        io: &mut ChannelIo<'_>,
        cmd: &str,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> Option<crate::server::ControlResult> {
        if cmd != "echo-burst" {
            return None;
        }
        Some(self.burst(io, args, out))
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("packets_in", self.packets_in),
            ("bytes_in", self.bytes_in),
            ("packets_out", self.packets_out),
            ("bytes_out", self.bytes_out),
            ("bad", self.bad),
            ("subchannels", self.subchannels),
        ]
    }
}
