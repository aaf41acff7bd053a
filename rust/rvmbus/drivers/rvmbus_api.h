/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The driver ABI of rvmbus.ko, version 1: what a VMBus device driver in
 * another module links against (every symbol is EXPORT_SYMBOL_GPL).
 *
 * Rust drivers do not use this header: rust/rvmbus_api/ mirrors it and
 * wraps it in safe types.  The layouts are asserted on both sides.
 *
 * Lifecycle of a bound device, as the bus guarantees it:
 *
 *   probe -> start -> { packet | completion }* -> [rescind] -> remove
 *                 \-> suspend -> resume -/
 *
 * - probe(drv_ctx, dev, &dev_ctx) allocates the driver's state and returns
 *   it through dev_ctx; it must not do I/O.  Callbacks are enabled when it
 *   returns 0.
 * - start(dev_ctx) opens the channel and talks to the host; packet and
 *   completion callbacks may already run while it does.  If it fails, the
 *   bus cancels what is outstanding, calls remove() and closes the channel.
 * - packet() and completion() run in softirq context, in the channel's
 *   tasklet, as Linux runs a VMBus channel callback, one at a time per
 *   device; they must not sleep.  None runs once suspend, remove or a
 *   rescind has begun: each of those waits for a callback in progress
 *   (as tasklet_disable() does) before it calls the driver.  Completions
 *   of requests that suspend, rescind or remove cancel come from that
 *   transition, in process context.  rvmbus's module parameter
 *   rust_cb_work=1 runs them from a work item instead (the old path, for
 *   the benchmark's comparison).
 * - rvmbus_dev_send() and rvmbus_dev_request() may be called in any
 *   context; they wait up to timeout_ms for ring space only in task
 *   context (in_task()), else a full ring is -EAGAIN at once.
 *   rvmbus_dev_open() and rvmbus_dev_close() wait for the host: process
 *   context only (-EDEADLK from packet() or completion()).
 * - Every request sent with rvmbus_dev_request() gets exactly one
 *   completion(): the host's answer (status 0), or -ECANCELED (suspend,
 *   remove, close) or -ENODEV (rescind) when the bus gives up on it.
 * - rescind(dev_ctx) is called at most once, before remove(); sends fail
 *   with -ENODEV from then on.
 * - suspend() runs with callbacks stopped and sends refused (-ESHUTDOWN);
 *   resume() runs with them allowed again.
 * - remove(dev_ctx) is the last call for dev_ctx.  After it the bus closes
 *   the channel if the driver left it open; ring memory is freed only when
 *   the host has let go of it.
 * - A struct rvmbus_dev is reference-counted (rvmbus_dev_get/put); after
 *   remove every call on it fails with -ENODEV instead of touching freed
 *   memory.
 */
#ifndef RVMBUS_API_H
#define RVMBUS_API_H

#include <linux/types.h>

#define RVMBUS_API_VERSION 1

/* Packet types a driver sends or receives (Linux's VM_PKT_*). */
#define RVMBUS_PKT_DATA_INBAND 6
#define RVMBUS_PKT_COMP 11

struct module;
struct rvmbus_dev;
struct rvmbus_driver;

/* A packet from the host, valid only during the packet() call. */
struct rvmbus_packet {
	u16 type;
	u16 flags;
	u32 len;
	u64 trans_id;
	const u8 *data;
};

/* What the bus tells a driver about its device. */
struct rvmbus_dev_info {
	u8 class_id[16];	/* wire byte order */
	u8 instance_id[16];
	u32 relid;
	u32 vmbus_version;	/* major << 16 | minor */
	u32 target_cpu;
	u32 monitored;
};

struct rvmbus_driver_ops {
	u32 api_version;	/* RVMBUS_API_VERSION */
	u32 n_ids;
	const u8 (*ids)[16];	/* class GUIDs, wire byte order */
	const char *name;
	int (*probe)(void *drv_ctx, struct rvmbus_dev *dev, void **dev_ctx);
	int (*start)(void *dev_ctx);
	void (*remove)(void *dev_ctx);
	void (*packet)(void *dev_ctx, const struct rvmbus_packet *pkt);
	void (*completion)(void *dev_ctx, u64 cookie, int status,
			   const u8 *data, u32 len);
	void (*rescind)(void *dev_ctx);
	int (*suspend)(void *dev_ctx);
	int (*resume)(void *dev_ctx);
};

/* Shared with Rust (driver.rs, rust/rvmbus_api/ffi.rs). */
#define RVMBUS_PACKET_SIZE 24
#define RVMBUS_DEV_INFO_SIZE 48
#define RVMBUS_DRIVER_OPS_SIZE 88

struct rvmbus_driver *rvmbus_driver_register(const struct rvmbus_driver_ops *ops,
					     void *drv_ctx, struct module *owner);
void rvmbus_driver_unregister(struct rvmbus_driver *drv);

void rvmbus_dev_get(struct rvmbus_dev *dev);
void rvmbus_dev_put(struct rvmbus_dev *dev);
int rvmbus_dev_info(struct rvmbus_dev *dev, struct rvmbus_dev_info *out);
int rvmbus_dev_open(struct rvmbus_dev *dev, u32 ring_bytes);
int rvmbus_dev_close(struct rvmbus_dev *dev);
int rvmbus_dev_send(struct rvmbus_dev *dev, u16 type, u64 trans_id,
		    const u8 *data, u32 len, u32 timeout_ms);
int rvmbus_dev_request(struct rvmbus_dev *dev, const u8 *data, u32 len,
		       u64 cookie, u32 timeout_ms);

#endif /* RVMBUS_API_H */
