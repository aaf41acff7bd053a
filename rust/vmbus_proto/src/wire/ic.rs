// SPDX-License-Identifier: GPL-2.0

//! Integration component (IC) framework messages: the pipe and IC headers,
//! version negotiation, and the heartbeat, shutdown and time sync bodies.
//!
//! An IC packet's in-band payload is a [`VmbusPipeHdr`], an [`IcMsgHdr`] and
//! a body that depends on [`IcMsgHdr::icmsgtype`].

use super::{PackedU64, Wire};

open_enum! {
    /// `ICMSGTYPE_*`.
    pub struct IcMsgType(u16);
    {
        /// Version negotiation.
        NEGOTIATE = 0,
        /// Heartbeat.
        HEARTBEAT = 1,
        /// Key-value exchange.
        KVPEXCHANGE = 2,
        /// Shutdown.
        SHUTDOWN = 3,
        /// Time synchronisation.
        TIMESYNC = 4,
        /// Volume shadow copy.
        VSS = 5,
        /// File copy.
        FCOPY = 7,
    }
}

/// IC header flag: part of a transaction.
pub const ICMSGHDRFLAG_TRANSACTION: u8 = 1;
/// IC header flag: a request.
pub const ICMSGHDRFLAG_REQUEST: u8 = 2;
/// IC header flag: a response.
pub const ICMSGHDRFLAG_RESPONSE: u8 = 4;

/// Time sync flag: probe.
pub const ICTIMESYNCFLAG_PROBE: u8 = 0;
/// Time sync flag: set the clock.
pub const ICTIMESYNCFLAG_SYNC: u8 = 1;
/// Time sync flag: a sample.
pub const ICTIMESYNCFLAG_SAMPLE: u8 = 2;

/// Difference between the Windows epoch (1601) and the Unix epoch, in
/// 100 ns units.
pub const WLTIMEDELTA: u64 = 116_444_736_000_000_000;

/// Most versions a negotiate message may carry (Linux's limit).
pub const IC_VERSION_NEGOTIATION_MAX_VER_COUNT: usize = 100;

wire_struct! {
    /// `struct vmbuspipe_hdr`.
    pub struct VmbusPipeHdr, size 8;
    {
        /// Pipe flags.
        pub flags: u32,
        /// Size of the message after this header.
        pub msgsize: u32,
    }
}

wire_struct! {
    /// `struct ic_version`.
    pub struct IcVersion, size 4;
    {
        /// Major.
        pub major: u16,
        /// Minor.
        pub minor: u16,
    }
}

impl IcVersion {
    /// A version.
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }
}

wire_struct! {
    /// `struct icmsg_hdr`.
    pub struct IcMsgHdr, size 20;
    {
        /// Framework version.
        pub icverframe: IcVersion,
        /// The message type.
        pub icmsgtype: IcMsgType,
        /// Message version.
        pub icvermsg: IcVersion,
        /// Size of the body.
        pub icmsgsize: u16,
        /// Status (an HRESULT), zero on success.
        pub status: u32,
        /// Transaction id.
        pub ictransaction_id: u8,
        /// `ICMSGHDRFLAG_*`.
        pub icflags: u8,
        /// Reserved.
        pub reserved: [u8; 2],
    }
}

wire_struct! {
    /// `struct icmsg_negotiate` without its versions: `icframe_vercnt`
    /// framework versions then `icmsg_vercnt` message versions follow.
    pub struct IcMsgNegotiate, size 8;
    {
        /// Number of framework versions.
        pub icframe_vercnt: u16,
        /// Number of message versions.
        pub icmsg_vercnt: u16,
        /// Reserved.
        pub reserved: u32,
    }
}

wire_struct! {
    /// `struct heartbeat_msg_data`.
    pub struct HeartbeatMsgData, size 40;
    {
        /// Sequence number; the guest answers with it plus one.
        pub seq_num: u64,
        /// Reserved.
        pub reserved: [u32; 8],
    }
}

/// Bytes of the display message in a shutdown request.
pub const SHUTDOWN_DISPLAY_MESSAGE_SIZE: usize = 2048;

wire_struct! {
    /// `struct shutdown_msg_data`.
    pub struct ShutdownMsgData, size 2060;
    {
        /// Reason code.
        pub reason_code: u32,
        /// Timeout in seconds.
        pub timeout_seconds: u32,
        /// Flags: bit 0 force, bit 1 restart, bit 2 hibernate.
        pub flags: u32,
        /// A message for the user (UTF-16 on Hyper-V).
        pub display_message: [u8; SHUTDOWN_DISPLAY_MESSAGE_SIZE],
    }
}

wire_struct! {
    /// `struct ictimesync_data` (message versions before 4.0).
    pub struct IcTimesyncData, size 25;
    {
        /// Host time, 100 ns units since 1601.
        pub parenttime: PackedU64,
        /// Guest time.
        pub childtime: PackedU64,
        /// Round-trip time.
        pub roundtriptime: PackedU64,
        /// `ICTIMESYNCFLAG_*`.
        pub flags: u8,
    }
}

wire_struct! {
    /// `struct ictimesync_ref_data` (message version 4.0 and later).
    pub struct IcTimesyncRefData, size 22;
    {
        /// Host time, 100 ns units since 1601.
        pub parenttime: PackedU64,
        /// The reference time the host time was taken at.
        pub vmreferencetime: PackedU64,
        /// `ICTIMESYNCFLAG_*`.
        pub flags: u8,
        /// Leap second flags.
        pub leapflags: u8,
        /// Clock stratum.
        pub stratum: u8,
        /// Reserved.
        pub reserved: [u8; 3],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ic_header_bytes() {
        let h = IcMsgHdr {
            icverframe: IcVersion::new(3, 0),
            icmsgtype: IcMsgType::HEARTBEAT,
            icvermsg: IcVersion::new(3, 0),
            icmsgsize: 40,
            status: 0,
            ictransaction_id: 9,
            icflags: ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_REQUEST,
            reserved: [0; 2],
        };
        let mut b = [0u8; 20];
        h.write_to(&mut b).unwrap();
        assert_eq!(
            b,
            [3, 0, 0, 0, 1, 0, 3, 0, 0, 0, 40, 0, 0, 0, 0, 0, 9, 3, 0, 0]
        );
    }

    #[test]
    fn timesync_packed() {
        let t = IcTimesyncData {
            parenttime: PackedU64::new(0x1122),
            childtime: PackedU64::new(0),
            roundtriptime: PackedU64::new(0),
            flags: ICTIMESYNCFLAG_SYNC,
        };
        let mut b = [0u8; 25];
        assert_eq!(t.write_to(&mut b), Some(25));
        assert_eq!(b[0], 0x22);
        assert_eq!(b[24], 1);
    }
}
