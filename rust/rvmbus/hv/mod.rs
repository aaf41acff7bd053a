// SPDX-License-Identifier: GPL-2.0

//! The hv_vmbus driver interface: Linux's own VMBus drivers (hv_utils
//! and the others, `struct hv_driver`) bound to rvmbus's devices, through
//! the kernel's own `struct hv_device` and `struct vmbus_channel`
//! (Documentation/driver-api.rst, "Linux's VMBus drivers").
//!
//! `hv_vmbus.c` holds the kernel's structures and the exported symbols
//! (hv_vmbus's names, or their `rvmbus_hv_` twins of `retarget.h` where
//! hv_vmbus is built in); [`binding`] the behaviour of
//! a bound channel; [`negotiate`] the IC version negotiation that
//! hv_vmbus exports for hv_utils. What hv_storvsc and hv_netvsc need
//! besides, one concern per file, each a C half (the kernel's structures,
//! the exports) and where there is behaviour a Rust half:
//! [`packet_iter`] (packet iteration over a per-channel copy),
//! [`gpa_direct`] (`vmbus_sendpacket_mpb_desc()`), [`request_id`] (the
//! request-id table), [`gpadl`] (driver-owned GPADLs and their buffers),
//! [`ring_info`] (the ring fields of the channel structure) and
//! [`subchannel`] (sub-channels on the primary's `sc_list`). What
//! `uio_hv_generic` needs: [`ring_mem`] (ring memory a driver allocates,
//! opens on and maps to user space) and [`connection`] (the connection's
//! pages, `vmbus_set_event()`, `vmbus_device_unregister()`).
//!
//! Above the bus core, beside `drivers`: imports `crate::bus`,
//! `crate::support` and `crate::proto` only, and implements the core's
//! [`crate::bus::channel::ChannelDriver`] for each binding.

pub(crate) mod binding;
pub(crate) mod connection;
pub(crate) mod gpa_direct;
pub(crate) mod gpadl;
pub(crate) mod negotiate;
pub(crate) mod packet_iter;
pub(crate) mod request_id;
pub(crate) mod ring_info;
pub(crate) mod ring_mem;
pub(crate) mod subchannel;
