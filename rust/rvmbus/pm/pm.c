// SPDX-License-Identifier: GPL-2.0
/*
 * The parent of every vmbus device, /sys/devices/rvmbus, and its
 * hibernation callbacks: the connection-wide half of freeze, thaw and
 * restore (hibernate.rs).
 *
 * The PM core freezes children before their parent and thaws or restores
 * parents first, so these callbacks run after every vmbus device's freeze
 * (the drivers' suspend) and before any vmbus device's thaw or restore (the
 * drivers' resume).  On the ivshmem transport the connection needs the PCI
 * device's MSI-X interrupts while it unloads and reconnects: a stateless
 * device link makes that device a supplier of this one, so the PM core
 * freezes it after, and restores it before, this device (an asynchronous
 * leaf such as that PCI device would otherwise be frozen first).
 *
 * Suspend to RAM (and s2idle) keep the connection and its channels open;
 * the resume only looks at the event flags and message slots once (see
 * sleep.rs).  The hibernation power-off leaves the connection as it is, as
 * Hyper-V expects.
 */

#include <linux/device.h>
#include <linux/pm.h>
#include <linux/slab.h>

#include "../sysfs/sysfs.h"

/* Implemented in Rust (hibernate.rs). */
int rvmbus_rust_hib_freeze(void);
int rvmbus_rust_hib_restore(void);
/* Implemented in Rust (sleep.rs). */
int rvmbus_rust_sleep_resume(void);

static struct device *rvmbus_pm_root;
static struct device_link *rvmbus_root_link;

static int rvmbus_root_freeze(struct device *dev)
{
	return rvmbus_rust_hib_freeze();
}

static int rvmbus_root_restore(struct device *dev)
{
	return rvmbus_rust_hib_restore();
}

/*
 * After suspend to RAM or s2idle: interrupts the host sent while the guest
 * slept are lost, so the event flags and message slots are taken once.
 */
static int rvmbus_root_resume(struct device *dev)
{
	return rvmbus_rust_sleep_resume();
}

static const struct dev_pm_ops rvmbus_root_pm = {
	.resume = rvmbus_root_resume,
	.freeze = rvmbus_root_freeze,
	.thaw = rvmbus_root_restore,
	.restore = rvmbus_root_restore,
};

static const struct device_type rvmbus_root_type = {
	.name = "rvmbus_root",
	.pm = &rvmbus_root_pm,
};

static void rvmbus_root_release(struct device *dev)
{
	kfree(dev);
}

/*
 * Registers /sys/devices/rvmbus.  The type (and so its PM callbacks) must be
 * set before device_add(): the PM core decides then whether the device has
 * callbacks at all.
 */
struct device *rvmbus_root_register(void)
{
	struct device *dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	int ret;

	if (!dev)
		return ERR_PTR(-ENOMEM);
	device_initialize(dev);
	dev->type = &rvmbus_root_type;
	dev->release = rvmbus_root_release;
	ret = dev_set_name(dev, "rvmbus");
	if (!ret)
		ret = device_add(dev);
	if (ret) {
		put_device(dev);
		return ERR_PTR(ret);
	}
	rvmbus_pm_root = dev;
	return dev;
}

void rvmbus_root_unregister(struct device *dev)
{
	rvmbus_pm_unlink();
	rvmbus_pm_root = NULL;
	device_unregister(dev);
	/*
	 * A deleted device link drops its reference to the root from the
	 * driver core's devlink workqueue, later; the last reference runs
	 * rvmbus_root_release(), which is this module's code.  Wait for that
	 * work here, before the module can go away.
	 */
	device_link_wait_removal();
}

/* Makes @supplier (the ivshmem PCI device) a PM supplier of the root. */
int rvmbus_pm_link(struct device *supplier)
{
	struct device_link *l;

	if (!rvmbus_pm_root || !supplier)
		return -ENODEV;
	rvmbus_pm_unlink();
	l = device_link_add(rvmbus_pm_root, supplier, DL_FLAG_STATELESS);
	if (!l)
		return -EINVAL;
	rvmbus_root_link = l;
	return 0;
}

void rvmbus_pm_unlink(void)
{
	if (rvmbus_root_link)
		device_link_del(rvmbus_root_link);
	rvmbus_root_link = NULL;
}
