// SPDX-License-Identifier: GPL-2.0

//! The network targets: `net` feeds arbitrary bytes to `vmbus_proto`'s NVSP
//! and RNDIS parsers (what the host reads from netvsc), and `host-net`
//! drives the host's network adapter (`vmbus_host::devices::net`) with a
//! script of guest actions: NVSP messages, RNDIS messages in send-buffer
//! sections and GPA ranges, completions (right and wrong), ticks, link
//! changes, reopens and writes to guest RAM. Every packet the host sends
//! must parse, and the adapter must never touch guest memory outside the
//! buffers and ranges the guest named (a write outside them would show in
//! the guard pages, which must stay zero).

use vmbus_host::devices::net::{Nic, NicConfig};
use vmbus_host::devices::{ChannelIo, Device, SubchannelHost};
use vmbus_host::guest_mem::MemRegion;
use vmbus_host::vmbus::gpadl::{Gpadls, Progress};
use vmbus_proto::gpadl::range_word;
use vmbus_proto::nvsp::{self, NvspMessage};
use vmbus_proto::packet::{self, encode_gpa_direct, encode_inband, PacketKind};
use vmbus_proto::rndis::{self, RndisMessage};
use vmbus_proto::types::{GpadlId, Relid};
use vmbus_proto::wire::channel_msg::GpaRange;
use vmbus_proto::wire::nvsp::{
    NvspBufferGpadl, NvspInit, NvspMsgType, NvspNdisVersion, NvspRndisPacket,
    NvspSubchannelRequest, INVALID_SECTION_INDEX, NVSP_VERSION_61, RECEIVE_BUFFER_ID,
    SEND_BUFFER_ID, SUBCHANNEL_ALLOCATE,
};
use vmbus_proto::wire::packet::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED};
use vmbus_proto::wire::rndis::{Oid, RndisInitRequest, RndisMsgType};
use vmbus_proto::wire::{PackedU32, Wire};

use crate::script::{Script, ScriptWriter};
use crate::seeds::Seed;

/// `net`: the NVSP and RNDIS parsers on arbitrary bytes.
pub fn net(data: &[u8]) {
    if let Ok(NvspMessage::RndisPacket(r)) = nvsp::parse(data) {
        let _ = r.send_buf_section_index;
    }
    match rndis::parse(data) {
        Ok(RndisMessage::Packet(p)) => {
            assert!(p.data.len() as u64 <= data.len() as u64);
            for e in rndis::ppis(p.ppi).take(1000).flatten() {
                assert!(e.value.len() <= p.ppi.len());
            }
        }
        Ok(RndisMessage::Query(q) | RndisMessage::Set(q)) => {
            assert!(q.info.len() <= data.len());
        }
        _ => {}
    }
    // Whatever parses as the start of a stream, the rest does too.
    if data.len() > 8 {
        let _ = rndis::parse(&data[8..]);
    }
}

/// Guest RAM pages of the `host-net` rig.
pub const RAM_PAGES: u64 = 64;
/// The receive buffer: GPADL 1, pages 8 to 23.
pub const RECV: (u32, u64, u64) = (1, 8, 16);
/// The send buffer: GPADL 2, pages 32 to 37 (four sections).
pub const SEND: (u32, u64, u64) = (2, 32, 6);
/// Another channel's GPADL, 3 (pages 40 to 41).
pub const OTHER: (u32, u64, u64) = (3, 40, 2);
/// Pages the script may write and send by GPA: 48 to 63. Pages 0 to 7
/// and 24 to 31 are guard pages nobody names.
pub const DATA_PAGE: u64 = 48;
const PAGE: u64 = 4096;

struct Subs(u16);

impl SubchannelHost for Subs {
    fn offer_subchannels(&mut self, n: u16) -> u16 {
        let k = n.min(8u16.saturating_sub(self.0));
        self.0 += k;
        k
    }
}

/// The adapter, guest RAM and GPADLs.
pub struct NetRig {
    ram: MemRegion,
    gpadls: Gpadls,
    nic: Nic,
    subs: Subs,
    relid: Relid,
    /// Transaction ids of the transfer-page packets the host sent.
    pub sent: Vec<u64>,
}

fn add_gpadl(g: &mut Gpadls, relid: Relid, (id, first, pages): (u32, u64, u64)) {
    let mut w = vec![range_word(GpaRange {
        byte_count: (pages * PAGE) as u32,
        byte_offset: 0,
    })];
    w.extend(first..first + pages);
    let n = (w.len() * 8) as u16;
    let r = g.header(
        relid,
        GpadlId::new(id).expect("a GPADL id"),
        n,
        1,
        &w,
        RAM_PAGES * PAGE,
    );
    assert_eq!(r, Ok(Progress::Created(relid)));
}

impl Default for NetRig {
    fn default() -> Self {
        let relid = Relid::new(7).expect("a relid");
        let mut gpadls = Gpadls::default();
        add_gpadl(&mut gpadls, relid, RECV);
        add_gpadl(&mut gpadls, relid, SEND);
        add_gpadl(&mut gpadls, Relid::new(8).expect("a relid"), OTHER);
        let mut rig = Self {
            ram: MemRegion::anonymous(RAM_PAGES * PAGE).expect("guest RAM"),
            gpadls,
            nic: Nic::new(NicConfig::default()),
            subs: Subs(0),
            relid,
            sent: Vec::new(),
        };
        rig.with(|d, io| d.on_open(io));
        rig
    }
}

impl NetRig {
    fn with(&mut self, f: impl FnOnce(&mut Nic, &mut ChannelIo<'_>)) -> Vec<Vec<u8>> {
        let mut io =
            ChannelIo::new(self.relid, &self.ram, Some(&mut self.subs)).with_gpadls(&self.gpadls);
        f(&mut self.nic, &mut io);
        let out = io.into_packets();
        for p in &out {
            match packet::parse(p) {
                Ok(pk) => {
                    if let PacketKind::TransferPages { .. } = pk.kind {
                        self.sent.push(pk.desc.trans_id);
                    }
                }
                Err(e) => panic!("the host sent a packet that does not parse ({e:?}): {p:02x?}"),
            }
        }
        out
    }

    /// The guard pages are untouched.
    pub fn check_guards(&self) {
        let mut b = vec![0u8; (8 * PAGE) as usize];
        for first in [0, 24] {
            self.ram.read(first * PAGE, &mut b).expect("guard pages");
            assert!(b.iter().all(|&x| x == 0), "the host wrote a guard page");
        }
    }

    fn inband(&mut self, ptype: PacketType, trans_id: u64, body: &[u8]) -> Vec<Vec<u8>> {
        let mut p = vec![0u8; body.len() + 24];
        match encode_inband(
            &mut p,
            ptype,
            PACKET_FLAG_COMPLETION_REQUESTED,
            trans_id,
            body,
        ) {
            Ok(n) => {
                let raw = p[..n].to_vec();
                self.raw(&raw)
            }
            Err(_) => Vec::new(),
        }
    }

    fn raw(&mut self, raw: &[u8]) -> Vec<Vec<u8>> {
        let Ok(p) = packet::parse(raw) else {
            return Vec::new();
        };
        self.with(|d, io| d.on_packet(io, &p))
    }

    /// Carries out one operation.
    pub fn apply(&mut self, op: &NetOp<'_>) {
        match *op {
            NetOp::Nvsp { msg_type, body } => {
                let mut m = (msg_type as u32).to_le_bytes().to_vec();
                m.extend_from_slice(body);
                m.resize(m.len().max(40), 0);
                self.inband(PacketType::DATA_INBAND, 1, &m);
            }
            NetOp::Section { index, size, bytes } => {
                let off = u64::from(index % 4) * 6144;
                let n = bytes.len().min(6144);
                let _ = self.ram.write(SEND.1 * PAGE + off, &bytes[..n]);
                let r = NvspRndisPacket {
                    channel_type: 1,
                    send_buf_section_index: if index >= 250 {
                        u32::from(index) << 20
                    } else {
                        u32::from(index % 8)
                    },
                    send_buf_section_size: u32::from(size),
                };
                if let Some(m) = nvsp::encode(NvspMsgType::SEND_RNDIS_PKT, &r) {
                    self.inband(PacketType::DATA_INBAND, 2, &m);
                }
            }
            NetOp::Gpa {
                page,
                offset,
                count,
                section,
            } => {
                let r = NvspRndisPacket {
                    channel_type: 0,
                    send_buf_section_index: if section { 0 } else { INVALID_SECTION_INDEX },
                    send_buf_section_size: if section { 64 } else { 0 },
                };
                let Some(m) = nvsp::encode(NvspMsgType::SEND_RNDIS_PKT, &r) else {
                    return;
                };
                let first = if page >= 250 {
                    1u64 << 40
                } else {
                    DATA_PAGE + u64::from(page % 16)
                };
                let range = GpaRange {
                    byte_count: u32::from(count).max(1),
                    byte_offset: u32::from(offset) % 4096,
                };
                let pages = vmbus_proto::gpadl::pages_spanned(range.byte_offset, range.byte_count)
                    .unwrap_or(1);
                let pfns: Vec<u64> = (0..pages as u64).map(|i| first + i).collect();
                let mut b = vec![0u8; 64 + pages * 8 + m.len()];
                if let Ok(n) = encode_gpa_direct(
                    &mut b,
                    PACKET_FLAG_COMPLETION_REQUESTED,
                    3,
                    &[(range, &pfns)],
                    &m,
                ) {
                    let raw = b[..n].to_vec();
                    self.raw(&raw);
                }
            }
            NetOp::Complete { which } => {
                let tid = if which == 255 || self.sent.is_empty() {
                    0xdead_0000 + u64::from(which)
                } else {
                    self.sent.remove(usize::from(which) % self.sent.len())
                };
                let body = nvsp::encode(
                    NvspMsgType::SEND_RNDIS_PKT_COMPLETE,
                    &vmbus_proto::wire::nvsp::NvspRndisPacketComplete {
                        status: vmbus_proto::wire::nvsp::NvspStatus::SUCCESS,
                    },
                )
                .unwrap_or([0; 40]);
                self.inband(PacketType::COMP, tid, &body);
            }
            NetOp::Tick => {
                self.with(|d, io| d.tick(io));
            }
            NetOp::Raw(p) => {
                self.raw(p);
            }
            NetOp::Reopen => {
                self.nic.on_close();
                self.sent.clear();
                self.with(|d, io| d.on_open(io));
            }
            NetOp::Link { up } => {
                self.with(|d, io| {
                    let mut out = Vec::new();
                    let _ = d.control(io, "nic-link", &[if up { "up" } else { "down" }], &mut out);
                });
            }
            NetOp::Write {
                page,
                offset,
                bytes,
            } => {
                let at = (DATA_PAGE + u64::from(page % 16)) * PAGE + u64::from(offset % 4096);
                let n = ((RAM_PAGES * PAGE - at) as usize).min(bytes.len());
                let _ = self.ram.write(at, &bytes[..n]);
            }
        }
    }

    /// The adapter's counters.
    pub fn stats(&self) -> Vec<(&'static str, u64)> {
        self.nic.stats()
    }
}

/// An operation of the `host-net` script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetOp<'a> {
    /// `0 TYPE:u16 BODY`: an in-band NVSP message of TYPE, padded to 40
    /// bytes.
    Nvsp {
        /// The message type.
        msg_type: u16,
        /// The body.
        body: &'a [u8],
    },
    /// `1 INDEX SIZE:u16 BYTES`: BYTES into a send section, then
    /// `SEND_RNDIS_PKT` naming section INDEX (out of range from 250) with
    /// SIZE bytes.
    Section {
        /// The section (and where the bytes go).
        index: u8,
        /// The size claimed.
        size: u16,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// `2 PAGE OFFSET:u16 COUNT:u16 SECTION`: `SEND_RNDIS_PKT` by GPA range
    /// (a page outside RAM from 250), after section 0 if SECTION.
    Gpa {
        /// The first data page.
        page: u8,
        /// Offset in it.
        offset: u16,
        /// Bytes.
        count: u16,
        /// Whether section 0 comes first.
        section: bool,
    },
    /// `3 WHICH`: completes a packet the host sent (255: an unknown one).
    Complete {
        /// Which.
        which: u8,
    },
    /// `4`: periodic work.
    Tick,
    /// `5 LEN:u16 PACKET`: a packet as it is.
    Raw(&'a [u8]),
    /// `6`: close and open again.
    Reopen,
    /// `7 UP`: the operator changes the link.
    Link {
        /// Up or down.
        up: bool,
    },
    /// `8 PAGE OFFSET:u16 BYTES`: the guest writes a data page.
    Write {
        /// The page.
        page: u8,
        /// Offset in it.
        offset: u16,
        /// Bytes.
        bytes: &'a [u8],
    },
}

impl<'a> NetOp<'a> {
    /// Reads the next operation.
    pub fn read(s: &mut Script<'a>) -> Self {
        match s.u8() % 9 {
            0 => NetOp::Nvsp {
                msg_type: s.u16(),
                body: s.chunk(),
            },
            1 => NetOp::Section {
                index: s.u8(),
                size: s.u16(),
                bytes: s.chunk16(),
            },
            2 => NetOp::Gpa {
                page: s.u8(),
                offset: s.u16(),
                count: s.u16(),
                section: s.u8() & 1 != 0,
            },
            3 => NetOp::Complete { which: s.u8() },
            4 => NetOp::Tick,
            5 => NetOp::Raw(s.chunk16()),
            6 => NetOp::Reopen,
            7 => NetOp::Link {
                up: s.u8() & 1 != 0,
            },
            _ => NetOp::Write {
                page: s.u8(),
                offset: s.u16(),
                bytes: s.chunk16(),
            },
        }
    }

    /// Writes the operation.
    pub fn write(&self, w: &mut ScriptWriter) {
        match *self {
            NetOp::Nvsp { msg_type, body } => {
                w.u8(0).u16(msg_type).chunk(body);
            }
            NetOp::Section { index, size, bytes } => {
                w.u8(1).u8(index).u16(size).chunk16(bytes);
            }
            NetOp::Gpa {
                page,
                offset,
                count,
                section,
            } => {
                w.u8(2)
                    .u8(page)
                    .u16(offset)
                    .u16(count)
                    .u8(u8::from(section));
            }
            NetOp::Complete { which } => {
                w.u8(3).u8(which);
            }
            NetOp::Tick => {
                w.u8(4);
            }
            NetOp::Raw(p) => {
                w.u8(5).chunk16(p);
            }
            NetOp::Reopen => {
                w.u8(6);
            }
            NetOp::Link { up } => {
                w.u8(7).u8(u8::from(up));
            }
            NetOp::Write {
                page,
                offset,
                bytes,
            } => {
                w.u8(8).u8(page).u16(offset).chunk16(bytes);
            }
        }
    }
}

/// `host-net`: a script of [`NetOp`]s against the adapter.
pub fn host_net(data: &[u8]) {
    run_net(data);
}

/// Runs a `host-net` script; returns the adapter's counters.
pub fn run_net(data: &[u8]) -> Vec<(&'static str, u64)> {
    crate::host::quiet_logs();
    let mut s = Script::new(data);
    let mut rig = NetRig::default();
    let mut ops = 0;
    while !s.is_empty() && ops < crate::host::MAX_OPS {
        ops += 1;
        let op = NetOp::read(&mut s);
        rig.apply(&op);
    }
    rig.check_guards();
    rig.stats()
}

fn body<T: Wire>(v: &T) -> Vec<u8> {
    let mut b = vec![0u8; T::SIZE];
    let _ = v.write_to(&mut b);
    b
}

fn rndis_msg(f: impl FnOnce(&mut [u8]) -> Option<usize>) -> Vec<u8> {
    let mut b = vec![0u8; 256];
    let n = f(&mut b).unwrap_or(0);
    b.truncate(n);
    b
}

/// A netvsc bring-up: NVSP 6.1, NDIS 6.30, both buffers, RNDIS `INIT`,
/// the MAC address query, the packet filter, a frame each way and a
/// sub-channel request.
fn bring_up(w: &mut ScriptWriter) {
    let init = NvspInit {
        min_protocol_ver: NVSP_VERSION_61,
        max_protocol_ver: NVSP_VERSION_61,
    };
    NetOp::Nvsp {
        msg_type: 1,
        body: &body(&init),
    }
    .write(w);
    let v = NvspNdisVersion {
        ndis_major_ver: 6,
        ndis_minor_ver: 30,
    };
    NetOp::Nvsp {
        msg_type: 100,
        body: &body(&v),
    }
    .write(w);
    let rb = NvspBufferGpadl {
        gpadl_handle: PackedU32::new(RECV.0),
        id: RECEIVE_BUFFER_ID,
    };
    NetOp::Nvsp {
        msg_type: 101,
        body: &body(&rb),
    }
    .write(w);
    let sb = NvspBufferGpadl {
        gpadl_handle: PackedU32::new(SEND.0),
        id: SEND_BUFFER_ID,
    };
    NetOp::Nvsp {
        msg_type: 104,
        body: &body(&sb),
    }
    .write(w);
    let init = rndis_msg(|b| {
        rndis::encode_init_request(
            b,
            &RndisInitRequest {
                req_id: 1,
                major_ver: 1,
                minor_ver: 0,
                max_xfer_size: 0x4000,
            },
        )
    });
    NetOp::Section {
        index: 0,
        size: init.len() as u16,
        bytes: &init,
    }
    .write(w);
    NetOp::Complete { which: 0 }.write(w);
    let q = rndis_msg(|b| {
        rndis::encode_oid_request(b, RndisMsgType::QUERY, 2, Oid::ETH_PERMANENT_ADDRESS, &[])
    });
    NetOp::Section {
        index: 1,
        size: q.len() as u16,
        bytes: &q,
    }
    .write(w);
    let f = rndis_msg(|b| {
        rndis::encode_oid_request(
            b,
            RndisMsgType::SET,
            3,
            Oid::GEN_CURRENT_PACKET_FILTER,
            &9u32.to_le_bytes(),
        )
    });
    NetOp::Section {
        index: 2,
        size: f.len() as u16,
        bytes: &f,
    }
    .write(w);
    let frame = rndis_msg(|b| rndis::encode_packet(b, &[0xee; 60], &[]));
    NetOp::Write {
        page: 0,
        offset: 4000,
        bytes: &frame,
    }
    .write(w);
    NetOp::Gpa {
        page: 0,
        offset: 4000,
        count: frame.len() as u16,
        section: false,
    }
    .write(w);
    let sub = NvspSubchannelRequest {
        op: SUBCHANNEL_ALLOCATE,
        num_subchannels: 3,
    };
    NetOp::Nvsp {
        msg_type: 133,
        body: &body(&sub),
    }
    .write(w);
    NetOp::Tick.write(w);
}

/// The seeds of `net` and `host-net`.
pub fn seeds(out: &mut Vec<Seed>) {
    let init = NvspInit {
        min_protocol_ver: NVSP_VERSION_61,
        max_protocol_ver: NVSP_VERSION_61,
    };
    out.push((
        "net",
        "nvsp-init".into(),
        nvsp::encode(NvspMsgType::INIT, &init)
            .map(|m| m.to_vec())
            .unwrap_or_default(),
    ));
    out.push((
        "net",
        "rndis-packet".into(),
        rndis_msg(|b| {
            rndis::encode_packet(
                b,
                b"frame",
                &[(
                    vmbus_proto::wire::rndis::PpiType::NBL_HASH_VALUE,
                    &[1, 2, 3, 4],
                )],
            )
        }),
    ));
    out.push((
        "net",
        "rndis-query".into(),
        rndis_msg(|b| {
            rndis::encode_oid_request(b, RndisMsgType::QUERY, 1, Oid::GEN_LINK_SPEED, &[0; 8])
        }),
    ));

    let mut w = ScriptWriter::new();
    bring_up(&mut w);
    out.push(("host-net", "bring-up".into(), w.finish()));

    let mut w = ScriptWriter::new();
    bring_up(&mut w);
    NetOp::Section {
        index: 251,
        size: 10,
        bytes: &[],
    }
    .write(&mut w);
    NetOp::Section {
        index: 3,
        size: 6145,
        bytes: &[],
    }
    .write(&mut w);
    NetOp::Gpa {
        page: 255,
        offset: 0,
        count: 100,
        section: true,
    }
    .write(&mut w);
    NetOp::Complete { which: 255 }.write(&mut w);
    NetOp::Link { up: false }.write(&mut w);
    NetOp::Link { up: true }.write(&mut w);
    NetOp::Reopen.write(&mut w);
    out.push(("host-net", "hostile".into(), w.finish()));
}
