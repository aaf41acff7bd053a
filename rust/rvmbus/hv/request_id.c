// SPDX-License-Identifier: GPL-2.0
/*
 * The request-id table of a channel (struct vmbus_requestor in the
 * kernel's struct vmbus_channel): a driver that sets rqstor_size before
 * vmbus_open() gets a table of that many slots, and each packet it sends
 * with a completion requested carries the id of a slot that holds the
 * driver's own value (usually a pointer to its request).  The host echoes
 * the id in its completion, and the driver turns it back into its value
 * with vmbus_request_addr(), which also frees the slot.
 *
 * Trust.  An id in a completion is the host's word and is never used to
 * reach memory unchecked: 0, ids beyond the table and ids of free slots
 * are VMBUS_RQST_ERROR, so a host that repeats a completion, invents one
 * or answers twice gets an error, never another request's value.
 *
 * The free slots form a list threaded through the table itself (a free
 * slot holds the index of the next free one), with a bitmap of the slots
 * in use; ids are slot index + 1, since 0 is what the host uses for
 * packets nobody asked for.  This file owns the memory and the lock (the
 * drivers take req_lock themselves around __vmbus_request_addr_match());
 * the decisions over the table are vmbus_proto's rqstor module
 * (request_id.rs), which the hv-iface fuzz target drives.
 *
 * Context: any; the table's spinlock is taken with interrupts off, since
 * netvsc sends and completes from softirq and its callbacks may run in
 * interrupt context on hv_vmbus.
 */

#include "retarget.h"

#include <linux/bitmap.h>
#include <linux/hyperv.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "hv_vmbus.h"

int rvmbus_hv_rqstor_alloc(struct vmbus_channel *c)
{
	struct vmbus_requestor *r = &c->requestor;
	u32 size = c->rqstor_size;

	if (!size)
		return 0;
	r->req_arr = kmalloc_array(size, sizeof(*r->req_arr), GFP_KERNEL);
	r->req_bitmap = bitmap_zalloc(size, GFP_KERNEL);
	if (!r->req_arr || !r->req_bitmap) {
		kfree(r->req_arr);
		bitmap_free(r->req_bitmap);
		r->req_arr = NULL;
		r->req_bitmap = NULL;
		return -ENOMEM;
	}
	/* Every slot free, each naming the next; the last names none (size). */
	rvmbus_hv_rust_rqst_reset(r->req_arr, r->req_bitmap, size,
				  &r->next_request_id);
	r->size = size;
	spin_lock_init(&r->req_lock);
	return 0;
}

void rvmbus_hv_rqstor_free(struct vmbus_channel *c)
{
	struct vmbus_requestor *r = &c->requestor;

	kfree(r->req_arr);
	bitmap_free(r->req_bitmap);
	r->req_arr = NULL;
	r->req_bitmap = NULL;
	r->size = 0;
	r->next_request_id = 0;
}

u64 vmbus_next_request_id(struct vmbus_channel *c, u64 rqst_addr)
{
	struct vmbus_requestor *r = &c->requestor;
	unsigned long flags;
	u64 id;

	/* No table: not opened with rqstor_size, or closed since. */
	if (!c->rqstor_size || !r->req_arr)
		return VMBUS_NO_RQSTOR;
	spin_lock_irqsave(&r->req_lock, flags);
	/* VMBUS_RQST_ERROR when every slot is in use. */
	id = rvmbus_hv_rust_rqst_next(r->req_arr, r->req_bitmap, r->size,
				      &r->next_request_id, rqst_addr);
	spin_unlock_irqrestore(&r->req_lock, flags);
	return id;
}
EXPORT_SYMBOL_GPL(vmbus_next_request_id);

u64 __vmbus_request_addr_match(struct vmbus_channel *c, u64 trans_id,
			       u64 rqst_addr)
{
	struct vmbus_requestor *r = &c->requestor;

	if (!c->rqstor_size || !r->req_arr)
		return VMBUS_NO_RQSTOR;
	/*
	 * The host's id: 0, beyond the table, or a free slot is refused; the
	 * slot is freed (back on the front of the free list) when
	 * @rqst_addr is VMBUS_RQST_ADDR_ANY or the value it holds.
	 */
	return rvmbus_hv_rust_rqst_match(r->req_arr, r->req_bitmap, r->size,
					 &r->next_request_id, trans_id,
					 rqst_addr);
}
EXPORT_SYMBOL_GPL(__vmbus_request_addr_match);

u64 vmbus_request_addr_match(struct vmbus_channel *c, u64 trans_id,
			     u64 rqst_addr)
{
	unsigned long flags;
	u64 val;

	if (!c->rqstor_size || !c->requestor.req_arr)
		return VMBUS_NO_RQSTOR;
	spin_lock_irqsave(&c->requestor.req_lock, flags);
	val = __vmbus_request_addr_match(c, trans_id, rqst_addr);
	spin_unlock_irqrestore(&c->requestor.req_lock, flags);
	return val;
}
EXPORT_SYMBOL_GPL(vmbus_request_addr_match);

u64 vmbus_request_addr(struct vmbus_channel *c, u64 trans_id)
{
	return vmbus_request_addr_match(c, trans_id, VMBUS_RQST_ADDR_ANY);
}
EXPORT_SYMBOL_GPL(vmbus_request_addr);

int rvmbus_hv_rqst_assign(struct vmbus_channel *c, u32 flags, u64 requestid,
			  u64 *trans_id, bool *took)
{
	u64 id;

	*trans_id = requestid;
	*took = false;
	/*
	 * As hv_vmbus: only a packet that asks for a completion takes an id,
	 * and only when the driver installed the callback that makes them.
	 */
	if (flags != VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED ||
	    !c->next_request_id_callback)
		return 0;
	id = c->next_request_id_callback(c, requestid);
	if (id == VMBUS_RQST_ERROR)
		return -EAGAIN;
	if (id != VMBUS_NO_RQSTOR) {
		*trans_id = id;
		*took = true;
	}
	return 0;
}

void rvmbus_hv_rqst_unsent(struct vmbus_channel *c, u64 trans_id, bool took)
{
	/*
	 * The packet never reached the ring: the id it took is given back
	 * (through the driver's own callback, as hv_vmbus does after a
	 * rescind) so that a failed send does not leak a slot.
	 */
	if (took && c->request_addr_callback)
		c->request_addr_callback(c, trans_id);
}
