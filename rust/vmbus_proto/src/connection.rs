// SPDX-License-Identifier: GPL-2.0

//! The connection state machine: version negotiation, offers, unload, and
//! reconnection after resume.
//!
//! ```text
//! Disconnected --Connect--> Contacting --VersionResponse(accepted)--> Connected
//!   ^  ^                        |  ^ rejected: next version              |
//!   |  +-----ContactFailed------+--+                                     |
//!   +--------UnloadResponse------ Unloading <-------Unload--------------+
//!            (or no answer, or no UNLOAD before 3.0)
//! Suspended <--UnloadResponse-- Unloading <--Suspend-- Connected
//! Suspended --Resume--> Contacting (the saved version only) --> Connected
//! ```
//!
//! Contacting always ends: every version refused, a post of
//! `INITIATE_CONTACT` that failed for good, an unusable acceptance, or the
//! saved version refused on resume each lead to `Disconnected` with
//! [`ConnectionAction::ContactFailed`], which says whether the host may
//! hold the pages the guest named ([`ContactFailure::host_holds_pages`]).
//! Unloading always ends too: with `UNLOAD_RESPONSE` the host gave back
//! everything; after a timeout or a post of `UNLOAD` that failed, it did
//! not ([`ConnectionAction::Disconnected`]'s `host_released`). Hosts before
//! 3.0 (Windows Server 2012) do not know `UNLOAD`: as Linux does, the
//! guest does not send it to them.
//!
//! [`ConnectionState::on_event`] is total: an event that is invalid in the
//! current state is a [`ConnectionError`], and since states are `Copy` the
//! caller's state is unchanged by a failed step. Messages about channels
//! and GPADLs are handed on as actions for the channel state machines.
//!
//! ```
//! use vmbus_proto::connection::{ConnectionAction, ConnectionEvent, ConnectionState};
//! use vmbus_proto::message::{HostMessage, VersionReply};
//! use vmbus_proto::version::{ContactConfig, Version};
//!
//! let s = ConnectionState::Disconnected;
//! let (s, a) = s.on_event(ConnectionEvent::Connect(ContactConfig::default())).unwrap();
//! assert!(matches!(a.get(0), Some(ConnectionAction::Post { connection_id: 4, .. })));
//! let reply = VersionReply { supported: true, connection_state: 0, msg_conn_id: 4,
//!     supported_features: None };
//! let (s, a) = s.on_event(ConnectionEvent::Host(HostMessage::VersionResponse(reply))).unwrap();
//! assert!(matches!(s, ConnectionState::Connected { version: Version::V6_0, .. }));
//! assert!(matches!(a.get(0), Some(ConnectionAction::Connected { .. })));
//! ```

use super::message::{GuestMessage, HostMessage, Offer};
use super::types::{Actions, Relid};
use super::version::{Attempt, ContactConfig, Negotiation, NegotiationError, Outcome, Version};
use super::wire::channel_msg::MessageType;
use super::wire::Guid;

/// Where the initial offers stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffersPhase {
    /// `REQUEST_OFFERS` not sent yet.
    NotRequested,
    /// Sent; offers are arriving.
    Requested,
    /// `ALL_OFFERS_DELIVERED` arrived.
    AllDelivered,
}

/// The connection's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// No connection.
    Disconnected,
    /// `INITIATE_CONTACT` posted; waiting for the version response.
    Contacting {
        /// The configuration.
        cfg: ContactConfig,
        /// The attempt in flight.
        attempt: Attempt,
        /// Whether this reconnects after resume (only the saved version).
        resume: bool,
    },
    /// Connected.
    Connected {
        /// The version in use.
        version: Version,
        /// The connection id for messages.
        msg_conn_id: u32,
        /// Features agreed (6.0).
        features: u32,
        /// The configuration used to connect.
        cfg: ContactConfig,
        /// Where the initial offers stand.
        offers: OffersPhase,
    },
    /// `UNLOAD` posted; waiting for `UNLOAD_RESPONSE`.
    Unloading {
        /// The version that was in use.
        version: Version,
        /// The configuration used to connect.
        cfg: ContactConfig,
        /// Whether this is for suspend (then the version is kept).
        suspend: bool,
    },
    /// Unloaded for suspend; resume reconnects with the same version.
    Suspended {
        /// The version to reconnect with.
        version: Version,
        /// The configuration used to connect.
        cfg: ContactConfig,
    },
}

/// Events for the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// Start connecting.
    Connect(ContactConfig),
    /// The last post failed; `invalid_connection_id` if the hypervisor said
    /// the connection id does not exist.
    PostFailed {
        /// The failure was `HV_STATUS_INVALID_CONNECTION_ID`.
        invalid_connection_id: bool,
    },
    /// A validated message from the host.
    Host(HostMessage),
    /// Ask for the offers.
    RequestOffers,
    /// Disconnect.
    Unload,
    /// Disconnect for suspend.
    Suspend,
    /// Reconnect after resume, with new page addresses.
    Resume(ContactConfig),
    /// The awaited answer did not come in time.
    Timeout,
}

/// What the caller must do after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionAction {
    /// Post a message to `connection_id`.
    Post {
        /// The connection id.
        connection_id: u32,
        /// The message.
        message: GuestMessage,
    },
    /// The connection is up.
    Connected {
        /// The version.
        version: Version,
        /// The connection id for messages.
        msg_conn_id: u32,
        /// Features agreed.
        features: u32,
    },
    /// A new offer: create a channel.
    Offer(Offer),
    /// A rescind: hand it to the channel.
    Rescind(Relid),
    /// The initial offers are all there.
    AllOffersDelivered,
    /// A message for the channel with this relid.
    ToChannel(Relid, HostMessage),
    /// `GPADL_TORNDOWN`, for whichever channel owns the GPADL.
    GpadlTorndown(HostMessage),
    /// The answer to a hv_sock connect request.
    TlConnectResult {
        /// The guest endpoint.
        endpoint_id: Guid,
        /// The host service.
        service_id: Guid,
        /// The status.
        status: u32,
    },
    /// A message dropped because the connection is going down.
    Dropped(MessageType),
    /// Contacting the host failed; the connection is down.
    ContactFailed(ContactFailure),
    /// The connection is down.
    Disconnected {
        /// The host answered `UNLOAD`: it let go of every page the guest
        /// gave it. Otherwise (no answer, the post failed, or a host too
        /// old for `UNLOAD`) it may still hold them.
        host_released: bool,
    },
    /// The connection is down and can be resumed.
    Suspended {
        /// As for [`ConnectionAction::Disconnected`].
        host_released: bool,
    },
}

/// Why contacting the host failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactFailure {
    /// The host refused every version in range.
    NoCommonVersion,
    /// The post of `INITIATE_CONTACT` failed for good (after the retries
    /// the caller makes), and no connection id or version was left to try.
    PostFailed,
    /// The host accepted a version but its answer cannot be used.
    Unusable(NegotiationError),
    /// On resume, the host refused the version saved at suspend.
    ResumeRejected(Version),
}

impl ContactFailure {
    /// Whether the host may hold the interrupt and monitor pages named in
    /// `INITIATE_CONTACT`: only after it accepted a version. A refused
    /// version or a failed post leaves them with the guest.
    pub fn host_holds_pages(self) -> bool {
        matches!(self, Self::Unusable(_))
    }
}

/// The state names, for errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateName {
    /// [`ConnectionState::Disconnected`].
    Disconnected,
    /// [`ConnectionState::Contacting`].
    Contacting,
    /// [`ConnectionState::Connected`].
    Connected,
    /// [`ConnectionState::Unloading`].
    Unloading,
    /// [`ConnectionState::Suspended`].
    Suspended,
}

/// Connection errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionError {
    /// The event is not valid in this state.
    InvalidEvent(StateName),
    /// The host sent a message that is not valid in this state.
    UnexpectedMessage(StateName, MessageType),
    /// Negotiation could not start (no version in the configured range).
    Negotiation(NegotiationError),
    /// The host did not answer.
    Timeout,
}

/// The actions of one step.
pub type ConnectionActions = Actions<ConnectionAction, 2>;

impl ConnectionState {
    /// The state's name.
    pub fn name(&self) -> StateName {
        match self {
            Self::Disconnected => StateName::Disconnected,
            Self::Contacting { .. } => StateName::Contacting,
            Self::Connected { .. } => StateName::Connected,
            Self::Unloading { .. } => StateName::Unloading,
            Self::Suspended { .. } => StateName::Suspended,
        }
    }

    /// The connection id for channel messages, when connected.
    pub fn message_connection_id(&self) -> Option<u32> {
        match self {
            Self::Connected { msg_conn_id, .. } => Some(*msg_conn_id),
            _ => None,
        }
    }

    /// The version in use, when connected.
    pub fn version(&self) -> Option<Version> {
        match self {
            Self::Connected { version, .. } => Some(*version),
            _ => None,
        }
    }

    fn contact(cfg: ContactConfig, attempt: Attempt, resume: bool) -> (Self, ConnectionActions) {
        let post = ConnectionAction::Post {
            connection_id: attempt.connection_id,
            message: attempt.message(),
        };
        (
            Self::Contacting {
                cfg,
                attempt,
                resume,
            },
            Actions::one(post),
        )
    }

    /// The end of contacting: down, and why.
    fn contact_failed(why: ContactFailure) -> (Self, ConnectionActions) {
        (
            Self::Disconnected,
            Actions::one(ConnectionAction::ContactFailed(why)),
        )
    }

    /// The end of unloading (or of a connection to a host too old for
    /// `UNLOAD`): disconnected, or suspended with the version kept.
    fn unloaded(
        version: Version,
        cfg: ContactConfig,
        suspend: bool,
        host_released: bool,
    ) -> (Self, ConnectionActions) {
        if suspend {
            (
                Self::Suspended { version, cfg },
                Actions::one(ConnectionAction::Suspended { host_released }),
            )
        } else {
            (
                Self::Disconnected,
                Actions::one(ConnectionAction::Disconnected { host_released }),
            )
        }
    }

    /// Applies an event.
    pub fn on_event(
        self,
        ev: ConnectionEvent,
    ) -> Result<(Self, ConnectionActions), ConnectionError> {
        let name = self.name();
        let invalid = ConnectionError::InvalidEvent(name);
        match (self, ev) {
            (Self::Disconnected, ConnectionEvent::Connect(cfg)) => {
                let a = Negotiation::start(&cfg).map_err(ConnectionError::Negotiation)?;
                Ok(Self::contact(cfg, a, false))
            }
            (Self::Suspended { version, .. }, ConnectionEvent::Resume(cfg)) => Ok(Self::contact(
                cfg,
                Negotiation::first_for(&cfg, version),
                true,
            )),
            (
                Self::Contacting {
                    cfg,
                    attempt,
                    resume,
                },
                ConnectionEvent::PostFailed {
                    invalid_connection_id,
                },
            ) => {
                if !invalid_connection_id {
                    return Ok(Self::contact_failed(ContactFailure::PostFailed));
                }
                Ok(match Negotiation::after_rejection(&cfg, &attempt, true) {
                    Ok(next) if resume && next.version != attempt.version => {
                        Self::contact_failed(ContactFailure::ResumeRejected(attempt.version))
                    }
                    Ok(next) => Self::contact(cfg, next, resume),
                    Err(_) => Self::contact_failed(ContactFailure::PostFailed),
                })
            }
            (
                Self::Contacting {
                    cfg,
                    attempt,
                    resume,
                },
                ConnectionEvent::Host(HostMessage::VersionResponse(reply)),
            ) => match Negotiation::on_reply(&cfg, &attempt, &reply) {
                Err(NegotiationError::NoCommonVersion) => {
                    Ok(Self::contact_failed(ContactFailure::NoCommonVersion))
                }
                Err(e) => Ok(Self::contact_failed(ContactFailure::Unusable(e))),
                Ok(Outcome::Accepted {
                    version,
                    msg_conn_id,
                    features,
                }) => Ok((
                    Self::Connected {
                        version,
                        msg_conn_id,
                        features,
                        cfg,
                        offers: OffersPhase::NotRequested,
                    },
                    Actions::one(ConnectionAction::Connected {
                        version,
                        msg_conn_id,
                        features,
                    }),
                )),
                Ok(Outcome::Retry(_)) if resume => Ok(Self::contact_failed(
                    ContactFailure::ResumeRejected(attempt.version),
                )),
                Ok(Outcome::Retry(next)) => Ok(Self::contact(cfg, next, resume)),
            },
            (Self::Contacting { .. }, ConnectionEvent::Timeout) => Err(ConnectionError::Timeout),
            (
                s @ Self::Connected {
                    msg_conn_id,
                    offers: OffersPhase::NotRequested,
                    ..
                },
                ConnectionEvent::RequestOffers,
            ) => {
                let Self::Connected {
                    version,
                    features,
                    cfg,
                    ..
                } = s
                else {
                    return Err(invalid);
                };
                Ok((
                    Self::Connected {
                        version,
                        msg_conn_id,
                        features,
                        cfg,
                        offers: OffersPhase::Requested,
                    },
                    Actions::one(ConnectionAction::Post {
                        connection_id: msg_conn_id,
                        message: GuestMessage::RequestOffers,
                    }),
                ))
            }
            (
                Self::Connected {
                    version,
                    msg_conn_id,
                    cfg,
                    ..
                },
                ev @ (ConnectionEvent::Unload | ConnectionEvent::Suspend),
            ) => {
                let suspend = ev == ConnectionEvent::Suspend;
                if !version.has_unload() {
                    // Nothing to wait for: the host never answers.
                    return Ok(Self::unloaded(version, cfg, suspend, false));
                }
                Ok((
                    Self::Unloading {
                        version,
                        cfg,
                        suspend,
                    },
                    Actions::one(ConnectionAction::Post {
                        connection_id: msg_conn_id,
                        message: GuestMessage::Unload,
                    }),
                ))
            }
            (s @ Self::Connected { .. }, ConnectionEvent::Host(m)) => s.connected_message(m),
            (
                Self::Unloading {
                    version,
                    cfg,
                    suspend,
                },
                ev @ (ConnectionEvent::Host(HostMessage::UnloadResponse)
                | ConnectionEvent::Timeout
                | ConnectionEvent::PostFailed { .. }),
            ) => Ok(Self::unloaded(
                version,
                cfg,
                suspend,
                ev == ConnectionEvent::Host(HostMessage::UnloadResponse),
            )),
            (s @ Self::Unloading { .. }, ConnectionEvent::Host(m)) => {
                Ok((s, Actions::one(ConnectionAction::Dropped(m.msgtype()))))
            }
            (_, ConnectionEvent::Host(m)) => {
                Err(ConnectionError::UnexpectedMessage(name, m.msgtype()))
            }
            _ => Err(invalid),
        }
    }

    /// A host message while connected.
    fn connected_message(
        self,
        m: HostMessage,
    ) -> Result<(Self, ConnectionActions), ConnectionError> {
        let unexpected = ConnectionError::UnexpectedMessage(StateName::Connected, m.msgtype());
        let a = match m {
            HostMessage::Offer(o) => ConnectionAction::Offer(o),
            HostMessage::Rescind { relid } => ConnectionAction::Rescind(relid),
            HostMessage::AllOffersDelivered => {
                return match self {
                    Self::Connected {
                        version,
                        msg_conn_id,
                        features,
                        cfg,
                        offers: OffersPhase::Requested,
                    } => Ok((
                        Self::Connected {
                            version,
                            msg_conn_id,
                            features,
                            cfg,
                            offers: OffersPhase::AllDelivered,
                        },
                        Actions::one(ConnectionAction::AllOffersDelivered),
                    )),
                    _ => Err(unexpected),
                };
            }
            HostMessage::OpenResult { relid, .. }
            | HostMessage::GpadlCreated { relid, .. }
            | HostMessage::ModifyChannelResponse { relid, .. } => {
                ConnectionAction::ToChannel(relid, m)
            }
            HostMessage::GpadlTorndown { .. } => ConnectionAction::GpadlTorndown(m),
            HostMessage::TlConnectResult {
                endpoint_id,
                service_id,
                status,
            } => ConnectionAction::TlConnectResult {
                endpoint_id,
                service_id,
                status,
            },
            HostMessage::VersionResponse(_) | HostMessage::UnloadResponse => {
                return Err(unexpected)
            }
        };
        Ok((self, Actions::one(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::VersionReply;
    use super::super::version::HostProfile;
    use super::*;

    fn reply(ok: bool, id: u32) -> ConnectionEvent {
        ConnectionEvent::Host(HostMessage::VersionResponse(VersionReply {
            supported: ok,
            connection_state: 0,
            msg_conn_id: id,
            supported_features: None,
        }))
    }

    /// Drives the state machine against a host profile; a failed contact
    /// is the error.
    fn connect(
        profile: &HostProfile,
        cfg: ContactConfig,
        mut s: ConnectionState,
        ev: ConnectionEvent,
    ) -> Result<ConnectionState, ContactFailure> {
        let (mut st, mut acts) = s.on_event(ev).unwrap();
        for _ in 0..20 {
            s = st;
            if let Some(ConnectionAction::ContactFailed(why)) = acts.get(0) {
                assert_eq!(s, ConnectionState::Disconnected);
                return Err(why);
            }
            let Some(ConnectionAction::Post {
                connection_id,
                message: GuestMessage::InitiateContact(req),
            }) = acts.get(0)
            else {
                return Ok(s);
            };
            let next = if profile.accepts_connection_id(connection_id) {
                let (r, _) = profile.answer(&req, connection_id);
                ConnectionEvent::Host(HostMessage::VersionResponse(r))
            } else {
                ConnectionEvent::PostFailed {
                    invalid_connection_id: true,
                }
            };
            (st, acts) = s.on_event(next).unwrap();
        }
        let _ = cfg;
        panic!("no end")
    }

    #[test]
    fn connect_unload_suspend_resume() {
        let cfg = ContactConfig::default();
        let s = connect(
            &HostProfile::QEMU,
            cfg,
            ConnectionState::Disconnected,
            ConnectionEvent::Connect(cfg),
        )
        .unwrap();
        assert_eq!(s.version(), Some(Version::WIN10));
        assert_eq!(s.message_connection_id(), Some(1));
        let (s, a) = s.on_event(ConnectionEvent::RequestOffers).unwrap();
        assert!(matches!(
            a.get(0),
            Some(ConnectionAction::Post {
                connection_id: 1,
                message: GuestMessage::RequestOffers
            })
        ));
        assert_eq!(
            s.on_event(ConnectionEvent::RequestOffers),
            Err(ConnectionError::InvalidEvent(StateName::Connected))
        );
        let (s, a) = s
            .on_event(ConnectionEvent::Host(HostMessage::AllOffersDelivered))
            .unwrap();
        assert_eq!(a.get(0), Some(ConnectionAction::AllOffersDelivered));
        assert!(s
            .on_event(ConnectionEvent::Host(HostMessage::AllOffersDelivered))
            .is_err());
        let (s, _) = s.on_event(ConnectionEvent::Suspend).unwrap();
        let (s, a) = s
            .on_event(ConnectionEvent::Host(HostMessage::Rescind {
                relid: Relid::new(1).unwrap(),
            }))
            .unwrap();
        assert_eq!(
            a.get(0),
            Some(ConnectionAction::Dropped(
                MessageType::RESCIND_CHANNEL_OFFER
            ))
        );
        let (s, a) = s
            .on_event(ConnectionEvent::Host(HostMessage::UnloadResponse))
            .unwrap();
        assert_eq!(
            a.get(0),
            Some(ConnectionAction::Suspended {
                host_released: true
            })
        );
        // Resume against the same host: same version.
        let s2 = connect(&HostProfile::QEMU, cfg, s, ConnectionEvent::Resume(cfg)).unwrap();
        assert_eq!(s2.version(), Some(Version::WIN10));
        // Resume against a host that lost that version: typed error.
        assert_eq!(
            connect(
                &HostProfile::IRON_COPPER,
                cfg,
                s,
                ConnectionEvent::Resume(cfg)
            ),
            Err(ContactFailure::ResumeRejected(Version::WIN10))
        );
        let (s, _) = s2.on_event(ConnectionEvent::Unload).unwrap();
        let (s, a) = s.on_event(ConnectionEvent::Timeout).unwrap();
        assert_eq!(s, ConnectionState::Disconnected);
        assert_eq!(
            a.get(0),
            Some(ConnectionAction::Disconnected {
                host_released: false
            })
        );
    }

    #[test]
    fn unload_ends_without_an_answer_when_the_post_fails() {
        let cfg = ContactConfig::default();
        let s = connect(
            &HostProfile::HYPERV_2022,
            cfg,
            ConnectionState::Disconnected,
            ConnectionEvent::Connect(cfg),
        )
        .unwrap();
        for ev in [ConnectionEvent::Unload, ConnectionEvent::Suspend] {
            let (u, a) = s.on_event(ev).unwrap();
            assert!(matches!(
                a.get(0),
                Some(ConnectionAction::Post {
                    message: GuestMessage::Unload,
                    ..
                })
            ));
            let (_, a) = u
                .on_event(ConnectionEvent::PostFailed {
                    invalid_connection_id: false,
                })
                .unwrap();
            assert!(matches!(
                a.get(0),
                Some(
                    ConnectionAction::Disconnected {
                        host_released: false
                    } | ConnectionAction::Suspended {
                        host_released: false
                    }
                )
            ));
        }
    }

    /// Windows Server 2012 (2.4) does not know UNLOAD: nothing is posted
    /// and nothing awaited, and the host keeps what it was given.
    #[test]
    fn no_unload_before_3_0() {
        let cfg = ContactConfig::default();
        let ws2012 = HostProfile {
            versions: &[Version::WIN8],
            has_connection_id_4: false,
            msg_conn_id: 1,
            features: 0,
        };
        let s = connect(
            &ws2012,
            cfg,
            ConnectionState::Disconnected,
            ConnectionEvent::Connect(cfg),
        )
        .unwrap();
        assert_eq!(s.version(), Some(Version::WIN8));
        let (d, a) = s.on_event(ConnectionEvent::Unload).unwrap();
        assert_eq!(d, ConnectionState::Disconnected);
        assert_eq!(a.len(), 1);
        assert_eq!(
            a.get(0),
            Some(ConnectionAction::Disconnected {
                host_released: false
            })
        );
        let (d, a) = s.on_event(ConnectionEvent::Suspend).unwrap();
        assert!(matches!(d, ConnectionState::Suspended { .. }));
        assert_eq!(
            a.get(0),
            Some(ConnectionAction::Suspended {
                host_released: false
            })
        );
        // 3.0 does know it.
        let old = connect(
            &HostProfile {
                versions: &[Version::WIN8_1],
                ..ws2012
            },
            cfg,
            ConnectionState::Disconnected,
            ConnectionEvent::Connect(cfg),
        )
        .unwrap();
        let (u, _) = old.on_event(ConnectionEvent::Unload).unwrap();
        assert!(matches!(u, ConnectionState::Unloading { .. }));
    }

    #[test]
    fn profiles() {
        let cfg = ContactConfig::default();
        for (p, v) in [
            (HostProfile::HYPERV_6_0, Version::V6_0),
            (HostProfile::HYPERV_2022, Version::V5_3),
            (HostProfile::IRON_COPPER, Version::V6_0),
        ] {
            let s = connect(
                &p,
                cfg,
                ConnectionState::Disconnected,
                ConnectionEvent::Connect(cfg),
            )
            .unwrap();
            assert_eq!(s.version(), Some(v));
            assert_eq!(s.message_connection_id(), Some(4));
        }
    }

    #[test]
    fn nonsense_and_invalid() {
        let cfg = ContactConfig::default();
        let (s, _) = ConnectionState::Disconnected
            .on_event(ConnectionEvent::Connect(cfg))
            .unwrap();
        let (d, a) = s.on_event(reply(true, 0)).unwrap();
        assert_eq!(d, ConnectionState::Disconnected);
        let Some(ConnectionAction::ContactFailed(why)) = a.get(0) else {
            panic!("{a:?}")
        };
        assert_eq!(
            why,
            ContactFailure::Unusable(NegotiationError::BadConnectionId(0))
        );
        assert!(why.host_holds_pages());
        assert!(matches!(
            s.on_event(ConnectionEvent::Host(HostMessage::UnloadResponse)),
            Err(ConnectionError::UnexpectedMessage(StateName::Contacting, _))
        ));
        assert_eq!(
            s.on_event(ConnectionEvent::Timeout),
            Err(ConnectionError::Timeout)
        );
        assert_eq!(
            s.on_event(ConnectionEvent::PostFailed {
                invalid_connection_id: false
            }),
            Ok((
                ConnectionState::Disconnected,
                Actions::one(ConnectionAction::ContactFailed(ContactFailure::PostFailed))
            ))
        );
        // Rejecting everything ends the contact: disconnected, the pages
        // the guest's.
        let mut s = s;
        let mut n = 0;
        let why = loop {
            let (next, a) = s.on_event(reply(false, 0)).unwrap();
            s = next;
            n += 1;
            if let Some(ConnectionAction::ContactFailed(why)) = a.get(0) {
                break why;
            }
        };
        assert_eq!(n, 9);
        assert_eq!(s, ConnectionState::Disconnected);
        assert_eq!(why, ContactFailure::NoCommonVersion);
        assert!(!why.host_holds_pages());
        assert_eq!(
            ConnectionState::Disconnected.on_event(ConnectionEvent::Unload),
            Err(ConnectionError::InvalidEvent(StateName::Disconnected))
        );
        assert!(matches!(
            ConnectionState::Disconnected.on_event(reply(true, 4)),
            Err(ConnectionError::UnexpectedMessage(
                StateName::Disconnected,
                _
            ))
        ));
    }

    /// The bytes of the `INITIATE_CONTACT` that `actions` posts first, and
    /// the connection id it goes to.
    fn posted_contact(a: &ConnectionActions) -> (u32, [u8; 40]) {
        let Some(ConnectionAction::Post {
            connection_id,
            message: m @ GuestMessage::InitiateContact(_),
        }) = a.get(0)
        else {
            panic!("no INITIATE_CONTACT posted: {:?}", a.get(0));
        };
        let enc = m.encode();
        let mut b = [0u8; 40];
        assert_eq!(enc.as_bytes().len(), 40);
        b.copy_from_slice(enc.as_bytes());
        (connection_id, b)
    }

    /// The guest's VTL goes into `INITIATE_CONTACT` where Linux's
    /// `struct vmbus_channel_initiate_contact` has it: the header (8
    /// bytes), the version (byte 8), the target VP (byte 12), then the
    /// union whose first bytes from 5.0 on are `msg_sint` (byte 16) and
    /// `msg_vtl` (byte 17). A VTL 2 guest first tries the redirect
    /// connection id, as Linux's `vmbus_negotiate_version` does. The
    /// guests of the test runs are all at VTL 0, so only this test sees a
    /// VTL that is not 0 reach the wire.
    #[test]
    fn contact_carries_the_vtl() {
        for vtl in [1u8, 2] {
            let cfg = ContactConfig {
                vtl,
                target_vcpu: 3,
                ..ContactConfig::default()
            };
            let (s, a) = ConnectionState::Disconnected
                .on_event(ConnectionEvent::Connect(cfg))
                .unwrap();
            let (id, b) = posted_contact(&a);
            let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            assert_eq!(word(0), 14, "message type INITIATE_CONTACT");
            assert_eq!(word(8), Version::V6_0.0);
            assert_eq!(word(12), 3);
            assert_eq!(b[16], 2, "msg_sint");
            assert_eq!(b[17], vtl, "msg_vtl");
            let first = if vtl == 2 { 0x80_0074 } else { 4 };
            assert_eq!(id, first);
            // The host refuses 6.0: the next version carries the VTL too.
            let (_, a) = s.on_event(reply(false, 0)).unwrap();
            let (_, b) = posted_contact(&a);
            assert_eq!(
                u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
                Version::V5_3.0
            );
            assert_eq!(b[17], vtl, "msg_vtl of the second try");
        }
    }
}
