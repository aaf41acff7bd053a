// SPDX-License-Identifier: GPL-2.0

//! The bus in sysfs: the `vmbus` bus type, each device and its
//! `channels/<relid>` directories (`sysfs.c` holds the C structures), and
//! the snapshots of a channel they show.
//!
//! Above the bus core: imports `crate::bus`, `crate::support` and
//! `crate::proto` only.

pub(crate) mod device;
