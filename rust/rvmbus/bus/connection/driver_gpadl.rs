// SPDX-License-Identifier: GPL-2.0

//! GPADLs that a driver makes over its own memory (hv_netvsc's receive and
//! send buffers), beside the ring GPADL that every open makes: the
//! `GPADL_HEADER`/`GPADL_BODY` messages, the host's `GPADL_CREATED`, and
//! `GPADL_TEARDOWN` answered by `GPADL_TORNDOWN`, each GPADL's life kept by
//! `vmbus_proto`'s [`GpadlState`].
//!
//! The memory is the driver's; the core never reads or writes it and only
//! says whether the host may still use it: a GPADL the host did not
//! confirm created, or whose teardown it did not answer, is reported as
//! held, and the interface layer then keeps the pages (it never lets them
//! be freed).
//!
//! Context: process context; each call takes `inner` and sleeps on `cv`
//! with it released while it waits for the host, as long as Linux waits
//! (no time limit) until unload begins, then at most `timeout_ms`.

use super::*;
use crate::proto::gpadl::{GpadlEvent, GpadlState};

/// A driver's GPADL: its channel and where it is in its life.
#[derive(Clone, Copy)]
pub(super) struct DriverGpadl {
    relid: Relid,
    gpadl: GpadlId,
    state: GpadlState,
}

/// Why a driver GPADL call failed, and whether the host may hold the
/// memory after it.
pub(crate) struct GpadlFailure {
    /// The error for the driver.
    pub(crate) error: Error,
    /// The host may still use the memory: it must never be freed.
    pub(crate) host_holds: bool,
}

fn failed(error: Error, host_holds: bool) -> GpadlFailure {
    GpadlFailure { error, host_holds }
}

impl Inner {
    /// The index of driver GPADL `g` in the table.
    fn driver_gpadl(&self, g: GpadlId) -> Option<usize> {
        self.gpadls.iter().position(|d| d.gpadl == g)
    }

    /// Driver GPADL `g`'s state (`Released` once it left the table).
    fn driver_gpadl_state(&self, g: GpadlId) -> GpadlState {
        self.driver_gpadl(g)
            .and_then(|i| self.gpadls.get(i))
            .map_or(GpadlState::Released, |d| d.state)
    }
}

impl Connection {
    /// Describes the pages `pfns` to the host as a GPADL of channel `ch`
    /// and waits for the host to confirm it.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: no pages, or too many for one GPADL;
    /// - `ENODEV`: unloading, or the channel is gone or rescinded (also
    ///   while waiting: the host then holds nothing);
    /// - `ENOMEM`: no memory to track it;
    /// - `EIO`: the host refused it, or a message could not be posted;
    /// - `ETIMEDOUT`: unloading began before the host answered.
    ///
    /// With `host_holds` set the host may use the pages from now on.
    pub(crate) fn driver_gpadl_create(
        self: &Arc<Self>,
        ch: &Channel,
        pfns: &[u64],
    ) -> Result<GpadlId, GpadlFailure> {
        if pfns.is_empty() {
            return Err(failed(EINVAL, false));
        }
        let relid = ch.info().relid;
        let g = GpadlId::new(self.gpadl_next.fetch_add(1, Relaxed)).ok_or(failed(EINVAL, false))?;
        let msgs = GpadlMessages::new(relid, g, pfns).map_err(|_| failed(EINVAL, false))?;
        let mut inner = self.inner.lock();
        if inner.closing {
            return Err(failed(ENODEV, false));
        }
        match inner.state_of(relid) {
            None | Some(ChannelState::Rescinded { .. }) | Some(ChannelState::Released) => {
                return Err(failed(ENODEV, false))
            }
            _ => {}
        }
        let d = DriverGpadl {
            relid,
            gpadl: g,
            state: GpadlState::Creating { relid, gpadl: g },
        };
        inner
            .gpadls
            .push(d, GFP_KERNEL)
            .map_err(|_| failed(ENOMEM, false))?;
        for (i, m) in msgs.enumerate() {
            if let Err(e) = self.post(&inner, &m) {
                // A header the host never got holds nothing; after it, the
                // host may have the GPADL in part: it stays in the table
                // (`Creating`) and its pages are never freed.
                if i == 0 {
                    if let Some(k) = inner.driver_gpadl(g) {
                        let _ = inner.gpadls.remove(k);
                    }
                }
                return Err(failed(e, i > 0));
            }
        }
        let creating =
            |inner: &Inner| matches!(inner.driver_gpadl_state(g), GpadlState::Creating { .. });
        let r = wait_answer!(self, inner, shim::timeout_ms(), !creating(&inner));
        match inner.driver_gpadl_state(g) {
            GpadlState::Created { .. } => Ok(g),
            // Refused, or the channel was rescinded meanwhile: taken out
            // of the table then.
            GpadlState::Released => {
                let gone = matches!(
                    inner.state_of(relid),
                    None | Some(ChannelState::Rescinded { .. }) | Some(ChannelState::Released)
                );
                Err(failed(if gone { ENODEV } else { EIO }, false))
            }
            _ => {
                pr_err!(
                    "channel {}: no answer to GPADL {:#x}; its memory stays with the host\n",
                    relid.get(),
                    g.get()
                );
                Err(failed(r.err().unwrap_or(ETIMEDOUT), true))
            }
        }
    }

    /// Tears down driver GPADL `g` of channel `ch` and waits for the host
    /// to give the memory back. `Ok` means the host confirmed: the pages
    /// are the guest's again.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `g` is not a created GPADL of `ch`;
    /// - `EIO`: the teardown could not be posted;
    /// - `ETIMEDOUT`: unloading began before the host answered.
    ///
    /// After an error the host may still use the memory.
    pub(crate) fn driver_gpadl_teardown(self: &Arc<Self>, ch: &Channel, g: GpadlId) -> Result {
        let relid = ch.info().relid;
        let mut inner = self.inner.lock();
        let i = inner.driver_gpadl(g).ok_or(EINVAL)?;
        let d = *inner.gpadls.get(i).ok_or(EINVAL)?;
        if d.relid != relid {
            return Err(EINVAL);
        }
        let (next, msg) = d.state.on_event(GpadlEvent::Teardown).map_err(|_| EINVAL)?;
        if let Some(m) = msg {
            self.post(&inner, &m)?;
        }
        if let Some(e) = inner.gpadls.get_mut(i) {
            e.state = next;
        }
        let tearing =
            |inner: &Inner| matches!(inner.driver_gpadl_state(g), GpadlState::TearingDown { .. });
        let r = wait_answer!(self, inner, shim::timeout_ms(), !tearing(&inner));
        match inner.driver_gpadl_state(g) {
            GpadlState::Released => Ok(()),
            _ => {
                pr_err!(
                    "channel {}: no answer to the teardown of GPADL {:#x}; its memory stays with the host\n",
                    relid.get(),
                    g.get()
                );
                Err(r.err().unwrap_or(ETIMEDOUT))
            }
        }
    }

    /// `GPADL_CREATED` for a driver GPADL: true when it was one (and was
    /// handled), false to let the channel's state machine have it.
    pub(super) fn on_driver_gpadl_created(&self, inner: &mut Inner, m: &HostMessage) -> bool {
        let HostMessage::GpadlCreated {
            relid,
            gpadl,
            status,
        } = *m
        else {
            return false;
        };
        let Some(i) = inner.driver_gpadl(gpadl) else {
            return false;
        };
        let Some(d) = inner.gpadls.get(i).copied() else {
            return false;
        };
        if d.relid != relid {
            if self.warn.allow() {
                pr_warn!(
                    "GPADL_CREATED for GPADL {:#x} names relid {}, not its channel {}\n",
                    gpadl.get(),
                    relid.get(),
                    d.relid.get()
                );
            }
            return true;
        }
        match d.state.on_event(GpadlEvent::Created(status)) {
            Ok((next, _)) => {
                if let Some(e) = inner.gpadls.get_mut(i) {
                    e.state = next;
                }
            }
            Err(_) if matches!(d.state, GpadlState::Creating { .. }) => {
                // Refused: the host holds nothing.
                if self.warn.allow() {
                    pr_warn!(
                        "channel {}: the host refused GPADL {:#x} (status {:#x})\n",
                        relid.get(),
                        gpadl.get(),
                        status
                    );
                }
                let _ = inner.gpadls.remove(i);
            }
            Err(_) => {
                if self.warn.allow() {
                    pr_warn!("GPADL_CREATED for GPADL {:#x} not awaited\n", gpadl.get());
                }
            }
        }
        self.cv.notify_all();
        true
    }

    /// The host rescinded channel `relid`: it will not answer the creation
    /// of its GPADLs any more (their waiters end, the host holding
    /// nothing, as `vmbus_proto`'s [`GpadlState`] says), but it still
    /// answers teardowns.
    pub(super) fn on_driver_gpadls_rescinded(&self, inner: &mut Inner, relid: Relid) {
        let mut changed = false;
        let mut i = 0;
        while let Some(d) = inner.gpadls.get(i).copied() {
            if d.relid == relid {
                if let Ok((GpadlState::Released, _)) = d.state.on_event(GpadlEvent::Rescinded) {
                    let _ = inner.gpadls.remove(i);
                    changed = true;
                    continue;
                }
            }
            i += 1;
        }
        if changed {
            self.cv.notify_all();
        }
    }

    /// `GPADL_TORNDOWN` for a driver GPADL: true when it was one.
    pub(super) fn on_driver_gpadl_torndown(&self, inner: &mut Inner, gpadl: GpadlId) -> bool {
        let Some(i) = inner.driver_gpadl(gpadl) else {
            return false;
        };
        let Some(d) = inner.gpadls.get(i).copied() else {
            return false;
        };
        match d.state.on_event(GpadlEvent::Torndown) {
            Ok(_) => {
                let _ = inner.gpadls.remove(i);
            }
            Err(_) => {
                if self.warn.allow() {
                    pr_warn!("GPADL_TORNDOWN for GPADL {:#x} not awaited\n", gpadl.get());
                }
            }
        }
        self.cv.notify_all();
        true
    }
}
