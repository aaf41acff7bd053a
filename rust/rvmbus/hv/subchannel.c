// SPDX-License-Identifier: GPL-2.0
/*
 * Sub-channels of the hv_vmbus interface: vmbus_set_sc_create_callback(),
 * with which a driver (hv_storvsc, hv_netvsc) says what to call for each
 * sub-channel the host offers after the driver asked its device for them,
 * and the struct vmbus_channel of each such sub-channel.
 *
 * When the host offers a sub-channel of a primary channel whose driver
 * has it open, the core tells the primary's binding (subchannel.rs),
 * which, with the primary's gate held, has a struct vmbus_channel made
 * for it here: primary_channel names the primary, device_obj is the
 * primary's device, and it gets a binding of its own (its callback,
 * open, close, send and receive work as for a primary).  It is put on the
 * primary's sc_list and handed to the primary's sc_creation_callback, as
 * hv_vmbus does; the driver opens it from there.  vmbus_close() of the
 * primary closes its sub-channels first; the primary's unbind (after the
 * driver's remove()) stops new ones, then unbinds and frees every
 * sub-channel before the primary.  A sub-channel the host rescinds is
 * marked (rescind) and stays on the list until then.
 *
 * Context: process context: the device work (offers), the driver
 * (vmbus_set_sc_create_callback(), close), the driver core (unbind).
 */

#include "retarget.h"

#include <linux/hyperv.h>
#include <linux/list.h>
#include <linux/mutex.h>

#include "hv_vmbus.h"

/*
 * Every primary's sc_list and its sealed flag are guarded by
 * vmbus_connection.channel_mutex, as in hv_vmbus, where drivers take it
 * to walk sc_list (connection.c).
 */
void rvmbus_hv_sub_lock(void)
{
	mutex_lock(rvmbus_hv_channel_mutex());
}

void rvmbus_hv_sub_unlock(void)
{
	mutex_unlock(rvmbus_hv_channel_mutex());
}

void vmbus_set_sc_create_callback(struct vmbus_channel *primary,
				  void (*sc_cr_cb)(struct vmbus_channel *new_sc))
{
	WRITE_ONCE(primary->sc_creation_callback, sc_cr_cb);
}
EXPORT_SYMBOL_GPL(vmbus_set_sc_create_callback);

void rvmbus_hv_c_sub_add(void *pcchan, void *cchan, void *binding)
{
	struct vmbus_channel *primary = rvmbus_hv_chan_of(pcchan);
	struct vmbus_channel *sc = rvmbus_hv_sub_bound(cchan, binding);
	void (*cb)(struct vmbus_channel *new_sc);

	rvmbus_hv_sub_lock();
	if (rvmbus_hv_sub_sealed(primary)) {
		/* The primary is being unbound: the sub-channel goes at once. */
		rvmbus_hv_sub_unlock();
		rvmbus_hv_release(sc);
		return;
	}
	list_add_tail(&sc->sc_list, &primary->sc_list);
	rvmbus_hv_sub_unlock();
	pr_info("rvmbus: channel %u: sub-channel %u (index %u) for the driver\n",
		primary->offermsg.child_relid, sc->offermsg.child_relid,
		sc->offermsg.offer.sub_channel_index);
	cb = READ_ONCE(primary->sc_creation_callback);
	if (cb)
		cb(sc);
}

struct vmbus_channel *rvmbus_hv_sub_unlink_first(struct vmbus_channel *primary)
{
	struct vmbus_channel *sc;

	rvmbus_hv_sub_lock();
	sc = list_first_entry_or_null(&primary->sc_list, struct vmbus_channel,
				      sc_list);
	if (sc)
		list_del_init(&sc->sc_list);
	rvmbus_hv_sub_unlock();
	return sc;
}
