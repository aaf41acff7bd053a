// SPDX-License-Identifier: GPL-2.0
/*
 * Sub-channels of the hv_vmbus interface: vmbus_set_sc_create_callback(),
 * with which a driver (hv_storvsc, hv_netvsc) says what to call for each
 * sub-channel the host offers after the driver asked its device for them.
 *
 * The callback is kept in the primary channel (sc_creation_callback, as
 * hv_vmbus keeps it) and cleared by vmbus_close().  Sub-channel offers are
 * not delivered to drivers of this interface yet: no struct vmbus_channel
 * is made for them on the primary's sc_list, so the callback is never
 * called (Documentation/driver-api.rst, "What other Linux drivers need").
 * Both drivers work with their primary channel alone when the host offers
 * no sub-channel.
 *
 * Context: process context (the drivers call it from probe or open).
 */

#include "retarget.h"

#include <linux/hyperv.h>

#include "hv_vmbus.h"

void rvmbus_hv_vmbus_set_sc_create_callback(struct vmbus_channel *primary,
					    void (*sc_cr_cb)(struct vmbus_channel *new_sc))
{
	WRITE_ONCE(primary->sc_creation_callback, sc_cr_cb);
}
EXPORT_SYMBOL_GPL(rvmbus_hv_vmbus_set_sc_create_callback);
