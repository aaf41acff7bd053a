// SPDX-License-Identifier: GPL-2.0

//! Opening and closing channels (`channel.c`): ring memory and its GPADL,
//! OPENCHANNEL and CLOSECHANNEL, and moving a channel's interrupts to
//! another CPU (MODIFYCHANNEL).
//!
//! Context: process context (drivers, sysfs writes, the bus's own users);
//! each call takes `inner` and sleeps on `cv` with it released while it
//! waits for the host: opens and closes as long as [`HostWait`] says,
//! moves for at most `timeout_ms`.

use super::*;

/// The most ring memory the host may hold of channels that are gone
/// (orphans waiting for their GPADL teardown) before new opens are
/// refused.
const ORPHANS_MAX: usize = 32 << 20;

/// The data bytes of a channel's two rings, each at most
/// [`RING_BYTES_MAX`]. Most drivers open both the same size; hv_sock sizes
/// each from its socket's buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RingBytes {
    /// The outbound ring (guest to host).
    pub(crate) out: usize,
    /// The inbound ring (host to guest).
    pub(crate) inb: usize,
}

impl RingBytes {
    /// Rings of `bytes` each way.
    pub(crate) const fn both(bytes: usize) -> Self {
        Self {
            out: bytes,
            inb: bytes,
        }
    }

    /// The pages of each ring, control page included.
    ///
    /// # Errors
    ///
    /// `EINVAL` if a ring is over [`RING_BYTES_MAX`].
    fn pages(self) -> Result<(usize, usize)> {
        if self.out > RING_BYTES_MAX || self.inb > RING_BYTES_MAX {
            return Err(EINVAL);
        }
        Ok((ring_pages(self.out), ring_pages(self.inb)))
    }
}

impl Connection {
    /// Posts the ring GPADL's header and bodies. On failure, also says
    /// whether any of them was posted.
    pub(super) fn send_gpadl(
        &self,
        inner: &Inner,
        relid: Relid,
        g: GpadlId,
    ) -> Result<(), (Error, bool)> {
        let e = inner
            .channels
            .iter()
            .find(|e| e.has_relid(relid))
            .ok_or((ENOENT, false))?;
        let (_, mem, pages) = e.ring.as_ref().ok_or((EINVAL, false))?;
        let mut pfns = KVec::new();
        mem.pfns(0, *pages, &mut pfns).map_err(|e| (e, false))?;
        let msgs = GpadlMessages::new(relid, g, &pfns).map_err(|_| (EINVAL, false))?;
        for (i, m) in msgs.enumerate() {
            self.post(inner, &m).map_err(|e| (e, i > 0))?;
        }
        Ok(())
    }

    /// Opens `ch` with rings of `bytes`, interrupts on `cpu`, waiting for
    /// the host as `wait` says.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `cpu` is offline or beyond the CPUs the connection set
    ///   up, or a ring is over [`RING_BYTES_MAX`];
    /// - `ENODEV`: unloading, or the channel is gone or was rescinded
    ///   meanwhile;
    /// - `EBUSY`: the channel is not closed;
    /// - `EIO`: the host refused the GPADL or the open, or a message could
    ///   not be posted, or it opened the channel with ring indices out of
    ///   range (then the channel is closed again: CLOSECHANNEL and the
    ///   GPADL's teardown); the channel can be opened again;
    /// - `ETIMEDOUT`: no answer within [`HostWait::AtMost`] (the host may
    ///   still hold the ring, which is kept);
    /// - `ENOSPC`: the host holds [`ORPHANS_MAX`] bytes of rings of
    ///   channels that are gone and has not given them back;
    /// - `ENOMEM`: no memory for the ring.
    pub(crate) fn open(
        self: &Arc<Self>,
        ch: &Arc<Channel>,
        bytes: RingBytes,
        cpu: u32,
        wait: HostWait,
    ) -> Result {
        // `alloc_rings` checks the sizes, `open_on` the CPU. The block is
        // freed with the last reference: at once if the host never saw it,
        // else when the core lets it go.
        let mem = Self::alloc_rings(bytes)?;
        self.open_on(ch, mem, bytes, cpu, wait)
    }

    /// Ring memory for rings of `bytes` of data: both rings' pages in one
    /// block, outbound first, for [`Connection::open_on`].
    ///
    /// # Errors
    ///
    /// `EINVAL` if a ring is over [`RING_BYTES_MAX`], `ENOMEM` without
    /// memory.
    pub(crate) fn alloc_rings(bytes: RingBytes) -> Result<Arc<SharedPages>> {
        let (out, inb) = bytes.pages()?;
        Ok(Arc::new(SharedPages::new(out + inb)?, GFP_KERNEL)?)
    }

    /// As [`Connection::open`], on ring memory the caller allocated with
    /// [`Connection::alloc_rings`] for `bytes` and may keep (Linux's
    /// `vmbus_connect_ring()`: `uio_hv_generic` maps it to user space and
    /// opens and closes the channel on it many times). The control pages
    /// are initialised afresh. The connection holds its own reference
    /// while the host may use the memory, so the caller dropping its
    /// reference never frees pages the host holds.
    ///
    /// # Errors
    ///
    /// As [`Connection::open`]; `EINVAL` also if `mem` is too small for
    /// `bytes`.
    pub(crate) fn open_on(
        self: &Arc<Self>,
        ch: &Arc<Channel>,
        mem: Arc<SharedPages>,
        bytes: RingBytes,
        cpu: u32,
        wait: HostWait,
    ) -> Result {
        let (out_pages, in_pages) = bytes.pages()?;
        if !self.cpu_usable(cpu) {
            return Err(EINVAL);
        }
        let relid = ch.info().relid;
        let gpadl = GpadlId::new(self.gpadl_next.fetch_add(1, Relaxed)).ok_or(EINVAL)?;
        let mut inner = self.inner.lock();
        if inner.closing {
            return Err(ENODEV);
        }
        // Memory that a GPADL of an earlier open may still describe to the
        // host (its teardown never confirmed) is not reused.
        if inner.orphans.iter().any(|(_, m)| Arc::ptr_eq(m, &mem)) {
            return Err(EBUSY);
        }
        // `Rings::init` refuses memory smaller than both rings.
        Rings::init(&mem, out_pages, in_pages)?;
        // Checked again under the lock, which a CPU going offline takes to
        // look for the channels on it.
        if !self.cpu_usable(cpu) {
            return Err(EINVAL);
        }
        // A host that never tears down the rings of the channels it
        // rescinds would otherwise pin more guest memory with each open.
        let orphaned: usize = inner.orphans.iter().map(|(_, m)| m.len()).sum();
        if orphaned + mem.len() > ORPHANS_MAX {
            if self.warn.allow() {
                pr_err!(
                    "channel {}: not opened: the host holds {} KiB of rings of channels that are gone (at most {} KiB)\n",
                    relid.get(),
                    orphaned / 1024,
                    ORPHANS_MAX / 1024
                );
            }
            return Err(ENOSPC);
        }
        let e = inner.find(relid).ok_or(ENODEV)?;
        match e.state {
            ChannelState::Offered(_) | ChannelState::Closed(_) => {}
            ChannelState::Rescinded { .. } | ChannelState::Released => return Err(ENODEV),
            _ => return Err(EBUSY),
        }
        e.ring = Some((gpadl, mem.clone(), out_pages + in_pages));
        e.ring_bytes = bytes;
        ch.target_cpu.store(cpu, Relaxed);
        // CAST: A ring has far fewer than 2^32 pages. The inbound ring
        // starts where the outbound one ends.
        let params = OpenParams::new(
            relid.get(),
            gpadl,
            self.transport.vp_index(cpu),
            out_pages as u32,
        );
        let _ = self.chan_step(&mut inner, relid, ChannelEvent::Open(params));
        // The outcome is in the state; unload or a bounded wait that ran
        // out leaves it `Opening`.
        let opening =
            |inner: &mut Inner| matches!(inner.state_of(relid), Some(ChannelState::Opening { .. }));
        let _ = match wait {
            HostWait::Answer => wait_answer!(self, inner, 0, !opening(&mut inner) || inner.closing),
            HostWait::AtMost(ms) => wait_until!(self, inner, ms, !opening(&mut inner)),
        };
        match inner.state_of(relid) {
            Some(ChannelState::Open { .. }) => match Rings::attach(mem, out_pages, in_pages) {
                Ok(rings) => {
                    ch.attach_rings(rings);
                    if bytes.out == bytes.inb {
                        pr_info!(
                            "channel {} open: {} KiB rings, interrupts on CPU {}\n",
                            relid.get(),
                            bytes.out / 1024,
                            cpu
                        );
                    } else {
                        pr_info!(
                            "channel {} open: {} KiB ring out, {} KiB in, interrupts on CPU {}\n",
                            relid.get(),
                            bytes.out / 1024,
                            bytes.inb / 1024,
                            cpu
                        );
                    }
                    Ok(())
                }
                Err(e) => {
                    // The host wrote indices out of range into the ring
                    // headers between the GPADL and its answer. The host has
                    // the channel open: close it and tear the GPADL down, as
                    // Linux's `vmbus_open` does when it cannot go on after
                    // the host's answer. The ring memory stays with the
                    // channel until the host confirms the teardown (or for
                    // good, if it never does).
                    if self.warn.allow() {
                        pr_err!(
                            "channel {}: the host opened it with corrupt ring indices; closing it\n",
                            relid.get()
                        );
                    }
                    drop(inner);
                    if let Err(c) = self.close(ch, wait) {
                        pr_err!(
                            "channel {}: the close after the failed open failed ({:?})\n",
                            relid.get(),
                            c
                        );
                    }
                    Err(e)
                }
            },
            // Unloading: the wait ended, and the unload may have taken the
            // channel out of the table already. The host may hold the
            // GPADL: the memory went to the orphans with the entry.
            _ if inner.closing => {
                pr_info!(
                    "channel {}: unloading before the host answered the open\n",
                    relid.get()
                );
                Err(ENODEV)
            }
            Some(ChannelState::Opening { .. }) => {
                pr_err!(
                    "channel {}: no answer to the open in {} ms\n",
                    relid.get(),
                    match wait {
                        HostWait::AtMost(ms) => ms,
                        HostWait::Answer => 0,
                    }
                );
                Err(ETIMEDOUT)
            }
            Some(ChannelState::Rescinded { .. }) | Some(ChannelState::Released) | None => {
                pr_info!("channel {}: rescinded while opening\n", relid.get());
                Err(ENODEV)
            }
            _ => Err(EIO),
        }
    }

    /// Closes `ch`: close message, ring GPADL teardown, and frees the rings
    /// once the host confirms; waits for the host as `wait` says.
    ///
    /// # Errors
    ///
    /// - `ENOTCONN`: the channel is not open (a channel rescinded while
    ///   open, which its driver kept, is released instead: `Ok`);
    /// - `EIO`: the close or the teardown could not be posted (the ring
    ///   memory is kept for good; the channel can be opened again);
    /// - `ETIMEDOUT`: no answer in time (unloading, or
    ///   [`HostWait::AtMost`]): the memory stays with the channel until the
    ///   host lets go of it, or for good;
    /// - `EINTR`: a fatal signal interrupted a wait during unload.
    pub(crate) fn close(self: &Arc<Self>, ch: &Arc<Channel>, wait: HostWait) -> Result {
        let relid = ch.info().relid;
        let mut inner = self.inner.lock();
        // No more packets from this side.
        ch.detach_rings();
        let Some(e) = inner.find(relid) else {
            return Err(ENOTCONN);
        };
        match e.state {
            ChannelState::Open { .. } => {}
            // Rescinded while open, and kept until this close (a
            // sub-channel; see `apply_dev_ops`): nothing to close, the
            // relid goes now.
            ChannelState::Rescinded {
                kept_open: true, ..
            } => {
                let _ = self.chan_step(&mut inner, relid, ChannelEvent::Close);
                return Ok(());
            }
            _ => return Err(ENOTCONN),
        }
        if self
            .chan_step(&mut inner, relid, ChannelEvent::Close)
            .is_err()
        {
            return Err(EIO);
        }
        let closing =
            |inner: &mut Inner| matches!(inner.state_of(relid), Some(ChannelState::Closing { .. }));
        // While unloading, a host that let one close time out is not
        // waited for again: unload must end in bounded time.
        let unload_ms = |inner: &Inner| {
            if inner.host_silent {
                0
            } else {
                shim::timeout_ms()
            }
        };
        let r = match wait {
            HostWait::Answer => wait_answer!(self, inner, unload_ms(&inner), !closing(&mut inner)),
            HostWait::AtMost(ms) => wait_until!(self, inner, ms, !closing(&mut inner)),
        };
        if let Err(e) = r {
            if inner.closing && !inner.host_silent {
                inner.host_silent = true;
                pr_err!("the host stopped answering while unloading; closing the other channels without waiting\n");
            }
            pr_err!(
                "channel {}: the host did not tear down the ring GPADL in time; keeping its memory\n",
                relid.get()
            );
            return Err(e);
        }
        pr_info!("channel {} closed\n", relid.get());
        Ok(())
    }

    // ---- Moving interrupts ------------------------------------------------

    /// Moves the host's interrupts for open channel `ch` to `cpu`, as a
    /// write to sysfs `channels/<relid>/cpu` asks.
    ///
    /// Hosts of version 4.1 to 5.2 never confirm `MODIFY_CHANNEL`: the move
    /// counts as done once posted (interrupts that still come on the old
    /// CPU are handled all the same). From 5.3 on this waits, at most
    /// `timeout_ms`, for `MODIFY_CHANNEL_RESPONSE`. Moves of one channel are
    /// serialised; moving to the current CPU does nothing.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `cpu`'s SynIC is not up (the CPU is offline, going
    ///   offline, or beyond the CPUs the connection set up);
    /// - `EOPNOTSUPP`: the host's version is older than 4.1;
    /// - `ENODEV`: the channel is not open (or went away meanwhile);
    /// - `EIO`: the post failed, or the host refused (the old CPU is kept);
    /// - `ETIMEDOUT`: no answer in time (the old CPU is kept, and a late
    ///   answer is dropped);
    /// - `EINTR`: a fatal signal interrupted the wait (as for `ETIMEDOUT`).
    pub(crate) fn set_target_cpu(
        self: &Arc<Self>,
        ch: &Channel,
        cpu: u32,
        timeout_ms: u32,
    ) -> Result {
        /// Marks the channel as being moved; unmarks it when dropped (while
        /// `inner` is still held, as it is declared after the guard).
        struct Claim<'a>(&'a Channel, &'a CondVar);
        impl Drop for Claim<'_> {
            fn drop(&mut self) {
                self.0.moving.store(0, Relaxed);
                self.1.notify_all();
            }
        }

        let relid = ch.info().relid;
        let mut inner = self.inner.lock();
        let ConnectionState::Connected { version, .. } = inner.state else {
            return Err(ENODEV);
        };
        if !version.has_modify_channel() {
            if self.warn.allow() {
                pr_warn!(
                    "channel {}: cannot move its interrupts: the host negotiated VMBus {}.{}, moves need 4.1 or later\n",
                    relid.get(),
                    version.major(),
                    version.minor()
                );
            }
            return Err(EOPNOTSUPP);
        }
        if !self.cpu_usable(cpu) {
            return Err(EINVAL);
        }
        // Wait for any other move of this channel to finish, then claim it.
        wait_until!(
            self,
            inner,
            timeout_ms,
            ch.moving.cmpxchg(0, 1, Relaxed).is_ok()
        )?;
        let _claim = Claim(ch, &self.cv);
        let e = inner
            .find(relid)
            .filter(|e| core::ptr::eq(&*e.chan, ch))
            .ok_or(ENODEV)?;
        if !matches!(e.state, ChannelState::Open { .. }) {
            return Err(ENODEV);
        }
        let from = ch.target_cpu.load(Relaxed);
        if from == cpu {
            return Ok(());
        }
        let target_vp = self.transport.vp_index(cpu);
        let await_response = version.has_modify_channel_response();
        let (next, actions) = e
            .state
            .on_event(ChannelEvent::Modify {
                target_vp,
                await_response,
            })
            .map_err(|_| EBUSY)?;
        // The state changes only once the host has the message.
        for a in actions.iter() {
            if let ChannelAction::Post(m) = a {
                self.post(&inner, &m)?;
            }
        }
        if let Some(e) = inner.find(relid) {
            e.state = next;
        }
        if await_response {
            let r = wait_until!(
                self,
                inner,
                timeout_ms,
                !matches!(
                    inner.state_of(relid),
                    Some(ChannelState::Open {
                        modify_from: Some(_),
                        ..
                    })
                )
            );
            match inner.state_of(relid) {
                Some(ChannelState::Open {
                    modify_from: Some(_),
                    ..
                }) => {
                    // The host may still move the interrupts; the guest
                    // takes any CPU's interrupts, and drops a late answer.
                    let _ = self.chan_step(&mut inner, relid, ChannelEvent::ModifyAbandoned);
                    let e = r.err().unwrap_or(ETIMEDOUT);
                    if e == ETIMEDOUT {
                        pr_err!(
                            "channel {}: no answer to the move to CPU {} in {} ms; cpu stays {}\n",
                            relid.get(),
                            cpu,
                            timeout_ms,
                            from
                        );
                    } else {
                        pr_info!(
                            "channel {}: move to CPU {} interrupted before the host answered; cpu stays {}\n",
                            relid.get(),
                            cpu,
                            from
                        );
                    }
                    return Err(e);
                }
                Some(ChannelState::Open { target_vp: now, .. }) if now == target_vp => {}
                Some(ChannelState::Open { .. }) => return Err(EIO),
                _ => return Err(ENODEV),
            }
        }
        ch.target_cpu.store(cpu, Relaxed);
        pr_info!(
            "channel {}: interrupts moved from CPU {} to CPU {}\n",
            relid.get(),
            from,
            cpu
        );
        Ok(())
    }
}
