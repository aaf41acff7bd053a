// SPDX-License-Identifier: GPL-2.0

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vmbus_proto_fuzz::hv_iface(data));
