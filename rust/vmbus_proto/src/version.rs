// SPDX-License-Identifier: GPL-2.0

//! VMBus protocol versions and their negotiation, for both sides.
//!
//! The guest offers versions from newest to oldest ([`GUEST_VERSIONS`]) in
//! `INITIATE_CONTACT` until the host accepts one. The rules, as Linux's
//! `connection.c` applies them:
//!
//! - before 5.0, `INITIATE_CONTACT` and every later message go to
//!   connection id 1, and the message carries the interrupt page address;
//! - from 5.0 on, `INITIATE_CONTACT` goes to connection id 4 (a VTL2 guest
//!   first tries the redirect id), the message names the SINT
//!   ([`VMBUS_MESSAGE_SINT`]) and VTL the host must answer on, and later
//!   messages go to the connection id the host returns in its version
//!   response;
//! - a host that does not know connection id 4 fails the post with
//!   `HV_STATUS_INVALID_CONNECTION_ID`; the guest then goes on with the next
//!   lower version;
//! - a rejected version makes the guest try the next lower one; when none
//!   is left, negotiation fails.
//!
//! [`HostProfile`] is the host side: which versions and connection ids a
//! host accepts, and what it answers.
//!
//! ```
//! use vmbus_proto::version::{ContactConfig, Negotiation, Version};
//!
//! let cfg = ContactConfig::default();
//! let first = Negotiation::start(&cfg).unwrap();
//! assert_eq!(first.version, Version::V6_0);
//! assert_eq!(first.connection_id, 4);
//! ```

use super::message::{ContactRequest, GuestMessage, VersionReply};
use super::wire::channel_msg::TargetInfo;
use super::wire::synic::{
    VMBUS_MESSAGE_CONNECTION_ID, VMBUS_MESSAGE_CONNECTION_ID_4,
    VMBUS_MESSAGE_CONNECTION_ID_REDIRECT, VMBUS_MESSAGE_SINT,
};
use super::wire::Wire;

open_enum! {
    /// A protocol version, `major << 16 | minor`.
    pub struct Version(u32);
    {
        /// 0.13, Windows Server 2008.
        WS2008 = 0x0000_000d,
        /// 1.1, Windows 7 / Server 2008 R2.
        WIN7 = 0x0001_0001,
        /// 2.4, Windows 8 / Server 2012.
        WIN8 = 0x0002_0004,
        /// 3.0, Windows 8.1 / Server 2012 R2.
        WIN8_1 = 0x0003_0000,
        /// 4.0, Windows 10.
        WIN10 = 0x0004_0000,
        /// 4.1, Windows 10 RS3.
        V4_1 = 0x0004_0001,
        /// 5.0, newer Windows 10.
        V5_0 = 0x0005_0000,
        /// 5.1, Windows 10 RS4.
        V5_1 = 0x0005_0001,
        /// 5.2, Windows Server 2019.
        V5_2 = 0x0005_0002,
        /// 5.3, Windows Server 2022.
        V5_3 = 0x0005_0003,
        /// 6.0, confidential VMBus.
        V6_0 = 0x0006_0000,
    }
}

impl Version {
    /// Builds a version from its parts.
    pub const fn new(major: u16, minor: u16) -> Self {
        Self((major as u32) << 16 | minor as u32)
    }

    /// The major part.
    pub const fn major(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The minor part.
    pub const fn minor(self) -> u16 {
        (self.0 & 0xffff) as u16
    }

    /// Whether this version uses connection id 4 and names the SINT in
    /// `INITIATE_CONTACT` (5.0 and later).
    pub const fn uses_target_info(self) -> bool {
        self.0 >= Self::V5_0.0
    }

    /// The connection id `INITIATE_CONTACT` is posted to.
    pub const fn contact_connection_id(self) -> u32 {
        if self.uses_target_info() {
            VMBUS_MESSAGE_CONNECTION_ID_4
        } else {
            VMBUS_MESSAGE_CONNECTION_ID
        }
    }

    /// Whether the host knows `UNLOAD` and answers it (3.0, Windows Server
    /// 2012 R2, and later; Linux sends it to no older host).
    pub const fn has_unload(self) -> bool {
        self.0 >= Self::WIN8_1.0
    }

    /// Whether the host connects Hyper-V sockets (`TL_CONNECT_REQUEST`,
    /// 4.0, Windows 10, and later; Linux's hv_sock refused older hosts).
    pub const fn has_hvsock(self) -> bool {
        self.0 >= Self::WIN10.0
    }

    /// Whether `MODIFY_CHANNEL` exists (4.1 and later).
    pub const fn has_modify_channel(self) -> bool {
        self.0 >= Self::V4_1.0
    }

    /// Whether the host answers `MODIFY_CHANNEL` (5.3 and later).
    pub const fn has_modify_channel_response(self) -> bool {
        self.0 >= Self::V5_3.0
    }

    /// Whether feature flags are exchanged (6.0 and later).
    pub const fn has_feature_flags(self) -> bool {
        self.0 >= Self::V6_0.0
    }
}

impl core::fmt::Display for Version {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}", self.major(), self.minor())
    }
}

/// The versions the guest offers, newest first: every version Linux
/// negotiates (4.0 to 6.0) plus 3.0 and 2.4, which hosts such as QEMU still
/// accept and which deliver channel events through the SynIC event page.
pub const GUEST_VERSIONS: [Version; 9] = [
    Version::V6_0,
    Version::V5_3,
    Version::V5_2,
    Version::V5_1,
    Version::V5_0,
    Version::V4_1,
    Version::WIN10,
    Version::WIN8_1,
    Version::WIN8,
];

/// What the guest puts in `INITIATE_CONTACT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContactConfig {
    /// The newest version to offer.
    pub max_version: Version,
    /// The oldest version to offer.
    pub min_version: Version,
    /// The virtual processor the host sends messages to.
    pub target_vcpu: u32,
    /// The guest's VTL; a VTL2 guest first tries the redirect connection id.
    pub vtl: u8,
    /// GPA of the interrupt page (used before 5.0).
    pub interrupt_page: u64,
    /// GPA of the host → guest monitor page.
    pub monitor_page1: u64,
    /// GPA of the guest → host monitor page.
    pub monitor_page2: u64,
    /// Feature flags to ask for at 6.0.
    pub feature_flags: u32,
}

impl Default for ContactConfig {
    fn default() -> Self {
        Self {
            max_version: Version::V6_0,
            min_version: Version::WIN8,
            target_vcpu: 0,
            vtl: 0,
            interrupt_page: 0,
            monitor_page1: 0,
            monitor_page2: 0,
            feature_flags: 0,
        }
    }
}

/// One `INITIATE_CONTACT` to post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The version asked for.
    pub version: Version,
    /// The connection id to post the message to.
    pub connection_id: u32,
    /// The contents of the message.
    pub request: ContactRequest,
}

impl Attempt {
    /// The message to post.
    pub fn message(&self) -> GuestMessage {
        GuestMessage::InitiateContact(self.request)
    }
}

/// How a negotiation fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NegotiationError {
    /// No version in the configured range (or the host rejected them all).
    NoCommonVersion,
    /// The host accepted but reports a failed connection state.
    ConnectionFailed(u8),
    /// The host accepted 5.0 or later but named an unusable connection id.
    BadConnectionId(u32),
}

/// The outcome of a version response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Connected.
    Accepted {
        /// The version in use.
        version: Version,
        /// The connection id for all later messages.
        msg_conn_id: u32,
        /// Features the host reported (6.0), zero otherwise.
        features: u32,
    },
    /// Try this next.
    Retry(Attempt),
}

/// Guest-side negotiation steps. All functions are pure; the connection
/// state machine keeps the current [`Attempt`].
pub struct Negotiation;

impl Negotiation {
    /// Builds the attempt for `version` on `connection_id`.
    pub fn attempt(cfg: &ContactConfig, version: Version, connection_id: u32) -> Attempt {
        let info = if version.uses_target_info() {
            TargetInfo {
                msg_sint: VMBUS_MESSAGE_SINT,
                msg_vtl: cfg.vtl,
                feature_flags: if version.has_feature_flags() {
                    cfg.feature_flags
                } else {
                    0
                },
            }
            .to_u64()
        } else {
            cfg.interrupt_page
        };
        Attempt {
            version,
            connection_id,
            request: ContactRequest {
                version,
                target_vcpu: cfg.target_vcpu,
                interrupt_page_or_target_info: info,
                monitor_page1: cfg.monitor_page1,
                monitor_page2: cfg.monitor_page2,
            },
        }
    }

    /// The first attempt for `version`: the redirect id for a VTL2 guest
    /// at 5.0 and later, otherwise the version's connection id.
    pub fn first_for(cfg: &ContactConfig, version: Version) -> Attempt {
        let id = if version.uses_target_info() && cfg.vtl == 2 {
            VMBUS_MESSAGE_CONNECTION_ID_REDIRECT
        } else {
            version.contact_connection_id()
        };
        Self::attempt(cfg, version, id)
    }

    /// The newest version in range, lower than `below` if given.
    fn next_version(cfg: &ContactConfig, below: Option<Version>) -> Option<Version> {
        GUEST_VERSIONS
            .iter()
            .copied()
            .find(|&v| v <= cfg.max_version && v >= cfg.min_version && below.is_none_or(|b| v < b))
    }

    /// The first attempt of a negotiation.
    pub fn start(cfg: &ContactConfig) -> Result<Attempt, NegotiationError> {
        let v = Self::next_version(cfg, None).ok_or(NegotiationError::NoCommonVersion)?;
        Ok(Self::first_for(cfg, v))
    }

    /// What to do after `prev` was rejected (by a version response, or by a
    /// post failing with an invalid connection id when `post_failed`).
    pub fn after_rejection(
        cfg: &ContactConfig,
        prev: &Attempt,
        post_failed: bool,
    ) -> Result<Attempt, NegotiationError> {
        if post_failed && prev.connection_id == VMBUS_MESSAGE_CONNECTION_ID_REDIRECT {
            return Ok(Self::attempt(
                cfg,
                prev.version,
                VMBUS_MESSAGE_CONNECTION_ID_4,
            ));
        }
        let v =
            Self::next_version(cfg, Some(prev.version)).ok_or(NegotiationError::NoCommonVersion)?;
        Ok(Self::first_for(cfg, v))
    }

    /// Interprets the host's answer to `prev`.
    pub fn on_reply(
        cfg: &ContactConfig,
        prev: &Attempt,
        reply: &VersionReply,
    ) -> Result<Outcome, NegotiationError> {
        if !reply.supported {
            return Self::after_rejection(cfg, prev, false).map(Outcome::Retry);
        }
        if reply.connection_state != 0 {
            return Err(NegotiationError::ConnectionFailed(reply.connection_state));
        }
        let msg_conn_id = if prev.version.uses_target_info() {
            // Connection ids are 24 bits; zero is never a message port.
            let id = reply.msg_conn_id;
            if id == 0 || id > 0x00ff_ffff {
                return Err(NegotiationError::BadConnectionId(id));
            }
            id
        } else {
            VMBUS_MESSAGE_CONNECTION_ID
        };
        let features = if prev.version.has_feature_flags() {
            reply.supported_features.unwrap_or(0)
        } else {
            0
        };
        Ok(Outcome::Accepted {
            version: prev.version,
            msg_conn_id,
            features,
        })
    }
}

/// What a host accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostProfile {
    /// The versions the host accepts.
    pub versions: &'static [Version],
    /// Whether connection id 4 exists (hosts that know 5.0).
    pub has_connection_id_4: bool,
    /// The connection id returned from 5.0 on.
    pub msg_conn_id: u32,
    /// Features the host supports at 6.0.
    pub features: u32,
}

impl HostProfile {
    /// Hyper-V on Windows Server 2022 and Azure: 2.4 to 5.3.
    pub const HYPERV_2022: Self = Self {
        versions: &[
            Version::WIN8,
            Version::WIN8_1,
            Version::WIN10,
            Version::V4_1,
            Version::V5_0,
            Version::V5_1,
            Version::V5_2,
            Version::V5_3,
        ],
        has_connection_id_4: true,
        msg_conn_id: VMBUS_MESSAGE_CONNECTION_ID_4,
        features: 0,
    };

    /// A current host: 2.4 to 6.0.
    pub const HYPERV_6_0: Self = Self {
        versions: &[
            Version::WIN8,
            Version::WIN8_1,
            Version::WIN10,
            Version::V4_1,
            Version::V5_0,
            Version::V5_1,
            Version::V5_2,
            Version::V5_3,
            Version::V6_0,
        ],
        has_connection_id_4: true,
        msg_conn_id: VMBUS_MESSAGE_CONNECTION_ID_4,
        features: 0,
    };

    /// QEMU's `vmbus-bridge`: up to 4.0, connection id 1 only.
    pub const QEMU: Self = Self {
        versions: &[
            Version::WS2008,
            Version::WIN7,
            Version::WIN8,
            Version::WIN8_1,
            Version::WIN10,
        ],
        has_connection_id_4: false,
        msg_conn_id: VMBUS_MESSAGE_CONNECTION_ID,
        features: 0,
    };

    /// OpenVMM's client-facing requirement: 5.3 and 6.0 only.
    pub const IRON_COPPER: Self = Self {
        versions: &[Version::V5_3, Version::V6_0],
        has_connection_id_4: true,
        msg_conn_id: VMBUS_MESSAGE_CONNECTION_ID_4,
        features: 0,
    };

    /// Whether a post to `connection_id` reaches the VMBus server at all;
    /// otherwise the hypercall fails with an invalid connection id.
    pub fn accepts_connection_id(&self, connection_id: u32) -> bool {
        connection_id == VMBUS_MESSAGE_CONNECTION_ID
            || (self.has_connection_id_4 && connection_id == VMBUS_MESSAGE_CONNECTION_ID_4)
    }

    /// The answer to `req` received on `connection_id`, and the accepted
    /// version if any.
    pub fn answer(
        &self,
        req: &ContactRequest,
        connection_id: u32,
    ) -> (VersionReply, Option<HostAccepted>) {
        let known = self.versions.contains(&req.version);
        let right_port = connection_id == req.version.contact_connection_id();
        if !known || !right_port {
            let reply = VersionReply {
                supported: false,
                connection_state: 0,
                msg_conn_id: 0,
                supported_features: None,
            };
            return (reply, None);
        }
        let v = req.version;
        let info = TargetInfo::from_u64(req.interrupt_page_or_target_info);
        let accepted = HostAccepted {
            version: v,
            target_vcpu: req.target_vcpu,
            sint: if v.uses_target_info() {
                info.msg_sint
            } else {
                VMBUS_MESSAGE_SINT
            },
            vtl: if v.uses_target_info() {
                info.msg_vtl
            } else {
                0
            },
            interrupt_page: if v.uses_target_info() {
                None
            } else {
                Some(req.interrupt_page_or_target_info)
            },
            monitor_page1: req.monitor_page1,
            monitor_page2: req.monitor_page2,
            features: if v.has_feature_flags() {
                info.feature_flags & self.features
            } else {
                0
            },
        };
        let reply = VersionReply {
            supported: true,
            connection_state: 0,
            msg_conn_id: if v.uses_target_info() {
                self.msg_conn_id
            } else {
                v.0
            },
            supported_features: if v.has_feature_flags() {
                Some(self.features)
            } else {
                None
            },
        };
        (reply, Some(accepted))
    }
}

/// What a host learns from an accepted `INITIATE_CONTACT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostAccepted {
    /// The version.
    pub version: Version,
    /// The virtual processor to send messages to.
    pub target_vcpu: u32,
    /// The SINT to send messages on.
    pub sint: u8,
    /// The VTL to send messages to.
    pub vtl: u8,
    /// The interrupt page, before 5.0.
    pub interrupt_page: Option<u64>,
    /// GPA of the host → guest monitor page.
    pub monitor_page1: u64,
    /// GPA of the guest → host monitor page.
    pub monitor_page2: u64,
    /// Features both sides support (6.0).
    pub features: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(profile: &HostProfile, cfg: &ContactConfig) -> Result<(Version, u32), NegotiationError> {
        let mut a = Negotiation::start(cfg)?;
        for _ in 0..32 {
            if !profile.accepts_connection_id(a.connection_id) {
                a = Negotiation::after_rejection(cfg, &a, true)?;
                continue;
            }
            let GuestMessage::InitiateContact(req) = a.message() else {
                panic!("not a contact");
            };
            let (reply, _) = profile.answer(&req, a.connection_id);
            match Negotiation::on_reply(cfg, &a, &reply)? {
                Outcome::Accepted {
                    version,
                    msg_conn_id,
                    ..
                } => return Ok((version, msg_conn_id)),
                Outcome::Retry(n) => a = n,
            }
        }
        panic!("no end");
    }

    #[test]
    fn against_profiles() {
        let cfg = ContactConfig::default();
        assert_eq!(run(&HostProfile::HYPERV_6_0, &cfg), Ok((Version::V6_0, 4)));
        assert_eq!(run(&HostProfile::HYPERV_2022, &cfg), Ok((Version::V5_3, 4)));
        assert_eq!(run(&HostProfile::QEMU, &cfg), Ok((Version::WIN10, 1)));
        assert_eq!(run(&HostProfile::IRON_COPPER, &cfg), Ok((Version::V6_0, 4)));
        let old = ContactConfig {
            max_version: Version::V5_2,
            ..cfg
        };
        assert_eq!(
            run(&HostProfile::IRON_COPPER, &old),
            Err(NegotiationError::NoCommonVersion)
        );
        let vtl2 = ContactConfig { vtl: 2, ..cfg };
        assert_eq!(
            run(&HostProfile::HYPERV_2022, &vtl2),
            Ok((Version::V5_3, 4))
        );
    }

    #[test]
    fn message_contents() {
        let cfg = ContactConfig {
            interrupt_page: 0x5000,
            feature_flags: 0x10,
            ..ContactConfig::default()
        };
        let a = Negotiation::first_for(&cfg, Version::V6_0);
        let r = a.request;
        assert_eq!(
            TargetInfo::from_u64(r.interrupt_page_or_target_info).msg_sint,
            2
        );
        assert_eq!(
            TargetInfo::from_u64(r.interrupt_page_or_target_info).feature_flags,
            0x10
        );
        let a = Negotiation::first_for(&cfg, Version::V5_3);
        let r = a.request;
        assert_eq!(
            TargetInfo::from_u64(r.interrupt_page_or_target_info).feature_flags,
            0
        );
        let a = Negotiation::first_for(&cfg, Version::WIN10);
        assert_eq!(a.connection_id, 1);
        let r = a.request;
        assert_eq!(r.interrupt_page_or_target_info, 0x5000);
    }

    #[test]
    fn nonsense_replies() {
        let cfg = ContactConfig::default();
        let a = Negotiation::start(&cfg).unwrap();
        let mut reply = VersionReply {
            supported: true,
            connection_state: 0,
            msg_conn_id: 0,
            supported_features: None,
        };
        assert_eq!(
            Negotiation::on_reply(&cfg, &a, &reply),
            Err(NegotiationError::BadConnectionId(0))
        );
        reply.msg_conn_id = 0x0100_0000;
        assert_eq!(
            Negotiation::on_reply(&cfg, &a, &reply),
            Err(NegotiationError::BadConnectionId(0x0100_0000))
        );
        reply.msg_conn_id = 4;
        reply.connection_state = 2;
        assert_eq!(
            Negotiation::on_reply(&cfg, &a, &reply),
            Err(NegotiationError::ConnectionFailed(2))
        );
    }

    #[test]
    fn display() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(Version::V5_3.to_string(), "5.3");
        assert_eq!(Version::new(2, 4), Version::WIN8);
    }
}
