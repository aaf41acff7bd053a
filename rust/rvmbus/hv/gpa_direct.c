// SPDX-License-Identifier: GPL-2.0
/*
 * vmbus_sendpacket_mpb_desc(): a GPA-direct packet (the host reads or
 * writes the guest pages the packet names) whose ranges the driver wrote
 * as the kernel's struct vmbus_packet_mpb_array, as hv_storvsc does for a
 * SCSI command's data and hv_netvsc for a packet's pages.
 *
 * hv_vmbus writes the driver's descriptor into the ring as it is, after
 * filling its header.  Here only the ranges are taken from it: the core
 * encodes the packet itself (vmbus_proto's GPA-direct encoder), after
 * gpa_direct.rs checked that the ranges use exactly the words the driver
 * said (@desc_size) and that each range names exactly the pages it spans.
 * A completion is always requested (hv_vmbus sets the flag), so the
 * packet takes an id from the request-id table when the driver has one.
 *
 * Context: any; never sleeps (buffers from the atomic pool), as on hv_vmbus.
 */

#include "retarget.h"

#include <linux/hyperv.h>
#include <linux/stddef.h>

#include "hv_vmbus.h"

int vmbus_sendpacket_mpb_desc(struct vmbus_channel *c,
			      struct vmbus_packet_mpb_array *desc,
			      u32 desc_size, void *buffer,
			      u32 bufferlen, u64 requestid)
{
	const u32 head = offsetof(struct vmbus_packet_mpb_array, range);
	u32 flags = VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED;
	bool took;
	u64 id;
	int ret;

	if (!desc || desc_size < head + sizeof(struct hv_mpb_array) ||
	    (desc_size - head) % sizeof(u64))
		return -EINVAL;
	ret = rvmbus_hv_rqst_assign(c, flags, requestid, &id, &took);
	if (ret)
		return ret;
	ret = rvmbus_hv_rust_send_gpa(rvmbus_hv_binding_of(c),
				      (const u8 *)desc + head,
				      (desc_size - head) / sizeof(u64),
				      desc->rangecount, buffer, bufferlen, id);
	if (ret)
		rvmbus_hv_rqst_unsent(c, id, took);
	return ret;
}
EXPORT_SYMBOL_GPL(vmbus_sendpacket_mpb_desc);
