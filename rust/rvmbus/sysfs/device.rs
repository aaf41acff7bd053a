// SPDX-License-Identifier: GPL-2.0

//! The Rust half of the bus in sysfs (`sysfs.c` holds the C structures).
//!
//! Each device and each `channels/<relid>` directory holds a reference to
//! its [`Channel`] (an `Arc` turned into a raw pointer); the C side gives it
//! back through [`rvmbus_rust_ctx_put`] when the kobject is released, so a
//! `show()` racing with removal still sees a live channel.

use core::{ffi::c_void, fmt::Write, ptr::NonNull};

use kernel::{
    ffi::c_char,
    prelude::*,
    sync::{atomic::ordering::Relaxed, Arc},
};

use crate::{
    bus::{
        self,
        channel::Channel,
        classes,
        connection::{MonitorPage, MonitorSlot},
    },
    proto::ring::{ControlWord, RingMem},
    support::shim,
};

/// `struct rvmbus_ring_info`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct RingInfo {
    pub(crate) intr_mask: u32,
    pub(crate) read_index: u32,
    pub(crate) write_index: u32,
    pub(crate) read_avail: u32,
    pub(crate) write_avail: u32,
    pub(crate) pending_send_sz: u32,
}

/// `struct rvmbus_monitor_info`: what one monitor page holds for the
/// channel's monitor id.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct MonitorInfo {
    pub(crate) pending: u32,
    pub(crate) latency: u32,
    pub(crate) conn_id: u32,
}

/// `struct rvmbus_chan_info`: a snapshot of one channel for sysfs.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct ChanInfo {
    pub(crate) class_id: [u8; 16],
    pub(crate) instance_id: [u8; 16],
    pub(crate) relid: u32,
    pub(crate) state: u32,
    pub(crate) dev_type: u32,
    pub(crate) monitor_allocated: u32,
    pub(crate) monitor_id: u32,
    pub(crate) target_cpu: u32,
    pub(crate) subchannel_id: u32,
    pub(crate) numa_node: i32,
    pub(crate) is_open: u32,
    pub(crate) reserved: u32,
    pub(crate) out: RingInfo,
    pub(crate) inb: RingInfo,
    pub(crate) events: u64,
    pub(crate) interrupts: u64,
    pub(crate) intr_in_full: u64,
    pub(crate) intr_out_empty: u64,
    pub(crate) out_full_first: u64,
    pub(crate) out_full_total: u64,
    pub(crate) server: MonitorInfo,
    pub(crate) client: MonitorInfo,
}

// `RVMBUS_CHAN_INFO_SIZE` in sysfs.h; sysfs.c asserts the same number.
const _: () = assert!(core::mem::size_of::<ChanInfo>() == 192);

mod ffi {
    use core::ffi::c_void;

    #[repr(C)]
    pub(super) struct RvmbusDevice {
        _opaque: [u8; 0],
    }

    #[repr(C)]
    pub(super) struct RvmbusChanKobj {
        _opaque: [u8; 0],
    }

    extern "C" {
        pub(super) fn rvmbus_sysfs_bus_register() -> i32;
        pub(super) fn rvmbus_sysfs_bus_unregister();
        pub(super) fn rvmbus_sysfs_device_add(
            ctx: *mut c_void,
            class_id: *const u8,
            instance: *const u8,
            hvsock: bool,
            dev_type: u16,
        ) -> *mut RvmbusDevice;
        pub(super) fn rvmbus_sysfs_device_del(rdev: *mut RvmbusDevice);
        pub(super) fn rvmbus_sysfs_channel_add(
            rdev: *mut RvmbusDevice,
            ctx: *mut c_void,
            relid: u32,
        ) -> *mut RvmbusChanKobj;
        pub(super) fn rvmbus_sysfs_channel_del(ck: *mut RvmbusChanKobj);
        pub(super) fn rvmbus_sysfs_debugfs_init() -> i32;
        pub(super) fn rvmbus_sysfs_debugfs_exit();
    }
}

/// Checks a C return value that is a pointer or an `ERR_PTR`.
fn from_err_ptr<T>(p: *mut T) -> Result<NonNull<T>> {
    // CAST: `ERR_PTR` values are the last 4095 addresses.
    let v = p as isize;
    if (-4095..0).contains(&v) {
        // CAST: In `-4095..0`, so it fits an `i32`.
        return Err(Error::from_errno(v as i32));
    }
    NonNull::new(p).ok_or(ENOMEM)
}

fn ctx_of(ch: &Arc<Channel>) -> *mut c_void {
    Arc::into_raw(ch.clone()).cast_mut().cast::<c_void>()
}

/// Drops a context reference that the C side did not take.
///
/// # Safety
///
/// `ctx` came from [`ctx_of`] and was not handed to C.
unsafe fn ctx_drop(ctx: *mut c_void) {
    // SAFETY: Guaranteed by the caller.
    drop(unsafe { Arc::from_raw(ctx.cast::<Channel>().cast_const()) });
}

/// Registers the `vmbus` bus type and the debugfs control file.
pub(crate) fn register() -> Result {
    // SAFETY: No preconditions; undone by `unregister`.
    let ret = unsafe { ffi::rvmbus_sysfs_bus_register() };
    if ret != 0 {
        return Err(Error::from_errno(ret));
    }
    // SAFETY: No preconditions. A missing debugfs is not fatal.
    if unsafe { ffi::rvmbus_sysfs_debugfs_init() } != 0 {
        pr_warn!("no debugfs control file\n");
    }
    Ok(())
}

/// Undoes [`register`]; every device must be gone.
pub(crate) fn unregister() {
    // SAFETY: `register` succeeded (the module only calls this then).
    unsafe {
        ffi::rvmbus_sysfs_debugfs_exit();
        ffi::rvmbus_sysfs_bus_unregister();
    }
}

/// Adds the bus device of primary channel `ch`, or the channel directory
/// of sub-channel `ch` under `primary`.
pub(crate) fn add(ch: &Arc<Channel>, primary: Option<&Arc<Channel>>) -> Result {
    match primary {
        None => {
            let ctx = ctx_of(ch);
            let info = ch.info();
            // SAFETY: `ctx` is a channel reference; the class and instance
            // GUIDs are 16 readable bytes each. On success the device owns
            // `ctx`.
            let dev = from_err_ptr(unsafe {
                ffi::rvmbus_sysfs_device_add(
                    ctx,
                    info.if_type.0.as_ptr(),
                    info.if_instance.0.as_ptr(),
                    info.is_hvsock(),
                    classes::linux_dev_type(&info),
                )
            })
            .inspect_err(|_| {
                // SAFETY: On failure the C side did not keep `ctx`.
                unsafe { ctx_drop(ctx) }
            })?;
            let mut slot = ch.devices.lock();
            // INVARIANT: A live device from the C side (the core's
            // `DeviceSlot` keeps it for this file).
            slot.dev = Some(dev.cast());
            slot.dir = add_dir(dev, ch).map(NonNull::cast);
            Ok(())
        }
        Some(p) => {
            let mut ps = p.devices.lock();
            let dev = ps.dev.ok_or(ENODEV)?.cast::<ffi::RvmbusDevice>();
            let dir = add_dir(dev, ch);
            ps.subs.push(ch.clone(), GFP_KERNEL)?;
            drop(ps);
            // INVARIANT: A live directory from the C side.
            ch.devices.lock().dir = dir.map(NonNull::cast);
            Ok(())
        }
    }
}

fn add_dir(
    dev: NonNull<ffi::RvmbusDevice>,
    ch: &Arc<Channel>,
) -> Option<NonNull<ffi::RvmbusChanKobj>> {
    let ctx = ctx_of(ch);
    // SAFETY: `dev` is live (caller's slot invariant); `ctx` is a channel
    // reference that the directory owns on success.
    let r = from_err_ptr(unsafe { ffi::rvmbus_sysfs_channel_add(dev.as_ptr(), ctx, ch.relid()) });
    match r {
        Ok(d) => Some(d),
        Err(e) => {
            // SAFETY: On failure the C side did not keep `ctx`.
            unsafe { ctx_drop(ctx) };
            pr_warn!("channel {}: no sysfs directory ({:?})\n", ch.relid(), e);
            None
        }
    }
}

/// Removes the sysfs objects of `ch` (and of its sub-channels, for a
/// primary).
pub(crate) fn remove(ch: &Arc<Channel>, primary: Option<&Arc<Channel>>) {
    let (dev, dir, subs) = {
        let mut s = ch.devices.lock();
        (s.dev.take(), s.dir.take(), core::mem::take(&mut s.subs))
    };
    for sub in subs.iter() {
        remove(sub, Some(ch));
    }
    if let Some(d) = dir {
        // SAFETY: A directory this file made (the slot's invariant), taken
        // out of the slot, so deleted exactly once.
        unsafe { ffi::rvmbus_sysfs_channel_del(d.cast().as_ptr()) };
    }
    if let Some(d) = dev {
        // SAFETY: As for `dir`.
        unsafe { ffi::rvmbus_sysfs_device_del(d.cast().as_ptr()) };
    }
    if let Some(p) = primary {
        p.devices.lock().subs.retain(|c| !Arc::ptr_eq(c, ch));
    }
}

/// Borrows the channel behind a context pointer.
///
/// # Safety
///
/// `ctx` came from [`ctx_of`] and its reference is still held by the C
/// object calling us.
unsafe fn channel<'a>(ctx: *mut c_void) -> &'a Channel {
    // SAFETY: Guaranteed by the caller: the reference keeps it alive.
    unsafe { &*ctx.cast::<Channel>() }
}

/// Whether the offer of the channel behind `ctx` has a monitor id (Linux's
/// `monitor_allocated`), which decides whether its monitor files are shown.
#[no_mangle]
extern "C" fn rvmbus_rust_chan_monitored(ctx: *mut c_void) -> bool {
    if ctx.is_null() {
        return false;
    }
    // SAFETY: The C side passes the context it owns.
    unsafe { channel(ctx) }.info().monitor_id.is_some()
}

/// Fills `out` with a snapshot of the channel behind `ctx`.
#[no_mangle]
extern "C" fn rvmbus_rust_chan_info(ctx: *mut c_void, out: *mut ChanInfo) -> i32 {
    if ctx.is_null() || out.is_null() {
        return EINVAL.to_errno();
    }
    let mut ci = ChanInfo::default();
    // SAFETY: The C side passes the context it owns.
    snapshot(unsafe { channel(ctx) }, &mut ci);
    // SAFETY: `out` points to a `struct rvmbus_chan_info` on the caller's
    // stack, whose layout `ChanInfo` mirrors (size asserted on both sides).
    unsafe { out.write(ci) };
    0
}

/// Moves the interrupts of the channel behind `ctx` to the CPU whose number
/// is in `buf` (`len` bytes): a write to sysfs `channels/<relid>/cpu`.
/// Returns 0 or a negative errno ([`crate::bus::connection::Connection::set_target_cpu`]);
/// anything but one unsigned decimal number (and white space) is `-EINVAL`.
#[no_mangle]
extern "C" fn rvmbus_rust_chan_set_cpu(ctx: *mut c_void, buf: *const c_char, len: usize) -> i32 {
    if ctx.is_null() || buf.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: sysfs hands store() the `len` bytes the user wrote.
    let text = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
    let Some(cpu) = core::str::from_utf8(text)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
    else {
        return EINVAL.to_errno();
    };
    let Some(conn) = bus::active() else {
        return ENODEV.to_errno();
    };
    // SAFETY: The C side passes the context it owns.
    let ch = unsafe { channel(ctx) };
    match conn.set_target_cpu(ch, cpu, shim::timeout_ms()) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Fills `out` with a snapshot of `ch`.
fn snapshot(ch: &Channel, out: &mut ChanInfo) {
    let info = ch.info();
    out.class_id = info.if_type.0;
    out.instance_id = info.if_instance.0;
    out.relid = info.relid.get();
    out.state = ch.state.load(Relaxed);
    out.dev_type = u32::from(classes::linux_dev_type(&info));
    out.target_cpu = ch.target_cpu.load(Relaxed);
    out.subchannel_id = u32::from(info.sub_channel_index);
    out.numa_node = shim::cpu_to_node(out.target_cpu);
    out.events = ch.stats.events.load(Relaxed);
    out.interrupts = ch.stats.interrupts.load(Relaxed);
    out.intr_in_full = ch.stats.intr_in_full.load(Relaxed);
    out.intr_out_empty = ch.stats.intr_out_empty.load(Relaxed);
    out.out_full_first = ch.stats.out_full_first.load(Relaxed);
    out.out_full_total = ch.stats.out_full_total.load(Relaxed);
    if let Some(m) = info.monitor_id {
        out.monitor_allocated = 1;
        out.monitor_id = u32::from(m.get());
        // The pages belong to the connection; with none up (the module
        // unloads) there is nothing to read and the values stay zero.
        if let Some(conn) = bus::active() {
            out.server = monitor_info(conn.monitor_slot(MonitorPage::HostToGuest, m));
            out.client = monitor_info(conn.monitor_slot(MonitorPage::GuestToHost, m));
        }
    }
    if let Some(r) = &*ch.io.lock() {
        out.is_open = 1;
        out.out = ring_info(&r.out());
        out.inb = ring_info(&r.inb());
    }
}

fn monitor_info(s: MonitorSlot) -> MonitorInfo {
    MonitorInfo {
        pending: s.pending,
        latency: u32::from(s.latency),
        conn_id: s.conn_id,
    }
}

/// Snapshot of one ring end.
fn ring_info(v: &impl RingMem) -> RingInfo {
    let w = v.load(ControlWord::WriteIndex);
    let r = v.load(ControlWord::ReadIndex);
    // CAST: The data area is below 4 GiB (SharedPages caps the order).
    let size = v.data_len() as u32;
    // The indices are the host's: keep the arithmetic total.
    let used = if w >= r {
        w - r
    } else {
        size.saturating_sub(r).saturating_add(w)
    }
    .min(size);
    RingInfo {
        intr_mask: v.load(ControlWord::InterruptMask),
        read_index: r,
        write_index: w,
        read_avail: used,
        write_avail: size.saturating_sub(used),
        pending_send_sz: v.load(ControlWord::PendingSendSize),
    }
}

/// Gives back the reference behind `ctx`.
#[no_mangle]
extern "C" fn rvmbus_rust_ctx_put(ctx: *mut c_void) {
    if !ctx.is_null() {
        // SAFETY: The C side owned this reference and releases it once.
        unsafe { ctx_drop(ctx) };
    }
}

/// A `fmt::Write` into a byte buffer that stops when full.
pub(crate) struct BufWriter<'a> {
    buf: &'a mut [u8],
    pub(crate) len: usize,
}

impl<'a> BufWriter<'a> {
    /// Writes into `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }
}

impl Write for BufWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let b = s.as_bytes();
        let dst = self
            .buf
            .get_mut(self.len..self.len + b.len())
            .ok_or(core::fmt::Error)?;
        dst.copy_from_slice(b);
        self.len += b.len();
        Ok(())
    }
}

/// `channel_vp_mapping`: `relid:cpu` per channel of the device.
#[no_mangle]
extern "C" fn rvmbus_rust_vp_mapping(ctx: *mut c_void, buf: *mut c_char, len: usize) -> i32 {
    if ctx.is_null() || buf.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: The C side passes the context it owns.
    let ch = unsafe { channel(ctx) };
    // SAFETY: sysfs hands show() a buffer of `len` (PAGE_SIZE) bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    let mut w = BufWriter::new(out);
    let _ = writeln!(w, "{}:{}", ch.relid(), ch.target_cpu.load(Relaxed));
    for s in ch.devices.lock().subs.iter() {
        let _ = writeln!(w, "{}:{}", s.relid(), s.target_cpu.load(Relaxed));
    }
    // CAST: At most `len`, one page.
    w.len as i32
}
