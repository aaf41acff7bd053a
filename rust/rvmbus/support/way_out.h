/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel going away (restart, kexec, panic) for a transport without a
 * hook of its own: see way_out.c.
 */
#ifndef RVMBUS_WAY_OUT_H
#define RVMBUS_WAY_OUT_H

#include <linux/types.h>

int rvmbus_shim_way_out_register(void *ctx);
void rvmbus_shim_way_out_unregister(void *ctx);

/* Implemented in Rust (way_out.rs); never sleeps. */
void rvmbus_rust_way_out(void *ctx, bool crash);

#endif /* RVMBUS_WAY_OUT_H */
