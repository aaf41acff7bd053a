/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The hv_vmbus driver interface of rvmbus: Linux's own VMBus drivers
 * (struct hv_driver from <linux/hyperv.h>) on rvmbus's bus.
 *
 * Two halves.  hv_vmbus.c (C) owns the kernel's structures: it registers
 * hv_drivers on the bus, matches them by their id_table, allocates the
 * struct vmbus_channel it hands to a bound driver, reads and writes every
 * field of it, and exports the driver interface under the rvmbus_hv_
 * names of retarget.h.  binding.rs (Rust) owns the behaviour: one binding
 * per bound device, the gate that decides when the channel callback may
 * run, the work item that runs it, and open, close, send and receive on
 * the core's channel.  Rust never sees the layout of a kernel structure:
 * what it needs of one goes through the functions below.
 *
 * This header is the contract between the two, and the entry points that
 * the bus type's callbacks (drivers/driver.c) call for a driver of this
 * interface.
 */
#ifndef RVMBUS_HV_VMBUS_H
#define RVMBUS_HV_VMBUS_H

#include <linux/types.h>
#include <linux/uuid.h>

struct device;
struct device_driver;
struct hv_device;
struct hv_driver;

/* ---- The bus type's callbacks, for drivers of this interface ---------- */

/* The hv_driver around @drv if it was registered here, else NULL. */
struct hv_driver *rvmbus_hv_driver_of(const struct device_driver *drv);

/*
 * @hdev is the bus device's struct hv_device (embedded in struct
 * rvmbus_device, sysfs.h) and @ctx its channel reference.
 */
int rvmbus_hv_match(struct hv_driver *drv, struct hv_device *hdev);
/*
 * new_id and remove_id of a driver of this interface: the class @guid on
 * the driver's own dynids list (-EEXIST, -ENODEV as hv_vmbus).
 */
int rvmbus_hv_add_dynid(struct hv_driver *drv, const guid_t *guid);
int rvmbus_hv_remove_dynid(struct hv_driver *drv, const guid_t *guid);
int rvmbus_hv_probe(struct hv_driver *drv, struct hv_device *hdev, void *ctx);
void rvmbus_hv_remove(struct hv_driver *drv, struct hv_device *hdev);
void rvmbus_hv_shutdown(struct hv_driver *drv, struct hv_device *hdev);
/* Hibernation only (freeze, poweroff; thaw, restore), as hv_vmbus does. */
int rvmbus_hv_suspend(struct hv_driver *drv, struct hv_device *hdev);
int rvmbus_hv_resume(struct hv_driver *drv, struct hv_device *hdev);

/* ---- From Rust to C ---------------------------------------------------- */

#define RVMBUS_HV_NO_MONITOR 0xffffffffU

/* What the core knows of a channel's offer, for the driver's copy. */
struct rvmbus_hv_offer {
	u8 if_type[16];		/* wire byte order (guid_t) */
	u8 if_instance[16];
	u32 child_relid;
	u32 connection_id;
	u32 target_cpu;
	u32 monitor_id;		/* RVMBUS_HV_NO_MONITOR if none */
	u16 sub_channel_index;
	u8 dedicated_interrupt;
	u8 reserved;
	u32 reserved2;
};

/* Shared with Rust (binding.rs asserts the same size). */
#define RVMBUS_HV_OFFER_SIZE 56

/* @cchan is a struct rvmbus_hv_chan (hv_vmbus.c) that Rust was given. */
void rvmbus_hv_c_set_offer(void *cchan, const struct rvmbus_hv_offer *o);
void rvmbus_hv_c_set_rescind(void *cchan);
/* The channel's read mode: 0 batched, 1 direct, 2 ISR (enum hv_callback_mode). */
u32 rvmbus_hv_c_read_mode(void *cchan);
/* Runs the driver's channel callback, if one is set. */
void rvmbus_hv_c_invoke(void *cchan);

/* ---- From C to Rust (binding.rs) ---------------------------------------- */

/*
 * A binding of the channel behind @ctx to the C channel @cchan; its
 * reference goes to *@out.  Fills the channel's offer first.
 */
int rvmbus_hv_rust_bind(void *ctx, void *cchan, void **out);
/* The driver's remove has returned: no callback after this; closes. */
void rvmbus_hv_rust_unbind(void *b);
void rvmbus_hv_rust_put(void *b);
/* Before the driver's resume: the offer may have changed (hibernation). */
void rvmbus_hv_rust_refresh(void *b);
void rvmbus_hv_rust_kick(void *b);
int rvmbus_hv_rust_open(void *b, u32 send_bytes, u32 recv_bytes);
int rvmbus_hv_rust_close(void *b);
int rvmbus_hv_rust_send(void *b, const void *data, u32 len, u64 trans_id,
			u16 type, u16 flags);
int rvmbus_hv_rust_recv(void *b, void *buf, u32 buflen, u32 *actual,
			u64 *trans_id, bool raw);
bool rvmbus_hv_rust_negotiate(u8 *buf, u32 buflen, const int *fw, int fw_cnt,
			      const int *srv, int srv_cnt, int *nego_fw,
			      int *nego_srv);

#endif /* RVMBUS_HV_VMBUS_H */
