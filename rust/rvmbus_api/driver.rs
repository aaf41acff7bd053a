// SPDX-License-Identifier: GPL-2.0

//! [`Driver`], the trait a VMBus driver implements, and [`Registration`],
//! which binds it to the bus for as long as it lives.

use core::{ffi::c_void, marker::PhantomData, ptr::NonNull};

use kernel::prelude::*;

use super::{device::Packet, ffi, Device, Guid};

/// A VMBus device driver.
///
/// The bus calls these in this order for each device (see
/// `rust/rvmbus/drivers/rvmbus_api.h` for the contexts):
///
/// `probe` → `start` → (`packet` | `completion`)* → [`rescind`] → `remove`,
/// with `suspend` → `resume` anywhere after `start`.
///
/// # Contexts
///
/// [`Driver::packet`] and [`Driver::completion`] run in softirq context,
/// in the channel's tasklet, as Linux runs a VMBus channel's callback: they
/// must not sleep (no mutex, no `GFP_KERNEL` allocation, no
/// [`Device::open`] or [`Device::close`], which fail there with
/// `EDEADLK`), and a send from them never waits for ring space (a full
/// ring is `EAGAIN` at once, whatever its `timeout_ms`). State they share
/// with process context goes under a spinlock that disables interrupts
/// (`SpinLockIrq`); work that must sleep goes to a work item. One runs at a
/// time per device, and none runs once suspend, remove or a rescind has
/// begun: the bus waits for a callback in progress before it calls
/// [`Driver::suspend`], [`Driver::rescind`] or [`Driver::remove`]. (With
/// rvmbus's module parameter `rust_cb_work=1`, kept for the benchmark's
/// comparison, they run in process context from a work item instead; a
/// driver must not count on that.)
///
/// Every other callback runs in process context and may sleep.
///
/// [`rescind`]: Driver::rescind
pub(crate) trait Driver: Sized + 'static {
    /// The driver's state for one device; callbacks borrow it.
    type Data: Send + Sync;

    /// The driver's name (`/sys/bus/vmbus/drivers/NAME`).
    const NAME: &'static CStr;

    /// The device classes it drives.
    const IDS: &'static [Guid];

    /// Builds the state for a device. No I/O yet: the channel cannot be
    /// opened before `start`. Process context.
    fn probe(dev: &Device) -> Result<Pin<KBox<Self::Data>>>;

    /// Opens the channel and talks to the host; callbacks may run (in the
    /// tasklet, on another CPU) while it does. On error the bus calls
    /// `remove`. Process context.
    fn start(data: &Self::Data, dev: &Device) -> Result {
        let _ = (data, dev);
        Ok(())
    }

    /// A packet from the host. Never runs after suspend, remove or a
    /// rescind began.
    ///
    /// Context: softirq (the channel's tasklet); must not sleep.
    fn packet(data: &Self::Data, dev: &Device, pkt: &Packet<'_>);

    /// The answer to a [`Device::request`], or why there will be none.
    ///
    /// Context: softirq (the channel's tasklet) for the host's answers and
    /// for requests a [`Device::close`] cancelled; process context for
    /// those that suspend, rescind or remove cancelled (reported before
    /// the driver's own callback). Must not sleep.
    fn completion(data: &Self::Data, dev: &Device, cookie: u64, result: Result<&[u8]>) {
        let _ = (data, dev, cookie, result);
    }

    /// The host took the device away; called at most once, before
    /// `remove`. Sends fail from now on. Process context (the bus's device
    /// workqueue).
    fn rescind(data: &Self::Data, dev: &Device) {
        let _ = (data, dev);
    }

    /// The system suspends: packets stopped, requests cancelled, sends
    /// refused. Process context.
    fn suspend(data: &Self::Data, dev: &Device) -> Result {
        let _ = (data, dev);
        Ok(())
    }

    /// The system resumed: sends work again and packets flow. Process
    /// context.
    fn resume(data: &Self::Data, dev: &Device) -> Result {
        let _ = (data, dev);
        Ok(())
    }

    /// The device goes away; the state comes back to be dropped. The bus
    /// closes the channel afterwards if it is still open. Process context;
    /// no callback runs any more (a work item the driver queued from one
    /// may: flush it here).
    fn remove(data: Pin<KBox<Self::Data>>, dev: &Device) {
        let _ = (data, dev);
    }
}

/// What the bus holds for each bound device: its context pointer.
struct Bound<T: Driver> {
    dev: Device,
    data: Pin<KBox<T::Data>>,
}

/// The C operations of driver `T`.
struct Adapter<T>(PhantomData<T>);

fn errno(r: Result) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

impl<T: Driver> Adapter<T> {
    const OPS: ffi::RvmbusDriverOps = ffi::RvmbusDriverOps {
        api_version: ffi::API_VERSION,
        // CAST: A driver drives a handful of classes.
        n_ids: T::IDS.len() as u32,
        ids: T::IDS.as_ptr(),
        name: kernel::str::as_char_ptr_in_const_context(T::NAME).cast(),
        probe: Some(Self::probe),
        start: Some(Self::start),
        remove: Some(Self::remove),
        packet: Some(Self::packet),
        completion: Some(Self::completion),
        rescind: Some(Self::rescind),
        suspend: Some(Self::suspend),
        resume: Some(Self::resume),
    };

    /// Borrows the state of a bound device.
    ///
    /// # Safety
    ///
    /// `ctx` is a context that `probe` returned and `remove` has not taken
    /// back; the bus guarantees that for every callback but `remove`.
    unsafe fn bound<'a>(ctx: *mut c_void) -> &'a Bound<T> {
        // SAFETY: Guaranteed by the caller.
        unsafe { &*ctx.cast::<Bound<T>>() }
    }

    /// # Safety
    ///
    /// Called by the bus as the ABI says: `dev` is the device being probed
    /// and `out` the slot for the context.
    unsafe extern "C" fn probe(
        _drv: *mut c_void,
        dev: *mut ffi::RvmbusDev,
        out: *mut *mut c_void,
    ) -> i32 {
        // SAFETY: The bus passes the device it probes.
        let Some(dev) = (unsafe { Device::from_probe(dev) }) else {
            return EINVAL.to_errno();
        };
        let data = match T::probe(&dev) {
            Ok(d) => d,
            Err(e) => return e.to_errno(),
        };
        match KBox::new(Bound::<T> { dev, data }, GFP_KERNEL) {
            Ok(b) => {
                // SAFETY: `out` is the bus's slot for the context.
                unsafe { out.write(KBox::into_raw(b).cast()) };
                0
            }
            Err(_) => ENOMEM.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the bus as the ABI says: `ctx` is a context this driver's
    /// `probe` returned and `remove` has not taken back; pointer arguments
    /// are valid for the call.
    unsafe extern "C" fn start(ctx: *mut c_void) -> i32 {
        // SAFETY: The bus's contract for `start`.
        let b = unsafe { Self::bound(ctx) };
        errno(T::start(&b.data, &b.dev))
    }

    /// # Safety
    ///
    /// Called by the bus once per bound device, last: `ctx` is a context
    /// this driver's `probe` returned.
    unsafe extern "C" fn remove(ctx: *mut c_void) {
        // SAFETY: `ctx` came from `KBox::into_raw` in `probe`, and the bus
        // calls `remove` once, last.
        let b = unsafe { KBox::from_raw(ctx.cast::<Bound<T>>()) };
        let Bound { dev, data } = KBox::into_inner(b);
        T::remove(data, &dev);
    }

    /// # Safety
    ///
    /// Called by the bus as the ABI says: `ctx` is a context this driver's
    /// `probe` returned and `remove` has not taken back; pointer arguments
    /// are valid for the call.
    unsafe extern "C" fn packet(ctx: *mut c_void, raw: *const ffi::RvmbusPacket) {
        // SAFETY: The bus's contract for callbacks.
        let b = unsafe { Self::bound(ctx) };
        // SAFETY: The packet and its bytes live across the call.
        if let Some(p) = unsafe { Packet::from_raw(raw) } {
            T::packet(&b.data, &b.dev, &p);
        }
    }

    /// # Safety
    ///
    /// Called by the bus as the ABI says: `ctx` is a context this driver's
    /// `probe` returned and `remove` has not taken back; pointer arguments
    /// are valid for the call.
    unsafe extern "C" fn completion(
        ctx: *mut c_void,
        cookie: u64,
        status: i32,
        data: *const u8,
        len: u32,
    ) {
        // SAFETY: The bus's contract for callbacks.
        let b = unsafe { Self::bound(ctx) };
        let result = if status != 0 {
            Err(Error::from_errno(status))
        } else if len == 0 || data.is_null() {
            Ok(&[][..])
        } else {
            // SAFETY: The bus passes `len` bytes valid for the call.
            Ok(unsafe { core::slice::from_raw_parts(data, len as usize) })
        };
        T::completion(&b.data, &b.dev, cookie, result);
    }

    /// # Safety
    ///
    /// Called by the bus as the ABI says: `ctx` is a context this driver's
    /// `probe` returned and `remove` has not taken back; pointer arguments
    /// are valid for the call.
    unsafe extern "C" fn rescind(ctx: *mut c_void) {
        // SAFETY: The bus's contract for callbacks.
        let b = unsafe { Self::bound(ctx) };
        T::rescind(&b.data, &b.dev);
    }

    /// # Safety
    ///
    /// Called by the bus as the ABI says: `ctx` is a context this driver's
    /// `probe` returned and `remove` has not taken back; pointer arguments
    /// are valid for the call.
    unsafe extern "C" fn suspend(ctx: *mut c_void) -> i32 {
        // SAFETY: The bus's contract for callbacks.
        let b = unsafe { Self::bound(ctx) };
        errno(T::suspend(&b.data, &b.dev))
    }

    /// # Safety
    ///
    /// Called by the bus as the ABI says: `ctx` is a context this driver's
    /// `probe` returned and `remove` has not taken back; pointer arguments
    /// are valid for the call.
    unsafe extern "C" fn resume(ctx: *mut c_void) -> i32 {
        // SAFETY: The bus's contract for callbacks.
        let b = unsafe { Self::bound(ctx) };
        errno(T::resume(&b.data, &b.dev))
    }
}

/// Driver `T`, registered with the bus while this lives: creating it binds
/// `T` to every matching device; dropping it unbinds them all (each
/// `remove` has returned when the drop does).
///
/// # Invariants
///
/// `drv` is the bus's handle of a registration not undone yet.
pub(crate) struct Registration<T: Driver> {
    drv: NonNull<ffi::RvmbusDriver>,
    _t: PhantomData<T>,
}

// SAFETY: The handle is only used to unregister, which may happen on any
// thread.
unsafe impl<T: Driver> Send for Registration<T> {}
// SAFETY: `&Registration` allows nothing.
unsafe impl<T: Driver> Sync for Registration<T> {}

impl<T: Driver> Registration<T> {
    /// Registers `T` for `module`.
    pub(crate) fn new(module: &'static ThisModule) -> Result<Self> {
        let ops: &'static ffi::RvmbusDriverOps = &Adapter::<T>::OPS;
        // SAFETY: `ops` and everything it points to is static; the module
        // pointer is this module's.
        let p = unsafe {
            ffi::rvmbus_driver_register(ops, core::ptr::null_mut(), module.as_ptr().cast())
        };
        // CAST: `ERR_PTR` values are the last 4095 addresses.
        let v = p as isize;
        if (-4095..0).contains(&v) {
            // CAST: In `-4095..0`, so it fits an `i32`.
            return Err(Error::from_errno(v as i32));
        }
        let drv = NonNull::new(p).ok_or(ENOMEM)?;
        // INVARIANT: Registered just now.
        Ok(Self {
            drv,
            _t: PhantomData,
        })
    }
}

impl<T: Driver> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: Registered (type invariant) and unregistered only here.
        unsafe { ffi::rvmbus_driver_unregister(self.drv.as_ptr()) };
    }
}
