// SPDX-License-Identifier: GPL-2.0

//! The kernel going away (restart, kexec, panic) for a transport with no
//! hook of its own (C half: `way_out.c`, which says when each runs).

use core::ffi::c_void;

use kernel::{
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc,
    },
};

use super::c_context::CContext;

mod ffi {
    extern "C" {
        pub(super) fn rvmbus_shim_way_out_register(ctx: *mut core::ffi::c_void) -> i32;
        pub(super) fn rvmbus_shim_way_out_unregister(ctx: *mut core::ffi::c_void);
    }
}

/// What to do when the kernel goes away.
pub(crate) trait WayOut: Send + Sync {
    /// The kernel restarts or jumps into another (`crash == false`;
    /// process context, other CPUs running) or panics (`crash`; interrupts
    /// off, other CPUs stopped). Must never sleep.
    fn way_out(&self, crash: bool);
}

/// The registered hook, until [`Hook::unregister`] or drop.
pub(crate) struct Hook {
    registered: Atomic<bool>,
    // Drops after `drop()` unregistered it (which waits for running
    // callbacks).
    ctx: CContext<dyn WayOut>,
}

impl Hook {
    /// Registers `w`; `EBUSY` if another hook is registered.
    pub(crate) fn register(w: Arc<dyn WayOut>) -> Result<Self> {
        let this = Self {
            registered: Atomic::new(false),
            ctx: CContext::new(w)?,
        };
        // SAFETY: `ctx` is live until `unregister` returns (`drop`
        // unregisters before `ctx` drops).
        let r = unsafe { ffi::rvmbus_shim_way_out_register(this.ctx.as_ptr()) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        this.registered.store(true, Relaxed);
        Ok(this)
    }

    /// No callback runs with the hook after this returns. May sleep.
    pub(crate) fn unregister(&self) {
        if self.registered.xchg(false, Relaxed) {
            // SAFETY: Registered with this pointer; waits for callbacks.
            unsafe { ffi::rvmbus_shim_way_out_unregister(self.ctx.as_ptr()) };
        }
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// The C side's callback.
///
/// # Safety
///
/// `ctx` is null or a pointer a live [`Hook`] registered, read under RCU
/// before unregistering returned.
#[no_mangle]
unsafe extern "C" fn rvmbus_rust_way_out(ctx: *mut c_void, crash: bool) {
    // SAFETY: Guaranteed by the caller.
    if let Some(w) = unsafe { CContext::<dyn WayOut>::get(ctx) } {
        w.way_out(crash);
    }
}
