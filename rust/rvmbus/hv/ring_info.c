// SPDX-License-Identifier: GPL-2.0
/*
 * The ring fields of the kernel's struct vmbus_channel (outbound and
 * inbound, struct hv_ring_buffer_info) while a driver of the hv_vmbus
 * interface has the channel open, so that <linux/hyperv.h>'s inline
 * helpers (hv_get_bytes_to_read(), hv_get_bytes_to_write(),
 * hv_get_avail_to_write_percent(), ...) read the core's real rings, as
 * hv_storvsc and hv_netvsc do to pick a channel or stop a queue.
 *
 * Only what those helpers read is filled: the control page (ring_buffer,
 * whose read and write indices the host and the core move), ring_size
 * (control page included), ring_size_div10_reciprocal and ring_datasize.
 * The helpers only read; every read and write of a ring is the core's
 * (bus/ring_buffer.rs), under its own lock, and nothing here is used to
 * reach ring memory.  Host-written indices read through these helpers are
 * hints to the driver, as on hv_vmbus: the core validates them on its own
 * path.
 *
 * Lifetime: filled by the binding's open (binding.rs) once the core
 * opened the channel and before the gate lets a callback run, which may
 * be before vmbus_open() returns; emptied by its close and its unbind once
 * the gate is closed (no callback running) and before the core closes the
 * channel: the ring memory stays allocated until the host tore the ring's
 * GPADL down, which only follows that close, so the pointer never
 * outlives the pages.
 */

#include "retarget.h"

#include <linux/hyperv.h>
#include <linux/reciprocal_div.h>

#include "hv_vmbus.h"

static_assert(sizeof(struct rvmbus_hv_rings) == RVMBUS_HV_RINGS_SIZE);

static void rvmbus_hv_ring_set(struct hv_ring_buffer_info *ri, void *ctrl,
			       u32 bytes)
{
	/* A ring is its control page and at least one data page. */
	if (!ctrl || bytes <= sizeof(struct hv_ring_buffer)) {
		ri->ring_buffer = NULL;
		ri->ring_size = 0;
		ri->ring_datasize = 0;
		return;
	}
	ri->ring_size = bytes;
	ri->ring_size_div10_reciprocal = reciprocal_value(bytes / 10);
	ri->ring_datasize = bytes - sizeof(struct hv_ring_buffer);
	ri->priv_read_index = 0;
	WRITE_ONCE(ri->ring_buffer, ctrl);
}

void rvmbus_hv_c_rings_fill(void *cchan)
{
	struct vmbus_channel *c = rvmbus_hv_chan_of(cchan);
	struct rvmbus_hv_rings r = { };

	rvmbus_hv_rust_rings(rvmbus_hv_binding_of(c), &r);
	rvmbus_hv_ring_set(&c->outbound, r.out_ctrl, r.out_bytes);
	rvmbus_hv_ring_set(&c->inbound, r.in_ctrl, r.in_bytes);
}

void rvmbus_hv_c_rings_clear(void *cchan)
{
	struct vmbus_channel *c = rvmbus_hv_chan_of(cchan);

	rvmbus_hv_ring_set(&c->outbound, NULL, 0);
	rvmbus_hv_ring_set(&c->inbound, NULL, 0);
}
