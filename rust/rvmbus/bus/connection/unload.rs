// SPDX-License-Identifier: GPL-2.0

//! Unload: every device removed, UNLOAD sent and its answer awaited, then
//! the memory the host gave back freed and the SynIC set-up undone.
//!
//! Context: process context (module unload, transport removal), no lock
//! held on entry.

use super::*;

impl Connection {
    /// Unloads: removes the devices, sends UNLOAD and waits for the answer,
    /// then frees ring memory the host gave back and undoes the SynIC
    /// set-up.
    pub(crate) fn shutdown(self: &Arc<Self>, timeout_ms: u32) {
        let mut inner = self.inner.lock();
        inner.closing = true;
        // Every device goes away first, while the connection still works,
        // so that drivers unbind and close their channels normally.
        let primaries: KVec<Arc<Channel>> = {
            let mut v = KVec::new();
            for e in inner.channels.iter() {
                if e.chan.info().sub_channel_index == 0 {
                    let _ = v.push(e.chan.clone(), GFP_KERNEL);
                }
            }
            v
        };
        for ch in primaries {
            let _ = inner.dev_ops.push(DevOp::Remove(ch, None), GFP_KERNEL);
        }
        drop(inner);
        self.apply_dev_ops();
        let mut inner = self.inner.lock();
        let mut removed = 0;
        while let Some(e) = inner.channels.pop() {
            *e.chan.io.lock() = None;
            if let Some((g, m, _)) = e.ring {
                let _ = inner.orphans.push((g, m), GFP_KERNEL);
            }
            removed += 1;
        }
        let answered = if matches!(inner.state, ConnectionState::Connected { .. }) {
            let _ = self.step(&mut inner, ConnectionEvent::Unload);
            let start = Instant::<Monotonic>::now();
            let r = wait_until!(
                self,
                inner,
                timeout_ms,
                matches!(inner.state, ConnectionState::Disconnected)
            );
            match r {
                Ok(()) => pr_info!(
                    "the host answered UNLOAD in {} ms\n",
                    start.elapsed().as_millis()
                ),
                Err(_) => {
                    pr_err!(
                        "the host did not answer UNLOAD in {} ms; unloading without it\n",
                        timeout_ms
                    );
                    inner.state = ConnectionState::Disconnected;
                }
            }
            r.is_ok()
        } else {
            false
        };
        if answered {
            inner.pages_with_host = false;
        }
        let orphans = core::mem::take(&mut inner.orphans);
        let keep_conn_pages = inner.pages_with_host;
        drop(inner);
        if answered {
            pr_info!(
                "unloaded: {} channels removed, host released all memory\n",
                removed
            );
        } else {
            for (_, m) in orphans.iter() {
                m.keep("no answer to UNLOAD");
            }
        }
        drop(orphans);
        if keep_conn_pages {
            self.int_page
                .keep("interrupt page, given in INITIATE_CONTACT and never released");
            self.monitor
                .keep("monitor pages, given in INITIATE_CONTACT and never released");
        }
        for cpu in 0..self.synic.cpus() {
            match self.transport.synic_setup(cpu, 0, 0, false) {
                Ok(st) if st == HvStatus::SUCCESS => {}
                _ => self
                    .synic
                    .keep(cpu, "SynIC pages the host did not let go of"),
            }
        }
    }
}
