// SPDX-License-Identifier: GPL-2.0

//! CPU hotplug (C half in `shim.c`): a dynamic CPU hotplug state whose
//! callbacks reach one target, the connection that is up.
//!
//! The callbacks run on the CPU that comes up (once it is online) or goes
//! down (before it goes), in process context, with the CPU hotplug lock
//! held for writing; the target is set and cleared under the same lock
//! held for reading, so a callback never sees it change under it.

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
        pub(super) fn rvmbus_shim_cpuhp_init() -> i32;
        pub(super) fn rvmbus_shim_cpuhp_exit();
        pub(super) fn rvmbus_shim_cpuhp_set_target(ctx: *mut core::ffi::c_void);
    }
}

/// What a CPU coming or going means to its user.
pub(crate) trait CpuHotplug: Send + Sync {
    /// `cpu` came online.
    fn online(&self, cpu: u32) -> Result;

    /// `cpu` is about to go offline; an error keeps it online.
    /// `frozen`: it goes for system suspend and comes back with it.
    fn offline(&self, cpu: u32, frozen: bool) -> Result;
}

/// The registered hotplug state, from module init to module exit.
pub(crate) struct State(());

impl State {
    /// Registers the state without calling it for the CPUs that are
    /// online now (the connection sets those up itself).
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: Called once, at module init; undone in `drop`.
        let r = unsafe { ffi::rvmbus_shim_cpuhp_init() };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(Self(()))
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // SAFETY: Registered in `register`; no target is set any more (a
        // `Target` lives no longer than the connection, which ends first).
        unsafe { ffi::rvmbus_shim_cpuhp_exit() };
    }
}

/// The target of the callbacks while it lives (or until [`Target::clear`]).
pub(crate) struct Target {
    set: Atomic<bool>,
    // Held only for C, which reads it through the pointer; drops after
    // `drop()` cleared it from the C side under the CPU hotplug lock (no
    // callback runs then, none starts with it after).
    _ctx: CContext<dyn CpuHotplug>,
}

impl Target {
    /// Makes `t` the callbacks' target.
    pub(crate) fn new(t: Arc<dyn CpuHotplug>) -> Result<Self> {
        let ctx = CContext::new(t)?;
        // SAFETY: `ctx` stays live until `clear` took it back under the
        // CPU hotplug lock (`drop` clears before `ctx` drops).
        unsafe { ffi::rvmbus_shim_cpuhp_set_target(ctx.as_ptr()) };
        Ok(Self {
            set: Atomic::new(true),
            _ctx: ctx,
        })
    }

    /// No callback reaches the target after this returns. May sleep.
    pub(crate) fn clear(&self) {
        if self.set.xchg(false, Relaxed) {
            // SAFETY: Clears the pointer under the CPU hotplug lock.
            unsafe { ffi::rvmbus_shim_cpuhp_set_target(core::ptr::null_mut()) };
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The callback when a CPU came online.
///
/// # Safety
///
/// `ctx` is the live pointer a [`Target`] set (the C side calls with the
/// CPU hotplug lock held, under which the pointer is set and cleared).
#[no_mangle]
unsafe extern "C" fn rvmbus_rust_cpu_online(ctx: *mut c_void, cpu: u32) -> i32 {
    // SAFETY: Guaranteed by the caller.
    let Some(t) = (unsafe { CContext::<dyn CpuHotplug>::get(ctx) }) else {
        return 0;
    };
    match t.online(cpu) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The callback when a CPU is about to go offline.
///
/// # Safety
///
/// As for [`rvmbus_rust_cpu_online`].
#[no_mangle]
unsafe extern "C" fn rvmbus_rust_cpu_offline(ctx: *mut c_void, cpu: u32, frozen: bool) -> i32 {
    // SAFETY: Guaranteed by the caller.
    let Some(t) = (unsafe { CContext::<dyn CpuHotplug>::get(ctx) }) else {
        return 0;
    };
    match t.offline(cpu, frozen) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
