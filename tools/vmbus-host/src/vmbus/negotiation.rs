// SPDX-License-Identifier: GPL-2.0

//! Version negotiation: which versions and message connection ids each
//! [`Profile`] accepts, and the answer to `INITIATE_CONTACT`.
//!
//! The decision itself is `vmbus_proto`'s [`HostProfile::answer`]; this
//! module adds what only a host with guest RAM can check (the pages the
//! guest names must be in RAM, VTL 0 only, a valid SINT) and where the
//! `VERSION_RESPONSE` goes: the vCPU named in the request and, from 5.0 on,
//! the SINT named in its target info (before 5.0 always
//! [`VMBUS_MESSAGE_SINT`]).

use vmbus_proto::message::{ContactRequest, VersionReply};
use vmbus_proto::version::{HostProfile, Version};
use vmbus_proto::wire::channel_msg::TargetInfo;
use vmbus_proto::wire::synic::VMBUS_MESSAGE_SINT;

use crate::server::{Profile, VMBUS_MESSAGE_CONNECTION_ID};

/// Number of SINTs per vCPU.
const SINT_COUNT: u8 = 16;
/// Guest page size.
const PAGE: u64 = 4096;

/// An old Hyper-V host (Windows Server 2012 R2): 3.0 only, connection id 1.
/// `vmbus_proto` has no such profile, so the host defines it.
pub const OLD_HOST: HostProfile = HostProfile {
    versions: &[Version::WIN8_1],
    has_connection_id_4: false,
    msg_conn_id: VMBUS_MESSAGE_CONNECTION_ID,
    features: 0,
};

/// Windows Server 2012: 2.4 only, connection id 1.
pub const WS2012_HOST: HostProfile = HostProfile {
    versions: &[Version::WIN8],
    has_connection_id_4: false,
    msg_conn_id: VMBUS_MESSAGE_CONNECTION_ID,
    features: 0,
};

/// The `vmbus_proto` profile behind a CLI profile.
pub fn host_profile(p: Profile) -> HostProfile {
    match p {
        Profile::Azure => HostProfile::HYPERV_2022,
        Profile::Qemu => HostProfile::QEMU,
        Profile::Old => OLD_HOST,
        Profile::Ws2012 => WS2012_HOST,
    }
}

/// A negotiated connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The version in use.
    pub version: Version,
    /// The vCPU host → guest messages go to.
    pub vcpu: u32,
    /// The SINT host → guest messages go to.
    pub sint: u32,
    /// The connection id the guest posts later messages to.
    pub msg_conn_id: u32,
    /// Host → guest monitor page (GPA, 0 if none).
    pub monitor_page1: u64,
    /// Guest → host monitor page (GPA, 0 if none).
    pub monitor_page2: u64,
    /// Before 2.4: the guest's interrupt page (GPA, 0 if none); its first
    /// half holds the host → guest channel bits.
    pub interrupt_page: u64,
}

/// Why an otherwise acceptable `INITIATE_CONTACT` is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactError {
    /// The version is not one the profile accepts, or was posted to the
    /// wrong connection id.
    Unsupported,
    /// The named SINT does not exist.
    BadSint(u8),
    /// A VTL other than 0 (this host emulates VTL 0 only).
    BadVtl(u8),
    /// A page that is not a page of guest RAM.
    BadPage(u64),
}

/// The answer to one `INITIATE_CONTACT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContactAnswer {
    /// The `VERSION_RESPONSE` to send.
    pub reply: VersionReply,
    /// Where it goes: vCPU.
    pub vcpu: u32,
    /// Where it goes: SINT.
    pub sint: u32,
    /// The connection, when accepted.
    pub result: Result<Connection, ContactError>,
}

fn page_ok(gpa: u64, ram_len: u64, may_be_zero: bool) -> bool {
    if gpa == 0 {
        return may_be_zero;
    }
    gpa % PAGE == 0 && gpa.checked_add(PAGE).is_some_and(|end| end <= ram_len)
}

/// A `VERSION_RESPONSE` that refuses the version.
pub fn rejected() -> VersionReply {
    VersionReply {
        supported: false,
        connection_state: 0,
        msg_conn_id: 0,
        supported_features: None,
    }
}

/// Answers `req`, received on `connection_id`, for a guest with
/// `ram_len` bytes of RAM.
pub fn answer(
    profile: Profile,
    req: &ContactRequest,
    connection_id: u32,
    ram_len: u64,
) -> ContactAnswer {
    let sint = if req.version.uses_target_info() {
        TargetInfo::from_u64(req.interrupt_page_or_target_info).msg_sint
    } else {
        VMBUS_MESSAGE_SINT
    };
    let mut out = ContactAnswer {
        reply: rejected(),
        vcpu: req.target_vcpu,
        sint: u32::from(sint),
        result: Err(ContactError::Unsupported),
    };
    let (reply, accepted) = host_profile(profile).answer(req, connection_id);
    let Some(acc) = accepted else {
        return out;
    };
    let check = if acc.sint >= SINT_COUNT {
        Err(ContactError::BadSint(acc.sint))
    } else if acc.vtl != 0 {
        Err(ContactError::BadVtl(acc.vtl))
    } else if !page_ok(acc.monitor_page1, ram_len, true) {
        Err(ContactError::BadPage(acc.monitor_page1))
    } else if !page_ok(acc.monitor_page2, ram_len, true) {
        Err(ContactError::BadPage(acc.monitor_page2))
    } else if let Some(p) = acc.interrupt_page.filter(|&p| !page_ok(p, ram_len, true)) {
        Err(ContactError::BadPage(p))
    } else {
        Ok(())
    };
    match check {
        Err(e) => out.result = Err(e),
        Ok(()) => {
            out.reply = reply;
            out.result = Ok(Connection {
                version: acc.version,
                vcpu: acc.target_vcpu,
                sint: u32::from(acc.sint),
                msg_conn_id: if acc.version.uses_target_info() {
                    reply.msg_conn_id
                } else {
                    VMBUS_MESSAGE_CONNECTION_ID
                },
                monitor_page1: acc.monitor_page1,
                monitor_page2: acc.monitor_page2,
                interrupt_page: acc.interrupt_page.unwrap_or(0),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Version, info: u64) -> ContactRequest {
        ContactRequest {
            version: v,
            target_vcpu: 1,
            interrupt_page_or_target_info: info,
            monitor_page1: 0x2000,
            monitor_page2: 0x3000,
        }
    }

    fn ti(sint: u8, vtl: u8) -> u64 {
        TargetInfo {
            msg_sint: sint,
            msg_vtl: vtl,
            feature_flags: 0,
        }
        .to_u64()
    }

    #[test]
    fn profiles() {
        let a = answer(Profile::Azure, &req(Version::V5_3, ti(2, 0)), 4, 1 << 20);
        assert!(a.reply.supported);
        assert_eq!(a.reply.msg_conn_id, 4);
        assert_eq!((a.vcpu, a.sint), (1, 2));
        let a = answer(Profile::Azure, &req(Version::V6_0, ti(2, 0)), 4, 1 << 20);
        assert!(!a.reply.supported);
        assert_eq!(a.result, Err(ContactError::Unsupported));
        let a = answer(Profile::Qemu, &req(Version::V5_0, ti(2, 0)), 4, 1 << 20);
        assert!(!a.reply.supported);
        let a = answer(Profile::Qemu, &req(Version::WIN10, 0), 1, 1 << 20);
        assert!(a.reply.supported);
        assert_eq!(a.reply.msg_conn_id, Version::WIN10.0);
        let a = answer(Profile::Old, &req(Version::WIN10, 0), 1, 1 << 20);
        assert!(!a.reply.supported);
        let a = answer(Profile::Old, &req(Version::WIN8_1, 0), 1, 1 << 20);
        assert!(a.reply.supported);
        assert_eq!(a.result.unwrap().msg_conn_id, 1);
        let a = answer(Profile::Ws2012, &req(Version::WIN8_1, 0), 1, 1 << 20);
        assert!(!a.reply.supported);
        let a = answer(Profile::Ws2012, &req(Version::WIN8, 0), 1, 1 << 20);
        assert!(a.reply.supported);
    }

    #[test]
    fn guest_values_checked() {
        let a = answer(Profile::Azure, &req(Version::V5_3, ti(16, 0)), 4, 1 << 20);
        assert_eq!(a.result, Err(ContactError::BadSint(16)));
        assert!(!a.reply.supported);
        let a = answer(Profile::Azure, &req(Version::V5_3, ti(2, 2)), 4, 1 << 20);
        assert_eq!(a.result, Err(ContactError::BadVtl(2)));
        let mut r = req(Version::V5_3, ti(2, 0));
        r.monitor_page1 = 1 << 20;
        let a = answer(Profile::Azure, &r, 4, 1 << 20);
        assert_eq!(a.result, Err(ContactError::BadPage(1 << 20)));
        r.monitor_page1 = 0x2001;
        let a = answer(Profile::Azure, &r, 4, 1 << 20);
        assert_eq!(a.result, Err(ContactError::BadPage(0x2001)));
        let a = answer(Profile::Qemu, &req(Version::WIN10, u64::MAX), 1, 1 << 20);
        assert_eq!(a.result, Err(ContactError::BadPage(u64::MAX)));
    }
}
