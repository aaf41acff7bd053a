// SPDX-License-Identifier: GPL-2.0

//! What the host does for each mailbox command (the hypercalls and MSR
//! writes of real Hyper-V): validation of every argument, the action, and
//! the status and result returned to the guest.

use std::collections::BTreeMap;
use std::fmt;

use vmbus_proto::ivshmem::{self, Command, HvStatus, Request};

use crate::gmem_watch::{seal_traced, unseal_traced};
use crate::guest_mem::{MemError, MemRegion};
use crate::interrupts::InterruptSink;
use crate::msg_queue::MsgQueue;
use crate::server::{GuestCtx, GuestMessage, ResetReason, VmbusServer};
use crate::synic::{Synic, SynicEnv, SynicError, MAX_VCPUS, MSG_PAYLOAD_MAX};
use crate::trace::{Dir, Trace};

/// Largest PING buffer.
pub const PING_MAX: u64 = 4096;

/// The name of a command, for logs, stats and the trace.
pub fn command_name(c: Command) -> &'static str {
    match c {
        Command::POST_MESSAGE => "POST_MESSAGE",
        Command::SIGNAL_EVENT => "SIGNAL_EVENT",
        Command::SYNIC_SETUP => "SYNIC_SETUP",
        Command::EOM => "EOM",
        Command::PING => "PING",
        Command::HELLO => "HELLO",
        Command::GOODBYE => "GOODBYE",
        _ => "UNKNOWN",
    }
}

/// The name of a status, for logs and stats.
pub fn status_name(s: HvStatus) -> &'static str {
    match s {
        HvStatus::SUCCESS => "SUCCESS",
        HvStatus::INVALID_HYPERCALL_CODE => "INVALID_HYPERCALL_CODE",
        HvStatus::INVALID_ALIGNMENT => "INVALID_ALIGNMENT",
        HvStatus::INVALID_PARAMETER => "INVALID_PARAMETER",
        HvStatus::ACCESS_DENIED => "ACCESS_DENIED",
        HvStatus::INVALID_PORT_ID => "INVALID_PORT_ID",
        HvStatus::INVALID_CONNECTION_ID => "INVALID_CONNECTION_ID",
        HvStatus::INSUFFICIENT_MEMORY => "INSUFFICIENT_MEMORY",
        HvStatus::INSUFFICIENT_BUFFERS => "INSUFFICIENT_BUFFERS",
        _ => "OTHER",
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum HcallError {
    /// The command code is unknown.
    UnknownCommand(u32),
    /// A guest address range is outside guest RAM.
    Mem(MemError),
    /// A length is out of its range.
    BadLength(u64),
    /// An MSI-X vector the device does not have.
    BadVector(u64),
    /// A vCPU count out of range.
    BadVcpuCount(u64),
    /// A value does not fit its field.
    BadValue(&'static str, u64),
    /// Post-message payload size over 240.
    BadPayloadSize(u32),
    /// Message type 0 or with the high bit set.
    BadMessageType(u32),
    /// A reserved field is not zero.
    Reserved,
    /// No one listens on the connection id.
    UnknownConnection(u32),
    /// The message queue is full.
    QueueFull,
    /// The SynIC refused.
    Synic(SynicError),
    /// The server refused with this status.
    Server(HvStatus),
    /// The mailbox could not be decoded.
    Malformed,
}

impl HcallError {
    /// The status the guest gets.
    pub fn status(&self) -> HvStatus {
        match self {
            HcallError::UnknownCommand(_) => HvStatus::INVALID_HYPERCALL_CODE,
            HcallError::UnknownConnection(_) => HvStatus::INVALID_CONNECTION_ID,
            HcallError::QueueFull | HcallError::Synic(SynicError::QueueFull) => {
                HvStatus::INSUFFICIENT_BUFFERS
            }
            HcallError::Server(s) => *s,
            _ => HvStatus::INVALID_PARAMETER,
        }
    }
}

impl fmt::Display for HcallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HcallError::UnknownCommand(c) => write!(f, "unknown command {c}"),
            HcallError::Mem(e) => write!(f, "guest memory: {e}"),
            HcallError::BadLength(l) => write!(f, "length {l} out of range"),
            HcallError::BadVector(v) => write!(f, "no MSI-X vector {v}"),
            HcallError::BadVcpuCount(n) => write!(f, "vCPU count {n} out of range"),
            HcallError::BadValue(what, v) => write!(f, "{what} {v:#x} out of range"),
            HcallError::BadPayloadSize(n) => {
                write!(f, "payload size {n} exceeds {MSG_PAYLOAD_MAX}")
            }
            HcallError::BadMessageType(t) => write!(f, "invalid message type {t:#x}"),
            HcallError::Reserved => write!(f, "reserved field not zero"),
            HcallError::UnknownConnection(c) => write!(f, "unknown connection id {c}"),
            HcallError::QueueFull => write!(f, "message queue full"),
            HcallError::Synic(e) => write!(f, "{e}"),
            HcallError::Server(s) => write!(f, "server refused: {}", status_name(*s)),
            HcallError::Malformed => write!(f, "malformed mailbox"),
        }
    }
}

impl From<MemError> for HcallError {
    fn from(e: MemError) -> Self {
        HcallError::Mem(e)
    }
}

impl From<SynicError> for HcallError {
    fn from(e: SynicError) -> Self {
        HcallError::Synic(e)
    }
}

/// A successful request: its result, and an interrupt to raise once the
/// response is visible to the guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Done {
    /// The `result` word.
    pub result: u64,
    /// MSI-X vector to raise after responding.
    pub raise_after: Option<u16>,
}

/// Counters of mailbox requests.
#[derive(Clone, Debug, Default)]
pub struct HcallStats {
    /// Requests served, by command name.
    pub by_command: BTreeMap<&'static str, u64>,
    /// Responses, by status name.
    pub by_status: BTreeMap<&'static str, u64>,
    /// Nanoseconds spent serving requests, by command name: for the
    /// benchmark's profile of a round trip (the host's share of it).
    pub busy_ns: BTreeMap<&'static str, u64>,
    /// Messages the guest posted that were accepted.
    pub messages_in: u64,
    /// Events the guest signalled that were accepted.
    pub events_in: u64,
}

/// The hypervisor side of one guest: SynIC, the message queue, what HELLO
/// said, and counters.
pub struct Hypervisor {
    /// SynIC emulation.
    pub synic: Synic,
    /// Guest-posted messages waiting for the server.
    pub queue: MsgQueue,
    /// The layout version from HELLO.
    pub guest_version: Option<u32>,
    /// The vCPU count from HELLO.
    pub guest_vcpus: Option<u32>,
    /// Counters.
    pub stats: HcallStats,
}

/// What a request needs from the environment.
pub struct HcallEnv<'a> {
    /// Guest RAM.
    pub mem: &'a MemRegion,
    /// Guest interrupts.
    pub irq: &'a dyn InterruptSink,
    /// The trace.
    pub trace: &'a Trace,
}

fn u32_arg(what: &'static str, v: u64) -> Result<u32, HcallError> {
    u32::try_from(v).map_err(|_| HcallError::BadValue(what, v))
}

fn le32(d: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&d[off..off + 4]);
    u32::from_le_bytes(a)
}

impl Hypervisor {
    /// HvSignalEvent on `connection_id` (a mailbox request, or an entry of
    /// the signal ring).
    pub fn signal(
        &mut self,
        env: &HcallEnv<'_>,
        server: &mut dyn VmbusServer,
        vcpu: u32,
        connection_id: u32,
        flag: u16,
    ) -> Result<(), HcallError> {
        let mut g = GuestCtx {
            mem: env.mem,
            synic: &mut self.synic,
            irq: env.irq,
            trace: env.trace,
        };
        server
            .signal_event(&mut g, vcpu, connection_id, flag)
            .map_err(|s| {
                if s == HvStatus::INVALID_CONNECTION_ID {
                    HcallError::UnknownConnection(connection_id)
                } else {
                    HcallError::Server(s)
                }
            })?;
        self.stats.events_in += 1;
        Ok(())
    }

    /// Fresh state with a message queue of `queue_capacity`.
    pub fn new(queue_capacity: usize) -> Self {
        Self {
            synic: Synic::new(),
            queue: MsgQueue::new(queue_capacity),
            guest_version: None,
            guest_vcpus: None,
            stats: HcallStats::default(),
        }
    }

    fn forget_guest(&mut self) {
        self.synic.reset();
        self.queue.clear();
        self.guest_version = None;
        self.guest_vcpus = None;
    }

    /// Carries out `req` and returns the result or the error to report.
    pub fn handle(
        &mut self,
        env: &HcallEnv<'_>,
        server: &mut dyn VmbusServer,
        req: &Request,
    ) -> Result<Done, HcallError> {
        *self
            .stats
            .by_command
            .entry(command_name(req.cmd))
            .or_insert(0) += 1;
        let senv = SynicEnv {
            mem: env.mem,
            irq: env.irq,
            trace: env.trace,
        };
        match req.cmd {
            Command::PING => ping(env, req),
            Command::HELLO => {
                let version = u32_arg("version", req.args[0])?;
                let vcpus = req.args[1];
                if vcpus == 0 || vcpus > u64::from(MAX_VCPUS) {
                    return Err(HcallError::BadVcpuCount(vcpus));
                }
                if version >> 16 != u32::from(ivshmem::VERSION_MAJOR) {
                    crate::log_warn!(
                        "guest speaks mailbox layout {}.{}, host {}.{}",
                        version >> 16,
                        version & 0xffff,
                        ivshmem::VERSION_MAJOR,
                        ivshmem::VERSION_MINOR
                    );
                }
                self.forget_guest();
                server.reset(ResetReason::Hello);
                // A new guest driver: the memory it hands over is its own.
                unseal_traced(env.mem.watch(), env.trace, "HELLO");
                self.guest_version = Some(version);
                self.guest_vcpus = Some(vcpus as u32);
                self.synic.set_vcpu_limit(vcpus as u32);
                crate::log_info!(
                    "guest driver attached: layout {}.{}, {vcpus} vCPUs",
                    version >> 16,
                    version & 0xffff
                );
                Ok(Done {
                    result: u64::from(ivshmem::VERSION_MAJOR) << 16
                        | u64::from(ivshmem::VERSION_MINOR),
                    raise_after: None,
                })
            }
            Command::GOODBYE => {
                self.forget_guest();
                server.reset(ResetReason::Goodbye);
                seal_traced(env.mem.watch(), env.trace);
                crate::log_info!("guest driver detached");
                Ok(Done::default())
            }
            Command::SYNIC_SETUP => {
                // SynIC pages handed over (anew, after an unload): the
                // guest gives memory to the host again.
                if req.args[0] & 1 != 0 {
                    unseal_traced(env.mem.watch(), env.trace, "SynIC set-up");
                }
                self.synic.setup(
                    &senv,
                    req.vcpu,
                    req.args[0],
                    req.args[1],
                    req.args[2],
                    req.args[3],
                )?;
                crate::log_debug!(
                    "vCPU {}: SIMP {:#x} SIEFP {:#x} SINT {} vector {:#x}",
                    req.vcpu,
                    req.args[0],
                    req.args[1],
                    req.args[2],
                    req.args[3]
                );
                Ok(Done::default())
            }
            Command::EOM => {
                self.synic.eom(&senv, req.vcpu)?;
                Ok(Done::default())
            }
            Command::POST_MESSAGE => {
                let d = &req.data;
                let connection_id = le32(d, 0);
                let reserved = le32(d, 4);
                let message_type = le32(d, 8);
                let size = le32(d, 12);
                if size as usize > MSG_PAYLOAD_MAX {
                    return Err(HcallError::BadPayloadSize(size));
                }
                if message_type == 0 || message_type & 0x8000_0000 != 0 {
                    return Err(HcallError::BadMessageType(message_type));
                }
                if reserved != 0 {
                    return Err(HcallError::Reserved);
                }
                if !server.accepts_message_connection(connection_id) {
                    return Err(HcallError::UnknownConnection(connection_id));
                }
                let payload = d[16..16 + size as usize].to_vec();
                if let Some(st) = server.refuse_post(connection_id, &payload) {
                    return Err(HcallError::Server(st));
                }
                self.queue
                    .push(GuestMessage {
                        vcpu: req.vcpu,
                        connection_id,
                        message_type,
                        payload,
                    })
                    .map_err(|_| HcallError::QueueFull)?;
                self.stats.messages_in += 1;
                Ok(Done::default())
            }
            Command::SIGNAL_EVENT => {
                let connection_id = u32_arg("connection id", req.args[0])?;
                let flag = u16::try_from(req.args[1])
                    .map_err(|_| HcallError::BadValue("flag number", req.args[1]))?;
                self.signal(env, server, req.vcpu, connection_id, flag)?;
                Ok(Done::default())
            }
            other => Err(HcallError::UnknownCommand(other.0)),
        }
    }

    /// Records the status of a response.
    pub fn count_status(&mut self, s: HvStatus) {
        *self.stats.by_status.entry(status_name(s)).or_insert(0) += 1;
    }

    /// Hands queued guest messages to the server, oldest first.
    pub fn drain_messages(&mut self, env: &HcallEnv<'_>, server: &mut dyn VmbusServer) {
        while let Some(m) = self.queue.pop() {
            if env.trace.enabled() {
                let mut b = Vec::with_capacity(12 + m.payload.len());
                b.extend_from_slice(&m.connection_id.to_le_bytes());
                b.extend_from_slice(&m.message_type.to_le_bytes());
                b.extend_from_slice(&(m.payload.len() as u32).to_le_bytes());
                b.extend_from_slice(&m.payload);
                env.trace
                    .event(Dir::G2h, None, &format!("msg-{}", m.message_type), &b);
            }
            let mut g = GuestCtx {
                mem: env.mem,
                synic: &mut self.synic,
                irq: env.irq,
                trace: env.trace,
            };
            server.handle_message(&mut g, &m);
        }
    }
}

/// PING: complement `args[1]` bytes at GPA `args[0]`, return their sum and
/// the cookie, raise vector `args[2]` after responding.
fn ping(env: &HcallEnv<'_>, req: &Request) -> Result<Done, HcallError> {
    let [gpa, len, vector, cookie] = req.args;
    if len == 0 || len > PING_MAX {
        return Err(HcallError::BadLength(len));
    }
    if vector >= u64::from(env.irq.num_vectors()) {
        return Err(HcallError::BadVector(vector));
    }
    let mut buf = vec![0u8; len as usize];
    env.mem.read(gpa, &mut buf)?;
    let sum: u32 = buf.iter().map(|&b| u32::from(b)).sum();
    for b in buf.iter_mut() {
        *b = !*b;
    }
    env.mem.write(gpa, &buf)?;
    Ok(Done {
        result: u64::from(sum) | (cookie & 0xffff_ffff) << 32,
        raise_after: Some(vector as u16),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupts::RecordingIrqs;
    use crate::server::{Profile, StubServer};

    struct Rig {
        mem: MemRegion,
        irq: RecordingIrqs,
        trace: Trace,
        hv: Hypervisor,
        server: StubServer,
    }

    impl Rig {
        fn new() -> Self {
            Self {
                mem: MemRegion::anonymous(0x20000).unwrap(),
                irq: RecordingIrqs::new(4),
                trace: Trace::disabled(),
                hv: Hypervisor::new(2),
                server: StubServer::new(Profile::Azure),
            }
        }
        fn run(
            &mut self,
            cmd: Command,
            vcpu: u32,
            args: [u64; 4],
            data: &[u8],
        ) -> Result<Done, HvStatus> {
            let mut d = [0u8; ivshmem::MAILBOX_DATA_SIZE];
            d[..data.len()].copy_from_slice(data);
            let req = Request {
                seq: 1,
                cmd,
                vcpu,
                args,
                data: d,
            };
            let env = HcallEnv {
                mem: &self.mem,
                irq: &self.irq,
                trace: &self.trace,
            };
            self.hv
                .handle(&env, &mut self.server, &req)
                .map_err(|e| e.status())
        }
    }

    fn post_input(conn: u32, reserved: u32, ty: u32, size: u32) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [conn, reserved, ty, size] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v
    }

    #[test]
    fn ping_complements_and_sums() {
        let mut r = Rig::new();
        r.mem.write(0x1000, &[1, 2, 0xff]).unwrap();
        let d = r
            .run(Command::PING, 0, [0x1000, 3, 2, 0x1_cafe_f00d], &[])
            .unwrap();
        assert_eq!(d.result, 0x102 | 0xcafe_f00d << 32);
        assert_eq!(d.raise_after, Some(2));
        let mut b = [0u8; 4];
        r.mem.read(0x1000, &mut b).unwrap();
        assert_eq!(b, [0xfe, 0xfd, 0, 0]);
    }

    #[test]
    fn ping_validates() {
        let mut r = Rig::new();
        let bad = Err(HvStatus::INVALID_PARAMETER);
        assert_eq!(r.run(Command::PING, 0, [0, 0, 0, 0], &[]), bad);
        assert_eq!(r.run(Command::PING, 0, [0, 4097, 0, 0], &[]), bad);
        assert_eq!(r.run(Command::PING, 0, [0, 1, 4, 0], &[]), bad);
        assert_eq!(r.run(Command::PING, 0, [0x1ffff, 2, 0, 0], &[]), bad);
        assert_eq!(r.run(Command::PING, 0, [u64::MAX, 2, 0, 0], &[]), bad);
        assert!(r.run(Command::PING, 0, [0x1ffff, 1, 0, 0], &[]).is_ok());
    }

    #[test]
    fn unknown_command() {
        let mut r = Rig::new();
        assert_eq!(
            r.run(Command(99), 0, [0; 4], &[]),
            Err(HvStatus::INVALID_HYPERCALL_CODE)
        );
        assert_eq!(r.hv.stats.by_command.get("UNKNOWN"), Some(&1));
    }

    #[test]
    fn hello_and_goodbye() {
        let mut r = Rig::new();
        assert_eq!(
            r.run(Command::HELLO, 0, [1 << 16, 0, 0, 0], &[]),
            Err(HvStatus::INVALID_PARAMETER)
        );
        let ours = u64::from(ivshmem::VERSION_MAJOR) << 16 | u64::from(ivshmem::VERSION_MINOR);
        let d = r.run(Command::HELLO, 0, [ours, 2, 0, 0], &[]).unwrap();
        assert_eq!(d.result, ours);
        assert_eq!(r.hv.guest_vcpus, Some(2));
        // vCPU 2 does not exist now.
        assert_eq!(
            r.run(Command::SYNIC_SETUP, 2, [0x3001, 0x4001, 2, 0], &[]),
            Err(HvStatus::INVALID_PARAMETER)
        );
        r.run(Command::SYNIC_SETUP, 1, [0x3001, 0x4001, 2, 0], &[])
            .unwrap();
        assert_eq!(r.hv.synic.vcpus_set_up(), vec![1]);
        r.run(Command::GOODBYE, 0, [0; 4], &[]).unwrap();
        assert!(r.hv.synic.vcpus_set_up().is_empty());
        assert_eq!(r.hv.guest_vcpus, None);
    }

    #[test]
    fn post_message_validation_and_queue() {
        let mut r = Rig::new();
        let mut input = post_input(4, 0, 1, 3);
        input.extend_from_slice(&[7, 8, 9]);
        r.run(Command::POST_MESSAGE, 0, [0; 4], &input).unwrap();
        r.run(Command::POST_MESSAGE, 0, [0; 4], &input).unwrap();
        // Queue of 2 is full.
        assert_eq!(
            r.run(Command::POST_MESSAGE, 0, [0; 4], &input),
            Err(HvStatus::INSUFFICIENT_BUFFERS)
        );
        assert_eq!(r.hv.queue.len(), 2);
        let m = r.hv.queue.pop().unwrap();
        assert_eq!(
            (m.connection_id, m.message_type, m.payload),
            (4, 1, vec![7, 8, 9])
        );
        let env = HcallEnv {
            mem: &r.mem,
            irq: &r.irq,
            trace: &r.trace,
        };
        r.hv.drain_messages(&env, &mut r.server);
        assert!(r.hv.queue.is_empty());
        let bad = Err(HvStatus::INVALID_PARAMETER);
        assert_eq!(
            r.run(Command::POST_MESSAGE, 0, [0; 4], &post_input(4, 0, 1, 241)),
            bad
        );
        assert_eq!(
            r.run(Command::POST_MESSAGE, 0, [0; 4], &post_input(4, 0, 0, 0)),
            bad
        );
        assert_eq!(
            r.run(
                Command::POST_MESSAGE,
                0,
                [0; 4],
                &post_input(4, 0, 0x8000_0001, 0)
            ),
            bad
        );
        assert_eq!(
            r.run(Command::POST_MESSAGE, 0, [0; 4], &post_input(4, 1, 1, 0)),
            bad
        );
        assert_eq!(
            r.run(Command::POST_MESSAGE, 0, [0; 4], &post_input(77, 0, 1, 0)),
            Err(HvStatus::INVALID_CONNECTION_ID)
        );
        assert!(r
            .run(Command::POST_MESSAGE, 0, [0; 4], &post_input(1, 0, 1, 240))
            .is_ok());
    }

    #[test]
    fn signal_event_goes_to_server() {
        let mut r = Rig::new();
        assert_eq!(
            r.run(Command::SIGNAL_EVENT, 0, [0x2_0001, 0, 0, 0], &[]),
            Err(HvStatus::INVALID_CONNECTION_ID)
        );
        assert_eq!(
            r.run(Command::SIGNAL_EVENT, 0, [1 << 40, 0, 0, 0], &[]),
            Err(HvStatus::INVALID_PARAMETER)
        );
        assert_eq!(
            r.run(Command::SIGNAL_EVENT, 0, [1, 1 << 16, 0, 0], &[]),
            Err(HvStatus::INVALID_PARAMETER)
        );
    }

    #[test]
    fn eom_and_setup_errors_are_parameters() {
        let mut r = Rig::new();
        assert!(r.run(Command::EOM, 0, [0; 4], &[]).is_ok());
        assert_eq!(
            r.run(Command::EOM, MAX_VCPUS, [0; 4], &[]),
            Err(HvStatus::INVALID_PARAMETER)
        );
        assert_eq!(
            r.run(Command::SYNIC_SETUP, 0, [0x1_0000_0001, 0, 2, 0], &[]),
            Err(HvStatus::INVALID_PARAMETER)
        );
    }
}
