// SPDX-License-Identifier: GPL-2.0

//! The C ABI of `rvmbus.ko` (`rust/rvmbus/drivers/rvmbus_api.h`), declared for
//! Rust. The layouts are asserted here and in C.

use core::ffi::c_void;

/// `RVMBUS_API_VERSION`.
pub(super) const API_VERSION: u32 = 1;

/// `RVMBUS_PKT_DATA_INBAND` and `RVMBUS_PKT_COMP`.
pub(super) const PKT_DATA_INBAND: u16 = 6;
pub(super) const PKT_COMP: u16 = 11;

/// `struct rvmbus_dev` (opaque).
#[repr(C)]
pub(super) struct RvmbusDev {
    _opaque: [u8; 0],
}

/// `struct rvmbus_driver` (opaque).
#[repr(C)]
pub(super) struct RvmbusDriver {
    _opaque: [u8; 0],
}

/// `struct rvmbus_packet`.
#[repr(C)]
pub(super) struct RvmbusPacket {
    pub(super) ptype: u16,
    pub(super) flags: u16,
    pub(super) len: u32,
    pub(super) trans_id: u64,
    pub(super) data: *const u8,
}

/// `struct rvmbus_dev_info`.
#[repr(C)]
#[derive(Default)]
pub(super) struct RvmbusDevInfo {
    pub(super) class_id: [u8; 16],
    pub(super) instance_id: [u8; 16],
    pub(super) relid: u32,
    pub(super) vmbus_version: u32,
    pub(super) target_cpu: u32,
    pub(super) monitored: u32,
}

/// `struct rvmbus_driver_ops`.
#[repr(C)]
pub(super) struct RvmbusDriverOps {
    pub(super) api_version: u32,
    pub(super) n_ids: u32,
    pub(super) ids: *const [u8; 16],
    pub(super) name: *const u8,
    pub(super) probe:
        Option<unsafe extern "C" fn(*mut c_void, *mut RvmbusDev, *mut *mut c_void) -> i32>,
    pub(super) start: Option<unsafe extern "C" fn(*mut c_void) -> i32>,
    pub(super) remove: Option<unsafe extern "C" fn(*mut c_void)>,
    pub(super) packet: Option<unsafe extern "C" fn(*mut c_void, *const RvmbusPacket)>,
    pub(super) completion: Option<unsafe extern "C" fn(*mut c_void, u64, i32, *const u8, u32)>,
    pub(super) rescind: Option<unsafe extern "C" fn(*mut c_void)>,
    pub(super) suspend: Option<unsafe extern "C" fn(*mut c_void) -> i32>,
    pub(super) resume: Option<unsafe extern "C" fn(*mut c_void) -> i32>,
}

// `RVMBUS_PACKET_SIZE`, `RVMBUS_DEV_INFO_SIZE`, `RVMBUS_DRIVER_OPS_SIZE`.
const _: () = assert!(core::mem::size_of::<RvmbusPacket>() == 24);
const _: () = assert!(core::mem::size_of::<RvmbusDevInfo>() == 48);
const _: () = assert!(core::mem::size_of::<RvmbusDriverOps>() == 88);

extern "C" {
    pub(super) fn rvmbus_driver_register(
        ops: *const RvmbusDriverOps,
        drv_ctx: *mut c_void,
        owner: *mut c_void,
    ) -> *mut RvmbusDriver;
    pub(super) fn rvmbus_driver_unregister(drv: *mut RvmbusDriver);
    pub(super) fn rvmbus_dev_get(dev: *mut RvmbusDev);
    pub(super) fn rvmbus_dev_put(dev: *mut RvmbusDev);
    pub(super) fn rvmbus_dev_info(dev: *mut RvmbusDev, out: *mut RvmbusDevInfo) -> i32;
    pub(super) fn rvmbus_dev_open(dev: *mut RvmbusDev, ring_bytes: u32) -> i32;
    pub(super) fn rvmbus_dev_close(dev: *mut RvmbusDev) -> i32;
    pub(super) fn rvmbus_dev_send(
        dev: *mut RvmbusDev,
        ptype: u16,
        trans_id: u64,
        data: *const u8,
        len: u32,
        timeout_ms: u32,
    ) -> i32;
    pub(super) fn rvmbus_dev_request(
        dev: *mut RvmbusDev,
        data: *const u8,
        len: u32,
        cookie: u64,
        timeout_ms: u32,
    ) -> i32;
}
