// SPDX-License-Identifier: GPL-2.0

//! The seam between the hypervisor emulation (mailbox, SynIC) and the VMBus
//! server: the [`VmbusServer`] trait, the [`GuestCtx`] it gets to reach the
//! guest, and a stub server for phase 1.

use std::fmt;
use std::str::FromStr;

use vmbus_proto::ivshmem::HvStatus;

use crate::guest_mem::MemRegion;
use crate::interrupts::InterruptSink;
use crate::synic::{PostOutcome, Synic, SynicEnv, SynicError};
use crate::trace::Trace;

/// Which real host the server imitates (versions and connection ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Hyper-V/Azure: versions up to 5.3/6.0, message connection id 4.
    Azure,
    /// QEMU's vmbus-bridge: versions up to 4.0, connection id 1.
    Qemu,
    /// An old Hyper-V host: pre-5.0 versions only.
    Old,
    /// Windows Server 2012: version 2.4 only, connection id 1, and no
    /// `UNLOAD` (it arrived with 3.0).
    Ws2012,
}

impl Profile {
    /// Every profile, in `--help` order.
    pub const ALL: [Profile; 3] = [Profile::Azure, Profile::Qemu, Profile::Old];

    /// The versions it accepts and its message connection id, for `--help`.
    pub fn describe(self) -> String {
        let hp = crate::vmbus::negotiation::host_profile(self);
        let versions: Vec<String> = hp
            .versions
            .iter()
            .map(|v| format!("{}.{}", v.major(), v.minor()))
            .collect();
        let id = if hp.has_connection_id_4 {
            format!(
                "INITIATE_CONTACT on connection id 4 or 1, messages then on {}",
                hp.msg_conn_id
            )
        } else {
            format!(
                "INITIATE_CONTACT on connection id 1 only, messages on {}",
                hp.msg_conn_id
            )
        };
        format!("versions {}; {}", versions.join(" "), id)
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "azure" => Ok(Profile::Azure),
            "qemu" => Ok(Profile::Qemu),
            "old" => Ok(Profile::Old),
            "ws2012" => Ok(Profile::Ws2012),
            _ => Err(format!("unknown profile {s:?} (azure, qemu, old, ws2012)")),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Azure => "azure",
            Profile::Qemu => "qemu",
            Profile::Old => "old",
            Profile::Ws2012 => "ws2012",
        })
    }
}

/// A message the guest posted with HvPostMessage, validated and copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestMessage {
    /// The vCPU it was posted on.
    pub vcpu: u32,
    /// Target connection id.
    pub connection_id: u32,
    /// Message type (non-zero, high bit clear).
    pub message_type: u32,
    /// Payload, at most 240 bytes.
    pub payload: Vec<u8>,
}

/// Why the server state is being reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetReason {
    /// A guest driver said HELLO.
    Hello,
    /// The guest driver said GOODBYE.
    Goodbye,
    /// The guest (QEMU) disconnected.
    Disconnect,
}

/// What the server may do to the guest: post messages into SynIC slots,
/// set event flags, and read or write guest RAM (ring buffers, GPADLs,
/// monitor pages).
pub struct GuestCtx<'a> {
    /// Guest RAM, addressed by guest physical address.
    pub mem: &'a MemRegion,
    /// The SynIC emulation.
    pub synic: &'a mut Synic,
    /// Interrupts into the guest.
    pub irq: &'a dyn InterruptSink,
    /// The trace file.
    pub trace: &'a Trace,
}

impl GuestCtx<'_> {
    /// Posts a message to the guest's `sint` on `vcpu` (Hyper-V slot
    /// semantics; queued while the slot is busy).
    pub fn post_to_guest(
        &mut self,
        vcpu: u32,
        sint: u32,
        message_type: u32,
        payload: &[u8],
    ) -> Result<PostOutcome, SynicError> {
        let env = SynicEnv {
            mem: self.mem,
            irq: self.irq,
            trace: self.trace,
        };
        self.synic.post(&env, vcpu, sint, message_type, payload)
    }

    /// Posts the host's last message to this guest (see
    /// [`Synic::post_last`]): nothing is written to its memory after it.
    pub fn post_last_to_guest(
        &mut self,
        vcpu: u32,
        sint: u32,
        message_type: u32,
        payload: &[u8],
    ) -> Result<PostOutcome, SynicError> {
        let env = SynicEnv {
            mem: self.mem,
            irq: self.irq,
            trace: self.trace,
        };
        self.synic
            .post_last(&env, vcpu, sint, message_type, payload)
    }

    /// Sets event flag `bit` of `sint` on `vcpu`, interrupting the guest
    /// if the flag was clear.
    pub fn signal_guest(&mut self, vcpu: u32, sint: u32, bit: u32) -> Result<bool, SynicError> {
        let env = SynicEnv {
            mem: self.mem,
            irq: self.irq,
            trace: self.trace,
        };
        self.synic.signal(&env, vcpu, sint, bit)
    }

    /// Raises the vCPU's interrupt without setting any flag.
    pub fn raise(&mut self, vcpu: u32) -> Result<u16, SynicError> {
        let env = SynicEnv {
            mem: self.mem,
            irq: self.irq,
            trace: self.trace,
        };
        self.synic.raise_vcpu(&env, vcpu)
    }
}

/// The outcome of a control command a server handled.
pub type ControlResult = Result<(), String>;

/// The VMBus server: it receives what the guest posts and signals, and
/// answers through a [`GuestCtx`]. Phase 1 has [`StubServer`]; the real
/// VMBus server (version negotiation, offers, channels) implements the same
/// trait.
///
/// The framework calls it from one thread, never re-entrantly.
pub trait VmbusServer {
    /// A short name for logs.
    fn name(&self) -> &'static str;

    /// Whether HvPostMessage to `connection_id` is accepted; `false` makes
    /// the guest's post fail with `INVALID_CONNECTION_ID`.
    fn accepts_message_connection(&self, connection_id: u32) -> bool;

    /// The status a post of `payload` to `connection_id` fails with, if
    /// the hypervisor refuses it (a hostile host); `None` takes it.
    fn refuse_post(&mut self, _connection_id: u32, _payload: &[u8]) -> Option<HvStatus> {
        None
    }

    /// A message the guest posted, in order. Called after the mailbox
    /// request was answered, when the message leaves the bounded queue.
    fn handle_message(&mut self, guest: &mut GuestCtx<'_>, msg: &GuestMessage);

    /// HvSignalEvent from the guest on `vcpu`. An error is returned to the
    /// guest as the hypercall status (e.g. `INVALID_CONNECTION_ID`).
    fn signal_event(
        &mut self,
        guest: &mut GuestCtx<'_>,
        vcpu: u32,
        connection_id: u32,
        flag: u16,
    ) -> Result<(), HvStatus>;

    /// Forget everything about the guest driver.
    fn reset(&mut self, reason: ResetReason);

    /// Periodic work (a few times a second and after every doorbell) while
    /// a guest is connected: polling monitor pages and rings, timeouts.
    fn poll(&mut self, _guest: &mut GuestCtx<'_>) {}

    /// How often [`VmbusServer::poll`] should run when more often than the
    /// host's tick (e.g. 1 ms while monitor pages are polled).
    fn poll_interval(&self) -> Option<std::time::Duration> {
        None
    }

    /// File descriptors whose readiness calls for [`VmbusServer::poll`] at
    /// once (the devices' [`crate::devices::Device::wake_fd`]), added to
    /// the host's event loop.
    fn wake_fds(&self, _out: &mut Vec<std::os::fd::RawFd>) {}

    /// The imitated host changed (control command `set-profile`).
    fn set_profile(&mut self, _profile: Profile) {}

    /// Lines for the control `status` command.
    fn status(&self, _out: &mut Vec<String>) {}

    /// `key=value` lines for the control `stats` command.
    fn stats(&self, _out: &mut Vec<String>) {}

    /// A control command the framework does not know (`list`, `offer`,
    /// ...). `guest` is `None` while no guest is connected. Returns `None`
    /// when the server does not know it either.
    fn control(
        &mut self,
        _guest: Option<&mut GuestCtx<'_>>,
        _cmd: &str,
        _args: &[&str],
        _out: &mut Vec<String>,
    ) -> Option<ControlResult> {
        None
    }
}

/// Hyper-V's message connection id for VMBus before protocol 5.0.
pub const VMBUS_MESSAGE_CONNECTION_ID: u32 = 1;
/// Hyper-V's message connection id for VMBus from protocol 5.0.
pub const VMBUS_MESSAGE_CONNECTION_ID_4: u32 = 4;

/// Phase-1 server: accepts VMBus message connections, logs and drops what
/// it gets, knows no event connections.
pub struct StubServer {
    profile: Profile,
    messages: u64,
}

impl StubServer {
    /// A stub for `profile`.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            messages: 0,
        }
    }
}

impl VmbusServer for StubServer {
    fn name(&self) -> &'static str {
        "stub"
    }

    fn accepts_message_connection(&self, connection_id: u32) -> bool {
        connection_id == VMBUS_MESSAGE_CONNECTION_ID
            || connection_id == VMBUS_MESSAGE_CONNECTION_ID_4
    }

    fn handle_message(&mut self, _guest: &mut GuestCtx<'_>, msg: &GuestMessage) {
        self.messages += 1;
        crate::log_limited!(
            crate::log::Level::Info,
            "stub server: dropping message type {} ({} bytes) on connection {} from vCPU {}",
            msg.message_type,
            msg.payload.len(),
            msg.connection_id,
            msg.vcpu
        );
    }

    fn signal_event(
        &mut self,
        _guest: &mut GuestCtx<'_>,
        _vcpu: u32,
        connection_id: u32,
        flag: u16,
    ) -> Result<(), HvStatus> {
        crate::log_limited!(
            crate::log::Level::Warn,
            "stub server: signal on unknown connection {connection_id} (flag {flag})"
        );
        Err(HvStatus::INVALID_CONNECTION_ID)
    }

    fn reset(&mut self, reason: ResetReason) {
        crate::log_debug!("stub server: reset ({reason:?})");
    }

    fn set_profile(&mut self, profile: Profile) {
        self.profile = profile;
    }

    fn status(&self, out: &mut Vec<String>) {
        out.push(format!(
            "server: stub, profile {}, messages dropped {}",
            self.profile, self.messages
        ));
    }
}
