// SPDX-License-Identifier: GPL-2.0

//! [`Device`]: a driver's counted handle to its bound device, and what it
//! sends and receives.

use core::ptr::NonNull;

use kernel::prelude::*;

use super::{ffi, Guid};

/// A handle to a device bound to this driver.
///
/// Cloning takes a reference; dropping gives it back. The handle stays
/// valid memory after the device is removed, but every call then fails
/// with `ENODEV`: a driver cannot touch a channel that is gone.
///
/// # Invariants
///
/// `ptr` is a device of the bus on which this handle holds one reference.
pub(crate) struct Device {
    ptr: NonNull<ffi::RvmbusDev>,
}

// SAFETY: The bus's device calls may be made from any thread; the
// reference count is atomic.
unsafe impl Send for Device {}
// SAFETY: As for `Send`: every call takes `&self` and the bus locks.
unsafe impl Sync for Device {}

impl Clone for Device {
    fn clone(&self) -> Self {
        // SAFETY: We hold a reference (type invariant).
        unsafe { ffi::rvmbus_dev_get(self.ptr.as_ptr()) };
        // INVARIANT: The reference just taken.
        Self { ptr: self.ptr }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: We give back the reference we hold (type invariant).
        unsafe { ffi::rvmbus_dev_put(self.ptr.as_ptr()) };
    }
}

/// What the bus says about a device.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DeviceInfo {
    /// The device class (interface type) GUID.
    pub(crate) class_id: Guid,
    /// The instance GUID.
    pub(crate) instance_id: Guid,
    /// The channel's relid.
    pub(crate) relid: u32,
    /// Negotiated VMBus version, `major << 16 | minor`.
    pub(crate) vmbus_version: u32,
    /// CPU the host interrupts for this channel.
    pub(crate) target_cpu: u32,
    /// Whether the host polls a monitor page for this channel.
    pub(crate) monitored: bool,
}

/// Kinds of packets the host sends a driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PacketKind {
    /// In-band data.
    Data,
    /// A completion the bus does not track (its transaction id is the
    /// driver's own).
    Completion,
    /// Anything else, by its `VM_PKT_*` number.
    Other(u16),
}

/// A packet from the host, borrowed for the packet callback.
pub(crate) struct Packet<'a> {
    /// What kind of packet.
    pub(crate) kind: PacketKind,
    /// The transaction id (echo it in a response).
    pub(crate) trans_id: u64,
    /// The payload.
    pub(crate) data: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Reads the packet the bus passes to a callback.
    ///
    /// # Safety
    ///
    /// `raw` points to a packet whose `data` holds `len` bytes, both valid
    /// for `'a`.
    pub(super) unsafe fn from_raw(raw: *const ffi::RvmbusPacket) -> Option<Self> {
        // SAFETY: Guaranteed by the caller.
        let raw = unsafe { raw.as_ref()? };
        let data = if raw.len == 0 || raw.data.is_null() {
            &[][..]
        } else {
            // SAFETY: Guaranteed by the caller; `u32` fits `usize`.
            unsafe { core::slice::from_raw_parts(raw.data, raw.len as usize) }
        };
        let kind = match raw.ptype {
            ffi::PKT_DATA_INBAND => PacketKind::Data,
            ffi::PKT_COMP => PacketKind::Completion,
            t => PacketKind::Other(t),
        };
        Some(Self {
            kind,
            trans_id: raw.trans_id,
            data,
        })
    }
}

fn check(ret: i32) -> Result {
    if ret == 0 {
        Ok(())
    } else {
        Err(Error::from_errno(ret))
    }
}

fn len_of(data: &[u8]) -> Result<u32> {
    u32::try_from(data.len()).map_err(|_| EMSGSIZE)
}

impl Device {
    /// Takes a reference to the device the bus passed to probe.
    ///
    /// # Safety
    ///
    /// `ptr` is the device pointer of a probe call in progress.
    pub(super) unsafe fn from_probe(ptr: *mut ffi::RvmbusDev) -> Option<Self> {
        let ptr = NonNull::new(ptr)?;
        // SAFETY: The bus holds the device during probe.
        unsafe { ffi::rvmbus_dev_get(ptr.as_ptr()) };
        // INVARIANT: The reference just taken.
        Some(Self { ptr })
    }

    /// What the bus knows of the device.
    pub(crate) fn info(&self) -> Result<DeviceInfo> {
        let mut i = ffi::RvmbusDevInfo::default();
        // SAFETY: We hold a reference (type invariant); `i` is a valid
        // `struct rvmbus_dev_info`.
        check(unsafe { ffi::rvmbus_dev_info(self.ptr.as_ptr(), &mut i) })?;
        Ok(DeviceInfo {
            class_id: i.class_id,
            instance_id: i.instance_id,
            relid: i.relid,
            vmbus_version: i.vmbus_version,
            target_cpu: i.target_cpu,
            monitored: i.monitored != 0,
        })
    }

    /// Opens the channel with rings of `ring_bytes` each way (8 KiB to
    /// 4 MiB, rounded up to pages). Packets start arriving through
    /// [`super::Driver::packet`]. Process context only: it waits for the
    /// host (from a packet or completion callback, `EDEADLK`).
    pub(crate) fn open(&self, ring_bytes: u32) -> Result {
        // SAFETY: We hold a reference (type invariant).
        check(unsafe { ffi::rvmbus_dev_open(self.ptr.as_ptr(), ring_bytes) })
    }

    /// Closes the channel; outstanding requests complete with
    /// `ECANCELED`. The bus closes it anyway after remove. Process context
    /// only, as [`Device::open`].
    pub(crate) fn close(&self) -> Result {
        // SAFETY: We hold a reference (type invariant).
        check(unsafe { ffi::rvmbus_dev_close(self.ptr.as_ptr()) })
    }

    fn send_raw(&self, ptype: u16, trans_id: u64, data: &[u8], timeout_ms: u32) -> Result {
        let len = len_of(data)?;
        // SAFETY: We hold a reference (type invariant); `data` holds
        // `len` bytes for the call.
        check(unsafe {
            ffi::rvmbus_dev_send(
                self.ptr.as_ptr(),
                ptype,
                trans_id,
                data.as_ptr(),
                len,
                timeout_ms,
            )
        })
    }

    /// Sends in-band data, waiting up to `timeout_ms` for ring space.
    ///
    /// Any context. It waits only in task context: with `timeout_ms` 0,
    /// or from a packet or completion callback (softirq), a full ring is
    /// `EAGAIN` at once.
    pub(crate) fn send(&self, trans_id: u64, data: &[u8], timeout_ms: u32) -> Result {
        self.send_raw(ffi::PKT_DATA_INBAND, trans_id, data, timeout_ms)
    }

    /// Answers a host request (`trans_id` from its packet) with a
    /// completion packet. Any context; waits as [`Device::send`].
    pub(crate) fn respond(&self, trans_id: u64, data: &[u8], timeout_ms: u32) -> Result {
        self.send_raw(ffi::PKT_COMP, trans_id, data, timeout_ms)
    }

    /// Sends in-band data asking the host for a completion. On `Ok`,
    /// [`super::Driver::completion`] is called exactly once with `cookie`:
    /// with the host's answer, or with an error if the bus gave up on it
    /// (close, suspend, remove, rescind). On `Err` it is never called.
    /// Any context; waits as [`Device::send`], and allocates (atomically
    /// outside task context) only to track more requests than before.
    pub(crate) fn request(&self, data: &[u8], cookie: u64, timeout_ms: u32) -> Result {
        let len = len_of(data)?;
        // SAFETY: As in `send_raw`.
        check(unsafe {
            ffi::rvmbus_dev_request(self.ptr.as_ptr(), data.as_ptr(), len, cookie, timeout_ms)
        })
    }
}
