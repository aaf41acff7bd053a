// SPDX-License-Identifier: GPL-2.0
/*
 * A channel's ring memory in the hv_vmbus interface (ring_mem.rs is the
 * Rust half): vmbus_alloc_ring() and vmbus_free_ring(), the open and
 * close on it, vmbus_connect_ring() and vmbus_disconnect_ring(), the two
 * together as vmbus_open() and vmbus_close(), and the channel's "ring"
 * file, which maps the ring to user space (hv_create_ring_sysfs(),
 * hv_remove_ring_sysfs()).
 *
 * The fields of struct vmbus_channel that describe the memory are set as
 * hv_vmbus sets them: ringbuffer_page (the first of the block's
 * physically contiguous pages), ringbuffer_pagecount (both rings) and
 * ringbuffer_send_offset (the pages of the outbound ring, which comes
 * first).  uio_hv_generic maps the block by physical address from them.
 *
 * Context: process context, as in hv_vmbus; each may sleep.
 */

#include "retarget.h"

#include <linux/hyperv.h>
#include <linux/mm.h>
#include <linux/module.h>

#include "../sysfs/sysfs.h"
#include "hv_private.h"
#include "hv_vmbus.h"

int vmbus_alloc_ring(struct vmbus_channel *c, u32 send_size, u32 recv_size)
{
	void *addr;
	u32 pages;
	int ret;

	might_sleep();
	if (!PAGE_ALIGNED(send_size) || !PAGE_ALIGNED(recv_size))
		return -EINVAL;
	ret = rvmbus_hv_rust_alloc_ring(rvmbus_hv_binding_of(c), send_size,
					recv_size, &addr, &pages);
	if (ret)
		return ret;
	c->ringbuffer_page = virt_to_page(addr);
	c->ringbuffer_pagecount = pages;
	c->ringbuffer_send_offset = send_size >> PAGE_SHIFT;
	return 0;
}
EXPORT_SYMBOL_GPL(vmbus_alloc_ring);

void vmbus_free_ring(struct vmbus_channel *c)
{
	might_sleep();
	/* The core keeps the pages while the host may hold them. */
	rvmbus_hv_rust_free_ring(rvmbus_hv_binding_of(c));
	c->ringbuffer_page = NULL;
	c->ringbuffer_pagecount = 0;
	c->ringbuffer_send_offset = 0;
}
EXPORT_SYMBOL_GPL(vmbus_free_ring);

int vmbus_connect_ring(struct vmbus_channel *c,
		       void (*onchannelcallback)(void *context), void *context)
{
	int ret;

	might_sleep();
	if (c->state != CHANNEL_OPEN_STATE)
		return -EINVAL;
	/* The request-id table the driver asked for (rqstor_size). */
	ret = rvmbus_hv_rqstor_alloc(c);
	if (ret)
		return ret;
	/* The binding's gate is closed: no callback reads these meanwhile. */
	c->onchannel_callback = onchannelcallback;
	c->channel_callback_context = context;
	c->state = CHANNEL_OPENING_STATE;
	ret = rvmbus_hv_rust_open(rvmbus_hv_binding_of(c));
	if (ret) {
		c->onchannel_callback = NULL;
		c->channel_callback_context = NULL;
		c->state = CHANNEL_OPEN_STATE;
		rvmbus_hv_rqstor_free(c);
		return ret;
	}
	c->state = CHANNEL_OPENED_STATE;
	return 0;
}
EXPORT_SYMBOL_GPL(vmbus_connect_ring);

int vmbus_disconnect_ring(struct vmbus_channel *c)
{
	struct vmbus_channel *sc;
	int ret;

	might_sleep();
	/*
	 * A primary's sub-channels are closed first, and their rings freed,
	 * as hv_vmbus does.
	 */
	if (!c->primary_channel) {
		rvmbus_hv_sub_lock();
		list_for_each_entry(sc, &c->sc_list, sc_list)
			vmbus_close(sc);
		rvmbus_hv_sub_unlock();
	}
	/*
	 * Returns with the callback stopped (and none running) and the ring
	 * fields emptied.
	 */
	ret = rvmbus_hv_rust_close(rvmbus_hv_binding_of(c));
	rvmbus_hv_rqstor_free(c);
	c->onchannel_callback = NULL;
	c->channel_callback_context = NULL;
	c->sc_creation_callback = NULL;
	c->state = CHANNEL_OPEN_STATE;
	return ret;
}
EXPORT_SYMBOL_GPL(vmbus_disconnect_ring);

int vmbus_open(struct vmbus_channel *c, u32 send_ringbuffer_size,
	       u32 recv_ringbuffer_size, void *userdata, u32 userdatalen,
	       void (*onchannelcallback)(void *context), void *context)
{
	int ret;

	might_sleep();
	if (userdatalen > MAX_USER_DEFINED_BYTES)
		return -EINVAL;
	/*
	 * User data that is all zeros is what an open without any sends
	 * (hv_storvsc passes zeroed channel properties).
	 */
	if (userdatalen && (!userdata || memchr_inv(userdata, 0, userdatalen))) {
		pr_warn_ratelimited("rvmbus: channel %u: open with user data is not supported\n",
				    c->offermsg.child_relid);
		return -EOPNOTSUPP;
	}
	if (c->state != CHANNEL_OPEN_STATE)
		return -EINVAL;
	ret = vmbus_alloc_ring(c, send_ringbuffer_size, recv_ringbuffer_size);
	if (ret)
		return ret;
	ret = vmbus_connect_ring(c, onchannelcallback, context);
	if (ret)
		vmbus_free_ring(c);
	return ret;
}
EXPORT_SYMBOL_GPL(vmbus_open);

void vmbus_close(struct vmbus_channel *c)
{
	might_sleep();
	vmbus_disconnect_ring(c);
	vmbus_free_ring(c);
}
EXPORT_SYMBOL_GPL(vmbus_close);

/* ---- The ring file ------------------------------------------------------ */

int hv_create_ring_sysfs(struct vmbus_channel *c,
			 int (*mmap_prepare)(struct vmbus_channel *c,
					     struct vm_area_desc *desc))
{
	might_sleep();
	if (!mmap_prepare)
		return -EINVAL;
	WRITE_ONCE(c->mmap_prepare_ring_buffer, mmap_prepare);
	c->ring_sysfs_visible = true;
	return rvmbus_sysfs_ring_show(c->device_obj,
				      rvmbus_hv_rust_chan_key(rvmbus_hv_binding_of(c)),
				      c);
}
EXPORT_SYMBOL_GPL(hv_create_ring_sysfs);

int hv_remove_ring_sysfs(struct vmbus_channel *c)
{
	int ret;

	might_sleep();
	c->ring_sysfs_visible = false;
	/* Once hidden, no mmap() of the file is running or will start. */
	ret = rvmbus_sysfs_ring_hide(c->device_obj,
				     rvmbus_hv_rust_chan_key(rvmbus_hv_binding_of(c)),
				     c);
	WRITE_ONCE(c->mmap_prepare_ring_buffer, NULL);
	return ret;
}
EXPORT_SYMBOL_GPL(hv_remove_ring_sysfs);
