// SPDX-License-Identifier: GPL-2.0

//! Power management: the PM callbacks of the vmbus root device (`pm.c`)
//! that run the connection's hibernation states
//! (`crate::bus::connection`'s `hibernate`), the PM link that keeps the
//! transport's device awake around them, and the look at the event flags
//! after suspend to RAM (`sleep`).
//!
//! Above the bus core: imports `crate::bus` and `crate::support` only.

pub(crate) mod hibernation;
pub(crate) mod sleep;
