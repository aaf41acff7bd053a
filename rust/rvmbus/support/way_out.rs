// SPDX-License-Identifier: GPL-2.0

//! The kernel going away (restart, kexec, panic) for a transport with no
//! hook of its own (C half: `way_out.c`, which says when each runs).

use core::{ffi::c_void, ptr::NonNull};

use kernel::{
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc,
    },
};

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
///
/// # Invariants
///
/// `ctx` came from `KBox::into_raw` and is freed only in `drop`, after the
/// C side let go of it (unregistering waits for running callbacks).
pub(crate) struct Hook {
    ctx: NonNull<Arc<dyn WayOut>>,
    registered: Atomic<bool>,
}

// SAFETY: `ctx` is a boxed `Arc<dyn WayOut>`, which is `Send` and `Sync`;
// `Hook` only hands it to the C side and frees it.
unsafe impl Send for Hook {}
// SAFETY: `&Hook` only unregisters.
unsafe impl Sync for Hook {}

impl Hook {
    /// Registers `w`; `EBUSY` if another hook is registered.
    pub(crate) fn register(w: Arc<dyn WayOut>) -> Result<Self> {
        let boxed = KBox::new(w, GFP_KERNEL)?;
        // INVARIANT: From `KBox::into_raw`, freed only in `drop`.
        let ctx = NonNull::new(KBox::into_raw(boxed)).ok_or(ENOMEM)?;
        let this = Self {
            ctx,
            registered: Atomic::new(false),
        };
        // SAFETY: `ctx` is live until `unregister` returns.
        let r = unsafe { ffi::rvmbus_shim_way_out_register(ctx.as_ptr().cast::<c_void>()) };
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
            unsafe { ffi::rvmbus_shim_way_out_unregister(self.ctx.as_ptr().cast::<c_void>()) };
        }
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.unregister();
        // SAFETY: From `KBox::into_raw` (type invariant); the C side no
        // longer uses it.
        drop(unsafe { KBox::from_raw(self.ctx.as_ptr()) });
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
    if let Some(w) = unsafe { ctx.cast::<Arc<dyn WayOut>>().as_ref() } {
        w.way_out(crash);
    }
}
