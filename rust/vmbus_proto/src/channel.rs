// SPDX-License-Identifier: GPL-2.0

//! The channel state machine: open, close, rescind, suspend and resume.
//!
//! ```text
//! Offered/Closed --Open--> Opening(gpadl) --GpadlCreated--> Opening(open)
//!     --OpenResult(0)--> Open --Close--> Closing --GpadlTorndown--> Closed
//! Open --Modify--> Open (awaiting the answer from 5.3) --ModifyResponse--> Open
//! any state --Rescind--> Rescinded --Release--> Released
//! Rescinded --DriverKeeps--> Rescinded (kept open) --Close or Release--> Released
//! Offered/Closed --Suspend--> Suspended --Reoffer--> Offered
//! Opening(open) --PostFailed(OPEN_CHANNEL)--> Closing (GPADL teardown posted)
//! Closing --PostFailed(CLOSE_CHANNEL or GPADL_TEARDOWN)--> Closed (ring kept)
//! ```
//!
//! A message the guest could not post ([`ChannelEvent::PostFailed`], after
//! the retries of [`super::post`]) gets no answer, so the machine moves on
//! without one: an open whose `OPEN_CHANNEL` did not go out fails and tears
//! its ring GPADL down; a close whose `CLOSE_CHANNEL` or `GPADL_TEARDOWN`
//! did not go out ends closed, with the ring memory kept from reuse
//! ([`ChannelAction::RingKept`]), since the host may still use it. The
//! other actions of the step whose post failed are then stale, and the
//! caller drops them (for a close, the teardown after a failed
//! `CLOSE_CHANNEL`, as Linux does).
//!
//! Opening first creates the ring buffer GPADL (the caller sends the
//! messages of [`super::gpadl::GpadlMessages`] when asked by
//! [`ChannelAction::SendRingGpadl`]), then posts `OPEN_CHANNEL`. Closing
//! posts `CLOSE_CHANNEL` and tears the ring GPADL down; the ring memory
//! belongs to the host until `GPADL_TORNDOWN`. Rescind is a state, reachable
//! from every other state but itself and [`ChannelState::Released`].
//!
//! Moving an open channel's interrupts to another virtual processor posts
//! `MODIFY_CHANNEL` ([`ChannelEvent::Modify`]). Hosts of version 5.3 and
//! later answer with `MODIFY_CHANNEL_RESPONSE`: until then the channel stays
//! [`ChannelState::Open`] with the previous target remembered, one move at a
//! time; a refusal restores the previous target. Older hosts never answer,
//! so the new target holds at once. An answer that no move waits for is an
//! error ([`ChannelError::UnexpectedMessage`]), never a change of target.
//!
//! ```
//! use vmbus_proto::channel::{ChannelAction, ChannelEvent, ChannelState, OpenParams};
//! use vmbus_proto::message::HostMessage;
//! use vmbus_proto::types::{GpadlId, Relid};
//!
//! # let offer = vmbus_proto::channel::tests_support::offer(Relid::new(5).unwrap());
//! let s = ChannelState::offered(&offer);
//! let params = OpenParams::new(1, GpadlId::new(7).unwrap(), 0, 4);
//! let (s, a) = s.on_event(ChannelEvent::Open(params)).unwrap();
//! assert_eq!(a.get(0), Some(ChannelAction::SendRingGpadl(GpadlId::new(7).unwrap())));
//! let relid = Relid::new(5).unwrap();
//! let gpadl = GpadlId::new(7).unwrap();
//! let (s, _) = s
//!     .on_event(ChannelEvent::Host(HostMessage::GpadlCreated { relid, gpadl, status: 0 }))
//!     .unwrap();
//! let (s, a) = s
//!     .on_event(ChannelEvent::Host(HostMessage::OpenResult { relid, open_id: 1, status: 0 }))
//!     .unwrap();
//! assert_eq!(a.get(0), Some(ChannelAction::Opened));
//! assert!(matches!(s, ChannelState::Open { .. }));
//! ```

use super::message::{GuestMessage, HostMessage, Offer, OpenRequest};
use super::types::{Actions, GpadlId, MonitorId, Relid};
use super::wire::channel_msg::{MessageType, MAX_USER_DEFINED_BYTES, OFFER_FLAG_TLNPI_PROVIDER};
use super::wire::Guid;

/// What the guest keeps of an offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The relid.
    pub relid: Relid,
    /// The device class.
    pub if_type: Guid,
    /// The device instance.
    pub if_instance: Guid,
    /// The sub-channel index; zero for a primary channel.
    pub sub_channel_index: u16,
    /// The connection id to signal on.
    pub connection_id: u32,
    /// The monitor id, if monitored.
    pub monitor_id: Option<MonitorId>,
    /// Whether the channel has a dedicated interrupt.
    pub dedicated_interrupt: bool,
    /// The offer's `OFFER_FLAG_*` bits.
    pub chn_flags: u16,
    /// The offer's user-defined area as sent (for a pipe offer, the pipe
    /// mode and then the pipe's own bytes). Nothing in the bus reads it;
    /// drivers of the hv_vmbus interface see it in `offermsg`.
    pub user_def: [u8; MAX_USER_DEFINED_BYTES],
}

impl ChannelInfo {
    /// Extracts the channel information of an offer.
    pub fn from_offer(o: &Offer) -> Self {
        Self {
            relid: o.relid,
            if_type: o.if_type(),
            if_instance: o.if_instance(),
            sub_channel_index: o.sub_channel_index(),
            connection_id: o.connection_id,
            monitor_id: o.monitor_id,
            dedicated_interrupt: o.dedicated_interrupt,
            chn_flags: o.offer.chn_flags,
            user_def: o.offer.user_def,
        }
    }

    /// Whether the offer is a Hyper-V socket connection (Linux's
    /// `is_hvsock_offer()`): a channel that only an hv_sock driver binds,
    /// offered by the host for one connection and rescinded when it ends.
    pub fn is_hvsock(&self) -> bool {
        self.chn_flags & OFFER_FLAG_TLNPI_PROVIDER != 0
    }
}

/// Parameters of an open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenParams {
    /// The open id (echoed in the result).
    pub open_id: u32,
    /// The ring buffer GPADL.
    pub ring_gpadl: GpadlId,
    /// The virtual processor to interrupt.
    pub target_vp: u32,
    /// Page offset of the host → guest ring in the GPADL.
    pub downstream_page_offset: u32,
    /// User data for the host endpoint.
    pub user_data: [u8; MAX_USER_DEFINED_BYTES],
}

impl OpenParams {
    /// Parameters with empty user data.
    pub const fn new(
        open_id: u32,
        ring_gpadl: GpadlId,
        target_vp: u32,
        downstream_page_offset: u32,
    ) -> Self {
        Self {
            open_id,
            ring_gpadl,
            target_vp,
            downstream_page_offset,
            user_data: [0; MAX_USER_DEFINED_BYTES],
        }
    }
}

/// Where an open stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenPhase {
    /// Waiting for the ring GPADL to be created.
    Gpadl,
    /// Waiting for `OPEN_CHANNEL_RESULT`.
    Open,
}

/// A channel's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelState {
    /// Offered, never opened.
    Offered(ChannelInfo),
    /// Opening.
    Opening {
        /// The channel.
        info: ChannelInfo,
        /// The open parameters.
        params: OpenParams,
        /// Where the open stands.
        phase: OpenPhase,
    },
    /// Open.
    Open {
        /// The channel.
        info: ChannelInfo,
        /// The ring GPADL.
        ring_gpadl: GpadlId,
        /// The target virtual processor.
        target_vp: u32,
        /// While a `MODIFY_CHANNEL` waits for the host's answer: the target
        /// before it, restored if the host refuses.
        modify_from: Option<u32>,
    },
    /// Close posted, ring GPADL teardown posted; waiting for
    /// `GPADL_TORNDOWN`.
    Closing {
        /// The channel.
        info: ChannelInfo,
        /// The ring GPADL being torn down.
        ring_gpadl: GpadlId,
    },
    /// Closed; may be opened again.
    Closed(ChannelInfo),
    /// The host withdrew the offer; the guest finishes with it and releases
    /// the relid.
    Rescinded {
        /// The channel.
        info: ChannelInfo,
        /// What the host may still hold of the ring memory.
        ring: RescindedRing,
        /// Its driver keeps the channel open after the rescind
        /// ([`ChannelEvent::DriverKeeps`]), to read the host's last packets
        /// (Linux's hv_netvsc waits for the completions of its sends): the
        /// relid is released at the driver's [`ChannelEvent::Close`].
        kept_open: bool,
    },
    /// The relid was released; the channel is gone.
    Released,
    /// Closed for suspend; waits for the host's offer after resume.
    Suspended(ChannelInfo),
}

/// What the host may still hold of a rescinded channel's ring memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RescindedRing {
    /// Nothing: the ring memory (if any) is the guest's.
    None,
    /// The host may hold this ring GPADL (created, or its creation still
    /// in flight): it is torn down when the relid is released.
    Held(GpadlId),
    /// The teardown of this ring GPADL was posted before the rescind; the
    /// memory is the host's until `GPADL_TORNDOWN`.
    TearingDown(GpadlId),
}

/// Events for a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelEvent {
    /// The driver opens the channel.
    Open(OpenParams),
    /// The driver closes the channel.
    Close,
    /// A message from the host about this channel (or its GPADL).
    Host(HostMessage),
    /// The driver is done with a rescinded channel.
    Release,
    /// The driver keeps a rescinded channel open until it closes it: the
    /// relid is released at that [`ChannelEvent::Close`], not now.
    DriverKeeps,
    /// The system suspends.
    Suspend,
    /// The host's offer after resume.
    Reoffer(Offer),
    /// The driver moves the channel's interrupt.
    Modify {
        /// The new target virtual processor.
        target_vp: u32,
        /// Whether the host answers with `MODIFY_CHANNEL_RESPONSE` (version
        /// 5.3 and later); without an answer the new target holds at once.
        await_response: bool,
    },
    /// The driver gave up waiting for the answer to a modify: the previous
    /// target is restored, and a late answer is unexpected.
    ModifyAbandoned,
    /// The ring GPADL asked for by [`ChannelAction::SendRingGpadl`] could
    /// not be sent (out of memory, or the host refused the post); no
    /// answer will come for it.
    GpadlNotSent,
    /// A [`ChannelAction::Post`] of this message type failed for good: no
    /// answer will come for it.
    PostFailed(MessageType),
}

/// What the caller must do after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelAction {
    /// Post a message.
    Post(GuestMessage),
    /// Send the ring GPADL's header and body messages.
    SendRingGpadl(GpadlId),
    /// The channel is open.
    Opened,
    /// The open failed; the ring GPADL is being torn down.
    OpenFailed(u32),
    /// `OPEN_CHANNEL` could not be posted, so the open failed; the ring
    /// GPADL is being torn down.
    OpenNotSent,
    /// The ring GPADL could not be created; its memory is the guest's.
    GpadlFailed(u32),
    /// The ring GPADL was not sent, so the open failed. Its memory is the
    /// guest's unless part of the GPADL reached the host (the caller
    /// knows).
    GpadlNotSent,
    /// The channel is closed and its ring memory is the guest's again.
    Closed,
    /// The channel is closed, but the host may still hold the ring GPADL
    /// (its close or teardown could not be posted): the ring memory must
    /// not be freed or reused until the host lets go of it (a teardown of
    /// that GPADL, or the answer to `UNLOAD`).
    RingKept(GpadlId),
    /// The channel was rescinded: tell the driver.
    Rescinded,
    /// The relid is released; forget the channel.
    Released,
    /// The channel is back after resume, maybe with a new relid.
    Resumed(ChannelInfo),
    /// The host answered the modify request that was waiting, with this
    /// status; non-zero means it kept the previous target.
    Modified(u32),
}

/// The state names, for errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelStateName {
    /// [`ChannelState::Offered`].
    Offered,
    /// [`ChannelState::Opening`].
    Opening,
    /// [`ChannelState::Open`].
    Open,
    /// [`ChannelState::Closing`].
    Closing,
    /// [`ChannelState::Closed`].
    Closed,
    /// [`ChannelState::Rescinded`].
    Rescinded,
    /// [`ChannelState::Released`].
    Released,
    /// [`ChannelState::Suspended`].
    Suspended,
}

/// Channel errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelError {
    /// The event is not valid in this state.
    InvalidEvent(ChannelStateName),
    /// The host sent a message that is not valid in this state.
    UnexpectedMessage(ChannelStateName, MessageType),
    /// The message names another channel.
    WrongRelid(u32),
    /// The message names another GPADL.
    WrongGpadl(u32),
    /// The open result has another open id.
    WrongOpenId(u32),
    /// The re-offer after resume is for another device.
    WrongDevice,
    /// A modify is already waiting for the host's answer.
    ModifyInFlight,
}

/// The actions of one step.
pub type ChannelActions = Actions<ChannelAction, 3>;

impl ChannelState {
    /// The state of a newly offered channel.
    pub fn offered(o: &Offer) -> Self {
        Self::Offered(ChannelInfo::from_offer(o))
    }

    /// The state's name.
    pub fn name(&self) -> ChannelStateName {
        match self {
            Self::Offered(_) => ChannelStateName::Offered,
            Self::Opening { .. } => ChannelStateName::Opening,
            Self::Open { .. } => ChannelStateName::Open,
            Self::Closing { .. } => ChannelStateName::Closing,
            Self::Closed(_) => ChannelStateName::Closed,
            Self::Rescinded { .. } => ChannelStateName::Rescinded,
            Self::Released => ChannelStateName::Released,
            Self::Suspended(_) => ChannelStateName::Suspended,
        }
    }

    /// The channel information, unless released.
    pub fn info(&self) -> Option<ChannelInfo> {
        match *self {
            Self::Offered(i) | Self::Closed(i) | Self::Suspended(i) => Some(i),
            Self::Opening { info, .. }
            | Self::Open { info, .. }
            | Self::Closing { info, .. }
            | Self::Rescinded { info, .. } => Some(info),
            Self::Released => None,
        }
    }

    /// Whether packets may flow.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open { .. })
    }

    /// Applies an event.
    pub fn on_event(self, ev: ChannelEvent) -> Result<(Self, ChannelActions), ChannelError> {
        let name = self.name();
        if let ChannelEvent::Host(m) = ev {
            if let Some(r) = m.relid() {
                if self.info().is_some_and(|i| i.relid != r) {
                    return Err(ChannelError::WrongRelid(r.get()));
                }
            }
            if let HostMessage::Rescind { .. } = m {
                return self.rescind();
            }
        }
        match (self, ev) {
            (Self::Offered(info) | Self::Closed(info), ChannelEvent::Open(params)) => Ok((
                Self::Opening {
                    info,
                    params,
                    phase: OpenPhase::Gpadl,
                },
                Actions::one(ChannelAction::SendRingGpadl(params.ring_gpadl)),
            )),
            (
                Self::Opening {
                    info,
                    params,
                    phase: OpenPhase::Gpadl,
                },
                ChannelEvent::Host(HostMessage::GpadlCreated { gpadl, status, .. }),
            ) => {
                if gpadl != params.ring_gpadl {
                    return Err(ChannelError::WrongGpadl(gpadl.get()));
                }
                if status != 0 {
                    return Ok((
                        Self::Closed(info),
                        Actions::one(ChannelAction::GpadlFailed(status)),
                    ));
                }
                let open = GuestMessage::OpenChannel(OpenRequest {
                    relid: info.relid,
                    open_id: params.open_id,
                    ring_gpadl: params.ring_gpadl,
                    target_vp: params.target_vp,
                    downstream_page_offset: params.downstream_page_offset,
                    user_data: params.user_data,
                });
                Ok((
                    Self::Opening {
                        info,
                        params,
                        phase: OpenPhase::Open,
                    },
                    Actions::one(ChannelAction::Post(open)),
                ))
            }
            (
                Self::Opening {
                    info,
                    params,
                    phase: OpenPhase::Open,
                },
                ChannelEvent::Host(HostMessage::OpenResult {
                    open_id, status, ..
                }),
            ) => {
                if open_id != params.open_id {
                    return Err(ChannelError::WrongOpenId(open_id));
                }
                if status == 0 {
                    return Ok((
                        Self::Open {
                            info,
                            ring_gpadl: params.ring_gpadl,
                            target_vp: params.target_vp,
                            modify_from: None,
                        },
                        Actions::one(ChannelAction::Opened),
                    ));
                }
                Ok(Self::open_failed(
                    info,
                    params.ring_gpadl,
                    ChannelAction::OpenFailed(status),
                ))
            }
            (
                Self::Open {
                    info, ring_gpadl, ..
                },
                ChannelEvent::Close,
            ) => {
                let mut a = Actions::one(ChannelAction::Post(GuestMessage::CloseChannel {
                    relid: info.relid,
                }));
                a.push(ChannelAction::Post(GuestMessage::GpadlTeardown {
                    relid: info.relid,
                    gpadl: ring_gpadl,
                }));
                Ok((Self::Closing { info, ring_gpadl }, a))
            }
            (
                Self::Open {
                    modify_from: Some(_),
                    ..
                },
                ChannelEvent::Modify { .. },
            ) => Err(ChannelError::ModifyInFlight),
            (
                Self::Open {
                    info,
                    ring_gpadl,
                    target_vp: previous,
                    modify_from: None,
                },
                ChannelEvent::Modify {
                    target_vp,
                    await_response,
                },
            ) => Ok((
                Self::Open {
                    info,
                    ring_gpadl,
                    target_vp,
                    modify_from: if await_response { Some(previous) } else { None },
                },
                Actions::one(ChannelAction::Post(GuestMessage::ModifyChannel {
                    relid: info.relid,
                    target_vp,
                })),
            )),
            (
                Self::Open {
                    info,
                    ring_gpadl,
                    target_vp,
                    modify_from: Some(previous),
                },
                ChannelEvent::Host(HostMessage::ModifyChannelResponse { status, .. }),
            ) => Ok((
                Self::Open {
                    info,
                    ring_gpadl,
                    target_vp: if status == 0 { target_vp } else { previous },
                    modify_from: None,
                },
                Actions::one(ChannelAction::Modified(status)),
            )),
            (
                Self::Open {
                    info,
                    ring_gpadl,
                    modify_from: Some(previous),
                    ..
                },
                ChannelEvent::ModifyAbandoned,
            ) => Ok((
                Self::Open {
                    info,
                    ring_gpadl,
                    target_vp: previous,
                    modify_from: None,
                },
                Actions::none(),
            )),
            (
                Self::Closing { info, ring_gpadl },
                ChannelEvent::Host(HostMessage::GpadlTorndown { gpadl }),
            ) => {
                if gpadl != ring_gpadl {
                    return Err(ChannelError::WrongGpadl(gpadl.get()));
                }
                Ok((Self::Closed(info), Actions::one(ChannelAction::Closed)))
            }
            (Self::Rescinded { info, ring, .. }, ChannelEvent::Release)
            | (
                Self::Rescinded {
                    info,
                    ring,
                    kept_open: true,
                },
                ChannelEvent::Close,
            ) => Ok(Self::release(info, ring)),
            (
                Self::Rescinded {
                    info,
                    ring,
                    kept_open: false,
                },
                ChannelEvent::DriverKeeps,
            ) => Ok((
                Self::Rescinded {
                    info,
                    ring,
                    kept_open: true,
                },
                Actions::none(),
            )),
            // The ring GPADL was refused after all: the memory is ours.
            (
                Self::Rescinded {
                    info,
                    ring: RescindedRing::Held(g),
                    kept_open,
                },
                ChannelEvent::Host(HostMessage::GpadlCreated { gpadl, status, .. }),
            ) if gpadl == g && status != 0 => Ok((
                Self::Rescinded {
                    info,
                    ring: RescindedRing::None,
                    kept_open,
                },
                Actions::one(ChannelAction::GpadlFailed(status)),
            )),
            // The teardown posted before the rescind is done.
            (
                Self::Rescinded {
                    info,
                    ring: RescindedRing::TearingDown(g),
                    kept_open,
                },
                ChannelEvent::Host(HostMessage::GpadlTorndown { gpadl }),
            ) if gpadl == g => Ok((
                Self::Rescinded {
                    info,
                    ring: RescindedRing::None,
                    kept_open,
                },
                Actions::one(ChannelAction::Closed),
            )),
            // Answers that were in flight when the offer was rescinded.
            (s @ Self::Rescinded { .. }, ChannelEvent::Host(_)) => Ok((s, Actions::none())),
            (Self::Offered(info) | Self::Closed(info), ChannelEvent::Suspend) => {
                Ok((Self::Suspended(info), Actions::none()))
            }
            (Self::Suspended(old), ChannelEvent::Reoffer(o)) => {
                let info = ChannelInfo::from_offer(&o);
                if info.if_type != old.if_type
                    || info.if_instance != old.if_instance
                    || info.sub_channel_index != old.sub_channel_index
                {
                    return Err(ChannelError::WrongDevice);
                }
                Ok((
                    Self::Offered(info),
                    Actions::one(ChannelAction::Resumed(info)),
                ))
            }
            (
                Self::Opening {
                    info,
                    phase: OpenPhase::Gpadl,
                    ..
                },
                ChannelEvent::GpadlNotSent,
            ) => Ok((
                Self::Closed(info),
                Actions::one(ChannelAction::GpadlNotSent),
            )),
            (
                Self::Opening {
                    info,
                    params,
                    phase: OpenPhase::Open,
                },
                ChannelEvent::PostFailed(MessageType::OPEN_CHANNEL),
            ) => Ok(Self::open_failed(
                info,
                params.ring_gpadl,
                ChannelAction::OpenNotSent,
            )),
            (
                Self::Closing { info, ring_gpadl },
                ChannelEvent::PostFailed(MessageType::CLOSE_CHANNEL | MessageType::GPADL_TEARDOWN),
            ) => Ok((
                Self::Closed(info),
                Actions::one(ChannelAction::RingKept(ring_gpadl)),
            )),
            // The relid is released whether or not its last messages went
            // out; what the host may hold waits for the unload.
            (Self::Released, ChannelEvent::PostFailed(_)) => Ok((Self::Released, Actions::none())),
            (_, ChannelEvent::Host(m)) => Err(ChannelError::UnexpectedMessage(name, m.msgtype())),
            _ => Err(ChannelError::InvalidEvent(name)),
        }
    }

    /// The relid of a rescinded channel is released: the ring GPADL the
    /// host may hold is torn down first.
    fn release(info: ChannelInfo, ring: RescindedRing) -> (Self, ChannelActions) {
        let mut a = Actions::none();
        if let RescindedRing::Held(gpadl) = ring {
            a.push(ChannelAction::Post(GuestMessage::GpadlTeardown {
                relid: info.relid,
                gpadl,
            }));
        }
        a.push(ChannelAction::Post(GuestMessage::RelidReleased {
            relid: info.relid,
        }));
        a.push(ChannelAction::Released);
        (Self::Released, a)
    }

    /// An open that failed after its ring GPADL was created: `why` is
    /// reported, and the GPADL torn down (closing until the host confirms).
    fn open_failed(
        info: ChannelInfo,
        ring_gpadl: GpadlId,
        why: ChannelAction,
    ) -> (Self, ChannelActions) {
        let mut a = Actions::one(why);
        a.push(ChannelAction::Post(GuestMessage::GpadlTeardown {
            relid: info.relid,
            gpadl: ring_gpadl,
        }));
        (Self::Closing { info, ring_gpadl }, a)
    }

    /// The host rescinded the offer.
    fn rescind(self) -> Result<(Self, ChannelActions), ChannelError> {
        let (info, ring) = match self {
            Self::Offered(i) | Self::Closed(i) | Self::Suspended(i) => (i, RescindedRing::None),
            // The GPADL may be created even if its answer is not here yet.
            Self::Opening { info, params, .. } => (info, RescindedRing::Held(params.ring_gpadl)),
            Self::Open {
                info, ring_gpadl, ..
            } => (info, RescindedRing::Held(ring_gpadl)),
            Self::Closing { info, ring_gpadl } => (info, RescindedRing::TearingDown(ring_gpadl)),
            Self::Rescinded { .. } | Self::Released => {
                return Err(ChannelError::UnexpectedMessage(
                    self.name(),
                    MessageType::RESCIND_CHANNEL_OFFER,
                ))
            }
        };
        Ok((
            Self::Rescinded {
                info,
                ring,
                kept_open: false,
            },
            Actions::one(ChannelAction::Rescinded),
        ))
    }
}

/// Helpers for examples and tests.
#[doc(hidden)]
pub mod tests_support {
    use super::super::message::Offer;
    use super::super::types::Relid;
    use super::super::wire::channel_msg::ChannelOffer;
    use super::super::wire::{Guid, Wire};

    /// An offer of a made-up device with relid `relid`.
    pub fn offer(relid: Relid) -> Offer {
        let mut offer = ChannelOffer::zeroed();
        offer.if_type = Guid([0x11; 16]);
        offer.if_instance = Guid([0x22; 16]);
        Offer {
            offer,
            relid,
            monitor_id: None,
            dedicated_interrupt: false,
            connection_id: 0x2000 + relid.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support;

    fn offer(v: u32) -> Offer {
        tests_support::offer(Relid::new(v).unwrap())
    }
    use super::*;

    fn r(v: u32) -> Relid {
        Relid::new(v).unwrap()
    }
    fn g(v: u32) -> GpadlId {
        GpadlId::new(v).unwrap()
    }
    fn host(m: HostMessage) -> ChannelEvent {
        ChannelEvent::Host(m)
    }

    #[test]
    fn info_keeps_the_flags_and_user_area_and_knows_hvsock() {
        use crate::wire::channel_msg::{OFFER_FLAG_NAMED_PIPE_MODE, OFFER_FLAG_TLNPI_PROVIDER};
        let mut o = offer(5);
        assert!(!ChannelInfo::from_offer(&o).is_hvsock());
        // A connection from the host, as Hyper-V offers it: pipe mode 0,
        // then the pipe's first byte set.
        o.offer.chn_flags = OFFER_FLAG_TLNPI_PROVIDER | OFFER_FLAG_NAMED_PIPE_MODE;
        o.offer.user_def[4] = 1;
        let i = ChannelInfo::from_offer(&o);
        assert!(i.is_hvsock());
        assert_eq!(i.chn_flags, o.offer.chn_flags);
        assert_eq!(i.user_def[4], 1);
        assert_eq!(i.user_def, o.offer.user_def);
        // The pipe flag alone is not a socket.
        o.offer.chn_flags = OFFER_FLAG_NAMED_PIPE_MODE;
        assert!(!ChannelInfo::from_offer(&o).is_hvsock());
    }

    fn open(relid: u32) -> ChannelState {
        let s = ChannelState::offered(&offer(relid));
        let (s, _) = s
            .on_event(ChannelEvent::Open(OpenParams::new(3, g(9), 1, 4)))
            .unwrap();
        let (s, a) = s
            .on_event(host(HostMessage::GpadlCreated {
                relid: r(relid),
                gpadl: g(9),
                status: 0,
            }))
            .unwrap();
        assert!(matches!(
            a.get(0),
            Some(ChannelAction::Post(GuestMessage::OpenChannel(_)))
        ));
        let (s, _) = s
            .on_event(host(HostMessage::OpenResult {
                relid: r(relid),
                open_id: 3,
                status: 0,
            }))
            .unwrap();
        s
    }

    #[test]
    fn open_close_reopen() {
        let s = open(5);
        assert!(s.is_open());
        let (s, a) = s.on_event(ChannelEvent::Close).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(
            a.get(1),
            Some(ChannelAction::Post(GuestMessage::GpadlTeardown {
                relid: r(5),
                gpadl: g(9)
            }))
        );
        assert_eq!(
            s.on_event(host(HostMessage::GpadlTorndown { gpadl: g(8) })),
            Err(ChannelError::WrongGpadl(8))
        );
        let (s, a) = s
            .on_event(host(HostMessage::GpadlTorndown { gpadl: g(9) }))
            .unwrap();
        assert_eq!(a.get(0), Some(ChannelAction::Closed));
        assert!(s
            .on_event(ChannelEvent::Open(OpenParams::new(4, g(10), 0, 4)))
            .is_ok());
    }

    #[test]
    fn open_failures() {
        let s = ChannelState::offered(&offer(5));
        let (s, _) = s
            .on_event(ChannelEvent::Open(OpenParams::new(3, g(9), 1, 4)))
            .unwrap();
        assert_eq!(
            s.on_event(host(HostMessage::GpadlCreated {
                relid: r(6),
                gpadl: g(9),
                status: 0
            })),
            Err(ChannelError::WrongRelid(6))
        );
        let (c, a) = s
            .on_event(host(HostMessage::GpadlCreated {
                relid: r(5),
                gpadl: g(9),
                status: 1,
            }))
            .unwrap();
        assert_eq!(a.get(0), Some(ChannelAction::GpadlFailed(1)));
        assert_eq!(c.name(), ChannelStateName::Closed);
        // A GPADL that could not be sent fails the open the same way, and
        // only while it is awaited.
        let (c, a) = s.on_event(ChannelEvent::GpadlNotSent).unwrap();
        assert_eq!(a.get(0), Some(ChannelAction::GpadlNotSent));
        assert_eq!(c.name(), ChannelStateName::Closed);
        assert_eq!(
            c.on_event(ChannelEvent::GpadlNotSent),
            Err(ChannelError::InvalidEvent(ChannelStateName::Closed))
        );
        let (s, _) = s
            .on_event(host(HostMessage::GpadlCreated {
                relid: r(5),
                gpadl: g(9),
                status: 0,
            }))
            .unwrap();
        assert_eq!(
            s.on_event(host(HostMessage::OpenResult {
                relid: r(5),
                open_id: 4,
                status: 0
            })),
            Err(ChannelError::WrongOpenId(4))
        );
        let (s, a) = s
            .on_event(host(HostMessage::OpenResult {
                relid: r(5),
                open_id: 3,
                status: 0xc000_0001,
            }))
            .unwrap();
        assert_eq!(a.get(0), Some(ChannelAction::OpenFailed(0xc000_0001)));
        assert_eq!(s.name(), ChannelStateName::Closing);
    }

    #[test]
    fn rescind_from_every_state() {
        let rescind = host(HostMessage::Rescind { relid: r(5) });
        let opened = open(5);
        let (closing, _) = opened.on_event(ChannelEvent::Close).unwrap();
        let offered = ChannelState::offered(&offer(5));
        let (opening, _) = offered
            .on_event(ChannelEvent::Open(OpenParams::new(1, g(2), 0, 4)))
            .unwrap();
        let (suspended, _) = offered.on_event(ChannelEvent::Suspend).unwrap();
        for (s, teardown) in [
            (offered, false),
            (opening, true),
            (opened, true),
            (closing, false),
            (suspended, false),
        ] {
            let (s, a) = s.on_event(rescind).unwrap();
            assert_eq!(a.get(0), Some(ChannelAction::Rescinded));
            assert_eq!(
                s.on_event(rescind),
                Err(ChannelError::UnexpectedMessage(
                    ChannelStateName::Rescinded,
                    MessageType::RESCIND_CHANNEL_OFFER
                ))
            );
            assert_eq!(
                s.on_event(ChannelEvent::Close),
                Err(ChannelError::InvalidEvent(ChannelStateName::Rescinded))
            );
            let (s, a) = s.on_event(ChannelEvent::Release).unwrap();
            assert_eq!(a.len(), if teardown { 3 } else { 2 });
            assert_eq!(s, ChannelState::Released);
            assert!(s.on_event(rescind).is_err());
        }
    }

    #[test]
    fn rescinded_channel_kept_open_is_released_at_its_close() {
        let rescind = host(HostMessage::Rescind { relid: r(5) });
        // Only a rescinded channel can be kept, and only once.
        assert_eq!(
            open(5).on_event(ChannelEvent::DriverKeeps),
            Err(ChannelError::InvalidEvent(ChannelStateName::Open))
        );
        let (s, _) = open(5).on_event(rescind).unwrap();
        let (kept, a) = s.on_event(ChannelEvent::DriverKeeps).unwrap();
        assert_eq!(a.len(), 0);
        assert_eq!(
            kept.on_event(ChannelEvent::DriverKeeps),
            Err(ChannelError::InvalidEvent(ChannelStateName::Rescinded))
        );
        // Answers in flight leave it kept.
        let late = host(HostMessage::OpenResult {
            relid: r(5),
            open_id: 3,
            status: 0,
        });
        assert_eq!(kept.on_event(late).unwrap().0, kept);
        // The driver's close releases it, with the ring GPADL torn down.
        let (s, a) = kept.on_event(ChannelEvent::Close).unwrap();
        assert_eq!(s, ChannelState::Released);
        assert_eq!(
            a.get(0),
            Some(ChannelAction::Post(GuestMessage::GpadlTeardown {
                relid: r(5),
                gpadl: g(9)
            }))
        );
        assert_eq!(
            a.get(1),
            Some(ChannelAction::Post(GuestMessage::RelidReleased {
                relid: r(5)
            }))
        );
        assert_eq!(a.get(2), Some(ChannelAction::Released));
        // `Release` (the device work's path for a channel not kept)
        // releases a kept channel the same way.
        let (s, a) = kept.on_event(ChannelEvent::Release).unwrap();
        assert_eq!((s, a.len()), (ChannelState::Released, 3));
        // A rescinded channel its driver did not keep cannot be closed.
        let (s, _) = open(5).on_event(rescind).unwrap();
        assert_eq!(
            s.on_event(ChannelEvent::Close),
            Err(ChannelError::InvalidEvent(ChannelStateName::Rescinded))
        );
    }

    #[test]
    fn rescind_while_closing_waits_for_the_teardown() {
        let (closing, _) = open(5).on_event(ChannelEvent::Close).unwrap();
        let (s, _) = closing
            .on_event(host(HostMessage::Rescind { relid: r(5) }))
            .unwrap();
        assert_eq!(
            s,
            ChannelState::Rescinded {
                info: ChannelInfo::from_offer(&offer(5)),
                ring: RescindedRing::TearingDown(g(9)),
                kept_open: false,
            }
        );
        // Another GPADL's teardown frees nothing.
        let (same, a) = s
            .on_event(host(HostMessage::GpadlTorndown { gpadl: g(2) }))
            .unwrap();
        assert_eq!((same, a.len()), (s, 0));
        let (s, a) = s
            .on_event(host(HostMessage::GpadlTorndown { gpadl: g(9) }))
            .unwrap();
        assert_eq!(a.get(0), Some(ChannelAction::Closed));
        // Released without a second teardown.
        let (_, a) = s.on_event(ChannelEvent::Release).unwrap();
        assert_eq!(a.len(), 2);
        assert!(matches!(
            a.get(0),
            Some(ChannelAction::Post(GuestMessage::RelidReleased { .. }))
        ));
    }

    #[test]
    fn rescind_while_creating_the_ring_gpadl() {
        let offered = ChannelState::offered(&offer(5));
        let (opening, _) = offered
            .on_event(ChannelEvent::Open(OpenParams::new(1, g(2), 0, 4)))
            .unwrap();
        let (s, _) = opening
            .on_event(host(HostMessage::Rescind { relid: r(5) }))
            .unwrap();
        // A late success keeps the GPADL held; a late refusal frees it.
        let ok = host(HostMessage::GpadlCreated {
            relid: r(5),
            gpadl: g(2),
            status: 0,
        });
        assert_eq!(s.on_event(ok).unwrap().0, s);
        let refused = host(HostMessage::GpadlCreated {
            relid: r(5),
            gpadl: g(2),
            status: 1,
        });
        let (s2, a) = s.on_event(refused).unwrap();
        assert_eq!(a.get(0), Some(ChannelAction::GpadlFailed(1)));
        let (_, a) = s2.on_event(ChannelEvent::Release).unwrap();
        assert_eq!(a.len(), 2);
        let (_, a) = s.on_event(ChannelEvent::Release).unwrap();
        assert_eq!(
            a.get(0),
            Some(ChannelAction::Post(GuestMessage::GpadlTeardown {
                relid: r(5),
                gpadl: g(2)
            }))
        );
    }

    #[test]
    fn suspend_resume() {
        let s = ChannelState::offered(&offer(5));
        assert_eq!(
            open(5).on_event(ChannelEvent::Suspend),
            Err(ChannelError::InvalidEvent(ChannelStateName::Open))
        );
        let (s, _) = s.on_event(ChannelEvent::Suspend).unwrap();
        let mut other = offer(6);
        other.offer.if_instance = Guid([0x33; 16]);
        assert_eq!(
            s.on_event(ChannelEvent::Reoffer(other)),
            Err(ChannelError::WrongDevice)
        );
        let (s, a) = s.on_event(ChannelEvent::Reoffer(offer(6))).unwrap();
        assert!(matches!(a.get(0), Some(ChannelAction::Resumed(i)) if i.relid == r(6)));
        assert_eq!(s.info().unwrap().relid, r(6));
    }

    fn modify_response(relid: u32, status: u32) -> ChannelEvent {
        host(HostMessage::ModifyChannelResponse {
            relid: r(relid),
            status,
        })
    }

    fn target_of(s: &ChannelState) -> (u32, Option<u32>) {
        match *s {
            ChannelState::Open {
                target_vp,
                modify_from,
                ..
            } => (target_vp, modify_from),
            _ => panic!("not open: {s:?}"),
        }
    }

    #[test]
    fn modify_without_response() {
        // Before 5.3 the host never answers: the new target holds at once,
        // and an answer is unexpected.
        let s = open(5);
        let (s, a) = s
            .on_event(ChannelEvent::Modify {
                target_vp: 3,
                await_response: false,
            })
            .unwrap();
        assert_eq!(
            a.get(0),
            Some(ChannelAction::Post(GuestMessage::ModifyChannel {
                relid: r(5),
                target_vp: 3
            }))
        );
        assert_eq!(target_of(&s), (3, None));
        assert_eq!(
            s.on_event(modify_response(5, 0)),
            Err(ChannelError::UnexpectedMessage(
                ChannelStateName::Open,
                MessageType::MODIFY_CHANNEL_RESPONSE
            ))
        );
        assert_eq!(
            s.on_event(ChannelEvent::ModifyAbandoned),
            Err(ChannelError::InvalidEvent(ChannelStateName::Open))
        );
        let (s, _) = s
            .on_event(ChannelEvent::Modify {
                target_vp: 0,
                await_response: false,
            })
            .unwrap();
        assert_eq!(target_of(&s), (0, None));
    }

    #[test]
    fn modify_with_response() {
        let s = open(5);
        assert_eq!(target_of(&s), (1, None));
        let (s, a) = s
            .on_event(ChannelEvent::Modify {
                target_vp: 3,
                await_response: true,
            })
            .unwrap();
        assert!(matches!(
            a.get(0),
            Some(ChannelAction::Post(GuestMessage::ModifyChannel {
                target_vp: 3,
                ..
            }))
        ));
        assert_eq!(target_of(&s), (3, Some(1)));
        // One move at a time.
        assert_eq!(
            s.on_event(ChannelEvent::Modify {
                target_vp: 2,
                await_response: true,
            }),
            Err(ChannelError::ModifyInFlight)
        );
        // An answer about another channel changes nothing.
        assert_eq!(
            s.on_event(modify_response(6, 0)),
            Err(ChannelError::WrongRelid(6))
        );
        let (ok, a) = s.on_event(modify_response(5, 0)).unwrap();
        assert_eq!(a.get(0), Some(ChannelAction::Modified(0)));
        assert_eq!(target_of(&ok), (3, None));
        // A second answer is unexpected.
        assert!(matches!(
            ok.on_event(modify_response(5, 0)),
            Err(ChannelError::UnexpectedMessage(ChannelStateName::Open, _))
        ));
        // A refusal restores the previous target.
        let (refused, a) = s.on_event(modify_response(5, 0xc000_0001)).unwrap();
        assert_eq!(a.get(0), Some(ChannelAction::Modified(0xc000_0001)));
        assert_eq!(target_of(&refused), (1, None));
        // Giving up restores it too, and a late answer is then unexpected.
        let (gave_up, a) = s.on_event(ChannelEvent::ModifyAbandoned).unwrap();
        assert!(a.is_empty());
        assert_eq!(target_of(&gave_up), (1, None));
        assert!(gave_up.on_event(modify_response(5, 0)).is_err());
        // Closing while a move is in flight works, and the late answer is
        // unexpected in the new state.
        let (closing, _) = s.on_event(ChannelEvent::Close).unwrap();
        assert_eq!(
            closing.on_event(modify_response(5, 0)),
            Err(ChannelError::UnexpectedMessage(
                ChannelStateName::Closing,
                MessageType::MODIFY_CHANNEL_RESPONSE
            ))
        );
        // So does a rescind, which still tears the ring GPADL down.
        let (rescinded, _) = s
            .on_event(host(HostMessage::Rescind { relid: r(5) }))
            .unwrap();
        assert_eq!(rescinded.name(), ChannelStateName::Rescinded);
        let (_, a) = rescinded.on_event(ChannelEvent::Release).unwrap();
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn modify_needs_an_open_channel() {
        let m = ChannelEvent::Modify {
            target_vp: 1,
            await_response: true,
        };
        let offered = ChannelState::offered(&offer(5));
        assert_eq!(
            offered.on_event(m),
            Err(ChannelError::InvalidEvent(ChannelStateName::Offered))
        );
        assert!(offered.on_event(modify_response(5, 0)).is_err());
        assert_eq!(
            offered.on_event(ChannelEvent::ModifyAbandoned),
            Err(ChannelError::InvalidEvent(ChannelStateName::Offered))
        );
    }

    #[test]
    fn unexpected_messages() {
        let s = open(5);
        assert_eq!(
            s.on_event(host(HostMessage::OpenResult {
                relid: r(5),
                open_id: 3,
                status: 0
            })),
            Err(ChannelError::UnexpectedMessage(
                ChannelStateName::Open,
                MessageType::OPEN_CHANNEL_RESULT
            ))
        );
        assert_eq!(
            ChannelState::Released.on_event(ChannelEvent::Close),
            Err(ChannelError::InvalidEvent(ChannelStateName::Released))
        );
    }

    /// A post that fails for good ends the wait for its answer.
    #[test]
    fn failed_posts_end_the_wait() {
        // OPEN_CHANNEL not sent: the open fails, the GPADL is torn down.
        let s = ChannelState::offered(&offer(5));
        let (s, _) = s
            .on_event(ChannelEvent::Open(OpenParams::new(3, g(9), 1, 4)))
            .unwrap();
        let (s, _) = s
            .on_event(host(HostMessage::GpadlCreated {
                relid: r(5),
                gpadl: g(9),
                status: 0,
            }))
            .unwrap();
        let (s, a) = s
            .on_event(ChannelEvent::PostFailed(MessageType::OPEN_CHANNEL))
            .unwrap();
        assert!(matches!(s, ChannelState::Closing { .. }));
        assert_eq!(a.get(0), Some(ChannelAction::OpenNotSent));
        assert_eq!(
            a.get(1),
            Some(ChannelAction::Post(GuestMessage::GpadlTeardown {
                relid: r(5),
                gpadl: g(9)
            }))
        );
        // ... and that teardown not sent either: closed, ring kept.
        let (c, a) = s
            .on_event(ChannelEvent::PostFailed(MessageType::GPADL_TEARDOWN))
            .unwrap();
        assert!(matches!(c, ChannelState::Closed(_)));
        assert_eq!(a.get(0), Some(ChannelAction::RingKept(g(9))));
        // CLOSE_CHANNEL not sent: closed, ring kept, and it opens again.
        let (s, _) = open(5).on_event(ChannelEvent::Close).unwrap();
        let (s, a) = s
            .on_event(ChannelEvent::PostFailed(MessageType::CLOSE_CHANNEL))
            .unwrap();
        assert_eq!(a.get(0), Some(ChannelAction::RingKept(g(9))));
        assert!(s
            .on_event(ChannelEvent::Open(OpenParams::new(4, g(10), 1, 4)))
            .is_ok());
        // Nothing else is waited for in the other states.
        assert_eq!(
            open(5).on_event(ChannelEvent::PostFailed(MessageType::CLOSE_CHANNEL)),
            Err(ChannelError::InvalidEvent(ChannelStateName::Open))
        );
        assert_eq!(
            ChannelState::Released.on_event(ChannelEvent::PostFailed(MessageType::RELID_RELEASED)),
            Ok((ChannelState::Released, Actions::none()))
        );
    }
}
