// SPDX-License-Identifier: GPL-2.0

//! Sub-channels for drivers of the hv_vmbus interface: when the host
//! offers a sub-channel of a primary channel whose driver has it open, a
//! binding of its own is made for it and `subchannel.c` hands its
//! `struct vmbus_channel` to the driver's `sc_creation_callback`.
//!
//! Context: the device work (the core's [`ChannelDriver::sub_offered`]).
//! The primary's gate is held throughout, so the primary's callback, open,
//! close and unbind wait; the driver's `sc_creation_callback` runs under it
//! and may open the sub-channel (its own gate: lock order primary gate →
//! sub-channel gate).
//!
//! [`ChannelDriver::sub_offered`]: crate::bus::channel::ChannelDriver::sub_offered

use core::ffi::c_void;

use kernel::{prelude::*, sync::Arc};

use super::binding::{new_binding, GateClass, GateState, HvBinding};
use crate::bus::channel::Channel;

mod ffi {
    use core::ffi::c_void;

    extern "C" {
        pub(super) fn rvmbus_hv_c_sub_alloc(pcchan: *mut c_void) -> *mut c_void;
        pub(super) fn rvmbus_hv_c_sub_free(cchan: *mut c_void);
        pub(super) fn rvmbus_hv_c_sub_add(pcchan: *mut c_void, cchan: *mut c_void, b: *mut c_void);
    }
}

impl HvBinding {
    /// The host offered `sub`, a sub-channel of this binding's channel.
    pub(super) fn offer_sub(&self, sub: &Arc<Channel>) {
        let gate = self.gate.lock();
        if *gate != GateState::Open {
            // Only a driver with its primary open asked for sub-channels;
            // this one stays offered and unused.
            if self.warn.allow() {
                pr_info!(
                    "channel {}: sub-channel {} offered while the driver has the channel closed: unused\n",
                    self.chan.relid(),
                    sub.relid()
                );
            }
            return;
        }
        // SAFETY: The gate is held and `Open`, so `cchan` is live (the
        // type invariant of `HvBinding`).
        let cc: *mut c_void = unsafe { ffi::rvmbus_hv_c_sub_alloc(self.cchan) };
        if cc.is_null() {
            pr_err!(
                "channel {}: no memory for sub-channel {}\n",
                self.chan.relid(),
                sub.relid()
            );
            return;
        }
        // SAFETY: `cc` is the new sub-channel's structure, which the C side
        // frees only after the unbind of the binding it will hold.
        match unsafe { new_binding(sub.clone(), cc, GateClass::Sub) } {
            // SAFETY: `cchan` is live (above); `cc` is the new structure,
            // and `b` the reference it is to hold.
            Ok(b) => unsafe { ffi::rvmbus_hv_c_sub_add(self.cchan, cc, b) },
            Err(e) => {
                pr_err!(
                    "channel {}: sub-channel {} not bound ({:?})\n",
                    self.chan.relid(),
                    sub.relid(),
                    e
                );
                // SAFETY: `cc` was never handed out.
                unsafe { ffi::rvmbus_hv_c_sub_free(cc) };
            }
        }
        drop(gate);
    }
}
