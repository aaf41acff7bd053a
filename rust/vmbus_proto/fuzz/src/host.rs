// SPDX-License-Identifier: GPL-2.0

//! Targets for `tools/vmbus-host`'s parsers of guest input, run in-process
//! as `vmbus-host serve` runs them, without QEMU: guest RAM and the ivshmem
//! shared memory are anonymous mappings, interrupts are recorded, the trace
//! is off.
//!
//! - `host-mailbox`: raw mailbox contents through `mailbox::take`, the
//!   hypercalls (`Hypervisor::handle`), the SynIC and the VMBus server;
//! - `host-vmbus`: the VMBus server behind set-up SynICs: posted messages,
//!   signals, monitor bits, rings in guest RAM and the device backends
//!   behind them;
//! - `host-gpadl`: GPADL assembly and validation (`vmbus::gpadl`);
//! - `host-ring`: a channel's rings in guest RAM (`vmbus::datapath`) on
//!   pages the guest chose, against a guest that writes and reads them;
//! - `host-devices`: the device backends' packet handling (IC answers:
//!   heartbeat, shutdown, time sync; echo).
//!
//! Each is a script of operations (see [`crate::script`]); the `*Op`
//! enums name them, and the seed generator ([`crate::seeds`]) builds
//! scripts from them while it plays the guest against a rig of its own.

use std::collections::VecDeque;
use std::sync::{Once, OnceLock};
use std::time::Duration;

use vmbus_host::devices::{self, ChannelIo, Device, DeviceConfig, SubchannelHost};
use vmbus_host::guest_mem::MemRegion;
use vmbus_host::hypercalls::{HcallEnv, HcallError, Hypervisor};
use vmbus_host::interrupts::{raise_traced, HeldIrqs, RecordingIrqs};
use vmbus_host::log::Level;
use vmbus_host::mailbox;
use vmbus_host::server::{GuestCtx, Profile, VmbusServer};
use vmbus_host::trace::Trace;
use vmbus_host::vmbus::datapath::ChannelRings;
use vmbus_host::vmbus::gpadl::{Gpadls, Progress};
use vmbus_host::vmbus::io::packet_name;
use vmbus_host::vmbus::offers::{default_devices, DeviceKind, DeviceSpec, Signalling};
use vmbus_host::vmbus::ring_mem::RingPages;
use vmbus_host::vmbus::{ServerOptions, VmbusHost};
use vmbus_proto::ivshmem::{self, mailbox as layout, Command, HvStatus, Request};
use vmbus_proto::message::{GuestMessage, HostMessage};
use vmbus_proto::packet::{self, encode_inband};
use vmbus_proto::ring::{init_control, RingConsumer, RingProducer};
use vmbus_proto::types::{GpadlId, Relid};
use vmbus_proto::wire::monitor::{pending_offset, MONITOR_IDS_PER_GROUP};
use vmbus_proto::wire::packet::{PacketType, RING_FEATURE_PENDING_SEND_SIZE};

use crate::script::{Script, ScriptWriter};

/// Guest page size.
pub const PAGE: u64 = 4096;
/// Guest RAM of the rigs, in pages: small, so that PFNs the fuzzer makes
/// up are often valid.
pub const RAM_PAGES: u64 = 64;
/// Guest RAM in bytes.
pub const RAM: u64 = RAM_PAGES * PAGE;
/// vCPUs of the guest.
pub const VCPUS: u32 = 2;
/// MSI-X vectors of the device.
pub const VECTORS: u16 = 4;
/// Mailboxes of the shared memory.
pub const MAILBOXES: u32 = 2;
/// The SINT VMBus messages arrive on.
pub const SINT: u64 = 2;
/// Where the rig's guest keeps its SynIC message pages (one per vCPU).
pub const SIMP: [u64; 2] = [0x1000, 0x6000];
/// Where the rig's guest keeps its SynIC event flag pages.
pub const SIEFP: [u64; 2] = [0x2000, 0x7000];
/// The host → guest monitor page of the seeds.
pub const MONITOR1: u64 = 0x3000;
/// The guest → host monitor page of the seeds.
pub const MONITOR2: u64 = 0x4000;
/// The pre-2.4 interrupt page of the seeds.
pub const INTERRUPT_PAGE: u64 = 0x5000;
/// Script operations per input, at most.
pub const MAX_OPS: usize = 512;

/// Most host log lines would be the fuzzer's doing: errors only.
fn quiet() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| vmbus_host::log::set_level(Level::Error));
}

/// Sets the host's log level for fuzzing (errors only).
pub fn quiet_logs() {
    quiet();
}

fn anonymous(len: u64) -> MemRegion {
    MemRegion::anonymous(len).expect("an anonymous mapping for guest memory")
}

/// Writes what fits of `bytes` at `addr` (wrapped into `mem`).
fn write_clipped(mem: &MemRegion, addr: u64, bytes: &[u8]) {
    let addr = addr % mem.len();
    let n = (mem.len() - addr).min(bytes.len() as u64) as usize;
    let _ = mem.write(addr, &bytes[..n]);
}

/// Every packet a backend sends must parse.
fn check_host_packet(p: &[u8]) {
    if let Err(e) = packet::parse(p) {
        panic!("the host sent a packet that does not parse ({e:?}): {p:02x?}");
    }
    let _ = packet_name(p);
}

/// The host and the guest's memory, as `vmbus-host serve` holds them.
pub struct Rig {
    /// Guest RAM.
    pub ram: MemRegion,
    /// The ivshmem shared memory (header and mailboxes).
    pub shm: MemRegion,
    /// Interrupts raised into the guest.
    pub irq: RecordingIrqs,
    /// The trace (off).
    pub trace: Trace,
    /// Hypercalls and SynIC.
    pub hv: Hypervisor,
    /// The VMBus server.
    pub server: VmbusHost,
}

/// The devices of the rigs: the default ones (heartbeat, shutdown, time
/// sync and echo, relids 1 to 4, monitored) and an echo without a monitor
/// id (relid 5, signalled by HvSignalEvent only).
pub fn rig_devices() -> Vec<DeviceSpec> {
    let mut d = default_devices();
    d.push(DeviceSpec {
        kind: DeviceKind::Echo,
        count: 1,
        signalling: Signalling {
            no_monitor: true,
            dedicated: true,
        },
    });
    d
}

/// Backend settings: the periodic requests fall due at every poll, so
/// that what the fuzzer sees does not depend on the clock.
pub fn rig_device_config() -> DeviceConfig {
    DeviceConfig {
        heartbeat: Duration::ZERO,
        timesync: Duration::ZERO,
        ..DeviceConfig::default()
    }
}

/// The profile a script's first byte picks.
pub fn profile(b: u8) -> Profile {
    match b % 3 {
        0 => Profile::Azure,
        1 => Profile::Qemu,
        _ => Profile::Old,
    }
}

impl Rig {
    /// A fresh host imitating `profile` with [`rig_devices`].
    pub fn new(profile: Profile) -> Self {
        quiet();
        let opts = ServerOptions {
            devices: rig_device_config(),
            ..ServerOptions::default()
        };
        let server = VmbusHost::new(profile, &rig_devices(), opts).expect("the rig's devices");
        Self {
            ram: anonymous(RAM),
            shm: anonymous(PAGE),
            irq: RecordingIrqs::new(VECTORS),
            trace: Trace::disabled(),
            hv: Hypervisor::new(16),
            server,
        }
    }

    /// Carries out `req` as the event loop does (interrupts held until
    /// the answer is written, then the one the answer asks for).
    pub fn call(&mut self, req: &Request) -> Result<u64, HcallError> {
        let held = HeldIrqs::new(&self.irq);
        let env = HcallEnv {
            mem: &self.ram,
            irq: &held,
            trace: &self.trace,
        };
        let r = self.hv.handle(&env, &mut self.server, req);
        let status = r
            .as_ref()
            .map_or_else(HcallError::status, |_| HvStatus::SUCCESS);
        self.hv.count_status(status);
        let _ = held.release();
        let r = r.map(|d| {
            if let Some(v) = d.raise_after {
                let _ = raise_traced(&self.irq, &self.trace, v);
            }
            d.result
        });
        self.drain();
        r
    }

    /// A request of `cmd` on `vcpu`.
    pub fn command(&mut self, cmd: Command, vcpu: u32, args: [u64; 4], data: &[u8]) -> bool {
        let mut d = [0u8; ivshmem::MAILBOX_DATA_SIZE];
        let n = data.len().min(d.len());
        d[..n].copy_from_slice(&data[..n]);
        let req = Request {
            seq: 1,
            cmd,
            vcpu,
            args,
            data: d,
        };
        self.call(&req).is_ok()
    }

    /// Hands the queued guest messages to the server.
    pub fn drain(&mut self) {
        let env = HcallEnv {
            mem: &self.ram,
            irq: &self.irq,
            trace: &self.trace,
        };
        self.hv.drain_messages(&env, &mut self.server);
    }

    /// The host's periodic work: monitor pages, queued packets, device
    /// ticks. (SynIC messages are delivered on EOM only, as by Hyper-V.)
    pub fn poll(&mut self) {
        let mut g = GuestCtx {
            mem: &self.ram,
            synic: &mut self.hv.synic,
            irq: &self.irq,
            trace: &self.trace,
        };
        self.server.poll(&mut g);
    }

    /// Serves mailbox `index` if it holds a new request, as
    /// `Host::service_mailboxes` does.
    pub fn service_mailbox(&mut self, index: u32) {
        let inc = match mailbox::take(&self.shm, index) {
            Ok(Some(i)) => i,
            _ => return,
        };
        assert_eq!(inc.raw.len(), layout::USED);
        let (seq, status, result) = match &inc.request {
            Ok(req) => match self.call(req) {
                Ok(r) => (req.seq, HvStatus::SUCCESS, r),
                Err(e) => (req.seq, e.status(), 0),
            },
            Err(_) => (0, HcallError::Malformed.status(), 0),
        };
        let _ = mailbox::respond(&self.shm, index, seq, status, result);
    }

    /// The guest's side of a post: the input of `HvPostMessage` on
    /// `connection_id` with `payload`.
    pub fn post(&mut self, vcpu: u32, connection_id: u32, payload: &[u8]) -> bool {
        let p = &payload[..payload.len().min(240)];
        let mut d = Vec::with_capacity(16 + p.len());
        for w in [connection_id, 0, 1, p.len() as u32] {
            d.extend_from_slice(&w.to_le_bytes());
        }
        d.extend_from_slice(p);
        self.command(Command::POST_MESSAGE, vcpu, [0; 4], &d)
    }

    /// Sets up HELLO and the SynIC of every vCPU at [`SIMP`] and
    /// [`SIEFP`], SINT 2 on vector 1 + vCPU.
    pub fn attach_guest(&mut self) {
        let v = u64::from(ivshmem::VERSION_MAJOR) << 16 | u64::from(ivshmem::VERSION_MINOR);
        assert!(self.command(Command::HELLO, 0, [v, u64::from(VCPUS), 0, 0], &[]));
        for vcpu in 0..VCPUS {
            let i = vcpu as usize;
            let args = [SIMP[i] | 1, SIEFP[i] | 1, SINT, 1 + u64::from(vcpu)];
            assert!(self.command(Command::SYNIC_SETUP, vcpu, args, &[]));
        }
    }

    /// The guest takes the messages in its VMBus slots (copy, free the
    /// slot, EOM if one is pending, as Linux does) and returns those that
    /// decode.
    pub fn receive(&mut self) -> Vec<HostMessage> {
        let mut out = Vec::new();
        for vcpu in 0..VCPUS {
            let slot = SIMP[vcpu as usize] + SINT * 256;
            for _ in 0..64 {
                if self.ram.read_u32(slot).unwrap_or(0) == 0 {
                    break;
                }
                let mut hdr = [0u8; 16];
                let _ = self.ram.read(slot, &mut hdr);
                let mut p = vec![0u8; usize::from(hdr[4]).min(240)];
                // The copy's flags are not looked at: MessagePending is read
                // from the slot after freeing it.
                let _ = self.ram.read(slot + 16, &mut p);
                let _ = self.ram.write_u32(slot, 0);
                std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
                let mut flags = [0u8];
                let _ = self.ram.read(slot + 5, &mut flags);
                // The guest may have written the slot itself, or put a
                // ring on this page: what is there need not decode.
                if let Ok(m) = HostMessage::decode(&p) {
                    out.push(m);
                }
                if flags[0] & 1 != 0 {
                    self.command(Command::EOM, vcpu, [0; 4], &[]);
                }
            }
        }
        out
    }
}

impl Default for Rig {
    fn default() -> Self {
        Self::new(Profile::Azure)
    }
}

/// A ring as a script names it: its control page and its data pages,
/// `pages` of them from `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingAt {
    /// PFN of the control page.
    pub control: u8,
    /// PFN of the first data page.
    pub first: u8,
    /// Number of data pages.
    pub pages: u8,
}

impl RingAt {
    fn pages(self) -> RingPages {
        let first = u64::from(self.first) % RAM_PAGES;
        let n = u64::from(self.pages % 8) + 1;
        RingPages {
            control: u64::from(self.control) % RAM_PAGES,
            data: (0..n).map(|i| (first + i) % RAM_PAGES).collect(),
        }
    }

    fn read(s: &mut Script<'_>) -> Self {
        Self {
            control: s.u8(),
            first: s.u8(),
            pages: s.u8(),
        }
    }

    fn write(self, w: &mut ScriptWriter) {
        w.u8(self.control).u8(self.first).u8(self.pages);
    }
}

/// The guest writes `pkt` into the ring at `at`; false if it did not fit.
pub fn guest_ring_write(ram: &MemRegion, at: RingPages, pkt: &[u8]) -> bool {
    let m = at.mem(ram);
    match RingProducer::new(&m) {
        Ok(mut tx) => tx.write(&m, &[pkt]).is_ok(),
        Err(_) => false,
    }
}

/// The guest reads every packet from the ring at `at`.
pub fn guest_ring_read(ram: &MemRegion, at: &RingPages) -> Vec<Vec<u8>> {
    let m = at.mem(ram);
    let Ok(mut rx) = RingConsumer::new(&m) else {
        return Vec::new();
    };
    let mut buf = vec![0u8; at.data.len() * PAGE as usize];
    let mut out = Vec::new();
    while let Ok(Some(info)) = rx.read_packet(&m, &mut buf) {
        out.push(buf[..info.len].to_vec());
        if out.len() >= 256 {
            break;
        }
    }
    let _ = rx.commit(&m);
    out
}

/// The guest prepares a ring control page (feature bits, indices zero).
pub fn guest_ring_init(ram: &MemRegion, at: &RingPages) {
    let _ = ram.fill(at.control * PAGE, PAGE, 0);
    init_control(&at.mem(ram), RING_FEATURE_PENDING_SEND_SIZE);
}

/// An operation of the `host-vmbus` script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmbusOp<'a> {
    /// `0 SEL [CONN:u32] LEN PAYLOAD`: HvPostMessage on vCPU `SEL & 1`;
    /// connection id 4, 1, 2 or `CONN` by `SEL >> 1 & 3`.
    Post {
        /// vCPU.
        vcpu: u8,
        /// Connection id.
        connection_id: u32,
        /// The message.
        payload: &'a [u8],
    },
    /// `1 RELID`: HvSignalEvent on `0x10000 + RELID` (2 for 0).
    Signal {
        /// Relid, or 0 for the shared pre-2.4 connection.
        relid: u8,
    },
    /// `2 ADDR:u32 LEN BYTES`: the guest writes its RAM.
    Write {
        /// Guest physical address (wrapped into RAM).
        addr: u32,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// `3`: the host's periodic work.
    Poll,
    /// `4 ID`: the guest sets monitor bit `ID` in [`MONITOR2`].
    Monitor {
        /// Monitor id.
        id: u8,
    },
    /// `5 VCPU`: EOM.
    Eom {
        /// vCPU.
        vcpu: u8,
    },
    /// `6 RING LEN:u16 PACKET`: the guest writes a packet into a ring.
    RingWrite {
        /// The ring.
        at: RingAt,
        /// The packet.
        packet: &'a [u8],
    },
    /// `7 RING`: the guest reads every packet of a ring.
    RingRead {
        /// The ring.
        at: RingAt,
    },
    /// `8 CMD RELID`: the operator: rescind, offer, re-offer, shutdown.
    Control {
        /// Which command.
        cmd: u8,
        /// Its relid.
        relid: u8,
    },
}

impl<'a> VmbusOp<'a> {
    /// Reads the next operation.
    pub fn read(s: &mut Script<'a>) -> Self {
        match s.u8() % 9 {
            0 => {
                let sel = s.u8();
                let connection_id = match sel >> 1 & 3 {
                    0 => 4,
                    1 => 1,
                    2 => 2,
                    _ => s.u32(),
                };
                VmbusOp::Post {
                    vcpu: sel & 1,
                    connection_id,
                    payload: s.chunk(),
                }
            }
            1 => VmbusOp::Signal { relid: s.u8() },
            2 => VmbusOp::Write {
                addr: s.u32(),
                bytes: s.chunk(),
            },
            3 => VmbusOp::Poll,
            4 => VmbusOp::Monitor { id: s.u8() },
            5 => VmbusOp::Eom { vcpu: s.u8() },
            6 => VmbusOp::RingWrite {
                at: RingAt::read(s),
                packet: s.chunk16(),
            },
            7 => VmbusOp::RingRead {
                at: RingAt::read(s),
            },
            _ => VmbusOp::Control {
                cmd: s.u8(),
                relid: s.u8(),
            },
        }
    }

    /// Writes the operation.
    pub fn write(&self, w: &mut ScriptWriter) {
        match *self {
            VmbusOp::Post {
                vcpu,
                connection_id,
                payload,
            } => {
                let v = vcpu & 1;
                match connection_id {
                    4 => w.u8(0).u8(v),
                    1 => w.u8(0).u8(v | 2),
                    2 => w.u8(0).u8(v | 4),
                    c => w.u8(0).u8(v | 6).u32(c),
                };
                w.chunk(payload);
            }
            VmbusOp::Signal { relid } => {
                w.u8(1).u8(relid);
            }
            VmbusOp::Write { addr, bytes } => {
                w.u8(2).u32(addr).chunk(bytes);
            }
            VmbusOp::Poll => {
                w.u8(3);
            }
            VmbusOp::Monitor { id } => {
                w.u8(4).u8(id);
            }
            VmbusOp::Eom { vcpu } => {
                w.u8(5).u8(vcpu);
            }
            VmbusOp::RingWrite { at, packet } => {
                w.u8(6);
                at.write(w);
                w.chunk16(packet);
            }
            VmbusOp::RingRead { at } => {
                w.u8(7);
                at.write(w);
            }
            VmbusOp::Control { cmd, relid } => {
                w.u8(8).u8(cmd).u8(relid);
            }
        }
    }
}

/// What the guest saw after an operation.
#[derive(Default, Debug)]
pub struct Seen {
    /// Messages from its slots.
    pub messages: Vec<HostMessage>,
    /// Packets from a ring it read.
    pub packets: Vec<Vec<u8>>,
}

impl Rig {
    /// Carries out one `host-vmbus` operation, then the guest takes its
    /// messages.
    pub fn apply(&mut self, op: &VmbusOp<'_>) -> Seen {
        let mut seen = Seen::default();
        match *op {
            VmbusOp::Post {
                vcpu,
                connection_id,
                payload,
            } => {
                self.post(u32::from(vcpu), connection_id, payload);
            }
            VmbusOp::Signal { relid } => {
                let conn = if relid == 0 {
                    2
                } else {
                    0x1_0000 + u64::from(relid)
                };
                self.command(Command::SIGNAL_EVENT, 0, [conn, 0, 0, 0], &[]);
            }
            VmbusOp::Write { addr, bytes } => write_clipped(&self.ram, u64::from(addr), bytes),
            VmbusOp::Poll => self.poll(),
            VmbusOp::Monitor { id } => {
                let id = usize::from(id);
                let bit = id % MONITOR_IDS_PER_GROUP;
                let off = pending_offset(id / MONITOR_IDS_PER_GROUP) + bit / 8;
                let _ = self.ram.fetch_or_u8(MONITOR2 + off as u64, 1 << (bit % 8));
            }
            VmbusOp::Eom { vcpu } => {
                self.command(Command::EOM, u32::from(vcpu), [0; 4], &[]);
            }
            VmbusOp::RingWrite { at, packet } => {
                guest_ring_write(&self.ram, at.pages(), packet);
            }
            VmbusOp::RingRead { at } => {
                // Not checked: the fuzzer may point this at any pages.
                seen.packets = guest_ring_read(&self.ram, &at.pages());
            }
            VmbusOp::Control { cmd, relid } => {
                let r = relid.to_string();
                let (name, args): (&str, Vec<&str>) = match cmd % 4 {
                    0 => ("rescind", vec![&r]),
                    1 => ("offer", vec!["echo"]),
                    2 => ("reoffer", vec![&r]),
                    _ => ("shutdown-guest", vec![]),
                };
                let mut out = Vec::new();
                let mut g = GuestCtx {
                    mem: &self.ram,
                    synic: &mut self.hv.synic,
                    irq: &self.irq,
                    trace: &self.trace,
                };
                let _ = self.server.control(Some(&mut g), name, &args, &mut out);
            }
        }
        seen.messages = self.receive();
        seen
    }
}

/// `host-vmbus`: the first byte picks the profile; the guest has said
/// HELLO and set up its SynICs; the rest is a script of [`VmbusOp`]s.
pub fn host_vmbus(data: &[u8]) {
    run_vmbus(data);
}

/// Runs a `host-vmbus` script; returns the rig as it left it.
pub fn run_vmbus(data: &[u8]) -> Rig {
    let mut s = Script::new(data);
    let mut rig = Rig::new(profile(s.u8()));
    rig.attach_guest();
    let mut ops = 0;
    while !s.is_empty() && ops < MAX_OPS {
        ops += 1;
        let op = VmbusOp::read(&mut s);
        rig.apply(&op);
    }
    rig
}

/// An operation of the `host-mailbox` script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailboxOp<'a> {
    /// `0 INDEX LEN:u16 BYTES`: the guest writes `BYTES` into mailbox
    /// `INDEX` after its `req_seq`, then a new `req_seq`; the host serves
    /// it.
    Request {
        /// Mailbox index (wrapped).
        index: u8,
        /// The request from its `cmd` field on.
        bytes: &'a [u8],
    },
    /// `1 OFF:u16 LEN BYTES`: the guest writes the shared memory; the
    /// host serves every mailbox.
    Shm {
        /// Offset (wrapped).
        off: u16,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// `2 ADDR:u32 LEN BYTES`: the guest writes its RAM.
    Write {
        /// Guest physical address (wrapped).
        addr: u32,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// `3`: the host's periodic work.
    Poll,
}

impl<'a> MailboxOp<'a> {
    /// Reads the next operation.
    pub fn read(s: &mut Script<'a>) -> Self {
        match s.u8() % 4 {
            0 => MailboxOp::Request {
                index: s.u8(),
                bytes: s.chunk16(),
            },
            1 => MailboxOp::Shm {
                off: s.u16(),
                bytes: s.chunk(),
            },
            2 => MailboxOp::Write {
                addr: s.u32(),
                bytes: s.chunk(),
            },
            _ => MailboxOp::Poll,
        }
    }

    /// Writes the operation.
    pub fn write(&self, w: &mut ScriptWriter) {
        match *self {
            MailboxOp::Request { index, bytes } => {
                w.u8(0).u8(index).chunk16(bytes);
            }
            MailboxOp::Shm { off, bytes } => {
                w.u8(1).u16(off).chunk(bytes);
            }
            MailboxOp::Write { addr, bytes } => {
                w.u8(2).u32(addr).chunk(bytes);
            }
            MailboxOp::Poll => {
                w.u8(3);
            }
        }
    }

    /// A request's bytes from its `cmd` field on, as the guest encodes it.
    pub fn encode(cmd: Command, vcpu: u32, args: [u64; 4], data: &[u8]) -> Vec<u8> {
        let mut d = [0u8; ivshmem::MAILBOX_DATA_SIZE];
        let n = data.len().min(d.len());
        d[..n].copy_from_slice(&data[..n]);
        let mut b = vec![0u8; layout::USED];
        let req = Request {
            seq: 0,
            cmd,
            vcpu,
            args,
            data: d,
        };
        req.encode(&mut b).expect("a mailbox-sized buffer");
        // The words before the data area are always written; trailing
        // zeros of the data area are left out (the mailbox keeps what an
        // earlier request left there, which the commands that read data
        // ignore past their sizes).
        let end = b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
        b[layout::CMD..end.max(layout::DATA)].to_vec()
    }
}

impl Rig {
    /// Carries out one `host-mailbox` operation.
    pub fn apply_mailbox(&mut self, op: &MailboxOp<'_>) {
        match *op {
            MailboxOp::Request { index, bytes } => {
                let index = u32::from(index) % MAILBOXES;
                let Some(base) = ivshmem::mailbox_offset(index) else {
                    return;
                };
                let base = base as u64;
                let n = bytes.len().min(layout::USED - layout::CMD);
                let _ = self.shm.write(base + layout::CMD as u64, &bytes[..n]);
                let seq = self
                    .shm
                    .read_u32(base + layout::RESP_SEQ as u64)
                    .unwrap_or(0)
                    .wrapping_add(1);
                let _ = self.shm.write_u32(base + layout::REQ_SEQ as u64, seq);
                self.service_mailbox(index);
            }
            MailboxOp::Shm { off, bytes } => {
                write_clipped(&self.shm, u64::from(off), bytes);
                for i in 0..MAILBOXES {
                    self.service_mailbox(i);
                }
            }
            MailboxOp::Write { addr, bytes } => write_clipped(&self.ram, u64::from(addr), bytes),
            MailboxOp::Poll => self.poll(),
        }
    }
}

/// `host-mailbox`: the first byte picks the profile; the rest is a script
/// of [`MailboxOp`]s against a host that has seen nothing yet.
pub fn host_mailbox(data: &[u8]) {
    run_mailbox(data);
}

/// Runs a `host-mailbox` script; returns the rig as it left it.
pub fn run_mailbox(data: &[u8]) -> Rig {
    let mut s = Script::new(data);
    let mut rig = Rig::new(profile(s.u8()));
    let mut ops = 0;
    while !s.is_empty() && ops < MAX_OPS {
        ops += 1;
        let op = MailboxOp::read(&mut s);
        rig.apply_mailbox(&op);
    }
    rig
}

/// `host-gpadl`: a script of operations on the host's GPADL table for a
/// guest of [`RAM`] bytes:
///
/// - `0 LEN MSG`: a guest message; `GPADL_HEADER`, `GPADL_BODY` and
///   `GPADL_TEARDOWN` go to the table;
/// - `1 RELID`: the channel is released;
/// - `2`: the connection is reset.
///
/// Every created GPADL must lie in guest RAM.
pub fn host_gpadl(data: &[u8]) {
    let mut s = Script::new(data);
    let mut g = Gpadls::default();
    let mut created: Vec<GpadlId> = Vec::new();
    let mut ops = 0;
    while !s.is_empty() && ops < MAX_OPS {
        ops += 1;
        let done = match s.u8() % 3 {
            0 => match GuestMessage::decode(s.chunk()) {
                Ok(GuestMessage::GpadlHeader {
                    relid,
                    gpadl,
                    range_buflen,
                    rangecount,
                    data,
                }) => g
                    .header(relid, gpadl, range_buflen, rangecount, data.as_slice(), RAM)
                    .ok()
                    .map(|p| (p, gpadl)),
                Ok(GuestMessage::GpadlBody { gpadl, data, .. }) => {
                    g.body(gpadl, data.as_slice(), RAM).ok().map(|p| (p, gpadl))
                }
                Ok(GuestMessage::GpadlTeardown { relid, gpadl }) => {
                    if let Ok(t) = g.teardown(relid, gpadl) {
                        assert_eq!(t.relid, relid);
                        assert!(g.get(gpadl).is_none());
                    }
                    None
                }
                _ => None,
            },
            1 => {
                if let Some(r) = Relid::new(u32::from(s.u8())) {
                    g.drop_channel(r);
                }
                None
            }
            _ => {
                g.clear();
                assert_eq!(g.counts(), (0, 0));
                None
            }
        };
        if let Some((Progress::Created(relid), id)) = done {
            created.push(id);
            let x = g.get(id).expect("a created GPADL is kept");
            assert_eq!(x.relid, relid);
            let mut pages = 0;
            for r in vmbus_proto::gpadl::parse_ranges(&x.words, usize::from(x.rangecount))
                .expect("a created GPADL has valid ranges")
            {
                assert!(r.pfns.iter().all(|&p| p < RAM_PAGES));
                pages += r.pfns.len();
            }
            assert_eq!(pages, x.pages);
            if x.whole_pages {
                assert_eq!(x.pfns().len(), x.pages);
            }
        }
    }
    let (c, p) = g.counts();
    assert!(c <= created.len() && p <= vmbus_host::vmbus::gpadl::MAX_PENDING);
}

/// Pages of the `host-ring` guest.
pub const RING_RAM_PAGES: u64 = 16;

/// `host-ring`: one channel's rings on pages the guest chose. The input:
/// `G2H H2G` (pages of each ring, 2 to 5: control and data), one PFN byte
/// per page (wrapped into [`RING_RAM_PAGES`]; pages may repeat), `INIT`
/// (bit 0: the guest initialises the control pages), then a script:
///
/// - `0 FLAGS LEN PAYLOAD`: the guest writes an in-band packet;
/// - `1 MAX`: the host reads up to `MAX % 8 + 1` packets;
/// - `2 LEN PAYLOAD`: the host sends an in-band packet;
/// - `3`: the host flushes its queue;
/// - `4`: the guest reads every packet the host wrote;
/// - `5 PAGE OFF:u16 LEN BYTES`: the guest writes a ring page.
///
/// Until the guest writes a ring page itself (or gives a page twice),
/// each side must read exactly the packets the other wrote, in order.
pub fn host_ring(data: &[u8]) {
    quiet();
    let mut s = Script::new(data);
    let ram = anonymous(RING_RAM_PAGES * PAGE);
    let g2h_n = usize::from(s.u8() % 4) + 2;
    let h2g_n = usize::from(s.u8() % 4) + 2;
    let pfns: Vec<u64> = (0..g2h_n + h2g_n)
        .map(|_| u64::from(s.u8()) % RING_RAM_PAGES)
        .collect();
    let Some((g2h, h2g)) = RingPages::split(&pfns, g2h_n) else {
        return;
    };
    if s.u8() & 1 != 0 {
        guest_ring_init(&ram, &g2h);
        guest_ring_init(&ram, &h2g);
    }
    let Ok(mut rings) = ChannelRings::new(&ram, &pfns, g2h_n) else {
        return;
    };
    let mut distinct = pfns.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let mut exact = distinct.len() == pfns.len();
    let mut from_guest: VecDeque<Vec<u8>> = VecDeque::new();
    let mut from_host: VecDeque<Vec<u8>> = VecDeque::new();
    let mut trans: u64 = 0;
    let mut ops = 0;
    while !s.is_empty() && ops < MAX_OPS {
        ops += 1;
        match s.u8() % 6 {
            0 => {
                let flags = u16::from(s.u8());
                let payload = s.chunk();
                trans += 1;
                let mut p = vec![0u8; payload.len() + 24];
                let n = encode_inband(&mut p, PacketType::DATA_INBAND, flags, trans, payload)
                    .expect("a small packet");
                p.truncate(n);
                if guest_ring_write(&ram, g2h.clone(), &p) {
                    from_guest.push_back(p);
                }
            }
            1 => {
                let max = usize::from(s.u8() % 8) + 1;
                match rings.read(&ram, max, false) {
                    Ok((packets, _, _)) => {
                        assert!(packets.len() <= max);
                        for p in packets {
                            let _ = packet::parse(&p);
                            let _ = packet_name(&p);
                            if exact {
                                assert_eq!(Some(p), from_guest.pop_front());
                            }
                        }
                    }
                    Err(_) => {
                        assert!(rings.is_dead());
                        assert!(!exact, "the host found a ring corrupt that only we wrote");
                    }
                }
            }
            2 => {
                let payload = s.chunk();
                trans += 1;
                let mut p = vec![0u8; payload.len() + 24];
                let n = encode_inband(&mut p, PacketType::DATA_INBAND, 0, trans, payload)
                    .expect("a small packet");
                p.truncate(n);
                from_host.push_back(p.clone());
                if rings.send(&ram, None, p).is_err() {
                    assert!(!exact, "the host found a ring corrupt that only we wrote");
                }
            }
            3 => {
                if rings.flush(&ram, None).is_err() {
                    assert!(!exact, "the host found a ring corrupt that only we wrote");
                }
            }
            4 => {
                for p in guest_ring_read(&ram, &h2g) {
                    if exact {
                        assert_eq!(Some(p), from_host.pop_front());
                    }
                }
            }
            _ => {
                let page = pfns[usize::from(s.u8()) % pfns.len()];
                let off = u64::from(s.u16()) % PAGE;
                let bytes = s.chunk();
                let n = bytes.len().min((PAGE - off) as usize);
                let _ = ram.write(page * PAGE + off, &bytes[..n]);
                exact = false;
            }
        }
        if exact {
            assert!(rings.queued() <= from_host.len());
        }
    }
}

/// A host file of 7000 bytes of fixed content (two file-copy fragments)
/// for the operator's `fcopy send`, written once per process under the
/// temporary directory.
pub fn fcopy_file() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("vmbus-fuzz-fcopy-{}.bin", std::process::id()));
        let data: Vec<u8> = (0..7000u32).map(|i| (i % 251) as u8).collect();
        // Without the file the copy is refused by the backend, which the
        // target survives as well.
        let _ = std::fs::write(&p, data);
        p.to_string_lossy().into_owned()
    })
}

/// Sub-channels a device may ask for in `host-devices`.
#[derive(Default)]
struct Subs {
    offered: u16,
}

impl SubchannelHost for Subs {
    fn offer_subchannels(&mut self, n: u16) -> u16 {
        let k = n.min(8u16.saturating_sub(self.offered));
        self.offered += k;
        k
    }
}

/// One device backend on an open channel, as the VMBus server drives it.
pub struct DeviceRig {
    /// Guest RAM (for GPA-direct packets).
    pub ram: MemRegion,
    dev: Box<dyn Device>,
    subs: Subs,
    relid: Relid,
}

/// Pages of the `host-devices` guest.
pub const DEVICE_RAM_PAGES: u64 = 8;

impl DeviceRig {
    /// A backend of `kind`, not yet opened.
    pub fn new(kind: DeviceKind) -> Self {
        quiet();
        Self {
            ram: anonymous(DEVICE_RAM_PAGES * PAGE),
            dev: devices::create(kind, rig_device_config()),
            subs: Subs::default(),
            relid: Relid::new(7).expect("a valid relid"),
        }
    }

    /// A rig around `dev`, not yet opened.
    pub fn with_device(dev: Box<dyn Device>) -> Self {
        quiet();
        Self {
            ram: anonymous(DEVICE_RAM_PAGES * PAGE),
            dev,
            subs: Subs::default(),
            relid: Relid::new(7).expect("a valid relid"),
        }
    }

    fn with(&mut self, f: impl FnOnce(&mut dyn Device, &mut ChannelIo<'_>)) -> Vec<Vec<u8>> {
        let mut io = ChannelIo::new(self.relid, &self.ram, Some(&mut self.subs));
        f(self.dev.as_mut(), &mut io);
        let out = io.into_packets();
        for p in &out {
            check_host_packet(p);
        }
        out
    }

    /// The channel opened; returns what the device sent.
    pub fn open(&mut self) -> Vec<Vec<u8>> {
        self.with(|d, io| d.on_open(io))
    }

    /// A packet from the guest, if it parses; returns what the device sent.
    pub fn packet(&mut self, raw: &[u8]) -> Vec<Vec<u8>> {
        let Ok(p) = packet::parse(raw) else {
            return Vec::new();
        };
        self.with(|d, io| d.on_packet(io, &p))
    }

    /// Periodic work.
    pub fn tick(&mut self) -> Vec<Vec<u8>> {
        self.with(|d, io| d.tick(io))
    }

    /// The operator's commands: each device takes its own and ignores
    /// the others. `pick` chooses among each device's requests, so that
    /// every kind of request is made and every kind of answer from the
    /// guest is parsed: a shutdown or a reboot; a KVP enumerate, set, get,
    /// delete or IP query; a VSS freeze, thaw or hot-backup query; a file
    /// copy's results, a copy of an empty file, of a file of two
    /// fragments ([`fcopy_file`]) or one under a name too long. Picks 0
    /// and 1 are the first two of each list.
    pub fn control(&mut self, pick: u8) -> Vec<Vec<u8>> {
        let p = usize::from(pick);
        let shutdown: [&[&str]; 2] = [&[], &["reboot"]];
        let kvp: [&[&str]; 6] = [
            &["enumerate", "auto", "0"],
            &["set", "external", "k", "v"],
            &["get", "auto", "HostName"],
            &["delete", "external", "k"],
            &["ip-info", "00:15:5D:00:00:01"],
            &["enumerate", "guest", "3"],
        ];
        let vss: [&[&str]; 3] = [&["freeze"], &["thaw"], &["hot-backup"]];
        let file = fcopy_file();
        let long = "n".repeat(300);
        let fcopy: [&[&str]; 4] = [
            &["results"],
            &["send", "/dev/null", "/d", "n"],
            &["send", file, "/tmp/in", "two-fragments"],
            &["send", file, "/d", &long],
        ];
        let cmds = [
            ("shutdown-guest", shutdown[p % shutdown.len()]),
            ("kvp", kvp[p % kvp.len()]),
            ("vss", vss[p % vss.len()]),
            ("fcopy", fcopy[p % fcopy.len()]),
        ];
        self.with(|d, io| {
            let mut out = Vec::new();
            for (cmd, args) in cmds {
                let _ = d.control(io, cmd, args, &mut out);
            }
        })
    }

    /// The backend's counters.
    pub fn stats(&self) -> Vec<(&'static str, u64)> {
        self.dev.stats()
    }

    /// The channel closed.
    pub fn close(&mut self) {
        self.dev.on_close();
        let _ = self.dev.stats();
    }
}

/// An operation of the `host-devices` script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceOp<'a> {
    /// `0 LEN:u16 PACKET`: a packet from the guest, as it is.
    Packet(&'a [u8]),
    /// `1 TYPE FLAGS LEN PAYLOAD`: a bare-descriptor packet of `TYPE`
    /// (in-band, completion, or the byte itself).
    Inband {
        /// Packet type selector.
        ptype: u8,
        /// Flags.
        flags: u8,
        /// Payload.
        payload: &'a [u8],
    },
    /// `2`: periodic work.
    Tick,
    /// `3`: close and open again.
    Reopen,
    /// `4 ADDR:u16 LEN BYTES`: the guest writes its RAM.
    Write {
        /// Address (wrapped).
        addr: u16,
        /// Bytes.
        bytes: &'a [u8],
    },
    /// `5 PICK`: the operator's commands ([`DeviceRig::control`]).
    Control {
        /// Which of each device's commands.
        pick: u8,
    },
}

impl<'a> DeviceOp<'a> {
    /// Reads the next operation.
    pub fn read(s: &mut Script<'a>) -> Self {
        match s.u8() % 6 {
            0 => DeviceOp::Packet(s.chunk16()),
            1 => DeviceOp::Inband {
                ptype: s.u8(),
                flags: s.u8(),
                payload: s.chunk(),
            },
            2 => DeviceOp::Tick,
            3 => DeviceOp::Reopen,
            4 => DeviceOp::Write {
                addr: s.u16(),
                bytes: s.chunk(),
            },
            _ => DeviceOp::Control { pick: s.u8() },
        }
    }

    /// Writes the operation.
    pub fn write(&self, w: &mut ScriptWriter) {
        match *self {
            DeviceOp::Packet(p) => {
                w.u8(0).chunk16(p);
            }
            DeviceOp::Inband {
                ptype,
                flags,
                payload,
            } => {
                w.u8(1).u8(ptype).u8(flags).chunk(payload);
            }
            DeviceOp::Tick => {
                w.u8(2);
            }
            DeviceOp::Reopen => {
                w.u8(3);
            }
            DeviceOp::Write { addr, bytes } => {
                w.u8(4).u16(addr).chunk(bytes);
            }
            DeviceOp::Control { pick } => {
                w.u8(5).u8(pick);
            }
        }
    }
}

impl DeviceRig {
    /// Carries out one `host-devices` operation; returns what the device
    /// sent.
    pub fn apply(&mut self, op: &DeviceOp<'_>) -> Vec<Vec<u8>> {
        match *op {
            DeviceOp::Packet(p) => self.packet(p),
            DeviceOp::Inband {
                ptype,
                flags,
                payload,
            } => {
                let t = match ptype % 4 {
                    0 | 1 => PacketType::DATA_INBAND,
                    2 => PacketType::COMP,
                    _ => PacketType(u16::from(ptype)),
                };
                let mut p = vec![0u8; payload.len() + 24];
                match encode_inband(&mut p, t, u16::from(flags), 1, payload) {
                    Ok(n) => self.packet(&p[..n]),
                    Err(_) => Vec::new(),
                }
            }
            DeviceOp::Tick => self.tick(),
            DeviceOp::Reopen => {
                self.close();
                self.open()
            }
            DeviceOp::Write { addr, bytes } => {
                write_clipped(&self.ram, u64::from(addr), bytes);
                Vec::new()
            }
            DeviceOp::Control { pick } => self.control(pick),
        }
    }
}

/// `host-devices`: the first byte picks the backend (heartbeat, shutdown,
/// time sync, echo, KVP, VSS, file copy), which is opened; the rest is a script of
/// [`DeviceOp`]s. Every packet the backend sends must parse.
pub fn host_devices(data: &[u8]) {
    run_devices(data);
}

/// Runs a `host-devices` script; returns the backend's counters.
pub fn run_devices(data: &[u8]) -> Vec<(&'static str, u64)> {
    let mut s = Script::new(data);
    let kind = DeviceKind::ALL[usize::from(s.u8()) % DeviceKind::ALL.len()];
    let mut rig = DeviceRig::new(kind);
    rig.open();
    let mut ops = 0;
    while !s.is_empty() && ops < MAX_OPS {
        ops += 1;
        let op = DeviceOp::read(&mut s);
        rig.apply(&op);
    }
    rig.dev.stats()
}
