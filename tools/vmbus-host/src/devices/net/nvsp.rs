// SPDX-License-Identifier: GPL-2.0

//! The NVSP set-up messages on the host side: protocol version
//! negotiation (the newest version of the guest's range that the host
//! speaks; Linux offers one version at a time, newest first, down to
//! NVSP 1), the guest's NDIS version and configuration, the receive and
//! send buffers (GPADLs of the primary channel), their revocation, the
//! data-path switch and the vRSS sub-channel request. Each answer is a
//! whole NVSP message that the caller sends as the completion of the
//! guest's request.

use vmbus_proto::nvsp::{encode, negotiate, KNOWN_VERSIONS};
use vmbus_proto::wire::nvsp::{
    NvspBufferGpadl, NvspInit, NvspInitComplete, NvspMsgType, NvspNdisConfig, NvspNdisVersion,
    NvspRecvBufComplete, NvspRecvSection, NvspSendBufComplete, NvspStatus, NvspSubchannelComplete,
    NvspSubchannelRequest, NVSP_MESSAGE_SIZE, NVSP_VERSION_5, RECEIVE_BUFFER_ID, SEND_BUFFER_ID,
    SUBCHANNEL_ALLOCATE,
};

use super::buffers::{BufferError, GuestBuffer, SendBuffer};
use super::rx::{RecvBuffer, RECV_SECTION_SIZE};
use super::{ETH_HLEN, MAX_MTU, MIN_MTU, MTU};

/// Bytes of an Ethernet header, as the MTUs here count.
// CAST: 14 fits a u32.
const HDR: u32 = ETH_HLEN as u32;
use crate::vmbus::gpadl::Gpadl;

/// Bytes per send section (Linux's `NETVSC_SEND_SECTION_SIZE`).
pub const SEND_SECTION_SIZE: u32 = 6144;
/// The longest MDL chain the host claims to take.
pub const MAX_MDL_CHAIN: u32 = 34;

/// One NVSP message, zero-padded.
pub type Message = [u8; NVSP_MESSAGE_SIZE];

/// What the guest has negotiated so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// The NVSP version.
    pub version: Option<u32>,
    /// The guest's NDIS version.
    pub ndis: Option<(u32, u32)>,
    /// The guest's MTU and capability bits (`SEND_NDIS_CONFIG`).
    pub config: Option<(u32, u64)>,
    /// Whether the guest switched its data path to a VF.
    pub vf_datapath: bool,
}

fn msg<T: vmbus_proto::wire::Wire>(t: NvspMsgType, body: &T) -> Message {
    encode(t, body).unwrap_or([0; NVSP_MESSAGE_SIZE])
}

impl Negotiated {
    /// `INIT`: accepts the newest version of the guest's range that the
    /// host speaks, or answers `PROTOCOL_UNSUPPORTED`.
    pub fn init(&mut self, init: NvspInit) -> Message {
        let chosen = negotiate(init, &KNOWN_VERSIONS);
        self.version = chosen;
        self.ndis = None;
        self.config = None;
        let c = NvspInitComplete {
            negotiated_protocol_ver: chosen.unwrap_or(0),
            max_mdl_chain_len: MAX_MDL_CHAIN,
            status: if chosen.is_some() {
                NvspStatus::SUCCESS
            } else {
                NvspStatus::PROTOCOL_UNSUPPORTED
            },
        };
        msg(NvspMsgType::INIT_COMPLETE, &c)
    }

    /// `SEND_NDIS_VER` (no answer); false if no version was negotiated or
    /// the NDIS version is not 6.x.
    pub fn ndis_version(&mut self, v: NvspNdisVersion) -> bool {
        if self.version.is_none() || v.ndis_major_ver != 6 {
            return false;
        }
        self.ndis = Some((v.ndis_major_ver, v.ndis_minor_ver));
        true
    }

    /// The MTU the adapter works with (without the Ethernet header): the
    /// one the guest configured (`SEND_NDIS_CONFIG` counts the header),
    /// at most [`MAX_MTU`] and at least 68 (IPv4's minimum); [`MTU`]
    /// before it configured one.
    pub fn mtu(&self) -> u32 {
        match self.config {
            Some((m, _)) => m.saturating_sub(HDR).clamp(MIN_MTU, MAX_MTU),
            None => MTU,
        }
    }

    /// `SEND_NDIS_CONFIG` (no answer); false before NVSP 2.
    pub fn ndis_config(&mut self, c: NvspNdisConfig) -> bool {
        if self
            .version
            .is_none_or(|v| v < vmbus_proto::wire::nvsp::NVSP_VERSION_2)
        {
            return false;
        }
        self.config = Some((c.mtu, c.capability));
        true
    }
}

/// Bytes of each receive section for frames of `mtu` bytes (without the
/// Ethernet header): Linux's default section for 1500 and less, else one
/// that holds the largest frame with the same room for the RNDIS header
/// and per-packet information, in multiples of 64 bytes (`hv_netvsc`
/// refuses a frame longer than a section).
pub fn recv_section_size(mtu: u32) -> u32 {
    let room = RECV_SECTION_SIZE - (MTU + HDR);
    (mtu + HDR + room)
        .next_multiple_of(64)
        .max(RECV_SECTION_SIZE)
}

fn buffer_of(req: &NvspBufferGpadl, gpadl: Option<&Gpadl>) -> Result<GuestBuffer, BufferError> {
    let handle = req.gpadl_handle.get();
    let g = gpadl.ok_or(BufferError::NoGpadl(handle))?;
    GuestBuffer::from_gpadl(handle, g)
}

/// `SEND_RECV_BUF`: the receive buffer, cut into sections, and the
/// answer. `gpadl` is the channel's GPADL of that handle, if any.
pub fn receive_buffer(
    neg: &Negotiated,
    have: bool,
    req: &NvspBufferGpadl,
    gpadl: Option<&Gpadl>,
) -> (Result<RecvBuffer, String>, Message) {
    let r = if neg.version.is_none() {
        Err("before version negotiation".to_string())
    } else if have {
        Err("a receive buffer is already set".to_string())
    } else if req.id != RECEIVE_BUFFER_ID {
        Err(format!("receive buffer id {:#x}", req.id))
    } else {
        buffer_of(req, gpadl)
            .and_then(|b| RecvBuffer::new(b, recv_section_size(neg.mtu())))
            .map_err(|e| e.to_string())
    };
    let answer = match &r {
        Ok(b) => b.complete(),
        Err(_) => NvspRecvBufComplete {
            status: NvspStatus::FAIL,
            num_sections: 0,
            section: NvspRecvSection {
                offset: 0,
                sub_alloc_size: 0,
                num_sub_allocs: 0,
                end_offset: 0,
            },
        },
    };
    (r, msg(NvspMsgType::SEND_RECV_BUF_COMPLETE, &answer))
}

/// `SEND_SEND_BUF`: the send buffer and the answer.
pub fn send_buffer(
    neg: &Negotiated,
    have: bool,
    req: &NvspBufferGpadl,
    gpadl: Option<&Gpadl>,
) -> (Result<SendBuffer, String>, Message) {
    let r = if neg.version.is_none() {
        Err("before version negotiation".to_string())
    } else if have {
        Err("a send buffer is already set".to_string())
    } else if req.id != SEND_BUFFER_ID {
        Err(format!("send buffer id {:#x}", req.id))
    } else {
        buffer_of(req, gpadl)
            .map(|buf| SendBuffer {
                buf,
                section_size: SEND_SECTION_SIZE,
            })
            .and_then(|s| {
                if s.sections() == 0 {
                    Err(BufferError::BadSize(s.buf.len()))
                } else {
                    Ok(s)
                }
            })
            .map_err(|e| e.to_string())
    };
    let answer = NvspSendBufComplete {
        status: if r.is_ok() {
            NvspStatus::SUCCESS
        } else {
            NvspStatus::FAIL
        },
        section_size: if r.is_ok() { SEND_SECTION_SIZE } else { 0 },
    };
    (r, msg(NvspMsgType::SEND_SEND_BUF_COMPLETE, &answer))
}

/// The completion of a guest's `SEND_RNDIS_PKT`.
pub fn rndis_complete(status: NvspStatus) -> Message {
    msg(
        NvspMsgType::SEND_RNDIS_PKT_COMPLETE,
        &vmbus_proto::wire::nvsp::NvspRndisPacketComplete { status },
    )
}

/// `SUBCHANNEL`: how many sub-channels to offer (at most `max`), or
/// `None` if the request is refused (before NVSP 5, another operation).
pub fn subchannels_wanted(neg: &Negotiated, req: &NvspSubchannelRequest, max: u32) -> Option<u16> {
    if neg.version.is_none_or(|v| v < NVSP_VERSION_5) || req.op != SUBCHANNEL_ALLOCATE {
        return None;
    }
    u16::try_from(req.num_subchannels.min(max)).ok()
}

/// The answer to a sub-channel request: `offered` of them, or a failure.
pub fn subchannel_answer(offered: Option<u16>) -> Message {
    let c = NvspSubchannelComplete {
        status: if offered.is_some() {
            NvspStatus::SUCCESS
        } else {
            NvspStatus::FAIL
        },
        num_subchannels: u32::from(offered.unwrap_or(0)),
    };
    msg(NvspMsgType::SUBCHANNEL, &c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmbus_proto::gpadl::range_word;
    use vmbus_proto::types::Relid;
    use vmbus_proto::wire::channel_msg::GpaRange;
    use vmbus_proto::wire::nvsp::{NVSP_VERSION_1, NVSP_VERSION_4, NVSP_VERSION_61};
    use vmbus_proto::wire::{PackedU32, Wire};

    fn gpadl(pages: u64) -> Gpadl {
        let mut words = vec![range_word(GpaRange {
            byte_count: (pages * 4096) as u32,
            byte_offset: 0,
        })];
        words.extend(10..10 + pages);
        Gpadl {
            relid: Relid::new(1).unwrap(),
            rangecount: 1,
            words,
            pages: pages as usize,
            whole_pages: true,
        }
    }

    fn negotiated(v: u32) -> Negotiated {
        let mut n = Negotiated::default();
        n.init(NvspInit {
            min_protocol_ver: v,
            max_protocol_ver: v,
        });
        n
    }

    fn status(m: &Message) -> u32 {
        u32::read_from(&m[4..]).unwrap()
    }

    #[test]
    fn versions_down_to_what_netvsc_offers() {
        let mut n = Negotiated::default();
        for v in [NVSP_VERSION_61, NVSP_VERSION_4, NVSP_VERSION_1] {
            let m = n.init(NvspInit {
                min_protocol_ver: v,
                max_protocol_ver: v,
            });
            let c = NvspInitComplete::read_from(&m[4..]).unwrap();
            assert_eq!(
                (c.status, c.negotiated_protocol_ver),
                (NvspStatus::SUCCESS, v)
            );
        }
        let m = n.init(NvspInit {
            min_protocol_ver: 3,
            max_protocol_ver: 3,
        });
        let c = NvspInitComplete::read_from(&m[4..]).unwrap();
        assert_eq!(c.status, NvspStatus::PROTOCOL_UNSUPPORTED);
        assert_eq!(n.version, None);
        assert!(!n.ndis_version(NvspNdisVersion {
            ndis_major_ver: 6,
            ndis_minor_ver: 30
        }));
    }

    #[test]
    fn the_mtu_is_the_guests_within_bounds() {
        let mut n = negotiated(NVSP_VERSION_61);
        assert_eq!(n.mtu(), 1500);
        let cfg = |mtu| NvspNdisConfig {
            mtu,
            reserved: 0,
            capability: 0,
        };
        for (asked, got, section) in [
            (9014, 9000, 9280),
            (65535, 9000, 9280),
            (1514, 1500, RECV_SECTION_SIZE),
            (590, 576, RECV_SECTION_SIZE),
            (0, 68, RECV_SECTION_SIZE),
        ] {
            assert!(n.ndis_config(cfg(asked)));
            assert_eq!(n.mtu(), got, "{asked}");
            assert_eq!(recv_section_size(n.mtu()), section, "{asked}");
        }
        // Jumbo: the receive buffer's sections hold a 9014-byte frame with
        // the room a 1514-byte one has in Linux's default section.
        assert!(n.ndis_config(cfg(9014)));
        let req = NvspBufferGpadl {
            gpadl_handle: PackedU32::new(5),
            id: RECEIVE_BUFFER_ID,
        };
        let (_, m) = receive_buffer(&n, false, &req, Some(&gpadl(16)));
        let c = NvspRecvBufComplete::read_from(&m[4..]).unwrap();
        assert!(c.section.sub_alloc_size - 9014 >= RECV_SECTION_SIZE - 1514);
        assert_eq!(c.section.sub_alloc_size % 64, 0);
    }

    #[test]
    fn buffers() {
        let n = negotiated(NVSP_VERSION_61);
        let req = NvspBufferGpadl {
            gpadl_handle: PackedU32::new(5),
            id: RECEIVE_BUFFER_ID,
        };
        let g = gpadl(16);
        let (r, m) = receive_buffer(&n, false, &req, Some(&g));
        let r = r.unwrap();
        assert_eq!(status(&m), 1);
        let c = NvspRecvBufComplete::read_from(&m[4..]).unwrap();
        assert_eq!(c.section.sub_alloc_size, RECV_SECTION_SIZE);
        assert_eq!(c.section.num_sub_allocs, 16 * 4096 / RECV_SECTION_SIZE);
        assert_eq!(r.gpadl(), 5);
        // A second one, an unknown GPADL, a wrong id, before INIT.
        assert_eq!(status(&receive_buffer(&n, true, &req, Some(&g)).1), 2);
        assert_eq!(status(&receive_buffer(&n, false, &req, None).1), 2);
        let wrong = NvspBufferGpadl { id: 1, ..req };
        assert_eq!(status(&receive_buffer(&n, false, &wrong, Some(&g)).1), 2);
        assert_eq!(
            status(&receive_buffer(&Negotiated::default(), false, &req, Some(&g)).1),
            2
        );
        let sreq = NvspBufferGpadl {
            gpadl_handle: PackedU32::new(6),
            id: SEND_BUFFER_ID,
        };
        let (s, m) = send_buffer(&n, false, &sreq, Some(&gpadl(3)));
        assert_eq!(s.unwrap().sections(), 2);
        assert_eq!(
            NvspSendBufComplete::read_from(&m[4..])
                .unwrap()
                .section_size,
            6144
        );
        // One page holds no 6144-byte section.
        assert_eq!(status(&send_buffer(&n, false, &sreq, Some(&gpadl(1))).1), 2);
        // A GPADL of several ranges is not a buffer.
        let mut two = gpadl(2);
        two.whole_pages = false;
        assert_eq!(status(&send_buffer(&n, false, &sreq, Some(&two)).1), 2);
    }

    #[test]
    fn subchannels() {
        let req = NvspSubchannelRequest {
            op: SUBCHANNEL_ALLOCATE,
            num_subchannels: 7,
        };
        assert_eq!(
            subchannels_wanted(&negotiated(NVSP_VERSION_61), &req, 3),
            Some(3)
        );
        assert_eq!(
            subchannels_wanted(&negotiated(NVSP_VERSION_4), &req, 3),
            None
        );
        let bad = NvspSubchannelRequest { op: 9, ..req };
        assert_eq!(
            subchannels_wanted(&negotiated(NVSP_VERSION_61), &bad, 3),
            None
        );
        let m = subchannel_answer(Some(2));
        let c = NvspSubchannelComplete::read_from(&m[4..]).unwrap();
        assert_eq!((c.status, c.num_subchannels), (NvspStatus::SUCCESS, 2));
        assert_eq!(status(&subchannel_answer(None)), 2);
    }
}
