// SPDX-License-Identifier: GPL-2.0

//! Hyper-V sockets (hv_sock) on the server side: which connections the
//! host accepts and makes, and each connection's channel from offer to
//! rescind. The bytes on a connection are [`crate::devices::hvsock`]'s.
//!
//! - The guest connects with `TL_CONNECT_REQUEST {endpoint, service}`. If
//!   the service is vsock port P's and `--hvsock-echo P` was given, the
//!   host offers a channel with `if_type` = service, `if_instance` =
//!   endpoint, `user_def[0]` = 0; otherwise it answers `TL_CONNECT_RESULT`
//!   with `STATUS_CONNECTION_REFUSED`.
//! - `hvsock-connect PORT BYTES` offers a channel with `if_type` = the
//!   service of the guest's port PORT, `if_instance` = a host service of
//!   its own (port [`HOST_PORT_BASE`] + a counter), `user_def[0]` = 1.
//! - The guest opens the channel (rings of any sizes each way). Once both
//!   FINs passed and everything the host sent is in the guest's ring, the
//!   host rescinds the channel, as Hyper-V does when a connection closes;
//!   also when the guest closes the channel first, and when the guest has
//!   not opened it [`OPEN_TIMEOUT`] after the offer (its connect timed out
//!   or nothing listens). The guest releases the relid as for any rescind,
//!   and the relid is free again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vmbus_proto::message::HostMessage;
use vmbus_proto::types::Relid;
use vmbus_proto::wire::Guid;

use super::channels::ChannelState;
use super::commands::STATUS_CONNECTION_REFUSED;
use super::offers::{hvsock_port, hvsock_service_id, PipeOffer};
use super::VmbusHost;
use crate::devices::hvsock::{Hvsock, HvsockCounters, Role, SEND_WINDOW};
use crate::log::Level;
use crate::log_limited;
use crate::server::{ControlResult, GuestCtx};
use crate::trace::Dir;

/// The first vsock port the host's own end of a host-initiated connection
/// uses; each connection takes the next.
pub const HOST_PORT_BASE: u32 = 0x4000_0000;
/// How long an offered connection waits for the guest's open.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes one `hvsock-connect` may send.
pub const MAX_HOST_BYTES: u64 = 1 << 30;
/// Most connections whose channels exist at once (until the guest releases
/// their relids): a guest flooding connects gets refused past this, and
/// relids stay for devices.
pub const MAX_CONNS: usize = 256;

/// One connection's channel as the server tracks it.
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    /// Whether the host connected.
    pub from_host: bool,
    /// When it was offered.
    pub offered: Instant,
    /// Whether the guest opened it.
    pub opened: bool,
    /// Whether the host is rescinding it (or has).
    pub rescinding: bool,
}

/// The hv_sock state of the server.
#[derive(Debug, Default)]
pub struct HvsockState {
    /// The counters all connections share.
    pub counters: Arc<HvsockCounters>,
    /// Live connections by relid (until the guest releases the relid).
    pub conns: BTreeMap<u32, Conn>,
    next_host_port: u32,
}

impl HvsockState {
    /// The guest connection ended: every connection is gone; a
    /// host-initiated one the guest never opened failed (one it opened
    /// was judged when its channel closed).
    pub fn reset(&mut self) {
        for c in self.conns.values() {
            if c.from_host && !c.opened {
                HvsockCounters::add(&self.counters.host_bad, 1);
            }
        }
        self.conns.clear();
    }

    /// The `vmbus.hvsock_*` counters.
    pub fn stats(&self) -> [(&'static str, u64); 9] {
        let c = &*self.counters;
        let g = HvsockCounters::get;
        [
            ("hvsock_offers", g(&c.offers)),
            ("hvsock_rx_bytes", g(&c.rx_bytes)),
            ("hvsock_tx_bytes", g(&c.tx_bytes)),
            ("hvsock_fins_rx", g(&c.fins_rx)),
            ("hvsock_fins_tx", g(&c.fins_tx)),
            ("hvsock_host_ok", g(&c.host_ok)),
            ("hvsock_host_bad", g(&c.host_bad)),
            ("hvsock_rescinds", g(&c.rescinds)),
            ("hvsock_bad_packets", g(&c.bad_packets)),
        ]
    }
}

impl VmbusHost {
    /// `TL_CONNECT_REQUEST`: a channel for a served port, else refused.
    pub(super) fn tl_connect(
        &mut self,
        guest: &mut GuestCtx<'_>,
        endpoint_id: Guid,
        service_id: Guid,
    ) {
        self.stats.tl_connects += 1;
        let served = hvsock_port(service_id).filter(|p| self.opts.hvsock_echo.contains(p));
        // A second connection from the same endpoint to the same service
        // while the first's channel lives would be the same offer twice.
        let duplicate = self
            .channels
            .iter()
            .any(|c| c.instance == endpoint_id && c.pipe.is_some_and(|p| p.if_type == service_id));
        if let (Some(port), false) = (served, duplicate) {
            let pipe = PipeOffer {
                if_type: service_id,
                from_host: false,
            };
            match self.hvsock_offer(guest, endpoint_id, pipe, Role::Echo) {
                Ok(relid) => {
                    crate::log_info!(
                        "vmbus: hv_sock connect to port {port} from {endpoint_id}: relid {}",
                        relid.get()
                    );
                    return;
                }
                Err(e) => log_limited!(Level::Warn, "vmbus: hv_sock connect refused: {e}"),
            }
        } else if duplicate {
            log_limited!(
                Level::Warn,
                "vmbus: hv_sock connect from {endpoint_id} to {service_id}, which is connected; refused"
            );
        }
        self.stats.tl_refused += 1;
        self.send(
            guest,
            &HostMessage::TlConnectResult {
                endpoint_id,
                service_id,
                status: STATUS_CONNECTION_REFUSED,
            },
        );
    }

    /// Adds and offers a connection's channel.
    fn hvsock_offer(
        &mut self,
        guest: &mut GuestCtx<'_>,
        instance: Guid,
        pipe: PipeOffer,
        role: Role,
    ) -> Result<Relid, String> {
        if !(self.offers_requested && self.conn.is_some()) {
            return Err("the guest has not asked for offers".into());
        }
        if self.hvsock.conns.len() >= MAX_CONNS {
            return Err(format!("{MAX_CONNS} connections exist already"));
        }
        let relid = self
            .channels
            .insert_pipe(instance, pipe)
            .map_err(|e| format!("cannot add a channel: {e:?}"))?;
        let counters = Arc::clone(&self.hvsock.counters);
        self.devices
            .insert(relid.get(), Box::new(Hvsock::new(role, counters)));
        self.hvsock.conns.insert(
            relid.get(),
            Conn {
                from_host: pipe.from_host,
                offered: Instant::now(),
                opened: false,
                rescinding: false,
            },
        );
        let mut ids = pipe.if_type.0.to_vec();
        ids.extend_from_slice(&instance.0);
        ids.push(u8::from(pipe.from_host));
        guest
            .trace
            .event(Dir::H2g, Some(relid.get()), "HVSOCK-OFFER", &ids);
        self.offer_now(guest, relid);
        HvsockCounters::add(&self.hvsock.counters.offers, 1);
        Ok(relid)
    }

    /// `hvsock-connect PORT BYTES`: the host connects to the guest's
    /// listener on vsock port PORT (see `devices::hvsock`, `Role::HostSend`).
    pub(super) fn cmd_hvsock_connect(
        &mut self,
        guest: Option<&mut GuestCtx<'_>>,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        let [port, bytes] = args else {
            return Err("usage: hvsock-connect PORT BYTES".into());
        };
        let port = crate::commands::parse_num("port", port)?;
        let port = u32::try_from(port).map_err(|_| format!("port {port} out of range"))?;
        let total = crate::commands::parse_num("byte count", bytes)?;
        if total > MAX_HOST_BYTES {
            return Err(format!("at most {MAX_HOST_BYTES} bytes"));
        }
        let g = guest.ok_or("no guest is connected")?;
        let host_port = HOST_PORT_BASE + self.hvsock.next_host_port;
        self.hvsock.next_host_port = (self.hvsock.next_host_port + 1) % HOST_PORT_BASE;
        let pipe = PipeOffer {
            if_type: hvsock_service_id(port),
            from_host: true,
        };
        let relid = self.hvsock_offer(
            g,
            hvsock_service_id(host_port),
            pipe,
            Role::HostSend { total },
        )?;
        crate::log_info!(
            "vmbus: hv_sock connect to the guest's port {port} from host port {host_port:#x}: \
             relid {}, {total} bytes",
            relid.get()
        );
        out.push(format!("relid {}", relid.get()));
        Ok(())
    }

    /// The guest opened `relid`.
    pub(super) fn hvsock_opened(&mut self, relid: Relid) {
        if let Some(c) = self.hvsock.conns.get_mut(&relid.get()) {
            c.opened = true;
        }
    }

    /// Whether `relid` is an hv_sock connection's.
    pub(super) fn is_hvsock(&self, relid: Relid) -> bool {
        self.hvsock.conns.contains_key(&relid.get())
    }

    /// The guest closed hv_sock channel `relid` (the caller stopped its
    /// rings): the host rescinds it, as Hyper-V does.
    pub(super) fn hvsock_closed(&mut self, guest: &mut GuestCtx<'_>, relid: Relid) {
        self.hvsock_rescind(guest, relid, "the guest closed the channel");
    }

    /// The guest released `relid`.
    pub(super) fn hvsock_released(&mut self, relid: Relid) {
        self.hvsock.conns.remove(&relid.get());
    }

    /// After the host serviced hv_sock channel `relid`: the device makes
    /// more while few of its packets wait, and a finished connection whose
    /// packets are all in the guest's ring is rescinded.
    pub(super) fn hvsock_serviced(&mut self, guest: &mut GuestCtx<'_>, relid: Relid) {
        let Some(queued) = self.rings.get(&relid.get()).map(|r| r.queued()) else {
            return;
        };
        if queued < SEND_WINDOW {
            self.with_device(guest, relid, |d, io| d.tick(io));
        }
        self.hvsock_maybe_done(guest, relid);
    }

    /// Rescinds `relid` if its device is done and its packets are out.
    fn hvsock_maybe_done(&mut self, guest: &mut GuestCtx<'_>, relid: Relid) {
        let rings_empty = self
            .rings
            .get(&relid.get())
            .is_some_and(|r| r.queued() == 0 || r.is_dead());
        let done = self
            .devices
            .get(&relid.get())
            .is_some_and(|d| d.wants_rescind());
        let open = self
            .channels
            .get(relid)
            .is_some_and(|c| matches!(c.state, ChannelState::Open { .. }));
        if done && rings_empty && open {
            self.hvsock_rescind(guest, relid, "both FINs passed");
        }
    }

    /// Rescinds hv_sock channel `relid` once.
    fn hvsock_rescind(&mut self, guest: &mut GuestCtx<'_>, relid: Relid, why: &str) {
        match self.hvsock.conns.get_mut(&relid.get()) {
            Some(c) if !c.rescinding => c.rescinding = true,
            _ => return,
        }
        let mut out = Vec::new();
        match self.rescind_now(Some(&mut *guest), relid, false, &mut out) {
            Ok(()) => {
                HvsockCounters::add(&self.hvsock.counters.rescinds, 1);
                guest
                    .trace
                    .event(Dir::H2g, Some(relid.get()), "HVSOCK-RESCIND", &[]);
                crate::log_info!("vmbus: hv_sock relid {} rescinded: {why}", relid.get());
            }
            Err(e) => log_limited!(
                Level::Warn,
                "vmbus: hv_sock relid {}: rescind: {e}",
                relid.get()
            ),
        }
    }

    /// Periodic hv_sock work: connections the guest did not open in time,
    /// and finished ones (see [`Self::hvsock_serviced`]).
    pub(super) fn hvsock_poll(&mut self, guest: &mut GuestCtx<'_>) {
        let now = Instant::now();
        let conns: Vec<(u32, Conn)> = self.hvsock.conns.iter().map(|(r, c)| (*r, *c)).collect();
        for (r, c) in conns {
            let Some(relid) = Relid::new(r) else {
                continue;
            };
            if c.rescinding {
                continue;
            }
            let Some(state) = self.channels.get(relid).map(|ch| ch.state) else {
                self.hvsock.conns.remove(&r);
                continue;
            };
            match state {
                ChannelState::Offered if !c.opened && now >= c.offered + OPEN_TIMEOUT => {
                    if c.from_host {
                        HvsockCounters::add(&self.hvsock.counters.host_bad, 1);
                    }
                    self.hvsock_rescind(guest, relid, "the guest did not open the channel");
                }
                ChannelState::Open { .. } => self.hvsock_maybe_done(guest, relid),
                _ => {}
            }
        }
    }
}
