// SPDX-License-Identifier: GPL-2.0

//! CPUs that come and go (Linux's `hv_synic_init` and `hv_synic_cleanup`
//! as the CPU hotplug callbacks of `vmbus_drv.c`).
//!
//! A CPU that comes online gets its SynIC set up, if the connection wants
//! the SynIC (from connect or resume to unload or freeze). A CPU that goes
//! offline first stops being a CPU a channel may be given; its open
//! channels are moved to another CPU with MODIFYCHANNEL where the host
//! confirms a move (VMBus 5.3 and later), and the other channels on it
//! just take another CPU for their next open; then its SynIC is turned
//! off, and the message work is kicked for event flags it may have left.
//! It stays online (`EBUSY`) when it is the CPU the host sends messages to
//! (CPU 0, named in INITIATE_CONTACT) while a connection is up, when one of
//! its channels is opening or closing, when the host is older than 5.3, or
//! when a move fails. Its pages are never freed while the host may still
//! write them: they live as long as the connection, which keeps those of
//! a CPU whose SynIC it could not turn off.
//!
//! For system suspend (`frozen`) nothing changes: hibernation has unloaded
//! the connection before the CPUs go, and suspend to RAM keeps every
//! channel where it is, on the CPU that comes back with the same number.
//!
//! Context: the CPU hotplug callbacks, on the CPU concerned, with the CPU
//! hotplug lock held for writing; process context, may sleep.

use super::*;
use crate::support::cpuhp::CpuHotplug;

/// No CPU is going offline.
pub(super) const NO_CPU: u32 = u32::MAX;

impl Connection {
    /// Whether `cpu` may be given a channel's interrupts: its SynIC is up
    /// and it is not on its way offline.
    pub(super) fn cpu_usable(&self, cpu: u32) -> bool {
        self.synic.is_up(cpu) && self.leaving_cpu.load(Relaxed) != cpu
    }

    /// The callbacks' view of the connection.
    pub(crate) fn hotplug(self: &Arc<Self>) -> Result<Arc<dyn CpuHotplug>> {
        let h: Arc<dyn CpuHotplug> = Arc::new(Hotplug(self.clone()), GFP_KERNEL)?;
        Ok(h)
    }

    fn cpu_online(&self, cpu: u32) {
        if cpu >= self.synic.cpus() || !self.synic_on.load(Relaxed) || self.synic.is_up(cpu) {
            return;
        }
        // A SynIC that cannot be set up leaves the CPU without channels;
        // it still comes online, as it does under Linux's hv_vmbus.
        match self.synic_cpu_up(cpu) {
            Ok(()) => pr_info!("CPU {} online: SynIC set up\n", cpu),
            Err(e) => pr_err!("CPU {} online without a SynIC ({:?})\n", cpu, e),
        }
    }

    fn cpu_offline(self: &Arc<Self>, cpu: u32, frozen: bool) -> Result {
        if frozen || cpu >= self.synic.cpus() || !self.synic.is_up(cpu) {
            return Ok(());
        }
        self.leaving_cpu.store(cpu, Relaxed);
        let r = self.vacate(cpu);
        self.leaving_cpu.store(NO_CPU, Relaxed);
        if let Err(e) = r {
            pr_info!("CPU {} stays online: {}\n", cpu, e);
            return Err(EBUSY);
        }
        // A SynIC that cannot be turned off keeps its pages (see
        // `synic_cpu_down`); the CPU goes all the same, without channels.
        let _ = self.synic_cpu_down(cpu);
        pr_info!("CPU {} offline: SynIC turned off\n", cpu);
        // Event flags the host set there before the moves are read by the
        // message work, which scans every CPU's page.
        self.kick();
        Ok(())
    }

    /// Moves every channel off `cpu`, which no chooser picks any more.
    fn vacate(self: &Arc<Self>, cpu: u32) -> Result<(), &'static str> {
        let mut to_move: KVec<Arc<Channel>> = KVec::new();
        {
            let inner = self.inner.lock();
            let version = match inner.state {
                ConnectionState::Connected { version, .. } => Some(version),
                _ => None,
            };
            let host_talks = !matches!(
                inner.state,
                ConnectionState::Disconnected | ConnectionState::Suspended { .. }
            );
            if host_talks && cpu == 0 {
                return Err("the host sends its messages there (CPU 0, named in INITIATE_CONTACT)");
            }
            for e in inner.channels.iter() {
                if e.chan.target_cpu.load(Relaxed) != cpu {
                    continue;
                }
                match e.state {
                    ChannelState::Open {
                        modify_from: None, ..
                    } => to_move
                        .push(e.chan.clone(), GFP_KERNEL)
                        .map_err(|_| "no memory")?,
                    ChannelState::Open { .. }
                    | ChannelState::Opening { .. }
                    | ChannelState::Closing { .. } => {
                        return Err("a channel there is opening, closing or moving")
                    }
                    // Not open: the next open uses another CPU.
                    _ => e.chan.target_cpu.store(self.pick_cpu(), Relaxed),
                }
            }
            if !to_move.is_empty() && !version.is_some_and(|v| v.has_modify_channel_response()) {
                return Err("open channels are there, and only a host of VMBus 5.3 or later confirms their move");
            }
        }
        for ch in to_move.iter() {
            let to = self.pick_cpu();
            if to == cpu {
                return Err("no other CPU has its SynIC up");
            }
            // Answered or refused in bounded time; the hotplug lock that
            // the sysfs writers of `cpu` take is held, as they require.
            self.set_target_cpu(ch, to, shim::timeout_ms())
                .map_err(|_| "a channel could not be moved")?;
        }
        Ok(())
    }
}

/// The connection as the CPU hotplug callbacks see it.
struct Hotplug(Arc<Connection>);

impl CpuHotplug for Hotplug {
    fn online(&self, cpu: u32) -> Result {
        self.0.cpu_online(cpu);
        Ok(())
    }

    fn offline(&self, cpu: u32, frozen: bool) -> Result {
        self.0.cpu_offline(cpu, frozen)
    }
}
