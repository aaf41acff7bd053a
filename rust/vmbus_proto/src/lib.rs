// SPDX-License-Identifier: GPL-2.0

//! The VMBus protocol core shared by the rvmbus kernel module and the
//! userspace host: wire format, validation, version negotiation, the ring
//! buffer algorithm and the connection and channel state machines.
//!
//! It never allocates, never uses `unsafe`, and never panics on input that
//! came from the other side: every such value is copied, validated and turned
//! into a typed value or a typed error.
//!
//! The crate is also compiled as a module of the kernel crate, so its files
//! refer to each other with `super::` paths only.

#![no_std]
#![forbid(unsafe_code)]

#[macro_use]
pub mod wire;

pub mod channel;
pub mod connection;
pub mod fcopy;
pub mod gpadl;
pub mod ic;
pub mod ivshmem;
pub mod keyboard;
pub mod kvp;
pub mod message;
pub mod nvsp;
pub mod packet;
pub mod partition;
pub mod post;
pub mod ring;
pub mod rndis;
pub mod rqstor;
pub mod rx_copy;
pub mod slot;
pub mod storage;
pub mod types;
pub mod utf16;
pub mod version;
pub mod vss;
