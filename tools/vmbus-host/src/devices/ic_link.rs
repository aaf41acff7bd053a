// SPDX-License-Identifier: GPL-2.0

//! The host end of the IC framework shared by heartbeat, shutdown and time
//! sync: on open it sends the `NEGOTIATE` request Hyper-V sends (framework
//! versions 1.0 and 3.0, the device's message versions), reads the guest's
//! choice, and then sends requests with the negotiated versions and reads
//! the guest's answers (`TRANSACTION | RESPONSE`).

use vmbus_proto::ic::{self, IcMessage};
use vmbus_proto::packet::{Packet, PacketKind};
use vmbus_proto::wire::ic::{IcMsgType, IcVersion};
use vmbus_proto::wire::packet::PacketType;

use super::ChannelIo;
use crate::log::Level;
use crate::log_limited;

/// The framework versions a Hyper-V host offers.
pub const FRAMEWORK_VERSIONS: &[IcVersion] = &[IcVersion::new(1, 0), IcVersion::new(3, 0)];

/// Where negotiation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcState {
    /// Closed.
    Idle,
    /// The request was sent.
    Negotiating,
    /// Negotiated (framework, message) versions.
    Ready(IcVersion, IcVersion),
    /// The guest shares no version, or answered garbage.
    Failed,
}

/// What a guest packet was.
pub enum IcEvent<'a> {
    /// Negotiation just finished successfully.
    Negotiated,
    /// An answer to a request.
    Answer(IcMessage<'a>),
    /// Nothing the device needs to see.
    Nothing,
}

/// One IC channel's framework state.
pub struct IcLink {
    msg_versions: &'static [IcVersion],
    /// Negotiation state.
    pub state: IcState,
    next_trans: u64,
    /// Packets that were not valid IC answers.
    pub bad: u64,
}

impl IcLink {
    /// A link offering `msg_versions`.
    pub fn new(msg_versions: &'static [IcVersion]) -> Self {
        Self {
            msg_versions,
            state: IcState::Idle,
            next_trans: 1,
            bad: 0,
        }
    }

    /// The negotiated message version.
    pub fn msg_version(&self) -> Option<IcVersion> {
        match self.state {
            IcState::Ready(_, m) => Some(m),
            _ => None,
        }
    }

    fn trans(&mut self) -> u64 {
        let t = self.next_trans;
        self.next_trans = self.next_trans.wrapping_add(1);
        t
    }

    fn send(&mut self, io: &mut ChannelIo<'_>, msg: &[u8]) -> bool {
        let t = self.trans();
        io.send(PacketType::DATA_INBAND, 0, t, &[msg]).is_ok()
    }

    /// The channel opened: send `NEGOTIATE`.
    pub fn open(&mut self, io: &mut ChannelIo<'_>) {
        let mut buf = [0u8; 128];
        self.state = IcState::Negotiating;
        match ic::build_negotiate_request(&mut buf, FRAMEWORK_VERSIONS, self.msg_versions, 0) {
            Ok(n) => {
                let msg = buf.get(..n).unwrap_or(&[]).to_vec();
                self.send(io, &msg);
            }
            Err(e) => {
                self.state = IcState::Failed;
                log_limited!(Level::Error, "ic: cannot build NEGOTIATE: {e:?}");
            }
        }
    }

    /// The channel closed.
    pub fn close(&mut self) {
        self.state = IcState::Idle;
    }

    /// Sends a request of `msgtype` with `body`; false if not negotiated.
    pub fn request(&mut self, io: &mut ChannelIo<'_>, msgtype: IcMsgType, body: &[u8]) -> bool {
        let IcState::Ready(f, m) = self.state else {
            return false;
        };
        let id = (self.next_trans & 0xff) as u8;
        let hdr = ic::request_header(msgtype, f, m, id);
        let mut buf = vec![0u8; ic::ICMSG_HDR_SIZE + body.len()];
        match ic::encode(&mut buf, &hdr, body) {
            Ok(_) => self.send(io, &buf),
            Err(_) => false,
        }
    }

    /// Reads a guest packet.
    pub fn on_packet<'p>(&mut self, relid: u32, pkt: &Packet<'p>) -> IcEvent<'p> {
        if pkt.kind != PacketKind::Inband {
            self.bad += 1;
            return IcEvent::Nothing;
        }
        let m = match ic::parse(pkt.payload) {
            Ok(m) if m.hdr.icflags & ic::RESPONSE_FLAGS == ic::RESPONSE_FLAGS => m,
            r => {
                self.bad += 1;
                log_limited!(Level::Warn, "ic: relid {relid}: not an IC answer: {r:?}");
                return IcEvent::Nothing;
            }
        };
        if m.hdr.icmsgtype != IcMsgType::NEGOTIATE {
            return IcEvent::Answer(m);
        }
        if self.state != IcState::Negotiating {
            self.bad += 1;
            return IcEvent::Nothing;
        }
        match ic::parse_negotiate_response(pkt.payload) {
            Ok(Some((f, v)))
                if FRAMEWORK_VERSIONS.contains(&f) && self.msg_versions.contains(&v) =>
            {
                crate::log_info!(
                    "ic: relid {relid}: framework {}.{}, message version {}.{}",
                    f.major,
                    f.minor,
                    v.major,
                    v.minor
                );
                self.state = IcState::Ready(f, v);
                IcEvent::Negotiated
            }
            r => {
                self.bad += 1;
                self.state = IcState::Failed;
                log_limited!(Level::Warn, "ic: relid {relid}: negotiation failed: {r:?}");
                IcEvent::Nothing
            }
        }
    }
}
