// SPDX-License-Identifier: GPL-2.0

//! The host end of one Hyper-V socket (hv_sock) connection, as Linux's
//! `net/vmw_vsock/hyperv_transport.c` expects Hyper-V to behave.
//!
//! Every message either way is an in-band packet (no completion asked for)
//! whose payload is a `vmpipe_proto_header { u32 pkt_type = 1; u32
//! data_size; }` followed by `data_size` bytes, at most [`HVS_MTU`]. A
//! packet with `data_size` 0 is a FIN: its sender shut down writing.
//!
//! Two roles:
//!
//! - [`Role::Echo`] (`--hvsock-echo PORT`, the guest connected): every data
//!   byte goes back in order; the guest's FIN is answered with the host's.
//! - [`Role::HostSend`] (`hvsock-connect PORT BYTES`, the host connected):
//!   once the guest opened the channel, the host sends BYTES bytes of
//!   [`pattern_byte`] and its FIN, reads what the guest sends until the
//!   guest's FIN and checks that it is the same bytes; the verdict goes to
//!   the `hvsock_host_ok` or `hvsock_host_bad` counter.
//!
//! Once both FINs have passed, the device asks the server to rescind the
//! channel ([`Device::wants_rescind`]), as Hyper-V rescinds a closed
//! connection's channel. Nothing the guest sends is trusted: a packet with
//! a bad header is counted and dropped, never a reason to stop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use vmbus_proto::packet::{Packet, PacketKind};
use vmbus_proto::wire::packet::PacketType;

use super::{ChannelIo, Device};
use crate::log::Level;
use crate::log_limited;
use crate::trace::Dir;

/// Most data bytes in one packet, either way (Linux's `HVS_MTU_SIZE`,
/// "per the host side's design").
pub const HVS_MTU: usize = 16 * 1024;
/// `vmpipe_proto_header.pkt_type` of a data (or FIN) packet.
pub const PIPE_PKT_DATA: u32 = 1;
/// Bytes of `struct vmpipe_proto_header`.
pub const PIPE_HEADER_LEN: usize = 8;
/// How many of its own packets a host-initiated connection lets wait in
/// the host's queue for room in the guest's ring before it makes more.
pub const SEND_WINDOW: usize = 8;

/// Byte `i` of what a host-initiated connection sends.
pub fn pattern_byte(i: u64) -> u8 {
    // CAST: The remainder is below 251.
    (i.wrapping_mul(7).wrapping_add(3) % 251) as u8
}

/// Counters shared by every hv_sock connection and the server (control
/// `stats`, as `vmbus.hvsock_*`).
#[derive(Debug, Default)]
pub struct HvsockCounters {
    /// Channels offered for a connection (either direction).
    pub offers: AtomicU64,
    /// Data bytes received from the guest.
    pub rx_bytes: AtomicU64,
    /// Data bytes sent to the guest.
    pub tx_bytes: AtomicU64,
    /// FINs received from the guest.
    pub fins_rx: AtomicU64,
    /// FINs sent to the guest.
    pub fins_tx: AtomicU64,
    /// Host-initiated connections whose echo matched what was sent.
    pub host_ok: AtomicU64,
    /// Host-initiated connections that failed: a mismatch, too few or too
    /// many bytes, a close without FIN, or a channel the guest never
    /// opened.
    pub host_bad: AtomicU64,
    /// hv_sock channels rescinded.
    pub rescinds: AtomicU64,
    /// Packets from the guest that were not valid pipe packets.
    pub bad_packets: AtomicU64,
}

impl HvsockCounters {
    /// Adds `n` to `c`.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// The value of `c`.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// What the host does on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Echo every byte back; FIN on the guest's FIN.
    Echo,
    /// Send `total` bytes of the pattern and FIN, expect them back.
    HostSend {
        /// How many bytes to send.
        total: u64,
    },
}

/// One hv_sock connection's backend.
pub struct Hvsock {
    role: Role,
    counters: Arc<HvsockCounters>,
    open: bool,
    /// Data bytes the host sent (or queued).
    sent: u64,
    /// Data bytes the guest sent.
    received: u64,
    /// Whether what the guest sent differed from the pattern
    /// (host-initiated connections).
    mismatch: bool,
    fin_rx: bool,
    fin_tx: bool,
    /// A host-initiated connection's outcome, once known.
    verdict: Option<bool>,
    bad: u64,
}

impl Hvsock {
    /// A backend in `role` counting into `counters`.
    pub fn new(role: Role, counters: Arc<HvsockCounters>) -> Self {
        Self {
            role,
            counters,
            open: false,
            sent: 0,
            received: 0,
            mismatch: false,
            fin_rx: false,
            fin_tx: false,
            verdict: None,
            bad: 0,
        }
    }

    /// Sends one data packet (`data` at most [`HVS_MTU`] bytes) or, with
    /// `data` empty, the FIN.
    fn send_pipe(&mut self, io: &mut ChannelIo<'_>, data: &[u8]) -> bool {
        let mut hdr = [0u8; PIPE_HEADER_LEN];
        hdr[..4].copy_from_slice(&PIPE_PKT_DATA.to_le_bytes());
        // CAST: At most HVS_MTU.
        hdr[4..].copy_from_slice(&(data.len() as u32).to_le_bytes());
        match io.send(PacketType::DATA_INBAND, 0, 0, &[&hdr, data]) {
            Ok(()) => true,
            Err(e) => {
                log_limited!(
                    Level::Warn,
                    "hvsock: relid {}: cannot build a {}-byte packet: {e:?}",
                    io.relid.get(),
                    data.len()
                );
                false
            }
        }
    }

    fn send_data(&mut self, io: &mut ChannelIo<'_>, data: &[u8]) {
        for chunk in data.chunks(HVS_MTU) {
            if self.send_pipe(io, chunk) {
                HvsockCounters::add(&self.counters.tx_bytes, chunk.len() as u64);
                self.sent += chunk.len() as u64;
            }
        }
    }

    fn send_fin(&mut self, io: &mut ChannelIo<'_>) {
        if self.fin_tx {
            return;
        }
        if self.send_pipe(io, &[]) {
            self.fin_tx = true;
            HvsockCounters::add(&self.counters.fins_tx, 1);
            io.trace_note(Dir::H2g, "HVSOCK-FIN");
        }
    }

    /// A host-initiated connection: makes more of the pattern while few of
    /// its packets wait for room, then the FIN.
    fn pump(&mut self, io: &mut ChannelIo<'_>) {
        let Role::HostSend { total } = self.role else {
            return;
        };
        if !self.open || self.fin_tx {
            return;
        }
        let mut waiting = io.queued();
        while self.sent < total && waiting < SEND_WINDOW {
            // CAST: At most HVS_MTU.
            let n = (total - self.sent).min(HVS_MTU as u64) as usize;
            let start = self.sent;
            let chunk: Vec<u8> = (0..n as u64).map(|i| pattern_byte(start + i)).collect();
            self.send_data(io, &chunk);
            waiting += 1;
            if self.sent == start {
                // The packet could not be built; do not spin.
                return;
            }
        }
        if self.sent >= total {
            self.send_fin(io);
        }
    }

    fn decide(&mut self, ok: bool) {
        if self.verdict.is_some() {
            return;
        }
        self.verdict = Some(ok);
        let c = if ok {
            &self.counters.host_ok
        } else {
            &self.counters.host_bad
        };
        HvsockCounters::add(c, 1);
    }

    fn on_data(&mut self, io: &mut ChannelIo<'_>, data: &[u8]) {
        HvsockCounters::add(&self.counters.rx_bytes, data.len() as u64);
        match self.role {
            Role::Echo => self.send_data(io, data),
            Role::HostSend { total } => {
                let start = self.received;
                let differs = data
                    .iter()
                    .zip(start..)
                    .any(|(&b, i)| i >= total || b != pattern_byte(i));
                if differs && !self.mismatch {
                    log_limited!(
                        Level::Warn,
                        "hvsock: relid {}: the guest's echo differs from what was sent \
                         (at or after byte {start})",
                        io.relid.get()
                    );
                }
                self.mismatch |= differs;
            }
        }
        self.received += data.len() as u64;
    }

    fn on_fin(&mut self, io: &mut ChannelIo<'_>) {
        self.fin_rx = true;
        HvsockCounters::add(&self.counters.fins_rx, 1);
        io.trace_note(Dir::G2h, "HVSOCK-FIN");
        if let Role::HostSend { total } = self.role {
            let ok = !self.mismatch && self.sent == total && self.received == total;
            if !ok {
                log_limited!(
                    Level::Warn,
                    "hvsock: relid {}: host connection failed: sent {} of {total}, got {} back{}",
                    io.relid.get(),
                    self.sent,
                    self.received,
                    if self.mismatch { ", differing" } else { "" }
                );
            }
            self.decide(ok);
        }
        // Either role answers the guest's FIN with its own (a
        // host-initiated connection has normally sent it already; one the
        // guest ended early stops sending here).
        self.send_fin(io);
    }

    fn bad_packet(&mut self, io: &ChannelIo<'_>, why: std::fmt::Arguments<'_>) {
        self.bad += 1;
        HvsockCounters::add(&self.counters.bad_packets, 1);
        log_limited!(Level::Warn, "hvsock: relid {}: {why}", io.relid.get());
    }
}

/// The pipe header of `payload`: (pkt_type, data_size).
fn pipe_header(payload: &[u8]) -> Option<(u32, usize)> {
    let t = payload.get(0..4)?.try_into().ok().map(u32::from_le_bytes)?;
    let n = payload.get(4..8)?.try_into().ok().map(u32::from_le_bytes)?;
    Some((t, usize::try_from(n).ok()?))
}

impl Device for Hvsock {
    fn on_open(&mut self, io: &mut ChannelIo<'_>) {
        self.open = true;
        self.pump(io);
    }

    fn on_packet(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>) {
        if !matches!(pkt.kind, PacketKind::Inband) || pkt.desc.ptype != PacketType::DATA_INBAND {
            self.bad_packet(io, format_args!("unexpected packet {:?}", pkt.desc.ptype));
            return;
        }
        let Some((ptype, size)) = pipe_header(pkt.payload) else {
            self.bad_packet(
                io,
                format_args!("{}-byte payload has no pipe header", pkt.payload.len()),
            );
            return;
        };
        if ptype != PIPE_PKT_DATA {
            self.bad_packet(io, format_args!("pipe packet type {ptype}"));
            return;
        }
        let Some(data) = pkt
            .payload
            .get(PIPE_HEADER_LEN..)
            .and_then(|d| d.get(..size))
            .filter(|_| size <= HVS_MTU)
        else {
            self.bad_packet(
                io,
                format_args!("data_size {size} in a {}-byte payload", pkt.payload.len()),
            );
            return;
        };
        if self.fin_rx {
            self.bad_packet(io, format_args!("a packet after the guest's FIN"));
            return;
        }
        if data.is_empty() {
            self.on_fin(io);
        } else {
            self.on_data(io, data);
        }
    }

    fn on_close(&mut self) {
        self.open = false;
        if matches!(self.role, Role::HostSend { .. }) && self.verdict.is_none() {
            crate::log_warn!("hvsock: host connection closed before the guest's FIN");
            self.decide(false);
        }
    }

    fn tick(&mut self, io: &mut ChannelIo<'_>) {
        self.pump(io);
    }

    fn wants_rescind(&self) -> bool {
        self.fin_rx && self.fin_tx
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("bytes_out", self.sent),
            ("bytes_in", self.received),
            ("fin_in", u64::from(self.fin_rx)),
            ("fin_out", u64::from(self.fin_tx)),
            ("bad", self.bad),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_as_documented() {
        assert_eq!(pattern_byte(0), 3);
        assert_eq!(pattern_byte(1), 10);
        assert_eq!(pattern_byte(40), (40 * 7 + 3 - 251) as u8);
        assert_eq!(pattern_byte(100_000), ((100_000u64 * 7 + 3) % 251) as u8);
    }

    #[test]
    fn pipe_headers_are_checked() {
        assert_eq!(pipe_header(&[1, 0, 0, 0, 5, 0, 0, 0]), Some((1, 5)));
        assert_eq!(pipe_header(&[1, 0, 0, 0, 5, 0, 0]), None);
        assert_eq!(pipe_header(&[]), None);
    }
}
