// SPDX-License-Identifier: GPL-2.0

//! A tasklet: a function that the kernel runs in softirq context on the
//! CPU that scheduled it, at most once at a time, however often it was
//! scheduled meanwhile (Linux's VMBus runs each channel's callback in one).
//!
//! The kernel's Rust has no tasklet binding; `tasklet_setup`,
//! `tasklet_kill` and `tasklet_unlock_wait` are exported functions, the
//! inline `tasklet_schedule` is in `tasklet.c`.

use kernel::{bindings, prelude::*, types::Opaque};

mod ffi {
    extern "C" {
        pub(super) fn rvmbus_tasklet_schedule(t: *mut kernel::bindings::tasklet_struct);
    }
}

/// The function a tasklet runs, given its `tasklet_struct`.
pub(crate) type TaskletFn = unsafe extern "C" fn(*mut bindings::tasklet_struct);

/// A tasklet embedded in its owner, which the function finds with
/// `container_of!` (the type is transparent over the C structure).
///
/// # Invariants
///
/// `raw` was set up by `tasklet_setup` with a function that may be called
/// for as long as the tasklet lives; it is killed before it is freed.
#[repr(transparent)]
#[pin_data(PinnedDrop)]
pub(crate) struct Tasklet {
    #[pin]
    raw: Opaque<bindings::tasklet_struct>,
}

// SAFETY: The tasklet calls may be made from any thread; the kernel
// serialises them on the structure's state bits.
unsafe impl Send for Tasklet {}
// SAFETY: As for `Send`: every method takes `&self` and is one of those
// calls.
unsafe impl Sync for Tasklet {}

impl Tasklet {
    /// A tasklet that runs `func`.
    ///
    /// # Safety
    ///
    /// `func` must be sound to call, in softirq context, with a pointer to
    /// this tasklet's structure at any time until the tasklet is dropped
    /// (the drop waits for a run in progress and cancels a scheduled one).
    pub(crate) unsafe fn new(func: TaskletFn) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is the tasklet's memory, pinned for its life;
            // `tasklet_setup` initialises all of it.
            raw <- Opaque::ffi_init(move |slot| unsafe { bindings::tasklet_setup(slot, Some(func)) }),
        })
    }

    /// Schedules the tasklet on this CPU (nothing if it is scheduled
    /// already). Any context.
    pub(crate) fn schedule(&self) {
        // SAFETY: `raw` is set up (type invariant) and pinned.
        unsafe { ffi::rvmbus_tasklet_schedule(self.raw.get()) };
    }

    /// Waits until a run in progress, on any CPU, has ended. Process
    /// context; never from the tasklet itself.
    pub(crate) fn sync(&self) {
        // SAFETY: As for `schedule`.
        unsafe { bindings::tasklet_unlock_wait(self.raw.get()) };
    }
}

#[pinned_drop]
impl PinnedDrop for Tasklet {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: As for `schedule`; after this the tasklet neither runs
        // nor is scheduled, so its memory may go (type invariant).
        unsafe { bindings::tasklet_kill(self.raw.get()) };
    }
}
