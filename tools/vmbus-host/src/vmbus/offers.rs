// SPDX-License-Identifier: GPL-2.0

//! The devices the host offers: their kinds and class GUIDs, the
//! `--device TYPE[:N][:nomonitor][:dedicated]` syntax, stable instance GUIDs, and the
//! `OFFER_CHANNEL` contents.

use std::fmt;
use std::str::FromStr;

use vmbus_proto::message::Offer;
use vmbus_proto::types::{MonitorId, Relid};
use vmbus_proto::wire::channel_msg::{
    ChannelOffer, OFFER_FLAG_NAMED_PIPE_MODE, OFFER_FLAG_TLNPI_PROVIDER, PIPE_TYPE_BYTE,
};
use vmbus_proto::wire::{Guid, Wire};

/// Hyper-V heartbeat IC: `57164f39-9115-4e78-ab55-382f3bd5422d`.
pub const HEARTBEAT_CLASS: Guid = Guid::from_fields(
    0x5716_4f39,
    0x9115,
    0x4e78,
    [0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d],
);
/// Hyper-V shutdown IC: `0e0b6031-5213-4934-818b-38d90ced39db`.
pub const SHUTDOWN_CLASS: Guid = Guid::from_fields(
    0x0e0b_6031,
    0x5213,
    0x4934,
    [0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39, 0xdb],
);
/// Hyper-V time synchronization IC: `9527e630-d0ae-497b-adce-e80ab0175caf`.
pub const TIMESYNC_CLASS: Guid = Guid::from_fields(
    0x9527_e630,
    0xd0ae,
    0x497b,
    [0xad, 0xce, 0xe8, 0x0a, 0xb0, 0x17, 0x5c, 0xaf],
);
/// Hyper-V key-value pair exchange IC: `a9a0f4e7-5a45-4d96-b827-8a841e8c03e6`.
pub const KVP_CLASS: Guid = Guid::from_fields(
    0xa9a0_f4e7,
    0x5a45,
    0x4d96,
    [0xb8, 0x27, 0x8a, 0x84, 0x1e, 0x8c, 0x03, 0xe6],
);
/// Hyper-V volume shadow copy IC: `35fa2e29-ea23-4236-96ae-3a6ebacba440`.
pub const VSS_CLASS: Guid = Guid::from_fields(
    0x35fa_2e29,
    0xea23,
    0x4236,
    [0x96, 0xae, 0x3a, 0x6e, 0xba, 0xcb, 0xa4, 0x40],
);
/// Hyper-V file copy IC: `34d14be3-dee4-41c8-9ae7-6b174977c192`.
pub const FCOPY_CLASS: Guid = Guid::from_fields(
    0x34d1_4be3,
    0xdee4,
    0x41c8,
    [0x9a, 0xe7, 0x6b, 0x17, 0x49, 0x77, 0xc1, 0x92],
);
/// The rvmbus echo/loopback test device, a private class that no real host
/// offers: `2e1c0f5a-8b1d-4a8e-9c3f-72766d627573` (the last six bytes
/// spell "rvmbus").
pub const ECHO_CLASS: Guid = Guid::from_fields(
    0x2e1c_0f5a,
    0x8b1d,
    0x4a8e,
    [0x9c, 0x3f, 0x72, 0x76, 0x6d, 0x62, 0x75, 0x73],
);

/// Hyper-V synthetic SCSI controller (Linux's `hv_storvsc`):
/// `ba6163d9-04a1-4d29-b605-72e2ffb1dc7f`.
pub const SCSI_CLASS: Guid = Guid::from_fields(
    0xba61_63d9,
    0x04a1,
    0x4d29,
    [0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f],
);

/// Hyper-V synthetic network adapter (netvsc):
/// `f8615163-df3e-46c5-913f-f2d2f965ed0e`.
pub const NET_CLASS: Guid = Guid::from_fields(
    0xf861_5163,
    0xdf3e,
    0x46c5,
    [0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e],
);

/// Hyper-V synthetic keyboard (Linux's `hyperv-keyboard`, `HV_KBD_GUID`):
/// `f912ad6d-2b17-48ea-bd65-f927a61c7684`.
pub const KBD_CLASS: Guid = Guid::from_fields(
    0xf912_ad6d,
    0x2b17,
    0x48ea,
    [0xbd, 0x65, 0xf9, 0x27, 0xa6, 0x1c, 0x76, 0x84],
);

/// The hv_sock service id template, `00000000-facb-11e6-bd58-64006a7986d3`:
/// vsock port P is this GUID with its first four bytes P, little-endian
/// (Linux's `union hvs_service_id`). Also the class `list` shows for an
/// hv_sock channel.
pub const HVSOCK_TEMPLATE: Guid = Guid::from_fields(
    0,
    0xfacb,
    0x11e6,
    [0xbd, 0x58, 0x64, 0x00, 0x6a, 0x79, 0x86, 0xd3],
);

/// The hv_sock service id of vsock port `port`.
pub fn hvsock_service_id(port: u32) -> Guid {
    let mut g = HVSOCK_TEMPLATE;
    g.0[..4].copy_from_slice(&port.to_le_bytes());
    g
}

/// The vsock port of an hv_sock service id, if it follows the template.
pub fn hvsock_port(id: Guid) -> Option<u32> {
    (id.0[4..] == HVSOCK_TEMPLATE.0[4..]).then(|| id.data1())
}

/// What makes an offer an hv_sock connection's (Linux's
/// `hvs_open_connection` reads it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipeOffer {
    /// The offer's `if_type`: the service id of the side that listens
    /// (the host's service for a guest's connect, the guest's for the
    /// host's).
    pub if_type: Guid,
    /// Whether the host connects (`user_def[0]` = 1) rather than the
    /// guest (0).
    pub from_host: bool,
}

/// First field of every instance GUID this host makes ("rvmb").
pub const INSTANCE_TAG: u32 = 0x7276_6d62;

/// Hyper-V's instance GUID of its file copy device,
/// `eb765408-105f-49b6-b4aa-c123b64d17d4`: Linux's `hv_fcopy_uio_daemon`
/// finds the device by this name in `/sys/bus/vmbus/devices/`, so the
/// first fcopy device is offered with it.
pub const FCOPY_INSTANCE: Guid = Guid::from_fields(
    0xeb76_5408,
    0x105f,
    0x49b6,
    [0xb4, 0xaa, 0xc1, 0x23, 0xb6, 0x4d, 0x17, 0xd4],
);

/// Most devices of one kind on the command line.
pub const MAX_PER_KIND: u16 = 1024;

/// A kind of device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceKind {
    /// Heartbeat IC.
    Heartbeat,
    /// Shutdown IC.
    Shutdown,
    /// Time sync IC.
    Timesync,
    /// Echo/loopback.
    Echo,
    /// Synthetic SCSI controller (disks from `--disk`).
    Storage,
    /// Synthetic network adapter (the netvsp side of netvsc).
    Net,
    /// Key-value pair exchange IC.
    Kvp,
    /// Volume shadow copy IC.
    Vss,
    /// File copy IC.
    Fcopy,
    /// Synthetic keyboard.
    Keyboard,
    /// One Hyper-V socket connection (never on the command line: made by
    /// `TL_CONNECT_REQUEST` and `hvsock-connect`, so not in [`Self::ALL`]).
    Hvsock,
}

impl DeviceKind {
    /// All kinds.
    pub const ALL: [DeviceKind; 10] = [
        DeviceKind::Heartbeat,
        DeviceKind::Shutdown,
        DeviceKind::Timesync,
        DeviceKind::Echo,
        DeviceKind::Storage,
        DeviceKind::Net,
        DeviceKind::Kvp,
        DeviceKind::Vss,
        DeviceKind::Fcopy,
        DeviceKind::Keyboard,
    ];

    /// The kinds offered when no `--device` is given: not storage (its
    /// controllers come from `--disk`), not net (on request), not the ICs
    /// whose guest side needs a daemon.
    pub const DEFAULT: [DeviceKind; 4] = [
        DeviceKind::Heartbeat,
        DeviceKind::Shutdown,
        DeviceKind::Timesync,
        DeviceKind::Echo,
    ];

    /// The name used on the command line and in `list`.
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Heartbeat => "heartbeat",
            DeviceKind::Shutdown => "shutdown",
            DeviceKind::Timesync => "timesync",
            DeviceKind::Echo => "echo",
            DeviceKind::Storage => "storage",
            DeviceKind::Net => "net",
            DeviceKind::Kvp => "kvp",
            DeviceKind::Vss => "vss",
            DeviceKind::Fcopy => "fcopy",
            DeviceKind::Keyboard => "keyboard",
            DeviceKind::Hvsock => "hvsock",
        }
    }

    /// One line on the device's backend, for `--help`.
    pub fn describe(self) -> &'static str {
        match self {
            DeviceKind::Heartbeat => {
                "heartbeat IC: framework negotiation, then a beat every --heartbeat-ms"
            }
            DeviceKind::Shutdown => "shutdown IC: `ctl shutdown-guest` asks the guest to power off",
            DeviceKind::Timesync => {
                "time sync IC: a SYNC sample first, then samples every --timesync-ms"
            }
            DeviceKind::Echo => {
                "echo: sends back in-band and GPA-direct packets; sub-channels on request"
            }
            DeviceKind::Storage => {
                "SCSI controller (storvsp): one per controller number of --disk (not a --device)"
            }
            DeviceKind::Net => {
                "net: network adapter (NVSP/RNDIS, vRSS sub-channels) bridged to --nic's TAP"
            }
            DeviceKind::Kvp => {
                "KVP IC: `ctl kvp ...` reads and writes the guest's pools (hv_kvp_daemon)"
            }
            DeviceKind::Vss => "VSS IC: `ctl vss freeze|thaw|hot-backup` (hv_vss_daemon)",
            DeviceKind::Fcopy => {
                "file copy IC: `ctl fcopy send FILE DIR` (uio_hv_generic + hv_fcopy_uio_daemon)"
            }
            DeviceKind::Keyboard => {
                "synthetic keyboard (hyperv-keyboard): `ctl keyboard-type TEXT` types TEXT"
            }
            DeviceKind::Hvsock => {
                "hv_sock connection: --hvsock-echo PORT, `ctl hvsock-connect PORT BYTES`"
            }
        }
    }

    /// The class GUID offered.
    pub fn class(self) -> Guid {
        match self {
            DeviceKind::Heartbeat => HEARTBEAT_CLASS,
            DeviceKind::Shutdown => SHUTDOWN_CLASS,
            DeviceKind::Timesync => TIMESYNC_CLASS,
            DeviceKind::Echo => ECHO_CLASS,
            DeviceKind::Storage => SCSI_CLASS,
            DeviceKind::Net => NET_CLASS,
            DeviceKind::Kvp => KVP_CLASS,
            DeviceKind::Vss => VSS_CLASS,
            DeviceKind::Fcopy => FCOPY_CLASS,
            DeviceKind::Keyboard => KBD_CLASS,
            DeviceKind::Hvsock => HVSOCK_TEMPLATE,
        }
    }

    fn code(self) -> u16 {
        match self {
            DeviceKind::Heartbeat => 1,
            DeviceKind::Shutdown => 2,
            DeviceKind::Timesync => 3,
            DeviceKind::Echo => 4,
            DeviceKind::Storage => 5,
            DeviceKind::Net => 6,
            DeviceKind::Kvp => 7,
            DeviceKind::Vss => 8,
            DeviceKind::Fcopy => 9,
            DeviceKind::Hvsock => 10,
            DeviceKind::Keyboard => 11,
        }
    }

    /// The instance GUID of the `index`-th device of this kind (from 0):
    /// `72766d62-KKKK-IIII-8000-000000000000`, the same on every run; the
    /// first fcopy device's is Hyper-V's ([`FCOPY_INSTANCE`]).
    pub fn instance(self, index: u16) -> Guid {
        if self == DeviceKind::Fcopy && index == 0 {
            return FCOPY_INSTANCE;
        }
        Guid::from_fields(
            INSTANCE_TAG,
            self.code(),
            index,
            [0x80, 0, 0, 0, 0, 0, 0, 0],
        )
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeviceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DeviceKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown device type {s:?} (heartbeat, shutdown, timesync, echo, storage, net, \
                     kvp, vss, fcopy, keyboard)"
                )
            })
    }
}

/// How the guest signals a channel and how it is offered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signalling {
    /// Offer without a monitor id (`monitor_allocated = 0`): the guest
    /// signals with HvSignalEvent only.
    pub no_monitor: bool,
    /// Offer with `is_dedicated_interrupt = 1`.
    pub dedicated: bool,
}

/// `--device TYPE[:N][:nomonitor][:dedicated]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceSpec {
    /// The kind.
    pub kind: DeviceKind,
    /// How many (1 to [`MAX_PER_KIND`]).
    pub count: u16,
    /// Offer options.
    pub signalling: Signalling,
}

impl FromStr for DeviceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(':');
        let kind = parts.next().unwrap_or_default().parse()?;
        let mut spec = Self {
            kind,
            count: 1,
            signalling: Signalling::default(),
        };
        for (i, p) in parts.enumerate() {
            match p {
                "nomonitor" => spec.signalling.no_monitor = true,
                "dedicated" => spec.signalling.dedicated = true,
                n if i == 0 => {
                    spec.count = n
                        .parse::<u16>()
                        .ok()
                        .filter(|&c| (1..=MAX_PER_KIND).contains(&c))
                        .ok_or_else(|| format!("bad device count {n:?} (1 to {MAX_PER_KIND})"))?
                }
                o => {
                    return Err(format!(
                        "unknown device option {o:?} (nomonitor, dedicated)"
                    ))
                }
            }
        }
        Ok(spec)
    }
}

/// One heartbeat, one shutdown, one timesync, one echo (storage
/// controllers come from `--disk`; a network adapter only on request:
/// `--device net` or `--nic`; KVP, VSS and file copy on request too).
pub fn default_devices() -> Vec<DeviceSpec> {
    DeviceKind::DEFAULT
        .iter()
        .map(|&kind| DeviceSpec {
            kind,
            count: 1,
            signalling: Signalling::default(),
        })
        .collect()
}

/// The connection id a channel is signalled on.
pub fn channel_connection_id(relid: Relid) -> u32 {
    0x1_0000 + relid.get()
}

/// The offer of a channel (`sub_channel_index` 0: a primary channel).
pub fn make_offer(
    kind: DeviceKind,
    instance: Guid,
    relid: Relid,
    monitor_id: Option<MonitorId>,
    sub_channel_index: u16,
    dedicated_interrupt: bool,
) -> Offer {
    let mut offer = ChannelOffer::zeroed();
    offer.if_type = kind.class();
    offer.if_instance = instance;
    offer.sub_channel_index = sub_channel_index;
    Offer {
        offer,
        relid,
        monitor_id,
        dedicated_interrupt,
        connection_id: channel_connection_id(relid),
    }
}

/// Makes `offer` an hv_sock connection's as Hyper-V does: `if_type` the
/// listening service, the TLNPI-provider and named-pipe flags, and the
/// user-defined area a byte-mode pipe whose `user_def[0]` (byte 4 of the
/// area) says who connected. No MMIO; the caller offers it without a
/// monitor id.
pub fn make_pipe_offer(offer: &mut Offer, pipe: PipeOffer) {
    let o = &mut offer.offer;
    o.if_type = pipe.if_type;
    o.chn_flags = OFFER_FLAG_TLNPI_PROVIDER | OFFER_FLAG_NAMED_PIPE_MODE;
    o.mmio_megabytes = 0;
    o.user_def = [0; vmbus_proto::wire::channel_msg::MAX_USER_DEFINED_BYTES];
    o.user_def[..4].copy_from_slice(&PIPE_TYPE_BYTE.to_le_bytes());
    o.user_def[4] = u8::from(pipe.from_host);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_print_as_hyper_v_spells_them() {
        assert_eq!(
            HEARTBEAT_CLASS.to_string(),
            "57164f39-9115-4e78-ab55-382f3bd5422d"
        );
        assert_eq!(
            SHUTDOWN_CLASS.to_string(),
            "0e0b6031-5213-4934-818b-38d90ced39db"
        );
        assert_eq!(
            TIMESYNC_CLASS.to_string(),
            "9527e630-d0ae-497b-adce-e80ab0175caf"
        );
        assert_eq!(
            ECHO_CLASS.to_string(),
            "2e1c0f5a-8b1d-4a8e-9c3f-72766d627573"
        );
        assert_eq!(
            SCSI_CLASS.to_string(),
            "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f"
        );
        assert_eq!(
            DeviceKind::Echo.instance(2).to_string(),
            "72766d62-0004-0002-8000-000000000000"
        );
        assert_eq!(
            DeviceKind::Fcopy.instance(0).to_string(),
            "eb765408-105f-49b6-b4aa-c123b64d17d4"
        );
        assert_eq!(
            DeviceKind::Fcopy.instance(1).to_string(),
            "72766d62-0009-0001-8000-000000000000"
        );
        assert_eq!(
            HVSOCK_TEMPLATE.to_string(),
            "00000000-facb-11e6-bd58-64006a7986d3"
        );
        assert_eq!(
            hvsock_service_id(5001).to_string(),
            "00001389-facb-11e6-bd58-64006a7986d3"
        );
        assert_eq!(
            hvsock_port(hvsock_service_id(0x4000_0001)),
            Some(0x4000_0001)
        );
        assert_eq!(hvsock_port(ECHO_CLASS), None);
    }

    #[test]
    fn specs() {
        assert_eq!(
            "echo:3".parse(),
            Ok(DeviceSpec {
                kind: DeviceKind::Echo,
                count: 3,
                signalling: Signalling::default(),
            })
        );
        let s: DeviceSpec = "echo:nomonitor:dedicated".parse().unwrap();
        assert_eq!(s.count, 1);
        assert!(s.signalling.no_monitor && s.signalling.dedicated);
        assert!(
            "echo:2:nomonitor"
                .parse::<DeviceSpec>()
                .unwrap()
                .signalling
                .no_monitor
        );
        assert_eq!("heartbeat".parse::<DeviceSpec>().unwrap().count, 1);
        for bad in [
            "",
            "echo:",
            "echo:0",
            "echo:1025",
            "echo:x",
            "nic",
            "echo:1:2",
            "echo:nomonitor:3",
        ] {
            assert!(bad.parse::<DeviceSpec>().is_err(), "{bad}");
        }
    }
}
