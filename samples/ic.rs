// SPDX-License-Identifier: GPL-2.0

//! The integration-component (IC) framework for the heartbeat, shutdown and
//! time sync samples, as Hyper-V's hosts speak it (and Linux's hv_utils):
//! the host sends requests, the guest answers each in place with the same
//! transaction id. A `NEGOTIATE` request is answered here with the highest
//! framework and message versions both sides know; every other request goes
//! to the service, which edits the body and picks the status.
//!
//! Each IC sample compiles this file into its own module and uses part of
//! it.
//!
//! [`IcChannel::on_packet`] runs in the driver's packet callback, in the
//! channel's tasklet (softirq): it never sleeps, allocates atomically, and
//! answers without waiting for ring space, as Linux's hv_utils does with
//! `vmbus_sendpacket()`. A service that must sleep (setting the clock)
//! defers that part to a work item.

#![allow(dead_code)]

use kernel::{
    prelude::*,
    sync::atomic::{ordering::Relaxed, Atomic},
};

use crate::{
    proto::{
        ic::{self, HV_E_FAIL, HV_S_OK},
        wire::ic::{IcMsgType, IcVersion},
    },
    vmbus::{Device, Packet, PacketKind},
};

/// The framework versions Linux's hv_utils offers.
pub(crate) const FRAMEWORK: &[IcVersion] = &[IcVersion::new(1, 0), IcVersion::new(3, 0)];

/// Ring bytes each way for an IC channel: IC messages are at most about
/// 2 KiB and the host sends one at a time.
pub(crate) const RING_BYTES: u32 = 16 * 1024;

/// How long an answer may wait for ring space: not at all, from softirq.
/// The host sends one request at a time and waits for its answer, so the
/// outbound ring has room for it; a full ring is logged and the host asks
/// again.
const SEND_TIMEOUT_MS: u32 = 0;

/// Negotiation and counters of one IC channel.
pub(crate) struct IcChannel {
    name: &'static str,
    msg_versions: &'static [IcVersion],
    /// The negotiated message version as `major << 16 | minor`, or
    /// `u32::MAX` before negotiation.
    version: Atomic<u32>,
    /// Requests answered, and packets refused.
    pub(crate) answered: Atomic<u64>,
    pub(crate) refused: Atomic<u64>,
}

/// What a service makes of a request.
pub(crate) struct Request<'a> {
    /// The request type.
    pub(crate) msgtype: IcMsgType,
    /// The negotiated message version.
    pub(crate) version: IcVersion,
    /// The body, editable: the answer carries it back.
    pub(crate) body: &'a mut [u8],
}

impl IcChannel {
    /// A channel of service `name` speaking `msg_versions`.
    pub(crate) const fn new(name: &'static str, msg_versions: &'static [IcVersion]) -> Self {
        Self {
            name,
            msg_versions,
            version: Atomic::new(u32::MAX),
            answered: Atomic::new(0),
            refused: Atomic::new(0),
        }
    }

    /// The negotiated message version, if any.
    pub(crate) fn version(&self) -> Option<IcVersion> {
        match self.version.load(Relaxed) {
            u32::MAX => None,
            // CAST: The halves of a packed pair of `u16`s.
            v => Some(IcVersion::new((v >> 16) as u16, v as u16)),
        }
    }

    fn refuse(&self, why: &str) {
        self.refused.add(1, Relaxed);
        if host_noise_allowed() {
            pr_warn!("{}: packet refused: {}\n", self.name, why);
        }
    }

    /// Handles one packet from the host: negotiation here, other requests
    /// through `service`, which returns the IC status of the answer.
    ///
    /// Context: the packet callback (softirq); `service` must not sleep
    /// either.
    pub(crate) fn on_packet(
        &self,
        dev: &Device,
        pkt: &Packet<'_>,
        service: impl FnOnce(&mut Request<'_>) -> u32,
    ) {
        if pkt.kind != PacketKind::Data {
            return self.refuse("not in-band data");
        }
        let m = match ic::parse(pkt.data) {
            Ok(m) => m,
            Err(_) => return self.refuse("shorter than the IC headers"),
        };
        if m.hdr.icflags & ic::REQUEST_FLAGS != ic::REQUEST_FLAGS {
            return self.refuse("not a request");
        }
        // The answer is the request, edited: at least as long as a
        // negotiate answer.
        let len = pkt
            .data
            .len()
            .max(ic::ICMSG_HDR_SIZE + ic::NEGOTIATE_RESPONSE_BODY);
        // Softirq: an atomic allocation (at most a few KiB).
        let Ok(mut out) = KVec::from_elem(0u8, len, GFP_ATOMIC) else {
            return self.refuse("no memory");
        };
        let answer_len = if m.hdr.icmsgtype == IcMsgType::NEGOTIATE {
            match ic::answer_negotiate(pkt.data, &mut out, FRAMEWORK, self.msg_versions) {
                Ok((n, Some((f, v)))) => {
                    self.version
                        .store(u32::from(v.major) << 16 | u32::from(v.minor), Relaxed);
                    pr_info!(
                        "{}: negotiated framework {}.{}, message version {}.{}\n",
                        self.name,
                        f.major,
                        f.minor,
                        v.major,
                        v.minor
                    );
                    n
                }
                Ok((n, None)) => {
                    if host_noise_allowed() {
                        pr_warn!("{}: the host offers no version we speak\n", self.name);
                    }
                    n
                }
                Err(_) => return self.refuse("bad negotiate request"),
            }
        } else {
            let Some(version) = self.version() else {
                return self.refuse("request before negotiation");
            };
            let Some(dst) = out.get_mut(..pkt.data.len()) else {
                return self.refuse("no room");
            };
            dst.copy_from_slice(pkt.data);
            let status = match out.get_mut(ic::ICMSG_HDR_SIZE..) {
                Some(body) => service(&mut Request {
                    msgtype: m.hdr.icmsgtype,
                    version,
                    body,
                }),
                None => HV_E_FAIL,
            };
            if ic::make_response(&mut out, status).is_err() {
                return self.refuse("cannot build the answer");
            }
            pkt.data.len()
        };
        let Some(answer) = out.get(..answer_len) else {
            return;
        };
        match dev.send(pkt.trans_id, answer, SEND_TIMEOUT_MS) {
            Ok(()) => {
                self.answered.add(1, Relaxed);
            }
            Err(e) => {
                if host_noise_allowed() {
                    pr_warn!("{}: answer not sent ({:?})\n", self.name, e);
                }
            }
        }
    }
}

/// Status for a request the service does not know.
pub(crate) fn unknown(name: &str, t: IcMsgType) -> u32 {
    if host_noise_allowed() {
        pr_warn!("{}: unknown request type {}\n", name, t.0);
    }
    HV_E_FAIL
}

/// Whether a line about what the host sent may be logged now: the host
/// can send bad packets in a loop, so these lines go through the kernel's
/// printk rate limit (10 per 5 s, then one line counting those dropped).
pub(crate) fn host_noise_allowed() -> bool {
    // SAFETY: `__printk_ratelimit` only reads the NUL-terminated name,
    // which is static, for its "callbacks suppressed" line; it may be
    // called in any context.
    unsafe { kernel::bindings::__printk_ratelimit(kernel::c_str!("rvmbus_ic").as_char_ptr()) != 0 }
}

/// Status for success.
pub(crate) const OK: u32 = HV_S_OK;
