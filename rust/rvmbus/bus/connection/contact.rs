// SPDX-License-Identifier: GPL-2.0

//! Connecting (`vmbus_connect`): the SynIC of every CPU, INITIATE_CONTACT
//! and the version negotiation of `proto::connection`, REQUEST_OFFERS and
//! the wait for the offers; also the SynIC set-up and tear-down of one CPU
//! that CPU hotplug and unload use.
//!
//! Context: process context (module load, resume from hibernation, CPU
//! hotplug callbacks); sleeps on `cv` with `inner` released while it waits
//! for the host.

use super::*;

impl Connection {
    /// Sets up the SynIC, negotiates the version, asks for the offers and
    /// waits for them, and adds the devices.
    pub(crate) fn connect(self: &Arc<Self>, timeout_ms: u32) -> Result {
        self.synic_enable()?;
        let (mut inner, r) = self.initiate_contact(timeout_ms)?;
        let ConnectionState::Connected {
            version,
            msg_conn_id,
            ..
        } = inner.state
        else {
            let (why, e) = match (r, inner.contact_failure) {
                (Err(_), _) | (Ok(()), None) => {
                    ("the host did not answer INITIATE_CONTACT", ETIMEDOUT)
                }
                (Ok(()), Some(ContactFailure::NoCommonVersion)) => (
                    "the host refused every version we offer (2.4 to 6.0)",
                    ENODEV,
                ),
                (Ok(()), Some(ContactFailure::PostFailed)) => {
                    ("INITIATE_CONTACT could not be posted", EIO)
                }
                (Ok(()), Some(ContactFailure::Unusable(_))) => (
                    "the host accepted a version with an answer that cannot be used",
                    EPROTO,
                ),
                (Ok(()), Some(ContactFailure::ResumeRejected(_))) => (
                    "the host refused the version of the connection before",
                    ENODEV,
                ),
            };
            pr_err!("no VMBus connection: {}\n", why);
            inner.state = ConnectionState::Disconnected;
            return Err(e);
        };
        pr_info!(
            "connected to the host: VMBus version {}.{}, message connection id {}, transport {}\n",
            version.major(),
            version.minor(),
            msg_conn_id,
            self.transport.name()
        );
        let inner = self.announce_connected(inner);
        let (inner, r) = self.request_offers(inner, timeout_ms)?;
        let n = inner.channels.len();
        drop(inner);
        match r {
            Ok(()) => pr_info!("all offers delivered: {} channels\n", n),
            Err(_) => pr_warn!(
                "the host did not finish its offers in {} ms; going on with {} channels\n",
                timeout_ms,
                n
            ),
        }
        self.apply_dev_ops();
        Ok(())
    }

    /// Sends INITIATE_CONTACT with what [`Connection::contact_config`]
    /// says and waits, at most `timeout_ms`, for the host's version answer:
    /// the contact of [`Connection::connect`].
    fn initiate_contact(
        self: &Arc<Self>,
        timeout_ms: u32,
    ) -> Result<(MutexGuard<'_, Inner>, Result)> {
        self.contact(ConnectionEvent::Connect(self.contact_config()), timeout_ms)
    }

    /// For the KUnit tests: the contact of [`Connection::connect`] without
    /// the SynIC set-up and without waiting for an answer, so that a fake
    /// transport sees what the connection posts. The connection is left
    /// contacting the host; it must not be used afterwards but to drop it.
    #[cfg(CONFIG_KUNIT)]
    pub(crate) fn initiate_contact_for_test(self: &Arc<Self>) -> Result {
        let (_inner, _no_answer) = self.initiate_contact(0)?;
        Ok(())
    }

    /// Runs `ev` (connect or resume: INITIATE_CONTACT) and waits, at most
    /// `timeout_ms`, for the host's version answer; the outcome is in the
    /// state.
    pub(super) fn contact(
        self: &Arc<Self>,
        ev: ConnectionEvent,
        timeout_ms: u32,
    ) -> Result<(MutexGuard<'_, Inner>, Result)> {
        let mut inner = self.inner.lock();
        inner.pages_with_host = true;
        inner.contact_failure = None;
        self.step(&mut inner, ev)?;
        // A contact that failed (every version refused, a post that did not
        // go out) ends the wait at once; `act` gave the pages back if the
        // host holds none of them.
        let r = wait_until!(
            self,
            inner,
            timeout_ms,
            !matches!(inner.state, ConnectionState::Contacting { .. })
        );
        Ok((inner, r))
    }

    /// Tells the layers above that the connection is up, with its version
    /// agreed and before the offers are asked for, so that what drivers
    /// read of it is set before any of them binds
    /// ([`Upper::connected`]); `inner` is let go for the call (the host
    /// sends nothing unasked here) and taken again.
    pub(super) fn announce_connected<'a>(
        self: &'a Arc<Self>,
        inner: MutexGuard<'a, Inner>,
    ) -> MutexGuard<'a, Inner> {
        drop(inner);
        self.upper.connected(self);
        self.inner.lock()
    }

    /// Asks for the offers and waits, at most `timeout_ms`, until the host
    /// says it delivered them all.
    pub(super) fn request_offers<'a>(
        self: &'a Arc<Self>,
        mut inner: MutexGuard<'a, Inner>,
        timeout_ms: u32,
    ) -> Result<(MutexGuard<'a, Inner>, Result)> {
        self.step(&mut inner, ConnectionEvent::RequestOffers)?;
        let r = wait_until!(
            self,
            inner,
            timeout_ms,
            matches!(
                inner.state,
                ConnectionState::Connected {
                    offers: OffersPhase::AllDelivered,
                    ..
                }
            )
        );
        Ok((inner, r))
    }

    /// Points the host at this guest's SynIC pages on every online CPU;
    /// a CPU that comes online later is set up by its hotplug callback.
    pub(super) fn synic_enable(&self) -> Result {
        let _cpus = shim::CpusLocked::new();
        self.synic_on.store(true, Relaxed);
        for cpu in 0..self.synic.cpus() {
            if shim::cpu_online(cpu) {
                self.synic_cpu_up(cpu)?;
            }
        }
        Ok(())
    }

    /// Sets the SynIC of `cpu` up. Context: the CPU hotplug lock held.
    pub(super) fn synic_cpu_up(&self, cpu: u32) -> Result {
        let (simp, siefp) = self.synic.addresses(cpu).ok_or(EINVAL)?;
        let st = self.transport.synic_setup(cpu, simp, siefp, true)?;
        if st != HvStatus::SUCCESS {
            pr_err!("SynIC set-up of CPU {} refused: status {:#x}\n", cpu, st.0);
            return Err(EIO);
        }
        self.synic.set_up(cpu, true);
        Ok(())
    }

    /// Takes the SynIC of `cpu` down, if it is up; keeps its pages if the
    /// host may still write them (the transport could not turn it off).
    /// Context: the CPU hotplug lock held.
    pub(super) fn synic_cpu_down(&self, cpu: u32) -> Result {
        if !self.synic.is_up(cpu) {
            return Ok(());
        }
        match self.transport.synic_setup(cpu, 0, 0, false) {
            Ok(st) if st == HvStatus::SUCCESS => {
                self.synic.set_up(cpu, false);
                Ok(())
            }
            r => {
                pr_err!("SynIC of CPU {} not turned off ({:?})\n", cpu, r);
                self.synic
                    .keep(cpu, "SynIC pages the host did not let go of");
                Err(EIO)
            }
        }
    }

    /// Takes the SynIC down on every CPU where it is up: unload and
    /// freeze.
    pub(super) fn synic_disable(&self) {
        let _cpus = shim::CpusLocked::new();
        self.synic_on.store(false, Relaxed);
        for cpu in 0..self.synic.cpus() {
            let _ = self.synic_cpu_down(cpu);
        }
    }

    /// What INITIATE_CONTACT tells the host.
    pub(super) fn contact_config(&self) -> ContactConfig {
        ContactConfig {
            target_vcpu: self.transport.vp_index(0),
            vtl: self.transport.vtl(),
            interrupt_page: self.int_page.phys(0),
            monitor_page1: self.monitor.phys(0),
            monitor_page2: self.monitor.phys(PAGE),
            ..ContactConfig::default()
        }
    }
}
