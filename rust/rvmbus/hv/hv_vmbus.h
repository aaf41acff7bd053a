/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The hv_vmbus driver interface of rvmbus: Linux's own VMBus drivers
 * (struct hv_driver from <linux/hyperv.h>) on rvmbus's bus.
 *
 * Two halves.  hv_vmbus.c (C) owns the kernel's structures: it registers
 * hv_drivers on the bus, matches them by their id_table, allocates the
 * struct vmbus_channel it hands to a bound driver, reads and writes every
 * field of it, and exports the driver interface (under hv_vmbus's names,
 * renamed by retarget.h where hv_vmbus is built in).  binding.rs (Rust) owns the behaviour: one binding
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

#include <linux/hyperv.h>
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
int rvmbus_hv_type_class(unsigned int type, u8 *guid);
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
	u16 chn_flags;		/* VMBUS_CHANNEL_* offer flags */
	u16 reserved2;
	u8 user_def[MAX_USER_DEFINED_BYTES];	/* the offer's, as sent */
};

/* Shared with Rust (binding.rs asserts the same size). */
#define RVMBUS_HV_OFFER_SIZE 176

/* @cchan is a struct rvmbus_hv_chan (hv_vmbus.c) that Rust was given. */
void rvmbus_hv_c_set_offer(void *cchan, const struct rvmbus_hv_offer *o);
void rvmbus_hv_c_set_rescind(void *cchan);
/* The channel's read mode: 0 batched, 1 direct, 2 ISR (enum hv_callback_mode). */
u32 rvmbus_hv_c_read_mode(void *cchan);
/*
 * Runs the driver's channel callback, if one is set; the _irqoff variant
 * with local interrupts off, for an HV_CALL_ISR callback run elsewhere
 * than in the interrupt handler.
 */
void rvmbus_hv_c_invoke(void *cchan);
void rvmbus_hv_c_invoke_irqoff(void *cchan);
/*
 * ring_info.c: the channel's outbound and inbound struct
 * hv_ring_buffer_info describe the core's rings while it is open: filled
 * once the open succeeded, before the gate opens (a callback may read
 * them at once); emptied once the gate closed, before the core closes.
 */
void rvmbus_hv_c_rings_fill(void *cchan);
void rvmbus_hv_c_rings_clear(void *cchan);

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
/* Opens the channel on the ring of rvmbus_hv_rust_alloc_ring(). */
int rvmbus_hv_rust_open(void *b);
int rvmbus_hv_rust_close(void *b);
int rvmbus_hv_rust_send(void *b, const void *data, u32 len, u64 trans_id,
			u16 type, u16 flags);
int rvmbus_hv_rust_recv(void *b, void *buf, u32 buflen, u32 *actual,
			u64 *trans_id, bool raw);
bool rvmbus_hv_rust_negotiate(u8 *buf, u32 buflen, const int *fw, int fw_cnt,
			      const int *srv, int srv_cnt, int *nego_fw,
			      int *nego_srv);

/* ---- Between the C files of this interface ------------------------------ */

struct vmbus_channel;

/* The binding behind a channel that hv_vmbus.c handed to a driver. */
void *rvmbus_hv_binding_of(struct vmbus_channel *c);

/*
 * request_id.c: the table of @c->rqstor_size slots, made by vmbus_open()
 * and freed by vmbus_close(); the id of a packet sent with @flags (*@took:
 * a slot was taken, which rvmbus_hv_rqst_unsent() gives back when the
 * packet could not be sent).
 */
int rvmbus_hv_rqstor_alloc(struct vmbus_channel *c);
void rvmbus_hv_rqstor_free(struct vmbus_channel *c);
int rvmbus_hv_rqst_assign(struct vmbus_channel *c, u32 flags, u64 requestid,
			  u64 *trans_id, bool *took);
void rvmbus_hv_rqst_unsent(struct vmbus_channel *c, u64 trans_id, bool took);


/*
 * Sub-channels (subchannel.c, hv_vmbus.c): they hang on their primary's
 * sc_list, changed under rvmbus_hv_sub_lock() (a mutex), until the
 * primary is unbound, which first stops new ones (rvmbus_hv_sub_seal())
 * and then takes them off one by one.  rvmbus_hv_sub_bound() counts a
 * new sub-channel's structure and gives it its binding (a reference it
 * keeps); rvmbus_hv_release() unbinds and frees any channel structure.
 */
struct vmbus_channel *rvmbus_hv_sub_bound(void *cchan, void *binding);
struct vmbus_channel *rvmbus_hv_sub_unlink_first(struct vmbus_channel *primary);
void rvmbus_hv_sub_seal(struct vmbus_channel *primary);
bool rvmbus_hv_sub_sealed(struct vmbus_channel *primary);
void rvmbus_hv_release(struct vmbus_channel *c);
struct vmbus_channel *rvmbus_hv_chan_of(void *cchan);
void rvmbus_hv_sub_lock(void);
void rvmbus_hv_sub_unlock(void);

/* ---- More from C to Rust ------------------------------------------------ */

/* What ring_info.rs says of the open rings (all 0 when closed). */
struct rvmbus_hv_rings {
	void *out_ctrl;		/* the outbound ring's control page */
	void *in_ctrl;		/* the inbound ring's control page */
	u32 out_bytes;		/* each ring's size, control page included */
	u32 in_bytes;
};

/* Shared with Rust (ring_info.rs asserts the same size). */
#define RVMBUS_HV_RINGS_SIZE 24

void rvmbus_hv_rust_rings(void *b, struct rvmbus_hv_rings *out);
/*
 * packet_iter.rs: the next packet in the binding's copy (with @advance,
 * after dropping the one at @cur), or NULL; the descriptor is the
 * packet's first bytes.
 */
void *rvmbus_hv_rust_iter(void *b, bool advance, const void *cur);
/*
 * request_id.rs: the decisions of request_id.c's table of @size slots
 * (@slots, the bitmap @in_use, the head of the free list *@next: the
 * fields of struct vmbus_requestor), made by vmbus_proto under the
 * caller's lock: every slot made free, the id of a free slot taken for
 * @value (VMBUS_RQST_ERROR: none), and the value of the slot that the
 * host's @trans_id names (VMBUS_RQST_ERROR: none), freed when @want is
 * VMBUS_RQST_ADDR_ANY or its value.
 */
void rvmbus_hv_rust_rqst_reset(u64 *slots, unsigned long *in_use, u32 size,
			       u64 *next);
u64 rvmbus_hv_rust_rqst_next(u64 *slots, unsigned long *in_use, u32 size,
			     u64 *next, u64 value);
u64 rvmbus_hv_rust_rqst_match(u64 *slots, unsigned long *in_use, u32 size,
			      u64 *next, u64 trans_id, u64 want);
/*
 * gpa_direct.rs: one GPA-direct packet of @rangecount ranges, given as
 * the @nwords words of struct hv_mpb_array entries at @words (each a
 * length and offset word, then its frame numbers), with @data in band and
 * a completion requested.
 */
int rvmbus_hv_rust_send_gpa(void *b, const void *words, u32 nwords,
			    u32 rangecount, const void *data, u32 datalen,
			    u64 trans_id);
/*
 * gpadl.rs: a GPADL of the binding's channel over @npfn frames at @pfns
 * (its id to *@id; on failure *@host_holds says whether the host may use
 * the pages anyway), and its teardown (0: the host gave the pages back;
 * otherwise it may still use them); see gpadl.c.
 */
int rvmbus_hv_rust_gpadl_create(void *b, const u64 *pfns, u32 npfn, u32 *id,
				bool *host_holds);
int rvmbus_hv_rust_gpadl_teardown(void *b, u32 id);

/*
 * ring_mem.rs: the binding's ring memory, rings of @send and @recv bytes
 * (control pages included), both in one block of physically contiguous
 * pages: its address to *@addr, its pages to *@pages; and the release of
 * the binding's reference (the core keeps its own while the host may
 * hold the pages).
 */
int rvmbus_hv_rust_alloc_ring(void *b, u32 send, u32 recv, void **addr,
			      u32 *pages);
void rvmbus_hv_rust_free_ring(void *b);

/*
 * connection.rs and connection.c: vmbus_set_event(); the removal of the
 * bus device of channel reference @ctx (sysfs.h's rdev->ctx) by the
 * device work; the channel a binding drives, which is the context of its
 * channels/<relid>/ directory (sysfs.c).
 */
void rvmbus_hv_rust_set_event(void *b);
void rvmbus_hv_rust_device_unregister(void *ctx);
const void *rvmbus_hv_rust_chan_key(void *b);
/*
 * vmbus_send_tl_connect_request() with both GUIDs in wire byte order
 * (guid_t), a negative errno if not posted.
 */
int rvmbus_hv_rust_tl_connect(const u8 *endpoint, const u8 *service);
/*
 * The mutex of every primary's sc_list (vmbus_connection.channel_mutex
 * where rvmbus has vmbus_connection).  What drivers read of the
 * connection, set by connection.rs when it comes up, before any driver
 * binds, and cleared (0, NULL) when it ends: vmbus_proto_version (the
 * negotiated version as hv_vmbus encodes it, major << 16 | minor) and the
 * kernel addresses of its interrupt page and two monitor pages
 * (@pages[3]) in vmbus_connection.
 */
struct mutex *rvmbus_hv_channel_mutex(void);
void rvmbus_hv_conn_set(u32 version, void * const *pages);
/*
 * Runs a primary channel's chn_rescind_callback, if set (binding.rs):
 * true if it ran (the driver then removes the device itself).
 */
bool rvmbus_hv_c_rescind_callback(void *cchan);

/* gpadl.c: forgets the GPADL records of a channel that is being freed. */
void rvmbus_hv_gpadls_forget(struct vmbus_channel *c);

/*
 * Called by subchannel.rs, with the primary's gate held and open, when
 * the host offered a sub-channel of the primary @pcchan (a struct
 * rvmbus_hv_chan): the new sub-channel's structure (NULL: no memory),
 * freed again if its binding cannot be made; then, bound, put on the
 * primary's sc_list and handed to the driver's sc_creation_callback.
 */
void *rvmbus_hv_c_sub_alloc(void *pcchan);
void rvmbus_hv_c_sub_free(void *cchan);
void rvmbus_hv_c_sub_add(void *pcchan, void *cchan, void *binding);

#endif /* RVMBUS_HV_VMBUS_H */
