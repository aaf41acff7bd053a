// SPDX-License-Identifier: GPL-2.0

//! Tools for tests and for people debugging a host: the debugfs control
//! file and the KUnit tests of the glue.
//!
//! Above the interfaces: may import every layer but the module itself.

pub(crate) mod ctl;
mod kunit;
