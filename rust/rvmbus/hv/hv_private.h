/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What rvmbus defines of hv_vmbus's private header, drivers/hv/
 * hyperv_vmbus.h: that header itself where the kernel tree has it
 * (Kbuild then defines RVMBUS_HV_CONNECTION and adds drivers/hv to the
 * include path of the files that include this one), else the
 * declarations of the symbols rvmbus defines of it.
 * Include after retarget.h and <linux/hyperv.h>.
 */
#ifndef RVMBUS_HV_PRIVATE_H
#define RVMBUS_HV_PRIVATE_H

#ifdef RVMBUS_HV_CONNECTION
#include "hyperv_vmbus.h"
#else
extern const struct vmbus_device vmbus_devs[];
void vmbus_device_unregister(struct hv_device *device_obj);
int hv_create_ring_sysfs(struct vmbus_channel *channel,
			 int (*mmap_prepare)(struct vmbus_channel *channel,
					     struct vm_area_desc *desc));
int hv_remove_ring_sysfs(struct vmbus_channel *channel);
#endif

#endif /* RVMBUS_HV_PRIVATE_H */
