// SPDX-License-Identifier: GPL-2.0

//! Typed channel messages: decoding with validation, and encoding.
//!
//! [`HostMessage`] is what the host sends and the guest receives;
//! [`GuestMessage`] is what the guest sends and the host receives. Both
//! directions decode and encode, so the guest and the userspace host use the
//! same code. Decoding works on a copy of the SynIC payload (the
//! `payload_size` bytes of the slot) and returns a typed value or a
//! [`DecodeError`]; it never panics and never reads past the slice.
//!
//! A payload may be longer than its message's fixed part (newer protocol
//! versions append fields); the extra bytes are ignored unless noted.
//!
//! ```
//! use vmbus_proto::message::{GuestMessage, HostMessage};
//! use vmbus_proto::types::Relid;
//!
//! let msg = HostMessage::Rescind { relid: Relid::new(5).unwrap() };
//! let enc = msg.encode();
//! assert_eq!(enc.as_bytes().len(), 12);
//! assert_eq!(HostMessage::decode(enc.as_bytes()), Ok(msg));
//! // A rescind is not something a guest sends.
//! assert!(GuestMessage::decode(enc.as_bytes()).is_err());
//! ```

use super::types::{GpadlId, MonitorId, Relid, Words, MAX_RELIDS};
use super::version::Version;
use super::wire::channel_msg::{
    ChannelMessageHeader, ChannelOffer, CloseChannel, EmptyMessage, GpadlBody, GpadlCreated,
    GpadlHeader, GpadlTeardown, GpadlTorndown, InitiateContact, MessageType, ModifyChannel,
    ModifyChannelResponse, OfferChannel, OpenChannel, OpenResult, RelidReleased, RescindOffer,
    TlConnectRequest, TlConnectResult, VersionResponse, MAX_USER_DEFINED_BYTES,
};
use super::wire::synic::HV_MESSAGE_PAYLOAD_SIZE;
use super::wire::{Guid, Wire};

/// The largest channel message.
pub const MAX_MESSAGE_SIZE: usize = HV_MESSAGE_PAYLOAD_SIZE;

/// `u64` words of range data that fit in a `GPADL_HEADER` message.
pub const GPADL_HEADER_WORDS: usize = (MAX_MESSAGE_SIZE - GpadlHeader::SIZE) / 8;
/// `u64` words of range data that fit in a `GPADL_BODY` message.
pub const GPADL_BODY_WORDS: usize = (MAX_MESSAGE_SIZE - GpadlBody::SIZE) / 8;

/// Why a message could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The payload is shorter than the message header.
    NoHeader(usize),
    /// The payload is longer than a SynIC payload can be.
    TooLong(usize),
    /// The payload is shorter than the fixed part of its type.
    TooShort {
        /// The message type.
        msgtype: MessageType,
        /// The payload length.
        len: usize,
        /// The least length of the type.
        min: usize,
    },
    /// The type is not a known channel message type.
    UnknownType(MessageType),
    /// The type is known but is not sent in this direction.
    UnexpectedType(MessageType),
    /// A relid is zero or not below [`MAX_RELIDS`].
    BadRelid(u32),
    /// A monitor id is out of range.
    BadMonitorId(u8),
    /// A sub-channel index is out of range.
    BadSubChannelIndex(u16),
    /// A GPADL handle is zero.
    BadGpadlHandle(u32),
    /// A length or count is inconsistent or overflows.
    BadLength,
    /// A string is not NUL-terminated inside its field.
    Unterminated,
}

/// An encoded message: up to [`MAX_MESSAGE_SIZE`] bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    len: usize,
    bytes: [u8; MAX_MESSAGE_SIZE],
}

impl Encoded {
    fn new() -> Self {
        Self {
            len: 0,
            bytes: [0; MAX_MESSAGE_SIZE],
        }
    }

    /// Appends a wire value. Encoders only append what fits by
    /// construction; a value that does not fit is dropped and leaves the
    /// message short, which decoding then rejects.
    fn push<T: Wire>(&mut self, v: &T) {
        let mut off = self.len;
        if v.put(&mut self.bytes, &mut off).is_some() {
            self.len = off;
        }
    }

    /// The message bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl core::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Encoded({:02x?})", self.as_bytes())
    }
}

/// A validated channel offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The device description as sent.
    pub offer: ChannelOffer,
    /// The relid.
    pub relid: Relid,
    /// The monitor id, if the host allocated one.
    pub monitor_id: Option<MonitorId>,
    /// Whether the channel has a dedicated interrupt (no event flag bit).
    pub dedicated_interrupt: bool,
    /// The connection id to signal the channel on.
    pub connection_id: u32,
}

impl Offer {
    /// The device class.
    pub fn if_type(&self) -> Guid {
        self.offer.if_type
    }

    /// The device instance.
    pub fn if_instance(&self) -> Guid {
        self.offer.if_instance
    }

    /// The sub-channel index; zero for a primary channel.
    pub fn sub_channel_index(&self) -> u16 {
        self.offer.sub_channel_index
    }

    /// The user-defined area read as a NUL-terminated string, without the
    /// NUL.
    ///
    /// ```
    /// # use vmbus_proto::message::{DecodeError, Offer};
    /// # use vmbus_proto::types::Relid;
    /// # use vmbus_proto::wire::{channel_msg::ChannelOffer, Wire};
    /// let mut o = Offer {
    ///     offer: ChannelOffer::zeroed(),
    ///     relid: Relid::new(1).unwrap(),
    ///     monitor_id: None,
    ///     dedicated_interrupt: false,
    ///     connection_id: 0,
    /// };
    /// o.offer.user_def[..3].copy_from_slice(b"ab\0");
    /// assert_eq!(o.user_def_str(), Ok(&b"ab"[..]));
    /// o.offer.user_def = [b'x'; 120];
    /// assert_eq!(o.user_def_str(), Err(DecodeError::Unterminated));
    /// ```
    pub fn user_def_str(&self) -> Result<&[u8], DecodeError> {
        let u = &self.offer.user_def;
        let n = u
            .iter()
            .position(|&c| c == 0)
            .ok_or(DecodeError::Unterminated)?;
        u.get(..n).ok_or(DecodeError::Unterminated)
    }
}

/// The answer to `INITIATE_CONTACT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionReply {
    /// Whether the requested version is accepted.
    pub supported: bool,
    /// The connection state (zero: success).
    pub connection_state: u8,
    /// From 5.0 on: the connection id for later messages.
    pub msg_conn_id: u32,
    /// Features the host supports (6.0 hosts append them), if present.
    pub supported_features: Option<u32>,
}

/// A message the host sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostMessage {
    /// `OFFER_CHANNEL`.
    Offer(Offer),
    /// `RESCIND_CHANNEL_OFFER`.
    Rescind {
        /// The relid withdrawn.
        relid: Relid,
    },
    /// `ALL_OFFERS_DELIVERED`.
    AllOffersDelivered,
    /// `OPEN_CHANNEL_RESULT`.
    OpenResult {
        /// The channel.
        relid: Relid,
        /// The open id of the request.
        open_id: u32,
        /// Zero on success.
        status: u32,
    },
    /// `GPADL_CREATED`.
    GpadlCreated {
        /// The channel.
        relid: Relid,
        /// The GPADL.
        gpadl: GpadlId,
        /// Zero on success.
        status: u32,
    },
    /// `GPADL_TORNDOWN`.
    GpadlTorndown {
        /// The GPADL.
        gpadl: GpadlId,
    },
    /// `VERSION_RESPONSE`.
    VersionResponse(VersionReply),
    /// `UNLOAD_RESPONSE`.
    UnloadResponse,
    /// `MODIFY_CHANNEL_RESPONSE`.
    ModifyChannelResponse {
        /// The channel.
        relid: Relid,
        /// Zero on success.
        status: u32,
    },
    /// `TL_CONNECT_RESULT`.
    TlConnectResult {
        /// The guest's endpoint id.
        endpoint_id: Guid,
        /// The host service id.
        service_id: Guid,
        /// An NTSTATUS, zero on success.
        status: u32,
    },
}

/// Parameters of `OPEN_CHANNEL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    /// The channel.
    pub relid: Relid,
    /// The id that makes the request unique.
    pub open_id: u32,
    /// The ring buffer GPADL.
    pub ring_gpadl: GpadlId,
    /// The target virtual processor.
    pub target_vp: u32,
    /// Page offset of the host → guest ring in the GPADL.
    pub downstream_page_offset: u32,
    /// Data for the host endpoint.
    pub user_data: [u8; MAX_USER_DEFINED_BYTES],
}

/// Parameters of `INITIATE_CONTACT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContactRequest {
    /// The version asked for.
    pub version: Version,
    /// The virtual processor the host sends messages to.
    pub target_vcpu: u32,
    /// Interrupt page GPA before 5.0, [`super::wire::channel_msg::TargetInfo`]
    /// from 5.0 on.
    pub interrupt_page_or_target_info: u64,
    /// GPA of the host → guest monitor page.
    pub monitor_page1: u64,
    /// GPA of the guest → host monitor page.
    pub monitor_page2: u64,
}

/// A message the guest sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestMessage {
    /// `REQUEST_OFFERS`.
    RequestOffers,
    /// `OPEN_CHANNEL`.
    OpenChannel(OpenRequest),
    /// `CLOSE_CHANNEL`.
    CloseChannel {
        /// The channel.
        relid: Relid,
    },
    /// `GPADL_HEADER` with the first words of range data.
    GpadlHeader {
        /// The channel.
        relid: Relid,
        /// The GPADL.
        gpadl: GpadlId,
        /// Total bytes of range data, in this and the body messages.
        range_buflen: u16,
        /// Number of ranges.
        rangecount: u16,
        /// The range data carried by this message.
        data: Words<GPADL_HEADER_WORDS>,
    },
    /// `GPADL_BODY` with more words of range data.
    GpadlBody {
        /// Message number.
        msgnumber: u32,
        /// The GPADL.
        gpadl: GpadlId,
        /// The range data carried by this message.
        data: Words<GPADL_BODY_WORDS>,
    },
    /// `GPADL_TEARDOWN`.
    GpadlTeardown {
        /// The channel.
        relid: Relid,
        /// The GPADL.
        gpadl: GpadlId,
    },
    /// `RELID_RELEASED`.
    RelidReleased {
        /// The relid.
        relid: Relid,
    },
    /// `INITIATE_CONTACT`.
    InitiateContact(ContactRequest),
    /// `UNLOAD`.
    Unload,
    /// `TL_CONNECT_REQUEST`.
    TlConnectRequest {
        /// The guest's endpoint id.
        endpoint_id: Guid,
        /// The host service id.
        service_id: Guid,
    },
    /// `MODIFY_CHANNEL`.
    ModifyChannel {
        /// The channel.
        relid: Relid,
        /// The new target virtual processor.
        target_vp: u32,
    },
}

/// Reads the message type of a payload and checks the overall length.
pub fn peek_type(b: &[u8]) -> Result<MessageType, DecodeError> {
    if b.len() > MAX_MESSAGE_SIZE {
        return Err(DecodeError::TooLong(b.len()));
    }
    let h = ChannelMessageHeader::read_from(b).ok_or(DecodeError::NoHeader(b.len()))?;
    Ok(h.msgtype)
}

/// Decodes the fixed part `T` of a message of type `t`.
fn fixed<T: Wire>(b: &[u8], t: MessageType) -> Result<T, DecodeError> {
    T::read_from(b).ok_or(DecodeError::TooShort {
        msgtype: t,
        len: b.len(),
        min: T::SIZE,
    })
}

fn relid(v: u32) -> Result<Relid, DecodeError> {
    Relid::new(v).ok_or(DecodeError::BadRelid(v))
}

fn gpadl(v: u32) -> Result<GpadlId, DecodeError> {
    GpadlId::new(v).ok_or(DecodeError::BadGpadlHandle(v))
}

/// Reads the `u64` words after a fixed part of `fixed_len` bytes; the
/// remainder must be a whole number of words, at least one.
fn words<const N: usize>(b: &[u8], fixed_len: usize) -> Result<Words<N>, DecodeError> {
    let rest = b.get(fixed_len..).ok_or(DecodeError::BadLength)?;
    if rest.is_empty() || rest.len() % 8 != 0 {
        return Err(DecodeError::BadLength);
    }
    let mut w = Words::new();
    for c in rest.chunks_exact(8) {
        let v = u64::read_from(c).ok_or(DecodeError::BadLength)?;
        if !w.push(v) {
            return Err(DecodeError::BadLength);
        }
    }
    Ok(w)
}

fn is_known(t: MessageType) -> bool {
    matches!(t.0, 1..=17 | 21..=24)
}

fn hdr(t: MessageType) -> ChannelMessageHeader {
    ChannelMessageHeader::new(t)
}

impl HostMessage {
    /// Decodes and validates a message from the host.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let t = peek_type(b)?;
        match t {
            MessageType::OFFER_CHANNEL => {
                let m: OfferChannel = fixed(b, t)?;
                let monitor_id = if m.monitor_flags & 1 != 0 {
                    Some(
                        MonitorId::new(m.monitorid)
                            .ok_or(DecodeError::BadMonitorId(m.monitorid))?,
                    )
                } else {
                    None
                };
                let sub = m.offer.sub_channel_index;
                if u32::from(sub) >= MAX_RELIDS {
                    return Err(DecodeError::BadSubChannelIndex(sub));
                }
                Ok(Self::Offer(Offer {
                    offer: m.offer,
                    relid: relid(m.child_relid)?,
                    monitor_id,
                    dedicated_interrupt: m.interrupt_flags & 1 != 0,
                    connection_id: m.connection_id,
                }))
            }
            MessageType::RESCIND_CHANNEL_OFFER => {
                let m: RescindOffer = fixed(b, t)?;
                Ok(Self::Rescind {
                    relid: relid(m.child_relid)?,
                })
            }
            MessageType::ALL_OFFERS_DELIVERED => {
                let _: EmptyMessage = fixed(b, t)?;
                Ok(Self::AllOffersDelivered)
            }
            MessageType::OPEN_CHANNEL_RESULT => {
                let m: OpenResult = fixed(b, t)?;
                Ok(Self::OpenResult {
                    relid: relid(m.child_relid)?,
                    open_id: m.openid,
                    status: m.status,
                })
            }
            MessageType::GPADL_CREATED => {
                let m: GpadlCreated = fixed(b, t)?;
                Ok(Self::GpadlCreated {
                    relid: relid(m.child_relid)?,
                    gpadl: gpadl(m.gpadl)?,
                    status: m.creation_status,
                })
            }
            MessageType::GPADL_TORNDOWN => {
                let m: GpadlTorndown = fixed(b, t)?;
                Ok(Self::GpadlTorndown {
                    gpadl: gpadl(m.gpadl)?,
                })
            }
            MessageType::VERSION_RESPONSE => {
                let m: VersionResponse = fixed(b, t)?;
                let supported_features = b.get(VersionResponse::SIZE..).and_then(u32::read_from);
                Ok(Self::VersionResponse(VersionReply {
                    supported: m.version_supported != 0,
                    connection_state: m.connection_state,
                    msg_conn_id: m.msg_conn_id,
                    supported_features,
                }))
            }
            MessageType::UNLOAD_RESPONSE => {
                let _: EmptyMessage = fixed(b, t)?;
                Ok(Self::UnloadResponse)
            }
            MessageType::MODIFY_CHANNEL_RESPONSE => {
                let m: ModifyChannelResponse = fixed(b, t)?;
                Ok(Self::ModifyChannelResponse {
                    relid: relid(m.child_relid)?,
                    status: m.status,
                })
            }
            MessageType::TL_CONNECT_RESULT => {
                let m: TlConnectResult = fixed(b, t)?;
                Ok(Self::TlConnectResult {
                    endpoint_id: m.guest_endpoint_id,
                    service_id: m.host_service_id,
                    status: m.status,
                })
            }
            t if is_known(t) => Err(DecodeError::UnexpectedType(t)),
            t => Err(DecodeError::UnknownType(t)),
        }
    }

    /// The message type.
    pub fn msgtype(&self) -> MessageType {
        match self {
            Self::Offer(_) => MessageType::OFFER_CHANNEL,
            Self::Rescind { .. } => MessageType::RESCIND_CHANNEL_OFFER,
            Self::AllOffersDelivered => MessageType::ALL_OFFERS_DELIVERED,
            Self::OpenResult { .. } => MessageType::OPEN_CHANNEL_RESULT,
            Self::GpadlCreated { .. } => MessageType::GPADL_CREATED,
            Self::GpadlTorndown { .. } => MessageType::GPADL_TORNDOWN,
            Self::VersionResponse(_) => MessageType::VERSION_RESPONSE,
            Self::UnloadResponse => MessageType::UNLOAD_RESPONSE,
            Self::ModifyChannelResponse { .. } => MessageType::MODIFY_CHANNEL_RESPONSE,
            Self::TlConnectResult { .. } => MessageType::TL_CONNECT_RESULT,
        }
    }

    /// The relid the message is about, if it names one.
    pub fn relid(&self) -> Option<Relid> {
        match *self {
            Self::Offer(o) => Some(o.relid),
            Self::Rescind { relid }
            | Self::OpenResult { relid, .. }
            | Self::GpadlCreated { relid, .. }
            | Self::ModifyChannelResponse { relid, .. } => Some(relid),
            _ => None,
        }
    }

    /// Encodes the message (as the host sends it).
    pub fn encode(&self) -> Encoded {
        let mut e = Encoded::new();
        let h = hdr(self.msgtype());
        match *self {
            Self::Offer(o) => e.push(&OfferChannel {
                header: h,
                offer: o.offer,
                child_relid: o.relid.get(),
                monitorid: o.monitor_id.map_or(0, MonitorId::get),
                monitor_flags: u8::from(o.monitor_id.is_some()),
                interrupt_flags: u16::from(o.dedicated_interrupt),
                connection_id: o.connection_id,
            }),
            Self::Rescind { relid } => e.push(&RescindOffer {
                header: h,
                child_relid: relid.get(),
            }),
            Self::AllOffersDelivered | Self::UnloadResponse => e.push(&EmptyMessage { header: h }),
            Self::OpenResult {
                relid,
                open_id,
                status,
            } => e.push(&OpenResult {
                header: h,
                child_relid: relid.get(),
                openid: open_id,
                status,
            }),
            Self::GpadlCreated {
                relid,
                gpadl,
                status,
            } => e.push(&GpadlCreated {
                header: h,
                child_relid: relid.get(),
                gpadl: gpadl.get(),
                creation_status: status,
            }),
            Self::GpadlTorndown { gpadl } => e.push(&GpadlTorndown {
                header: h,
                gpadl: gpadl.get(),
            }),
            Self::VersionResponse(r) => {
                e.push(&VersionResponse {
                    header: h,
                    version_supported: u8::from(r.supported),
                    connection_state: r.connection_state,
                    padding: 0,
                    msg_conn_id: r.msg_conn_id,
                });
                if let Some(f) = r.supported_features {
                    e.push(&f);
                }
            }
            Self::ModifyChannelResponse { relid, status } => e.push(&ModifyChannelResponse {
                header: h,
                child_relid: relid.get(),
                status,
            }),
            Self::TlConnectResult {
                endpoint_id,
                service_id,
                status,
            } => e.push(&TlConnectResult {
                header: h,
                guest_endpoint_id: endpoint_id,
                host_service_id: service_id,
                status,
            }),
        }
        e
    }
}

impl GuestMessage {
    /// Decodes and validates a message from the guest.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let t = peek_type(b)?;
        match t {
            MessageType::REQUEST_OFFERS => {
                let _: EmptyMessage = fixed(b, t)?;
                Ok(Self::RequestOffers)
            }
            MessageType::OPEN_CHANNEL => {
                let m: OpenChannel = fixed(b, t)?;
                Ok(Self::OpenChannel(OpenRequest {
                    relid: relid(m.child_relid)?,
                    open_id: m.openid,
                    ring_gpadl: gpadl(m.ringbuffer_gpadlhandle)?,
                    target_vp: m.target_vp,
                    downstream_page_offset: m.downstream_ringbuffer_pageoffset,
                    user_data: m.userdata,
                }))
            }
            MessageType::CLOSE_CHANNEL => {
                let m: CloseChannel = fixed(b, t)?;
                Ok(Self::CloseChannel {
                    relid: relid(m.child_relid)?,
                })
            }
            MessageType::GPADL_HEADER => {
                let m: GpadlHeader = fixed(b, t)?;
                let buflen = usize::from(m.range_buflen);
                // Each range is at least its 8-byte header and one PFN.
                let min = usize::from(m.rangecount)
                    .checked_mul(16)
                    .ok_or(DecodeError::BadLength)?;
                if m.rangecount == 0 || buflen % 8 != 0 || buflen < min {
                    return Err(DecodeError::BadLength);
                }
                let data: Words<GPADL_HEADER_WORDS> = words(b, GpadlHeader::SIZE)?;
                if data.len().checked_mul(8).ok_or(DecodeError::BadLength)? > buflen {
                    return Err(DecodeError::BadLength);
                }
                Ok(Self::GpadlHeader {
                    relid: relid(m.child_relid)?,
                    gpadl: gpadl(m.gpadl)?,
                    range_buflen: m.range_buflen,
                    rangecount: m.rangecount,
                    data,
                })
            }
            MessageType::GPADL_BODY => {
                let m: GpadlBody = fixed(b, t)?;
                Ok(Self::GpadlBody {
                    msgnumber: m.msgnumber,
                    gpadl: gpadl(m.gpadl)?,
                    data: words(b, GpadlBody::SIZE)?,
                })
            }
            MessageType::GPADL_TEARDOWN => {
                let m: GpadlTeardown = fixed(b, t)?;
                Ok(Self::GpadlTeardown {
                    relid: relid(m.child_relid)?,
                    gpadl: gpadl(m.gpadl)?,
                })
            }
            MessageType::RELID_RELEASED => {
                let m: RelidReleased = fixed(b, t)?;
                Ok(Self::RelidReleased {
                    relid: relid(m.child_relid)?,
                })
            }
            MessageType::INITIATE_CONTACT => {
                let m: InitiateContact = fixed(b, t)?;
                Ok(Self::InitiateContact(ContactRequest {
                    version: Version(m.vmbus_version_requested),
                    target_vcpu: m.target_vcpu,
                    interrupt_page_or_target_info: m.interrupt_page_or_target_info,
                    monitor_page1: m.monitor_page1,
                    monitor_page2: m.monitor_page2,
                }))
            }
            MessageType::UNLOAD => {
                let _: EmptyMessage = fixed(b, t)?;
                Ok(Self::Unload)
            }
            MessageType::TL_CONNECT_REQUEST => {
                let m: TlConnectRequest = fixed(b, t)?;
                Ok(Self::TlConnectRequest {
                    endpoint_id: m.guest_endpoint_id,
                    service_id: m.host_service_id,
                })
            }
            MessageType::MODIFY_CHANNEL => {
                let m: ModifyChannel = fixed(b, t)?;
                Ok(Self::ModifyChannel {
                    relid: relid(m.child_relid)?,
                    target_vp: m.target_vp,
                })
            }
            t if is_known(t) => Err(DecodeError::UnexpectedType(t)),
            t => Err(DecodeError::UnknownType(t)),
        }
    }

    /// The message type.
    pub fn msgtype(&self) -> MessageType {
        match self {
            Self::RequestOffers => MessageType::REQUEST_OFFERS,
            Self::OpenChannel(_) => MessageType::OPEN_CHANNEL,
            Self::CloseChannel { .. } => MessageType::CLOSE_CHANNEL,
            Self::GpadlHeader { .. } => MessageType::GPADL_HEADER,
            Self::GpadlBody { .. } => MessageType::GPADL_BODY,
            Self::GpadlTeardown { .. } => MessageType::GPADL_TEARDOWN,
            Self::RelidReleased { .. } => MessageType::RELID_RELEASED,
            Self::InitiateContact(_) => MessageType::INITIATE_CONTACT,
            Self::Unload => MessageType::UNLOAD,
            Self::TlConnectRequest { .. } => MessageType::TL_CONNECT_REQUEST,
            Self::ModifyChannel { .. } => MessageType::MODIFY_CHANNEL,
        }
    }

    /// The relid the message is about, if it names one.
    pub fn relid(&self) -> Option<Relid> {
        match *self {
            Self::OpenChannel(o) => Some(o.relid),
            Self::CloseChannel { relid }
            | Self::GpadlHeader { relid, .. }
            | Self::GpadlTeardown { relid, .. }
            | Self::RelidReleased { relid }
            | Self::ModifyChannel { relid, .. } => Some(relid),
            _ => None,
        }
    }

    /// Encodes the message (as the guest sends it).
    pub fn encode(&self) -> Encoded {
        let mut e = Encoded::new();
        let h = hdr(self.msgtype());
        match *self {
            Self::RequestOffers | Self::Unload => e.push(&EmptyMessage { header: h }),
            Self::OpenChannel(o) => e.push(&OpenChannel {
                header: h,
                child_relid: o.relid.get(),
                openid: o.open_id,
                ringbuffer_gpadlhandle: o.ring_gpadl.get(),
                target_vp: o.target_vp,
                downstream_ringbuffer_pageoffset: o.downstream_page_offset,
                userdata: o.user_data,
            }),
            Self::CloseChannel { relid } => e.push(&CloseChannel {
                header: h,
                child_relid: relid.get(),
            }),
            Self::GpadlHeader {
                relid,
                gpadl,
                range_buflen,
                rangecount,
                ref data,
            } => {
                e.push(&GpadlHeader {
                    header: h,
                    child_relid: relid.get(),
                    gpadl: gpadl.get(),
                    range_buflen,
                    rangecount,
                });
                for w in data.as_slice() {
                    e.push(w);
                }
            }
            Self::GpadlBody {
                msgnumber,
                gpadl,
                ref data,
            } => {
                e.push(&GpadlBody {
                    header: h,
                    msgnumber,
                    gpadl: gpadl.get(),
                });
                for w in data.as_slice() {
                    e.push(w);
                }
            }
            Self::GpadlTeardown { relid, gpadl } => e.push(&GpadlTeardown {
                header: h,
                child_relid: relid.get(),
                gpadl: gpadl.get(),
            }),
            Self::RelidReleased { relid } => e.push(&RelidReleased {
                header: h,
                child_relid: relid.get(),
            }),
            Self::InitiateContact(c) => e.push(&InitiateContact {
                header: h,
                vmbus_version_requested: c.version.0,
                target_vcpu: c.target_vcpu,
                interrupt_page_or_target_info: c.interrupt_page_or_target_info,
                monitor_page1: c.monitor_page1,
                monitor_page2: c.monitor_page2,
            }),
            Self::TlConnectRequest {
                endpoint_id,
                service_id,
            } => e.push(&TlConnectRequest {
                header: h,
                guest_endpoint_id: endpoint_id,
                host_service_id: service_id,
            }),
            Self::ModifyChannel { relid, target_vp } => e.push(&ModifyChannel {
                header: h,
                child_relid: relid.get(),
                target_vp,
            }),
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::channel_msg::TargetInfo;
    use super::*;

    fn r(v: u32) -> Relid {
        Relid::new(v).unwrap()
    }

    fn g(v: u32) -> GpadlId {
        GpadlId::new(v).unwrap()
    }

    fn sample_offer() -> Offer {
        let mut offer = ChannelOffer::zeroed();
        offer.if_type = Guid([1; 16]);
        offer.if_instance = Guid([2; 16]);
        offer.sub_channel_index = 3;
        Offer {
            offer,
            relid: r(14),
            monitor_id: MonitorId::new(5),
            dedicated_interrupt: true,
            connection_id: 0x1_0000 + 14,
        }
    }

    fn host_samples() -> [HostMessage; 11] {
        [
            HostMessage::Offer(sample_offer()),
            HostMessage::Rescind { relid: r(7) },
            HostMessage::AllOffersDelivered,
            HostMessage::OpenResult {
                relid: r(3),
                open_id: 9,
                status: 0,
            },
            HostMessage::GpadlCreated {
                relid: r(3),
                gpadl: g(0xe1e10),
                status: 0,
            },
            HostMessage::GpadlTorndown { gpadl: g(0xe1e10) },
            HostMessage::VersionResponse(VersionReply {
                supported: true,
                connection_state: 0,
                msg_conn_id: 4,
                supported_features: None,
            }),
            HostMessage::VersionResponse(VersionReply {
                supported: true,
                connection_state: 0,
                msg_conn_id: 4,
                supported_features: Some(0x10),
            }),
            HostMessage::UnloadResponse,
            HostMessage::ModifyChannelResponse {
                relid: r(2047),
                status: 5,
            },
            HostMessage::TlConnectResult {
                endpoint_id: Guid([3; 16]),
                service_id: Guid([4; 16]),
                status: 0xc000_0001,
            },
        ]
    }

    fn guest_samples() -> [GuestMessage; 12] {
        [
            GuestMessage::RequestOffers,
            GuestMessage::OpenChannel(OpenRequest {
                relid: r(1),
                open_id: 1,
                ring_gpadl: g(2),
                target_vp: 3,
                downstream_page_offset: 4,
                user_data: [7; 120],
            }),
            GuestMessage::CloseChannel { relid: r(1) },
            GuestMessage::GpadlHeader {
                relid: r(1),
                gpadl: g(2),
                range_buflen: 8 * 30,
                rangecount: 1,
                data: Words::from_slice(&[0x1000_0000_0000u64; 26]).unwrap(),
            },
            GuestMessage::GpadlBody {
                msgnumber: 0,
                gpadl: g(2),
                data: Words::from_slice(&[5u64; 3]).unwrap(),
            },
            GuestMessage::GpadlTeardown {
                relid: r(1),
                gpadl: g(2),
            },
            GuestMessage::RelidReleased { relid: r(1) },
            GuestMessage::InitiateContact(ContactRequest {
                version: Version::V5_3,
                target_vcpu: 0,
                interrupt_page_or_target_info: TargetInfo {
                    msg_sint: 2,
                    msg_vtl: 0,
                    feature_flags: 0,
                }
                .to_u64(),
                monitor_page1: 0x1000,
                monitor_page2: 0x2000,
            }),
            GuestMessage::Unload,
            GuestMessage::TlConnectRequest {
                endpoint_id: Guid([8; 16]),
                service_id: Guid([9; 16]),
            },
            GuestMessage::ModifyChannel {
                relid: r(9),
                target_vp: 2,
            },
            GuestMessage::RequestOffers,
        ]
    }

    #[test]
    fn host_round_trip_and_sizes() {
        let sizes = [196, 12, 8, 20, 20, 12, 16, 20, 8, 16, 44];
        for (m, size) in host_samples().iter().zip(sizes) {
            let e = m.encode();
            assert_eq!(e.as_bytes().len(), size, "{m:?}");
            assert_eq!(HostMessage::decode(e.as_bytes()), Ok(*m));
            assert_eq!(peek_type(e.as_bytes()), Ok(m.msgtype()));
            assert!(matches!(
                GuestMessage::decode(e.as_bytes()),
                Err(DecodeError::UnexpectedType(_))
            ));
            // Every strict prefix that still has a header is too short.
            for n in 8..size {
                if size == 20 && n >= 16 && matches!(m, HostMessage::VersionResponse(_)) {
                    continue;
                }
                assert!(
                    matches!(
                        HostMessage::decode(&e.as_bytes()[..n]),
                        Err(DecodeError::TooShort { .. })
                    ),
                    "{m:?} {n}"
                );
            }
        }
    }

    #[test]
    fn guest_round_trip_and_sizes() {
        let sizes = [8, 148, 12, 20 + 26 * 8, 16 + 24, 16, 12, 40, 8, 40, 16, 8];
        for (m, size) in guest_samples().iter().zip(sizes) {
            let e = m.encode();
            assert_eq!(e.as_bytes().len(), size, "{m:?}");
            assert_eq!(GuestMessage::decode(e.as_bytes()), Ok(*m));
            assert!(matches!(
                HostMessage::decode(e.as_bytes()),
                Err(DecodeError::UnexpectedType(_))
            ));
        }
    }

    #[test]
    fn bad_values() {
        assert_eq!(
            HostMessage::decode(&[1, 0, 0]),
            Err(DecodeError::NoHeader(3))
        );
        assert_eq!(
            HostMessage::decode(&[0; 241]),
            Err(DecodeError::TooLong(241))
        );
        let mut b = [0u8; 16];
        b[0] = 19;
        assert_eq!(
            HostMessage::decode(&b),
            Err(DecodeError::UnknownType(MessageType(19)))
        );
        b[0] = 0;
        assert_eq!(
            HostMessage::decode(&b),
            Err(DecodeError::UnknownType(MessageType::INVALID))
        );

        let mut e = HostMessage::Rescind { relid: r(7) }.encode();
        e.bytes[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            HostMessage::decode(e.as_bytes()),
            Err(DecodeError::BadRelid(0))
        );
        e.bytes[8..12].copy_from_slice(&2048u32.to_le_bytes());
        assert_eq!(
            HostMessage::decode(e.as_bytes()),
            Err(DecodeError::BadRelid(2048))
        );

        let mut e = HostMessage::Offer(sample_offer()).encode();
        e.bytes[188] = 200;
        assert_eq!(
            HostMessage::decode(e.as_bytes()),
            Err(DecodeError::BadMonitorId(200))
        );
        e.bytes[189] = 0;
        assert!(HostMessage::decode(e.as_bytes()).is_ok());
        e.bytes[180..182].copy_from_slice(&4000u16.to_le_bytes());
        assert_eq!(
            HostMessage::decode(e.as_bytes()),
            Err(DecodeError::BadSubChannelIndex(4000))
        );

        let mut e = HostMessage::GpadlTorndown { gpadl: g(1) }.encode();
        e.bytes[8] = 0;
        assert_eq!(
            HostMessage::decode(e.as_bytes()),
            Err(DecodeError::BadGpadlHandle(0))
        );
    }

    #[test]
    fn gpadl_header_lengths() {
        let m = guest_samples()[3];
        let mut e = m.encode();
        // range_buflen smaller than the data carried.
        e.bytes[16..18].copy_from_slice(&(8u16 * 20).to_le_bytes());
        assert_eq!(
            GuestMessage::decode(e.as_bytes()),
            Err(DecodeError::BadLength)
        );
        // Not a multiple of 8.
        e.bytes[16..18].copy_from_slice(&(8u16 * 30 + 1).to_le_bytes());
        assert_eq!(
            GuestMessage::decode(e.as_bytes()),
            Err(DecodeError::BadLength)
        );
        // No ranges.
        e.bytes[16..18].copy_from_slice(&(8u16 * 30).to_le_bytes());
        e.bytes[18..20].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(
            GuestMessage::decode(e.as_bytes()),
            Err(DecodeError::BadLength)
        );
        // Ranges that cannot fit in range_buflen.
        e.bytes[18..20].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(
            GuestMessage::decode(e.as_bytes()),
            Err(DecodeError::BadLength)
        );
        // A ragged tail.
        let e = m.encode();
        assert_eq!(
            GuestMessage::decode(&e.as_bytes()[..e.as_bytes().len() - 3]),
            Err(DecodeError::BadLength)
        );
        // A body with no words.
        let e = guest_samples()[4].encode();
        assert_eq!(
            GuestMessage::decode(&e.as_bytes()[..16]),
            Err(DecodeError::BadLength)
        );
    }
}
