// SPDX-License-Identifier: GPL-2.0
/*
 * Drivers on the vmbus bus: registration of drivers from other modules,
 * matching by class GUID, and the bus's probe, remove and PM callbacks.
 *
 * The bus serves two driver interfaces: rvmbus's own (rvmbus_api.h,
 * below) and Linux's hv_vmbus interface (struct hv_driver, ../hv/).  Each
 * bus callback first asks the hv interface whether the driver is one of
 * its own (rvmbus_hv_driver_of) and hands such a device to it.
 *
 * The driver core owns the ordering: probe, remove and the PM callbacks of
 * one device never overlap (the device lock), and driver_unregister()
 * unbinds every device before it returns, so no driver code is called once
 * its module may go.  What happens inside probe/remove/suspend/resume (the
 * callback gate, outstanding requests, closing the channel) is Rust
 * (rust_abi.rs); this file is only the driver-model plumbing (matching by
 * class GUID, the classes added through new_id) and the exported symbols
 * of rvmbus_api.h.
 */

#include <linux/module.h>
#include <linux/device.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uuid.h>
#include <linux/list.h>
#include <linux/spinlock.h>

#include "../sysfs/sysfs.h"
#include "../hv/hv_vmbus.h"
#include "rvmbus_api.h"

static_assert(sizeof(struct rvmbus_packet) == RVMBUS_PACKET_SIZE);
static_assert(sizeof(struct rvmbus_dev_info) == RVMBUS_DEV_INFO_SIZE);
static_assert(sizeof(struct rvmbus_driver_ops) == RVMBUS_DRIVER_OPS_SIZE);

/* A class GUID given to a driver through its new_id file. */
struct rvmbus_dynid {
	struct list_head node;
	guid_t class;
};

/* A registered driver. */
struct rvmbus_driver {
	struct device_driver drv;
	const struct rvmbus_driver_ops *ops;
	void *drv_ctx;
	/*
	 * The classes new_id added, in the order written.  dynids_lock (a
	 * leaf: nothing is taken under it) guards the list; match, new_id
	 * and remove_id take it, in process context.
	 */
	spinlock_t dynids_lock;
	struct list_head dynids;
};

#define to_rdrv(d) container_of_const(d, struct rvmbus_driver, drv)

/* Implemented in Rust (rust_abi.rs). */
int rvmbus_rust_probe(void *chan, const struct rvmbus_driver_ops *ops,
		      void *drv_ctx);
void rvmbus_rust_remove(void *chan);
int rvmbus_rust_suspend(void *chan);
int rvmbus_rust_resume(void *chan);

/* The new_id entry of @rdrv for @class, or NULL; dynids_lock held. */
static struct rvmbus_dynid *dynid_find(const struct rvmbus_driver *rdrv,
				       const u8 *class)
{
	struct rvmbus_dynid *d;

	list_for_each_entry(d, &rdrv->dynids, node)
		if (!memcmp(d->class.b, class, sizeof(d->class.b)))
			return d;
	return NULL;
}

int rvmbus_bus_match(struct device *dev, const struct device_driver *drv)
{
	struct rvmbus_driver *rdrv = container_of(drv, struct rvmbus_driver, drv);
	const struct rvmbus_device *rdev = to_rdev(dev);
	struct hv_driver *hdrv = rvmbus_hv_driver_of(drv);
	bool found;
	int ret;
	u32 i;

	if (hdrv)
		return rvmbus_hv_match(hdrv, &to_rdev(dev)->hv);
	/* Hyper-V socket connections are hv_sock's alone, as on hv_vmbus. */
	if (rdev->hvsock)
		return 0;
	/* driver_override, when set, decides alone. */
	ret = device_match_driver_override(dev, drv);
	if (ret >= 0)
		return ret;
	/* Drivers registered by other means (none today) match nothing. */
	if (drv->bus != &rvmbus_bus || !rdrv->ops)
		return 0;
	/* The classes new_id added, then the driver's own, as hv_vmbus. */
	spin_lock(&rdrv->dynids_lock);
	found = dynid_find(rdrv, rdev->class_id);
	spin_unlock(&rdrv->dynids_lock);
	if (found)
		return 1;
	for (i = 0; i < rdrv->ops->n_ids; i++)
		if (!memcmp(rdrv->ops->ids[i], rdev->class_id, 16))
			return 1;
	return 0;
}

/* Adds @class to @rdrv's new_id classes; -EEXIST if it has it already. */
static int rvmbus_add_dynid(struct rvmbus_driver *rdrv, const guid_t *class)
{
	struct rvmbus_dynid *d = kzalloc(sizeof(*d), GFP_KERNEL);

	if (!d)
		return -ENOMEM;
	d->class = *class;
	spin_lock(&rdrv->dynids_lock);
	if (dynid_find(rdrv, class->b)) {
		spin_unlock(&rdrv->dynids_lock);
		kfree(d);
		return -EEXIST;
	}
	list_add_tail(&d->node, &rdrv->dynids);
	spin_unlock(&rdrv->dynids_lock);
	return 0;
}

/* Removes @class from @rdrv's new_id classes; -ENODEV if it has none such. */
static int rvmbus_remove_dynid(struct rvmbus_driver *rdrv, const guid_t *class)
{
	struct rvmbus_dynid *d;

	spin_lock(&rdrv->dynids_lock);
	d = dynid_find(rdrv, class->b);
	if (d)
		list_del(&d->node);
	spin_unlock(&rdrv->dynids_lock);
	if (!d)
		return -ENODEV;
	kfree(d);
	return 0;
}

/*
 * Parses the class GUID written to new_id or remove_id and adds it to, or
 * removes it from, the driver's dynamic ids: a driver of the hv_vmbus
 * interface keeps them in its own struct hv_driver, as on hv_vmbus; a Rust
 * driver in its struct rvmbus_driver.
 */
static int rvmbus_dynid_update(struct device_driver *drv, const char *buf,
			       bool add)
{
	struct hv_driver *hdrv = rvmbus_hv_driver_of(drv);
	struct rvmbus_driver *rdrv;
	guid_t class;
	int ret;

	ret = guid_parse(buf, &class);
	if (ret)
		return ret;
	if (hdrv)
		return add ? rvmbus_hv_add_dynid(hdrv, &class) :
			     rvmbus_hv_remove_dynid(hdrv, &class);
	rdrv = container_of(drv, struct rvmbus_driver, drv);
	return add ? rvmbus_add_dynid(rdrv, &class) :
		     rvmbus_remove_dynid(rdrv, &class);
}

/*
 * new_id: the driver also takes devices of the class GUID written (as
 * hv_vmbus: the GUID's text, -EINVAL if malformed, -EEXIST if new_id has it
 * already), and is offered every device without a driver at once.
 */
static ssize_t new_id_store(struct device_driver *drv, const char *buf,
			    size_t count)
{
	int ret = rvmbus_dynid_update(drv, buf, true);

	if (ret)
		return ret;
	ret = driver_attach(drv);
	return ret ? ret : count;
}
static DRIVER_ATTR_WO(new_id);

/*
 * remove_id: forgets a class new_id added (-ENODEV if it has none such);
 * devices bound meanwhile stay bound, as in hv_vmbus.
 */
static ssize_t remove_id_store(struct device_driver *drv, const char *buf,
			       size_t count)
{
	int ret = rvmbus_dynid_update(drv, buf, false);

	return ret ? ret : count;
}
static DRIVER_ATTR_WO(remove_id);

static struct attribute *rvmbus_drv_attrs[] = {
	&driver_attr_new_id.attr,
	&driver_attr_remove_id.attr,
	NULL,
};

static const struct attribute_group rvmbus_drv_group = {
	.attrs = rvmbus_drv_attrs,
};

const struct attribute_group *rvmbus_drv_groups[] = {
	&rvmbus_drv_group,
	NULL,
};

int rvmbus_bus_probe(struct device *dev)
{
	struct hv_driver *hdrv = rvmbus_hv_driver_of(dev->driver);
	const struct rvmbus_driver *rdrv;

	if (hdrv)
		return rvmbus_hv_probe(hdrv, &to_rdev(dev)->hv, to_rdev(dev)->ctx);
	rdrv = to_rdrv(dev->driver);
	return rvmbus_rust_probe(to_rdev(dev)->ctx, rdrv->ops, rdrv->drv_ctx);
}

void rvmbus_bus_remove(struct device *dev)
{
	struct hv_driver *hdrv = rvmbus_hv_driver_of(dev->driver);

	if (hdrv)
		rvmbus_hv_remove(hdrv, &to_rdev(dev)->hv);
	else
		rvmbus_rust_remove(to_rdev(dev)->ctx);
}

/* Power-off and reboot: only hv_vmbus drivers have a shutdown callback. */
void rvmbus_bus_shutdown(struct device *dev)
{
	struct hv_driver *hdrv;

	if (!dev->driver)
		return;
	hdrv = rvmbus_hv_driver_of(dev->driver);
	if (hdrv)
		rvmbus_hv_shutdown(hdrv, &to_rdev(dev)->hv);
}

/*
 * System sleep.  rvmbus's own drivers see suspend and resume for suspend
 * to RAM and for hibernation alike; hv_vmbus drivers, as on hv_vmbus, only
 * for hibernation (freeze, poweroff; thaw, restore): suspend to RAM keeps
 * their channels as they are.
 */
static int rvmbus_pm_suspend(struct device *dev)
{
	if (!dev->driver || rvmbus_hv_driver_of(dev->driver))
		return 0;
	return rvmbus_rust_suspend(to_rdev(dev)->ctx);
}

static int rvmbus_pm_resume(struct device *dev)
{
	if (!dev->driver || rvmbus_hv_driver_of(dev->driver))
		return 0;
	return rvmbus_rust_resume(to_rdev(dev)->ctx);
}

static int rvmbus_pm_freeze(struct device *dev)
{
	struct hv_driver *hdrv;

	if (!dev->driver)
		return 0;
	hdrv = rvmbus_hv_driver_of(dev->driver);
	if (hdrv)
		return rvmbus_hv_suspend(hdrv, &to_rdev(dev)->hv);
	return rvmbus_rust_suspend(to_rdev(dev)->ctx);
}

static int rvmbus_pm_thaw(struct device *dev)
{
	struct hv_driver *hdrv;

	if (!dev->driver)
		return 0;
	hdrv = rvmbus_hv_driver_of(dev->driver);
	if (hdrv)
		return rvmbus_hv_resume(hdrv, &to_rdev(dev)->hv);
	return rvmbus_rust_resume(to_rdev(dev)->ctx);
}

const struct dev_pm_ops rvmbus_bus_pm = {
	.suspend = pm_sleep_ptr(rvmbus_pm_suspend),
	.resume = pm_sleep_ptr(rvmbus_pm_resume),
	.freeze = pm_sleep_ptr(rvmbus_pm_freeze),
	.thaw = pm_sleep_ptr(rvmbus_pm_thaw),
	.poweroff = pm_sleep_ptr(rvmbus_pm_freeze),
	.restore = pm_sleep_ptr(rvmbus_pm_thaw),
};

struct rvmbus_driver *rvmbus_driver_register(const struct rvmbus_driver_ops *ops,
					     void *drv_ctx, struct module *owner)
{
	struct rvmbus_driver *rdrv;
	int ret;

	if (!ops || !ops->name || !ops->probe || !ops->remove || !ops->packet)
		return ERR_PTR(-EINVAL);
	if (ops->api_version != RVMBUS_API_VERSION) {
		pr_err("rvmbus: driver %s speaks API version %u, this bus %u\n",
		       ops->name, ops->api_version, RVMBUS_API_VERSION);
		return ERR_PTR(-EINVAL);
	}
	if (ops->n_ids && !ops->ids)
		return ERR_PTR(-EINVAL);
	rdrv = kzalloc(sizeof(*rdrv), GFP_KERNEL);
	if (!rdrv)
		return ERR_PTR(-ENOMEM);
	rdrv->ops = ops;
	rdrv->drv_ctx = drv_ctx;
	spin_lock_init(&rdrv->dynids_lock);
	INIT_LIST_HEAD(&rdrv->dynids);
	rdrv->drv.name = ops->name;
	rdrv->drv.bus = &rvmbus_bus;
	rdrv->drv.owner = owner;
	rdrv->drv.mod_name = owner ? module_name(owner) : NULL;
	ret = driver_register(&rdrv->drv);
	if (ret) {
		kfree(rdrv);
		return ERR_PTR(ret);
	}
	pr_info("rvmbus: driver %s registered\n", ops->name);
	return rdrv;
}
EXPORT_SYMBOL_GPL(rvmbus_driver_register);

void rvmbus_driver_unregister(struct rvmbus_driver *rdrv)
{
	struct rvmbus_dynid *d, *next;

	if (IS_ERR_OR_NULL(rdrv))
		return;
	/*
	 * Unbinds every device: each remove() has returned after this, and
	 * the new_id and remove_id files are gone.
	 */
	driver_unregister(&rdrv->drv);
	list_for_each_entry_safe(d, next, &rdrv->dynids, node) {
		list_del(&d->node);
		kfree(d);
	}
	pr_info("rvmbus: driver %s unregistered\n", rdrv->ops->name);
	kfree(rdrv);
}
EXPORT_SYMBOL_GPL(rvmbus_driver_unregister);

/* Implemented in Rust (rust_abi.rs); exported here. */
EXPORT_SYMBOL_GPL(rvmbus_dev_get);
EXPORT_SYMBOL_GPL(rvmbus_dev_put);
EXPORT_SYMBOL_GPL(rvmbus_dev_info);
EXPORT_SYMBOL_GPL(rvmbus_dev_open);
EXPORT_SYMBOL_GPL(rvmbus_dev_close);
EXPORT_SYMBOL_GPL(rvmbus_dev_send);
EXPORT_SYMBOL_GPL(rvmbus_dev_request);
