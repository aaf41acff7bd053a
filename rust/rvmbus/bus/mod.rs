// SPDX-License-Identifier: GPL-2.0

//! The bus core: the VMBus connection (`vmbus_connection`) and its channel
//! management, the channels (`vmbus_channel`), their ring buffers, the
//! shared pages and the SynIC pages.
//!
//! Every protocol decision is `crate::proto`'s; the core feeds it validated
//! input and carries out its actions. It imports only `crate::support`,
//! `crate::transport` and `crate::proto`; the layers above reach it through
//! its functions and it calls them back only through the traits of
//! [`upcalls`], which they implement.

pub(crate) mod active;
pub(crate) mod channel;
pub(crate) mod classes;
pub(crate) mod connection;
pub(crate) mod relid_table;
pub(crate) mod ring_buffer;
pub(crate) mod shmem;
pub(crate) mod synic;
pub(crate) mod upcalls;

pub(crate) use active::{active, set_active};
