// SPDX-License-Identifier: GPL-2.0

//! The RNDIS device the host emulates: initialisation, halt, reset,
//! keep-alive, and the query and set of the OIDs that Linux's netvsc uses
//! (MAC address, MTU, link state and speed, packet filter, offloads, RSS).
//! Every answer is built by `vmbus_proto::rndis`; an OID the host does not
//! know is answered with `RNDIS_STATUS_NOT_SUPPORTED`, an information
//! buffer of the wrong size with `RNDIS_STATUS_INVALID_LENGTH`, and a
//! request before `INIT` with `RNDIS_STATUS_FAILURE`.

use vmbus_proto::rndis::{
    encode_indicate, encode_init_complete, encode_query_complete, encode_reset_complete,
    encode_status_complete, OidRequest, RndisMessage,
};
use vmbus_proto::wire::rndis::{
    NdisObjectHeader, NdisRssCaps, NdisRssParams, Oid, RndisInitComplete, RndisMsgType,
    RndisStatus, NDIS_OBJECT_TYPE_OFFLOAD, NDIS_OBJECT_TYPE_RSS_CAPABILITIES,
    NDIS_OBJECT_TYPE_RSS_PARAMETERS, NDIS_OFFLOAD_REVISION_1, NDIS_OFFLOAD_SIZE_6_0,
    NDIS_RSS_CAPS_REVISION_2, RNDIS_DF_CONNECTIONLESS, RNDIS_MAJOR_VERSION, RNDIS_MEDIUM_802_3,
    RNDIS_MINOR_VERSION,
};
use vmbus_proto::wire::{PackedU32, Wire};

/// RNDIS messages the guest may pack into one send section.
pub const MAX_PKT_PER_MSG: u32 = 8;
/// log2 of the alignment of packed messages (8 bytes).
pub const PKT_ALIGNMENT_FACTOR: u32 = 3;
/// The largest RNDIS message the host takes.
pub const MAX_XFER_SIZE: u32 = 0x4000;
/// Indirection table entries the host offers (`ITAB_NUM`).
pub const INDIRECTION_ENTRIES: u16 = 128;
/// The most indirection entries a guest may set (`ITAB_NUM_MAX`).
pub const MAX_INDIRECTION_ENTRIES: usize = 256;
/// `NDIS_RSS_PARAM_FLAG_DISABLE_RSS`.
pub const RSS_FLAG_DISABLE: u16 = 0x0010;
/// The hash types the host claims (Toeplitz over IPv4/IPv6 and TCP).
const RSS_CAPS: u32 = 0x0000_0100 | 0x0000_0200 | 0x0000_0400;
/// Bytes of the answer to the largest query (the offload capabilities).
const MAX_ANSWER: usize = 8 + 16 + NDIS_OFFLOAD_SIZE_6_0;

/// What the adapter looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdapterInfo {
    /// The MAC address.
    pub mac: [u8; 6],
    /// The MTU (without the Ethernet header).
    pub mtu: u32,
    /// Link speed in units of 100 bit/s.
    pub link_speed: u32,
    /// Receive queues (channels) offered for vRSS.
    pub queues: u32,
    /// Whether the link is up.
    pub link_up: bool,
}

/// The RNDIS state of one adapter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RndisState {
    /// Whether `INIT` succeeded (and no `HALT` came since).
    pub initialized: bool,
    /// `NDIS_PACKET_TYPE_*` bits; 0 delivers nothing.
    pub packet_filter: u32,
    /// The receive indirection table (channel per hash bucket), empty when
    /// RSS is off.
    pub indirection: Vec<u32>,
    /// The RSS hash settings.
    pub hashinfo: u32,
    /// Requests answered with an error status.
    pub refused: u64,
}

fn u32_info(info: &[u8]) -> Option<u32> {
    u32::read_from(info).filter(|_| info.len() == 4)
}

impl RndisState {
    /// Answers a control message; `None` for messages that have no answer
    /// (`HALT`, data packets, unknown types).
    pub fn control(&mut self, info: &AdapterInfo, msg: &RndisMessage<'_>) -> Option<Vec<u8>> {
        let mut b = vec![0u8; MAX_ANSWER];
        let n = match msg {
            RndisMessage::Init(r) => {
                let ok = r.major_ver == RNDIS_MAJOR_VERSION;
                self.initialized = ok;
                let c = RndisInitComplete {
                    req_id: r.req_id,
                    status: if ok {
                        RndisStatus::SUCCESS
                    } else {
                        RndisStatus::NOT_SUPPORTED
                    },
                    major_ver: RNDIS_MAJOR_VERSION,
                    minor_ver: RNDIS_MINOR_VERSION,
                    dev_flags: RNDIS_DF_CONNECTIONLESS,
                    medium: RNDIS_MEDIUM_802_3,
                    max_pkt_per_msg: MAX_PKT_PER_MSG,
                    max_xfer_size: MAX_XFER_SIZE,
                    pkt_alignment_factor: PKT_ALIGNMENT_FACTOR,
                    af_list_offset: 0,
                    af_list_size: 0,
                };
                encode_init_complete(&mut b, &c)
            }
            RndisMessage::Halt(_) => {
                self.initialized = false;
                self.packet_filter = 0;
                return None;
            }
            RndisMessage::Reset => {
                self.packet_filter = 0;
                encode_reset_complete(&mut b, RndisStatus::SUCCESS)
            }
            RndisMessage::Keepalive(r) => encode_status_complete(
                &mut b,
                RndisMsgType::KEEPALIVE_C,
                r.req_id,
                RndisStatus::SUCCESS,
            ),
            RndisMessage::Query(q) => {
                let (status, answer) = if self.initialized {
                    self.query(info, q)
                } else {
                    (RndisStatus::FAILURE, Vec::new())
                };
                if status != RndisStatus::SUCCESS {
                    self.refused += 1;
                }
                encode_query_complete(&mut b, q.req.req_id, status, &answer)
            }
            RndisMessage::Set(s) => {
                let status = if self.initialized {
                    self.set(info, s)
                } else {
                    RndisStatus::FAILURE
                };
                if status != RndisStatus::SUCCESS {
                    self.refused += 1;
                }
                encode_status_complete(&mut b, RndisMsgType::SET_C, s.req.req_id, status)
            }
            RndisMessage::Packet(_) | RndisMessage::Other(_) => return None,
        }?;
        b.truncate(n);
        Some(b)
    }

    fn query(&self, info: &AdapterInfo, q: &OidRequest<'_>) -> (RndisStatus, Vec<u8>) {
        let ok = |v: Vec<u8>| (RndisStatus::SUCCESS, v);
        match q.req.oid {
            Oid::GEN_MAXIMUM_FRAME_SIZE => ok(info.mtu.to_le_bytes().to_vec()),
            Oid::GEN_LINK_SPEED => ok(info.link_speed.to_le_bytes().to_vec()),
            Oid::GEN_MEDIA_CONNECT_STATUS => ok(u32::from(!info.link_up).to_le_bytes().to_vec()),
            Oid::ETH_PERMANENT_ADDRESS | Oid::ETH_CURRENT_ADDRESS => ok(info.mac.to_vec()),
            Oid::GEN_CURRENT_PACKET_FILTER => ok(self.packet_filter.to_le_bytes().to_vec()),
            Oid::TCP_OFFLOAD_HARDWARE_CAPABILITIES => {
                // NDIS 6.0 offload capabilities with every capability
                // off: the host computes no checksums and segments
                // nothing, so the guest sends finished frames.
                let mut v = vec![0u8; NDIS_OFFLOAD_SIZE_6_0];
                let h = NdisObjectHeader {
                    obj_type: NDIS_OBJECT_TYPE_OFFLOAD,
                    revision: NDIS_OFFLOAD_REVISION_1,
                    size: NDIS_OFFLOAD_SIZE_6_0 as u16,
                };
                let _ = h.write_to(&mut v);
                ok(v)
            }
            Oid::GEN_RECEIVE_SCALE_CAPABILITIES => {
                let c = NdisRssCaps {
                    hdr: NdisObjectHeader {
                        obj_type: NDIS_OBJECT_TYPE_RSS_CAPABILITIES,
                        revision: NDIS_RSS_CAPS_REVISION_2,
                        size: NdisRssCaps::SIZE as u16,
                    },
                    cap_flag: PackedU32::new(RSS_CAPS),
                    num_int_msg: PackedU32::new(info.queues),
                    num_recv_que: PackedU32::new(info.queues),
                    num_indirect_tabent: INDIRECTION_ENTRIES,
                };
                let mut v = vec![0u8; NdisRssCaps::SIZE];
                let _ = c.write_to(&mut v);
                ok(v)
            }
            _ => (RndisStatus::NOT_SUPPORTED, Vec::new()),
        }
    }

    fn set(&mut self, info: &AdapterInfo, s: &OidRequest<'_>) -> RndisStatus {
        match s.req.oid {
            Oid::GEN_CURRENT_PACKET_FILTER => match u32_info(s.info) {
                Some(f) => {
                    self.packet_filter = f;
                    RndisStatus::SUCCESS
                }
                None => RndisStatus::INVALID_LENGTH,
            },
            Oid::TCP_OFFLOAD_PARAMETERS | Oid::OFFLOAD_ENCAPSULATION => {
                // Accepted and kept off: the capabilities offered none.
                match NdisObjectHeader::read_from(s.info) {
                    Some(_) => RndisStatus::SUCCESS,
                    None => RndisStatus::INVALID_LENGTH,
                }
            }
            Oid::ETH_MULTICAST_LIST => {
                if s.info.len() % 6 == 0 {
                    RndisStatus::SUCCESS
                } else {
                    RndisStatus::INVALID_LENGTH
                }
            }
            Oid::GEN_RECEIVE_SCALE_PARAMETERS => self.set_rss(info, s.info),
            _ => RndisStatus::NOT_SUPPORTED,
        }
    }

    fn set_rss(&mut self, info: &AdapterInfo, b: &[u8]) -> RndisStatus {
        let Some(p) = NdisRssParams::read_from(b) else {
            return RndisStatus::INVALID_LENGTH;
        };
        if p.hdr.obj_type != NDIS_OBJECT_TYPE_RSS_PARAMETERS {
            return RndisStatus::INVALID_DATA;
        }
        if p.flag & RSS_FLAG_DISABLE != 0 {
            self.indirection.clear();
            return RndisStatus::SUCCESS;
        }
        let size = usize::from(p.indirect_tabsize);
        if size % 4 != 0 || size / 4 > MAX_INDIRECTION_ENTRIES {
            return RndisStatus::INVALID_DATA;
        }
        let Some(table) = usize::try_from(p.indirect_taboffset)
            .ok()
            .and_then(|o| b.get(o..o.checked_add(size)?))
        else {
            return RndisStatus::INVALID_LENGTH;
        };
        let entries: Vec<u32> = table.chunks_exact(4).filter_map(u32::read_from).collect();
        if entries.iter().any(|&e| e >= info.queues.max(1)) {
            return RndisStatus::INVALID_DATA;
        }
        self.indirection = entries;
        self.hashinfo = p.hashinfo;
        RndisStatus::SUCCESS
    }
}

/// The `RNDIS_MSG_INDICATE` of a link change.
pub fn link_indication(up: bool) -> Vec<u8> {
    let mut b = vec![0u8; 32];
    let status = if up {
        RndisStatus::MEDIA_CONNECT
    } else {
        RndisStatus::MEDIA_DISCONNECT
    };
    let n = encode_indicate(&mut b, status, &[]).unwrap_or(0);
    b.truncate(n);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmbus_proto::rndis::{encode_init_request, encode_oid_request, parse};
    use vmbus_proto::wire::rndis::{RndisInitRequest, RndisQueryComplete, RndisStatusComplete};

    const INFO: AdapterInfo = AdapterInfo {
        mac: [0x00, 0x15, 0x5d, 1, 2, 3],
        mtu: 1500,
        link_speed: 100_000_000,
        queues: 4,
        link_up: true,
    };

    fn init(s: &mut RndisState) {
        let mut b = [0u8; 64];
        let n = encode_init_request(
            &mut b,
            &RndisInitRequest {
                req_id: 1,
                major_ver: 1,
                minor_ver: 0,
                max_xfer_size: 0x4000,
            },
        )
        .unwrap();
        let r = s.control(&INFO, &parse(&b[..n]).unwrap()).unwrap();
        let c = RndisInitComplete::read_from(&r[8..]).unwrap();
        assert_eq!((c.req_id, c.status), (1, RndisStatus::SUCCESS));
        assert_eq!(c.pkt_alignment_factor, 3);
        assert!(s.initialized);
    }

    fn request(s: &mut RndisState, t: RndisMsgType, oid: Oid, info: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + info.len()];
        let n = encode_oid_request(&mut b, t, 7, oid, info).unwrap();
        s.control(&INFO, &parse(&b[..n]).unwrap()).unwrap()
    }

    fn query(s: &mut RndisState, oid: Oid) -> (RndisStatus, Vec<u8>) {
        let r = request(s, RndisMsgType::QUERY, oid, &[]);
        let c = RndisQueryComplete::read_from(&r[8..]).unwrap();
        assert_eq!(c.req_id, 7);
        let off = 8 + c.info_buf_offset as usize;
        (c.status, r[off..off + c.info_buflen as usize].to_vec())
    }

    fn set(s: &mut RndisState, oid: Oid, info: &[u8]) -> RndisStatus {
        let r = request(s, RndisMsgType::SET, oid, info);
        RndisStatusComplete::read_from(&r[8..]).unwrap().status
    }

    #[test]
    fn requests_before_init_fail() {
        let mut s = RndisState::default();
        assert_eq!(query(&mut s, Oid::GEN_LINK_SPEED).0, RndisStatus::FAILURE);
        assert_eq!(
            set(&mut s, Oid::GEN_CURRENT_PACKET_FILTER, &[1, 0, 0, 0]),
            RndisStatus::FAILURE
        );
    }

    #[test]
    fn the_oids_netvsc_queries() {
        let mut s = RndisState::default();
        init(&mut s);
        assert_eq!(
            query(&mut s, Oid::ETH_PERMANENT_ADDRESS),
            (RndisStatus::SUCCESS, INFO.mac.to_vec())
        );
        assert_eq!(
            query(&mut s, Oid::GEN_MAXIMUM_FRAME_SIZE).1,
            1500u32.to_le_bytes()
        );
        assert_eq!(
            query(&mut s, Oid::GEN_MEDIA_CONNECT_STATUS).1,
            0u32.to_le_bytes()
        );
        assert_eq!(
            query(&mut s, Oid::GEN_LINK_SPEED).1,
            100_000_000u32.to_le_bytes()
        );
        let (st, caps) = query(&mut s, Oid::TCP_OFFLOAD_HARDWARE_CAPABILITIES);
        assert_eq!(st, RndisStatus::SUCCESS);
        assert_eq!(caps.len(), 112);
        assert_eq!(&caps[..4], &[0xa7, 1, 112, 0]);
        let (_, rss) = query(&mut s, Oid::GEN_RECEIVE_SCALE_CAPABILITIES);
        let c = NdisRssCaps::read_from(&rss).unwrap();
        assert_eq!(c.num_recv_que.get(), 4);
        assert_eq!(c.num_indirect_tabent, 128);
    }

    #[test]
    fn unknown_oids_and_bad_lengths() {
        let mut s = RndisState::default();
        init(&mut s);
        assert_eq!(
            query(&mut s, Oid(0x1234_5678)),
            (RndisStatus::NOT_SUPPORTED, vec![])
        );
        assert_eq!(
            query(&mut s, Oid::GEN_FRIENDLY_NAME).0,
            RndisStatus::NOT_SUPPORTED
        );
        assert_eq!(
            set(&mut s, Oid(0x1234_5678), &[0; 4]),
            RndisStatus::NOT_SUPPORTED
        );
        assert_eq!(
            set(&mut s, Oid::GEN_CURRENT_PACKET_FILTER, &[1, 0]),
            RndisStatus::INVALID_LENGTH
        );
        assert_eq!(
            set(&mut s, Oid::GEN_CURRENT_PACKET_FILTER, &[0xb, 0, 0, 0]),
            RndisStatus::SUCCESS
        );
        assert_eq!(s.packet_filter, 0xb);
        assert_eq!(
            set(&mut s, Oid::ETH_MULTICAST_LIST, &[0; 7]),
            RndisStatus::INVALID_LENGTH
        );
        assert_eq!(
            set(&mut s, Oid::TCP_OFFLOAD_PARAMETERS, &[0x80, 3, 0, 0]),
            RndisStatus::SUCCESS
        );
        assert_eq!(s.refused, 5);
    }

    fn rss_params(entries: &[u32], table_off: u32) -> Vec<u8> {
        let p = NdisRssParams {
            hdr: NdisObjectHeader {
                obj_type: NDIS_OBJECT_TYPE_RSS_PARAMETERS,
                revision: 2,
                size: 40,
            },
            flag: 0,
            base_cpu_number: 0,
            hashinfo: 0x301,
            indirect_tabsize: (entries.len() * 4) as u16,
            pad0: 0,
            indirect_taboffset: table_off,
            hashkey_size: 0,
            pad1: 0,
            hashkey_offset: 0,
            processor_masks_offset: 0,
            num_processor_masks: 0,
            processor_masks_entry_size: 0,
        };
        let mut v = vec![0u8; 40];
        p.write_to(&mut v).unwrap();
        for e in entries {
            v.extend_from_slice(&e.to_le_bytes());
        }
        v
    }

    #[test]
    fn rss_parameters_are_checked() {
        let mut s = RndisState::default();
        init(&mut s);
        let ok = rss_params(&[0, 1, 2, 3, 0, 1, 2, 3], 40);
        assert_eq!(
            set(&mut s, Oid::GEN_RECEIVE_SCALE_PARAMETERS, &ok),
            RndisStatus::SUCCESS
        );
        assert_eq!(s.indirection.len(), 8);
        // A table that runs past the information buffer.
        let past = rss_params(&[0, 1], 44);
        assert_eq!(
            set(&mut s, Oid::GEN_RECEIVE_SCALE_PARAMETERS, &past),
            RndisStatus::INVALID_LENGTH
        );
        // An entry naming a queue that does not exist.
        let bad = rss_params(&[0, 9], 40);
        assert_eq!(
            set(&mut s, Oid::GEN_RECEIVE_SCALE_PARAMETERS, &bad),
            RndisStatus::INVALID_DATA
        );
        let huge = rss_params(&[0, 1], u32::MAX);
        assert_eq!(
            set(&mut s, Oid::GEN_RECEIVE_SCALE_PARAMETERS, &huge),
            RndisStatus::INVALID_LENGTH
        );
        assert_eq!(s.indirection.len(), 8);
        assert_eq!(
            set(&mut s, Oid::GEN_RECEIVE_SCALE_PARAMETERS, &[0; 8]),
            RndisStatus::INVALID_LENGTH
        );
    }

    #[test]
    fn halt_keepalive_reset_and_indications() {
        let mut s = RndisState::default();
        init(&mut s);
        let mut b = [0u8; 16];
        let n = vmbus_proto::rndis::encode_id_request(&mut b, RndisMsgType::KEEPALIVE, 3).unwrap();
        let r = s.control(&INFO, &parse(&b[..n]).unwrap()).unwrap();
        assert_eq!(&r[..4], &RndisMsgType::KEEPALIVE_C.0.to_le_bytes());
        let n = vmbus_proto::rndis::encode_id_request(&mut b, RndisMsgType::HALT, 4).unwrap();
        assert_eq!(s.control(&INFO, &parse(&b[..n]).unwrap()), None);
        assert!(!s.initialized);
        let up = link_indication(true);
        let RndisMessage::Other(t) = parse(&up).unwrap() else {
            panic!()
        };
        assert_eq!(t, RndisMsgType::INDICATE);
        assert_eq!(&up[8..12], &RndisStatus::MEDIA_CONNECT.0.to_le_bytes());
    }
}
