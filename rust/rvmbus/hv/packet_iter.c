// SPDX-License-Identifier: GPL-2.0
/*
 * Packet iteration of the hv_vmbus interface: hv_pkt_iter_first(),
 * __hv_pkt_iter_next() and hv_pkt_iter_close(), which <linux/hyperv.h>'s
 * foreach_vmbus_pkt() and hv_pkt_iter_next() wrap.  The packets are
 * copies made by the core; packet_iter.rs says why and what the pointer
 * a driver gets stays valid for.
 *
 * Context: any; never sleeps (the channel callback runs in the channel's
 * tasklet, or in the interrupt handler for HV_CALL_ISR, as on hv_vmbus).
 */

#include "retarget.h"

#include <linux/hyperv.h>

#include "hv_vmbus.h"

struct vmpacket_descriptor *hv_pkt_iter_first(struct vmbus_channel *c)
{
	return rvmbus_hv_rust_iter(rvmbus_hv_binding_of(c), false, NULL);
}
EXPORT_SYMBOL_GPL(hv_pkt_iter_first);

struct vmpacket_descriptor *
__hv_pkt_iter_next(struct vmbus_channel *c,
		   const struct vmpacket_descriptor *pkt)
{
	return rvmbus_hv_rust_iter(rvmbus_hv_binding_of(c), true, pkt);
}
EXPORT_SYMBOL_GPL(__hv_pkt_iter_next);

void hv_pkt_iter_close(struct vmbus_channel *c)
{
	/*
	 * Nothing to commit: each packet's ring space was released, and the
	 * host signalled if it waited for it, when the core copied it.
	 */
}
EXPORT_SYMBOL_GPL(hv_pkt_iter_close);
