// SPDX-License-Identifier: GPL-2.0

//! The storage channel backend (storvsp): the host side of the protocol
//! Linux's storvsc speaks on each channel of a synthetic SCSI controller.
//!
//! On the primary channel the guest begins initialisation, proposes
//! protocol versions until one is accepted, queries the channel
//! properties, ends initialisation and may then ask for sub-channels. On
//! every channel it then sends `EXECUTE_SRB` packets: in-band when the
//! command moves no data, GPA-direct when it does, the ranges describing
//! the data buffer in guest RAM. Every request gets a `COMPLETE_IO`
//! packet (a VMBus completion with the request's transaction id): status 0
//! and the SRB's result, or an NTSTATUS error for a request that is
//! malformed or comes at the wrong time. The host tells the guest that
//! LUNs came or went with an unsolicited `ENUMERATE_BUS` (transaction id
//! 0), after which the guest rescans the bus.

use vmbus_proto::packet::{GpaDirectRanges, Packet, PacketKind};
use vmbus_proto::storage::{
    encode_completion, encode_notification, packet_size, parse_request, version_supported,
    CompletionBody, Request, Srb, SrbResult, MIN_PACKET_SIZE,
};
use vmbus_proto::wire::packet::PacketType;
use vmbus_proto::wire::storage::{
    ChannelProperties, SrbStatus, VstorOperation, SENSE_BUFFER_SIZE, SRB_STATUS_AUTOSENSE_VALID,
    STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL, VERSION_WIN8, VSTOR_PACKET_SIZE,
};
use vmbus_proto::wire::Wire;

use super::buffer::{DataBuf, GuestBuf, Limited};
use super::controller::{SharedController, MAX_SUBCHANNELS};
use super::disk::BLOCK;
use super::scsi::{self, Outcome, Target, MAX_TRANSFER_BLOCKS};
use super::sense::Sense;
use crate::devices::{ChannelIo, Device};
use crate::log::Level;
use crate::log_limited;

/// NTSTATUS `STATUS_INVALID_PARAMETER`: a malformed request.
pub const STATUS_INVALID_PARAMETER: u32 = 0xc000_000d;
/// NTSTATUS `STATUS_REVISION_MISMATCH`: a protocol version refused.
pub const STATUS_REVISION_MISMATCH: u32 = 0xc000_0059;
/// NTSTATUS `STATUS_NOT_SUPPORTED`: an operation this controller lacks.
pub const STATUS_NOT_SUPPORTED: u32 = 0xc000_00bb;
/// NTSTATUS `STATUS_INVALID_DEVICE_STATE`: a request before
/// initialisation ended.
pub const STATUS_INVALID_DEVICE_STATE: u32 = 0xc000_0184;

/// The largest transfer, as advertised in the channel properties.
// CAST: BLOCK is 512.
pub const MAX_TRANSFER_BYTES: u32 = MAX_TRANSFER_BLOCKS * BLOCK as u32;

/// Where the primary channel's initialisation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Init {
    /// Nothing yet.
    Fresh,
    /// `BEGIN_INITIALIZATION` came.
    Begun,
    /// `END_INITIALIZATION` came: SRBs are served.
    Ready,
}

/// Counters of one channel.
#[derive(Clone, Copy, Debug, Default)]
struct ChannelStats {
    packets_in: u64,
    completions: u64,
    refused: u64,
    notifications: u64,
}

/// The backend of one channel of a controller.
pub struct Storvsp {
    ctl: SharedController,
    sub_index: u16,
    init: Init,
    seen_generation: u64,
    stats: ChannelStats,
}

impl Storvsp {
    /// The backend of channel `sub_index` (0: the primary) of `ctl`.
    pub fn new(ctl: SharedController, sub_index: u16) -> Self {
        let seen_generation = ctl.borrow().generation;
        Self {
            ctl,
            sub_index,
            init: Init::Fresh,
            seen_generation,
            stats: ChannelStats::default(),
        }
    }

    fn primary(&self) -> bool {
        self.sub_index == 0
    }

    /// The packet size of the negotiated version.
    fn size(&self) -> usize {
        self.ctl
            .borrow()
            .version
            .map_or(MIN_PACKET_SIZE, packet_size)
    }

    /// Whether SRBs are served on this channel.
    fn ready(&self) -> bool {
        if self.primary() {
            self.init == Init::Ready
        } else {
            self.ctl.borrow().version.is_some()
        }
    }

    fn complete(
        &mut self,
        io: &mut ChannelIo<'_>,
        trans_id: u64,
        status: u32,
        body: CompletionBody<'_>,
    ) {
        let mut out = [0u8; VSTOR_PACKET_SIZE];
        // Always a whole win8-sized packet: Linux drops a completion
        // shorter than its `struct vstor_packet`, and a guest of an older
        // version reads only the part it knows.
        let size = VSTOR_PACKET_SIZE;
        let Some(n) = encode_completion(&mut out, size, status, body) else {
            return;
        };
        let bytes = out.get(..n).unwrap_or_default();
        match io.send(PacketType::COMP, 0, trans_id, &[bytes]) {
            Ok(()) => self.stats.completions += 1,
            Err(e) => log_limited!(Level::Warn, "storvsp: completion: {e:?}"),
        }
    }

    fn refuse(&mut self, io: &mut ChannelIo<'_>, trans_id: u64, status: u32, why: &str) {
        self.stats.refused += 1;
        self.ctl.borrow_mut().stats.bad_packets += 1;
        log_limited!(
            Level::Warn,
            "storvsp: relid {}: request {trans_id:#x} refused: {why}",
            io.relid.get()
        );
        self.complete(io, trans_id, status, CompletionBody::None);
    }

    /// Sends `ENUMERATE_BUS`: the guest rescans the bus.
    pub fn notify_bus_change(&mut self, io: &mut ChannelIo<'_>) {
        let mut out = [0u8; VSTOR_PACKET_SIZE];
        self.seen_generation = self.ctl.borrow().generation;
        let Some(n) =
            encode_notification(&mut out, VSTOR_PACKET_SIZE, VstorOperation::ENUMERATE_BUS)
        else {
            return;
        };
        let bytes = out.get(..n).unwrap_or_default();
        if io.send(PacketType::DATA_INBAND, 0, 0, &[bytes]).is_ok() {
            self.stats.notifications += 1;
        }
    }

    fn properties(&self) -> ChannelProperties {
        let multi = self.ctl.borrow().version.is_some_and(|v| v >= VERSION_WIN8);
        let mut p = ChannelProperties::zeroed();
        if multi {
            p.max_channel_cnt = MAX_SUBCHANNELS;
            p.flags = STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL;
        }
        p.max_transfer_bytes = MAX_TRANSFER_BYTES;
        p
    }

    fn create_subchannels(&mut self, io: &mut ChannelIo<'_>, trans_id: u64, n: u16) {
        let (multi, left) = {
            let c = self.ctl.borrow();
            (
                c.version.is_some_and(|v| v >= VERSION_WIN8),
                MAX_SUBCHANNELS.saturating_sub(c.subchannels),
            )
        };
        if !self.primary() || !multi || self.init != Init::Ready || n == 0 {
            self.refuse(
                io,
                trans_id,
                STATUS_INVALID_PARAMETER,
                "sub-channels not allowed",
            );
            return;
        }
        let offered = io.offer_subchannels(n.min(left));
        self.ctl.borrow_mut().subchannels += offered;
        self.complete(io, trans_id, 0, CompletionBody::None);
    }

    fn execute(
        &mut self,
        io: &mut ChannelIo<'_>,
        trans_id: u64,
        srb: &Srb,
        ranges: Option<&GpaDirectRanges<'_>>,
    ) {
        if !self.ready() {
            self.refuse(
                io,
                trans_id,
                STATUS_INVALID_DEVICE_STATE,
                "SRB before initialisation",
            );
            return;
        }
        crate::prof::parsed(crate::prof::Kind::of_opcode(
            srb.cdb.first().copied().unwrap_or(0),
        ));
        let r = run_srb(&self.ctl, io, srb, ranges);
        {
            let mut c = self.ctl.borrow_mut();
            c.stats.srbs += 1;
            if r.srb_status != SrbStatus::SUCCESS.0 {
                c.stats.srb_errors += 1;
            }
        }
        self.complete(io, trans_id, 0, CompletionBody::Srb(srb, &r));
        crate::prof::built();
    }
}

/// An SRB result without data and sense.
fn srb_error(status: SrbStatus) -> SrbResult {
    SrbResult {
        srb_status: status.0,
        scsi_status: 0,
        data_transfer_length: 0,
        sense: [0; SENSE_BUFFER_SIZE],
        sense_len: 0,
    }
}

/// Runs one SRB against the controller's disks and guest RAM.
fn run_srb(
    ctl: &SharedController,
    io: &ChannelIo<'_>,
    srb: &Srb,
    ranges: Option<&GpaDirectRanges<'_>>,
) -> SrbResult {
    let mut c = ctl.borrow_mut();
    let raw = &srb.raw;
    let want = u64::from(raw.data_transfer_length);
    let mut guest;
    let mut none: Vec<u8> = Vec::new();
    let buf: &mut dyn DataBuf = match ranges {
        Some(r) => match GuestBuf::new(io.mem, r, u64::from(MAX_TRANSFER_BYTES)) {
            Ok(g) => {
                guest = g;
                &mut guest
            }
            Err(e) => {
                log_limited!(
                    Level::Warn,
                    "storvsp: relid {}: bad data buffer: {e}",
                    io.relid.get()
                );
                return srb_error(SrbStatus::INVALID_REQUEST);
            }
        },
        None => &mut none,
    };
    if want > buf.len() {
        log_limited!(
            Level::Warn,
            "storvsp: relid {}: transfer of {want} bytes over a buffer of {}",
            io.relid.get(),
            buf.len()
        );
        return srb_error(SrbStatus::INVALID_REQUEST);
    }
    let mut data = Limited::new(buf, want);
    // Disks are on path 0, target 0; every other address is empty.
    let on_bus = raw.path_id == 0 && raw.target_id == 0;
    let luns = if on_bus { c.luns() } else { Vec::new() };
    let disk = if on_bus { c.disk(raw.lun) } else { None };
    let target = Target {
        disk,
        luns: &luns,
        lun: raw.lun,
        controller: c.index,
    };
    let outcome = scsi::execute(&target, srb.cdb(), &mut data);
    let had_disk = disk.is_some();
    match outcome {
        Outcome::Good(n) => {
            let op = srb.cdb.first().copied().unwrap_or(0);
            if matches!(op, 0x08 | 0x28 | 0xa8 | 0x88) {
                c.stats.bytes_read += u64::from(n);
            } else if matches!(op, 0x0a | 0x2a | 0xaa | 0x8a) {
                c.stats.bytes_written += u64::from(n);
            }
            SrbResult {
                srb_status: SrbStatus::SUCCESS.0,
                scsi_status: outcome.status(),
                data_transfer_length: n,
                sense: [0; SENSE_BUFFER_SIZE],
                sense_len: 0,
            }
        }
        // A LUN without a disk: the guest drops its device for it.
        Outcome::Check(s) if !had_disk && s == Sense::LUN_NOT_SUPPORTED => {
            srb_error(SrbStatus::INVALID_LUN)
        }
        Outcome::Check(s) => {
            let fixed = s.fixed();
            let mut sense = [0u8; SENSE_BUFFER_SIZE];
            for (d, b) in sense.iter_mut().zip(fixed.iter()) {
                *d = *b;
            }
            SrbResult {
                srb_status: SrbStatus::ERROR.0 | SRB_STATUS_AUTOSENSE_VALID,
                scsi_status: outcome.status(),
                data_transfer_length: 0,
                sense,
                // CAST: 18 bytes of fixed-format sense.
                sense_len: fixed.len().min(SENSE_BUFFER_SIZE) as u8,
            }
        }
    }
}

impl Device for Storvsp {
    fn on_open(&mut self, _io: &mut ChannelIo<'_>) {
        self.init = Init::Fresh;
        if self.primary() {
            let mut c = self.ctl.borrow_mut();
            c.version = None;
            c.subchannels = 0;
            self.seen_generation = c.generation;
        }
    }

    fn on_packet(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>) {
        self.stats.packets_in += 1;
        let trans_id = pkt.desc.trans_id;
        let ranges = match &pkt.kind {
            PacketKind::Inband => None,
            PacketKind::GpaDirect(r) => Some(*r),
            k => {
                let why = format!("unexpected packet {k:?}");
                self.refuse(io, trans_id, STATUS_INVALID_PARAMETER, &why);
                return;
            }
        };
        let req = match parse_request(pkt.payload, self.size()) {
            Ok((_, req)) => req,
            Err(e) => {
                self.refuse(io, trans_id, STATUS_INVALID_PARAMETER, &e.to_string());
                return;
            }
        };
        if ranges.is_some() && !matches!(req, Request::ExecuteSrb(_)) {
            self.refuse(
                io,
                trans_id,
                STATUS_INVALID_PARAMETER,
                "data buffer on a non-SRB request",
            );
            return;
        }
        match req {
            Request::BeginInit if self.primary() => {
                self.init = Init::Begun;
                self.complete(io, trans_id, 0, CompletionBody::None);
            }
            Request::QueryVersion(v) if self.primary() && self.init == Init::Begun => {
                if version_supported(v.major_minor) {
                    self.ctl.borrow_mut().version = Some(v.major_minor);
                    self.complete(io, trans_id, 0, CompletionBody::Version(v));
                } else {
                    self.complete(
                        io,
                        trans_id,
                        STATUS_REVISION_MISMATCH,
                        CompletionBody::Version(v),
                    );
                }
            }
            Request::QueryProperties if self.primary() && self.init == Init::Begun => {
                let p = self.properties();
                self.complete(io, trans_id, 0, CompletionBody::Properties(p));
            }
            Request::EndInit if self.primary() && self.init == Init::Begun => {
                if self.ctl.borrow().version.is_none() {
                    self.refuse(
                        io,
                        trans_id,
                        STATUS_INVALID_DEVICE_STATE,
                        "no version negotiated",
                    );
                    return;
                }
                self.init = Init::Ready;
                self.complete(io, trans_id, 0, CompletionBody::None);
            }
            Request::CreateSubChannels(n) => self.create_subchannels(io, trans_id, n),
            Request::FcHbaData => self.refuse(
                io,
                trans_id,
                STATUS_NOT_SUPPORTED,
                "FCHBA_DATA on a SCSI controller",
            ),
            Request::Reset(_) => self.complete(io, trans_id, 0, CompletionBody::None),
            Request::ExecuteSrb(srb) => self.execute(io, trans_id, &srb, ranges.as_ref()),
            _ => self.refuse(io, trans_id, STATUS_INVALID_DEVICE_STATE, "out of order"),
        }
    }

    fn on_close(&mut self) {
        self.init = Init::Fresh;
    }

    fn tick(&mut self, io: &mut ChannelIo<'_>) {
        let changed = self.ctl.borrow().generation != self.seen_generation;
        if changed && self.primary() && self.init == Init::Ready {
            self.notify_bus_change(io);
        }
    }

    fn control(
        &mut self,
        io: &mut ChannelIo<'_>,
        cmd: &str,
        _args: &[&str],
        out: &mut Vec<String>,
    ) -> Option<crate::server::ControlResult> {
        if cmd != "storage-rescan" {
            return None;
        }
        if !(self.primary() && self.init == Init::Ready) {
            return Some(Err(format!(
                "relid {}: not an initialised primary storage channel",
                io.relid.get()
            )));
        }
        self.notify_bus_change(io);
        out.push(format!("relid {}: ENUMERATE_BUS sent", io.relid.get()));
        Some(Ok(()))
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        let c = self.ctl.borrow();
        let mut v = vec![
            ("packets_in", self.stats.packets_in),
            ("completions", self.stats.completions),
            ("refused", self.stats.refused),
            ("notifications", self.stats.notifications),
        ];
        if self.primary() {
            v.extend([
                ("controller", u64::from(c.index)),
                // CAST: at most 255 LUNs.
                ("luns", c.luns().len() as u64),
                ("srbs", c.stats.srbs),
                ("srb_errors", c.stats.srb_errors),
                ("bytes_read", c.stats.bytes_read),
                ("bytes_written", c.stats.bytes_written),
                ("bad_packets", c.stats.bad_packets),
            ]);
        }
        v
    }
}
