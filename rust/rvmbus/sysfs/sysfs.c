// SPDX-License-Identifier: GPL-2.0
/*
 * The VMBus bus in sysfs: bus type "vmbus", one device per primary channel
 * offer (named after its instance GUID, as Linux's hv_vmbus names them),
 * a channels/<relid>/ directory per channel, and the files of Linux 7.3's
 * hv_vmbus with the same modes, visibility and formats
 * (Documentation/ABI/stable/sysfs-bus-vmbus; tests/abi/ holds the tree to
 * it).  new_id and remove_id of the drivers' directories are driver.c's.
 * Also the debugfs control file used by the tests.
 *
 * This file holds only structures and formatting (and hands the one
 * writable attribute, channels/<relid>/cpu, to Rust).  Every value comes from a
 * snapshot that the Rust side fills (rvmbus_rust_chan_info()); the opaque
 * context pointer of a device or channel directory is a reference that the
 * Rust side took for us and that we give back in the release callback, so
 * a show() that races with removal still reads a live channel.  The
 * context is set before the files appear, so no show() or is_visible()
 * ever sees it missing.
 */

#include <linux/module.h>
#include <linux/device.h>
#include <linux/kobject.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/debugfs.h>
#include <linux/mutex.h>
#include <linux/uuid.h>
#include <linux/fs.h>
#include <linux/cpu.h>
#include <linux/dma-mapping.h>
#include <linux/pci_ids.h>
#include <asm/mshyperv.h>

#include "sysfs.h"

static_assert(sizeof(struct rvmbus_chan_info) == RVMBUS_CHAN_INFO_SIZE);

struct rvmbus_chan_kobj {
	struct kobject kobj;
	void *ctx;
};

/*
 * The channels whose "ring" file a driver asked for (hv_create_ring_sysfs(),
 * hv/ring_mem.c), each by its directory's context: the file shows while
 * the channel is listed, also in a directory made after the driver asked
 * (uio_hv_generic asks in its probe, before the bus device's channels/
 * exist).  ring_files_lock guards the list, for any reader (the file's
 * visibility, size and mmap()); ring_dirs_lock serialises the changes of
 * the list with the making and deleting of channel directories, and is
 * never held by a reader, so hiding a file (which waits for an mmap() of
 * it in progress) cannot wait for itself.
 */
struct rvmbus_ring_file {
	struct list_head node;
	const void *key;
	struct vmbus_channel *chan;
};

static LIST_HEAD(ring_files);
static DEFINE_SPINLOCK(ring_files_lock);
static DEFINE_MUTEX(ring_dirs_lock);

static struct device *rvmbus_root;

static int rdev_info(struct device *dev, struct rvmbus_chan_info *ci)
{
	return rvmbus_rust_chan_info(to_rdev(dev)->ctx, ci);
}

/* The snapshot, for ring fields: -EINVAL unless the channel is open. */
static int rdev_ring_info(struct device *dev, struct rvmbus_chan_info *ci)
{
	int ret = rdev_info(dev, ci);

	if (ret)
		return ret;
	return ci->is_open ? 0 : -EINVAL;
}

/*
 * A device attribute that prints fields of the snapshot _get takes.  Each
 * format is the one Linux's hv_vmbus prints the value with (%d for some
 * unsigned values: the same digits until bit 31 is set, and then the same
 * negative number).
 */
#define RDEV_ATTR_FROM(_name, _get, _fmt, ...)				\
static ssize_t _name##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct rvmbus_chan_info ci;					\
	int ret = _get(dev, &ci);					\
									\
	if (ret)							\
		return ret;						\
	return sysfs_emit(buf, _fmt "\n", __VA_ARGS__);		\
}									\
static DEVICE_ATTR_RO(_name)

#define RDEV_ATTR(_name, _fmt, ...)					\
	RDEV_ATTR_FROM(_name, rdev_info, _fmt, __VA_ARGS__)
#define RDEV_RING_ATTR(_name, _fmt, _val)				\
	RDEV_ATTR_FROM(_name, rdev_ring_info, _fmt, _val)

RDEV_ATTR(id, "%d", (int)ci.relid);
RDEV_ATTR(state, "%d", (int)ci.state);
RDEV_ATTR(monitor_id, "%d", (int)ci.monitor_id);
RDEV_ATTR(class_id, "{%pUl}", ci.class_id);
RDEV_ATTR(device_id, "{%pUl}", ci.instance_id);
/* "vmbus:" and the class GUID's 16 bytes in hex, as hv_vmbus prints it. */
RDEV_ATTR(modalias, "vmbus:%*phN", 16, ci.class_id);
RDEV_ATTR(numa_node, "%d", ci.numa_node);
RDEV_ATTR(server_monitor_pending, "%d", (int)ci.server.pending);
RDEV_ATTR(client_monitor_pending, "%d", (int)ci.client.pending);
RDEV_ATTR(server_monitor_latency, "%d", (int)ci.server.latency);
RDEV_ATTR(client_monitor_latency, "%d", (int)ci.client.latency);
RDEV_ATTR(server_monitor_conn_id, "%d", (int)ci.server.conn_id);
RDEV_ATTR(client_monitor_conn_id, "%d", (int)ci.client.conn_id);
RDEV_RING_ATTR(out_intr_mask, "%d", (int)ci.out.intr_mask);
RDEV_RING_ATTR(out_read_index, "%u", ci.out.read_index);
RDEV_RING_ATTR(out_write_index, "%u", ci.out.write_index);
RDEV_RING_ATTR(out_read_bytes_avail, "%d", (int)ci.out.read_avail);
RDEV_RING_ATTR(out_write_bytes_avail, "%d", (int)ci.out.write_avail);
RDEV_RING_ATTR(in_intr_mask, "%d", (int)ci.in.intr_mask);
RDEV_RING_ATTR(in_read_index, "%d", (int)ci.in.read_index);
RDEV_RING_ATTR(in_write_index, "%d", (int)ci.in.write_index);
RDEV_RING_ATTR(in_read_bytes_avail, "%d", (int)ci.in.read_avail);
RDEV_RING_ATTR(in_write_bytes_avail, "%d", (int)ci.in.write_avail);
/* Microsoft's PCI vendor id, as hv_vmbus gives every device. */
RDEV_ATTR(vendor, "0x%x", 0x1414);
/* The class's index in Linux's vmbus_devs table (hv_get_dev_type). */
RDEV_ATTR(device, "0x%x", ci.dev_type);

static ssize_t channel_vp_mapping_show(struct device *dev,
				       struct device_attribute *attr, char *buf)
{
	return rvmbus_rust_vp_mapping(to_rdev(dev)->ctx, buf, PAGE_SIZE);
}
static DEVICE_ATTR_RO(channel_vp_mapping);

static struct attribute *rvmbus_dev_attrs[] = {
	&dev_attr_id.attr,
	&dev_attr_state.attr,
	&dev_attr_monitor_id.attr,
	&dev_attr_class_id.attr,
	&dev_attr_device_id.attr,
	&dev_attr_modalias.attr,
	&dev_attr_numa_node.attr,
	&dev_attr_server_monitor_pending.attr,
	&dev_attr_client_monitor_pending.attr,
	&dev_attr_server_monitor_latency.attr,
	&dev_attr_client_monitor_latency.attr,
	&dev_attr_server_monitor_conn_id.attr,
	&dev_attr_client_monitor_conn_id.attr,
	&dev_attr_out_intr_mask.attr,
	&dev_attr_out_read_index.attr,
	&dev_attr_out_write_index.attr,
	&dev_attr_out_read_bytes_avail.attr,
	&dev_attr_out_write_bytes_avail.attr,
	&dev_attr_in_intr_mask.attr,
	&dev_attr_in_read_index.attr,
	&dev_attr_in_write_index.attr,
	&dev_attr_in_read_bytes_avail.attr,
	&dev_attr_in_write_bytes_avail.attr,
	&dev_attr_channel_vp_mapping.attr,
	&dev_attr_vendor.attr,
	&dev_attr_device.attr,
	NULL,
};

/*
 * The monitor attributes are there only for a channel whose offer has a
 * monitor id, as hv_vmbus shows them.  The device's context is set before
 * device_add() creates the files, so it is there to ask.
 */
static umode_t rvmbus_dev_attr_is_visible(struct kobject *kobj,
					  struct attribute *attr, int idx)
{
	struct device *dev = kobj_to_dev(kobj);
	bool monitor_attr = attr == &dev_attr_monitor_id.attr ||
			    attr == &dev_attr_server_monitor_pending.attr ||
			    attr == &dev_attr_client_monitor_pending.attr ||
			    attr == &dev_attr_server_monitor_latency.attr ||
			    attr == &dev_attr_client_monitor_latency.attr ||
			    attr == &dev_attr_server_monitor_conn_id.attr ||
			    attr == &dev_attr_client_monitor_conn_id.attr;

	if (monitor_attr && !rvmbus_rust_chan_monitored(to_rdev(dev)->ctx))
		return 0;
	return attr->mode;
}

static const struct attribute_group rvmbus_dev_group = {
	.attrs = rvmbus_dev_attrs,
	.is_visible = rvmbus_dev_attr_is_visible,
};
__ATTRIBUTE_GROUPS(rvmbus_dev);

/* MODALIAS only, as hv_vmbus's uevent. */
static int rvmbus_uevent(const struct device *dev, struct kobj_uevent_env *env)
{
	const struct rvmbus_device *rdev = container_of_const(dev, struct rvmbus_device, hv.device);

	return add_uevent_var(env, "MODALIAS=vmbus:%*phN", 16, rdev->class_id);
}

/* Whether the platform can hibernate, as hv_vmbus tells it. */
static ssize_t hibernation_show(const struct bus_type *bus, char *buf)
{
	return sysfs_emit(buf, "%d\n", !!hv_is_hibernation_supported());
}
static BUS_ATTR_RO(hibernation);

static struct attribute *rvmbus_bus_attrs[] = {
	&bus_attr_hibernation.attr,
	NULL,
};
ATTRIBUTE_GROUPS(rvmbus_bus);

const struct bus_type rvmbus_bus = {
	.name = "vmbus",
	.match = rvmbus_bus_match,
	.probe = rvmbus_bus_probe,
	.remove = rvmbus_bus_remove,
	.shutdown = rvmbus_bus_shutdown,
	.pm = &rvmbus_bus_pm,
	.uevent = rvmbus_uevent,
	.dev_groups = rvmbus_dev_groups,
	.drv_groups = rvmbus_drv_groups,
	.bus_groups = rvmbus_bus_groups,
	/* The driver core provides the driver_override attribute. */
	.driver_override = true,
};

int rvmbus_sysfs_bus_register(void)
{
	int ret = bus_register(&rvmbus_bus);

	if (ret)
		return ret;
	rvmbus_root = rvmbus_root_register();
	if (IS_ERR(rvmbus_root)) {
		ret = PTR_ERR(rvmbus_root);
		rvmbus_root = NULL;
		bus_unregister(&rvmbus_bus);
		return ret;
	}
	return 0;
}

void rvmbus_sysfs_bus_unregister(void)
{
	if (rvmbus_root)
		rvmbus_root_unregister(rvmbus_root);
	rvmbus_root = NULL;
	bus_unregister(&rvmbus_bus);
}

static void rvmbus_device_release(struct device *dev)
{
	struct rvmbus_device *rdev = to_rdev(dev);

	if (rdev->ctx)
		rvmbus_rust_ctx_put(rdev->ctx);
	kfree(rdev);
}

/*
 * Adds the device of a primary channel.  On success the device owns the
 * reference @ctx; on failure the caller keeps it.  @dev_type is Linux's
 * device type of the offer (enum vmbus_device_type), which Rust works out
 * (bus/classes.rs, linux_dev_type()); it indexes vmbus_devs, so a value
 * past HV_UNKNOWN counts as HV_UNKNOWN.
 */
struct rvmbus_device *rvmbus_sysfs_device_add(void *ctx, const u8 *class_id,
					      const u8 *instance, bool hvsock,
					      u16 dev_type)
{
	struct rvmbus_device *rdev;
	int ret;

	rdev = kzalloc(sizeof(*rdev), GFP_KERNEL);
	if (!rdev)
		return ERR_PTR(-ENOMEM);
	device_initialize(&rdev->hv.device);
	rdev->hv.device.release = rvmbus_device_release;
	rdev->hv.device.bus = &rvmbus_bus;
	rdev->hv.device.parent = rvmbus_root;
	ret = dev_set_name(&rdev->hv.device, "%pUl", instance);
	if (ret) {
		put_device(&rdev->hv.device);
		return ERR_PTR(ret);
	}
	memcpy(rdev->class_id, class_id, sizeof(rdev->class_id));
	rdev->hvsock = hvsock;
	/* struct hv_device as hv_vmbus fills it (vmbus_device_create/_register). */
	memcpy(&rdev->hv.dev_type, class_id, sizeof(rdev->hv.dev_type));
	memcpy(&rdev->hv.dev_instance, instance, sizeof(rdev->hv.dev_instance));
	rdev->hv.device_id = min_t(u16, dev_type, HV_UNKNOWN);
	rdev->hv.vendor_id = PCI_VENDOR_ID_MICROSOFT;
	rdev->hv.dma_mask = DMA_BIT_MASK(64);
	rdev->hv.device.dma_parms = &rdev->hv.dma_parms;
	rdev->hv.device.dma_mask = &rdev->hv.dma_mask;
	/* The add uevent and the attributes need the context already. */
	rdev->ctx = ctx;
	ret = device_add(&rdev->hv.device);
	if (ret) {
		/* Nobody else holds the device: the caller keeps @ctx. */
		rdev->ctx = NULL;
		put_device(&rdev->hv.device);
		return ERR_PTR(ret);
	}
	mutex_lock(&ring_dirs_lock);
	rdev->channels = kset_create_and_add("channels", NULL, &rdev->hv.device.kobj);
	if (!rdev->channels)
		dev_warn(&rdev->hv.device, "no memory for the channels directory\n");
	rdev->hv.channels_kset = rdev->channels;
	mutex_unlock(&ring_dirs_lock);
	return rdev;
}

void rvmbus_sysfs_device_del(struct rvmbus_device *rdev)
{
	mutex_lock(&ring_dirs_lock);
	if (rdev->channels)
		kset_unregister(rdev->channels);
	rdev->channels = NULL;
	rdev->hv.channels_kset = NULL;
	mutex_unlock(&ring_dirs_lock);
	device_unregister(&rdev->hv.device);
}

#define to_ck(k) container_of(k, struct rvmbus_chan_kobj, kobj)

struct chan_attribute {
	struct attribute attr;
	ssize_t (*show)(const struct rvmbus_chan_info *ci, char *buf);
	ssize_t (*store)(void *ctx, const char *buf, size_t count);
};

static ssize_t chan_attr_show(struct kobject *kobj, struct attribute *attr,
			      char *buf)
{
	struct chan_attribute *ca = container_of(attr, struct chan_attribute, attr);
	struct rvmbus_chan_info ci;
	int ret = rvmbus_rust_chan_info(to_ck(kobj)->ctx, &ci);

	if (ret)
		return ret;
	return ca->show(&ci, buf);
}

static ssize_t chan_attr_store(struct kobject *kobj, struct attribute *attr,
			       const char *buf, size_t count)
{
	struct chan_attribute *ca = container_of(attr, struct chan_attribute, attr);

	if (!ca->store)
		return -EIO;
	return ca->store(to_ck(kobj)->ctx, buf, count);
}

static const struct sysfs_ops chan_sysfs_ops = {
	.show = chan_attr_show,
	.store = chan_attr_store,
};

/* A channel attribute printing _expr of the snapshot as hv_vmbus does. */
#define CHAN_ATTR(_name, _fmt, _expr)					\
static ssize_t chan_##_name##_show(const struct rvmbus_chan_info *ci,	\
				   char *buf)				\
{									\
	return sysfs_emit(buf, _fmt "\n", _expr);			\
}									\
static struct chan_attribute chan_attr_##_name = {			\
	.attr = { .name = __stringify(_name), .mode = 0444 },		\
	.show = chan_##_name##_show,					\
}

/* The same for a ring field: -EINVAL while the channel is closed. */
#define CHAN_RING_ATTR(_name, _expr)					\
static ssize_t chan_##_name##_show(const struct rvmbus_chan_info *ci,	\
				   char *buf)				\
{									\
	if (!ci->is_open)						\
		return -EINVAL;						\
	return sysfs_emit(buf, "%u\n", _expr);				\
}									\
static struct chan_attribute chan_attr_##_name = {			\
	.attr = { .name = __stringify(_name), .mode = 0444 },		\
	.show = chan_##_name##_show,					\
}

/*
 * cpu is writable, as in hv_vmbus: the Rust side moves the channel's
 * interrupts (Connection::set_target_cpu).  CPUs stay online meanwhile.
 */
static ssize_t chan_cpu_show(const struct rvmbus_chan_info *ci, char *buf)
{
	return sysfs_emit(buf, "%u\n", ci->target_cpu);
}

static ssize_t chan_cpu_store(void *ctx, const char *buf, size_t count)
{
	int ret;

	cpus_read_lock();
	ret = rvmbus_rust_chan_set_cpu(ctx, buf, count);
	cpus_read_unlock();
	return ret ? ret : count;
}

static struct chan_attribute chan_attr_cpu = {
	.attr = { .name = "cpu", .mode = 0644 },
	.show = chan_cpu_show,
	.store = chan_cpu_store,
};
/* The guest -> host monitor page, as hv_vmbus reads it for these two. */
CHAN_ATTR(latency, "%d", (int)ci->client.latency);
CHAN_ATTR(pending, "%d", (int)ci->client.pending);
CHAN_ATTR(events, "%llu", ci->events);
CHAN_ATTR(interrupts, "%llu", ci->interrupts);
CHAN_ATTR(subchannel_id, "%u", ci->subchannel_id);
CHAN_ATTR(monitor_id, "%u", ci->monitor_id);
CHAN_ATTR(intr_in_full, "%llu", ci->intr_in_full);
CHAN_ATTR(intr_out_empty, "%llu", ci->intr_out_empty);
CHAN_ATTR(out_full_first, "%llu", ci->out_full_first);
CHAN_ATTR(out_full_total, "%llu", ci->out_full_total);
CHAN_RING_ATTR(in_mask, ci->in.intr_mask);
CHAN_RING_ATTR(out_mask, ci->out.intr_mask);
CHAN_RING_ATTR(read_avail, ci->in.read_avail);
CHAN_RING_ATTR(write_avail, ci->out.write_avail);

static struct attribute *chan_attrs[] = {
	&chan_attr_cpu.attr,
	&chan_attr_in_mask.attr,
	&chan_attr_out_mask.attr,
	&chan_attr_latency.attr,
	&chan_attr_pending.attr,
	&chan_attr_read_avail.attr,
	&chan_attr_write_avail.attr,
	&chan_attr_events.attr,
	&chan_attr_interrupts.attr,
	&chan_attr_subchannel_id.attr,
	&chan_attr_monitor_id.attr,
	&chan_attr_intr_in_full.attr,
	&chan_attr_intr_out_empty.attr,
	&chan_attr_out_full_first.attr,
	&chan_attr_out_full_total.attr,
	NULL,
};

/* The listed channel of the directory with context @key; the lock held. */
static struct rvmbus_ring_file *ring_file_find(const void *key)
{
	struct rvmbus_ring_file *f;

	list_for_each_entry(f, &ring_files, node)
		if (f->key == key)
			return f;
	return NULL;
}

/*
 * The channel whose ring the directory's "ring" file maps, or NULL.  It
 * stays valid while the file is shown: its driver hides the file before
 * the channel is freed, which waits for the file's users.
 */
static struct vmbus_channel *ring_chan_of(struct kobject *kobj)
{
	struct rvmbus_ring_file *f;
	struct vmbus_channel *c;

	spin_lock(&ring_files_lock);
	f = ring_file_find(to_ck(kobj)->ctx);
	c = f ? f->chan : NULL;
	spin_unlock(&ring_files_lock);
	return c;
}

/* mmap() of "ring": the driver's mmap_prepare, as hv_vmbus calls it. */
static int chan_ring_mmap(struct file *filp, struct kobject *kobj,
			  const struct bin_attribute *attr,
			  struct vm_area_struct *vma)
{
	struct vmbus_channel *c = ring_chan_of(kobj);
	int (*prep)(struct vmbus_channel *c, struct vm_area_desc *desc);
	struct vm_area_desc desc;
	int ret;

	prep = c ? READ_ONCE(c->mmap_prepare_ring_buffer) : NULL;
	if (!prep)
		return -ENODEV;
	compat_set_desc_from_vma(&desc, filp, vma);
	ret = prep(c, &desc);
	if (ret)
		return ret;
	return __compat_vma_mmap(&desc, vma);
}

static const struct bin_attribute chan_attr_ring = {
	.attr = { .name = "ring", .mode = 0600 },
	.mmap = chan_ring_mmap,
};

static const struct bin_attribute *const chan_bin_attrs[] = {
	&chan_attr_ring,
	NULL,
};

static umode_t chan_bin_attr_is_visible(struct kobject *kobj,
					const struct bin_attribute *attr,
					int idx)
{
	return ring_chan_of(kobj) ? attr->attr.mode : 0;
}

/* Both rings, control pages included, as hv_vmbus sizes the file. */
static size_t chan_bin_size(struct kobject *kobj,
			    const struct bin_attribute *attr, int idx)
{
	struct vmbus_channel *c = ring_chan_of(kobj);

	return c ? (size_t)c->ringbuffer_pagecount << PAGE_SHIFT : 0;
}

/*
 * As for the device: the monitor attributes only for a channel with a
 * monitor id.  The directory's context is set before kobject_add() creates
 * the files.  "ring" shows only while a driver asked for it.
 */
static umode_t chan_attr_is_visible(struct kobject *kobj,
				    struct attribute *attr, int idx)
{
	bool monitor_attr = attr == &chan_attr_latency.attr ||
			    attr == &chan_attr_pending.attr ||
			    attr == &chan_attr_monitor_id.attr;

	if (monitor_attr && !rvmbus_rust_chan_monitored(to_ck(kobj)->ctx))
		return 0;
	return attr->mode;
}

static const struct attribute_group chan_group = {
	.attrs = chan_attrs,
	.bin_attrs = chan_bin_attrs,
	.is_visible = chan_attr_is_visible,
	.is_bin_visible = chan_bin_attr_is_visible,
	.bin_size = chan_bin_size,
};
__ATTRIBUTE_GROUPS(chan);

static void chan_release(struct kobject *kobj)
{
	struct rvmbus_chan_kobj *ck = to_ck(kobj);

	if (ck->ctx)
		rvmbus_rust_ctx_put(ck->ctx);
	kfree(ck);
}

static const struct kobj_type chan_ktype = {
	.sysfs_ops = &chan_sysfs_ops,
	.release = chan_release,
	.default_groups = chan_groups,
};

/*
 * Adds channels/<relid>/ under a device.  On success the directory owns the
 * reference @ctx; on failure the caller keeps it.
 */
struct rvmbus_chan_kobj *rvmbus_sysfs_channel_add(struct rvmbus_device *rdev,
						  void *ctx, u32 relid)
{
	struct rvmbus_chan_kobj *ck;
	int ret;

	if (!rdev->channels)
		return ERR_PTR(-ENODEV);
	ck = kzalloc(sizeof(*ck), GFP_KERNEL);
	if (!ck)
		return ERR_PTR(-ENOMEM);
	/*
	 * The files appear inside kobject_init_and_add(), and a show() or
	 * is_visible() may run at once: the context must be there before.
	 */
	ck->ctx = ctx;
	ck->kobj.kset = rdev->channels;
	mutex_lock(&ring_dirs_lock);
	ret = kobject_init_and_add(&ck->kobj, &chan_ktype, &rdev->channels->kobj,
				   "%u", relid);
	mutex_unlock(&ring_dirs_lock);
	if (ret) {
		/*
		 * Failed adds remove what they created, and kernfs waits for
		 * any show() running: nobody uses @ctx now, and the caller
		 * keeps it.
		 */
		ck->ctx = NULL;
		kobject_put(&ck->kobj);
		return ERR_PTR(ret);
	}
	kobject_uevent(&ck->kobj, KOBJ_ADD);
	return ck;
}

void rvmbus_sysfs_channel_del(struct rvmbus_chan_kobj *ck)
{
	mutex_lock(&ring_dirs_lock);
	kobject_del(&ck->kobj);
	mutex_unlock(&ring_dirs_lock);
	kobject_put(&ck->kobj);
}

/*
 * Shows or hides the "ring" file of channel @relid of @rdev, if its
 * directory exists; ring_dirs_lock held.
 */
static int ring_dir_update(struct rvmbus_device *rdev, u32 relid)
{
	struct kobject *dir;
	char name[11];
	int ret;

	if (!rdev->channels)
		return 0;
	snprintf(name, sizeof(name), "%u", relid);
	dir = kset_find_obj(rdev->channels, name);
	/* Made later, with the file shown then. */
	if (!dir)
		return 0;
	ret = sysfs_update_group(dir, &chan_group);
	kobject_put(dir);
	return ret;
}

int rvmbus_sysfs_ring_show(struct hv_device *hdev, const void *key,
			   struct vmbus_channel *c)
{
	struct rvmbus_ring_file *f = kzalloc(sizeof(*f), GFP_KERNEL);
	int ret;

	if (!f)
		return -ENOMEM;
	f->key = key;
	f->chan = c;
	mutex_lock(&ring_dirs_lock);
	spin_lock(&ring_files_lock);
	if (ring_file_find(key)) {
		spin_unlock(&ring_files_lock);
		mutex_unlock(&ring_dirs_lock);
		kfree(f);
		return 0;
	}
	list_add_tail(&f->node, &ring_files);
	spin_unlock(&ring_files_lock);
	ret = ring_dir_update(to_rdev(&hdev->device), c->offermsg.child_relid);
	mutex_unlock(&ring_dirs_lock);
	return ret;
}

int rvmbus_sysfs_ring_hide(struct hv_device *hdev, const void *key,
			   struct vmbus_channel *c)
{
	struct rvmbus_ring_file *f;
	int ret = 0;

	mutex_lock(&ring_dirs_lock);
	spin_lock(&ring_files_lock);
	f = ring_file_find(key);
	if (f)
		list_del(&f->node);
	spin_unlock(&ring_files_lock);
	/* Removing the file waits for an mmap() of it in progress. */
	if (f)
		ret = ring_dir_update(to_rdev(&hdev->device), c->offermsg.child_relid);
	mutex_unlock(&ring_dirs_lock);
	kfree(f);
	return ret;
}

/*
 * debugfs: rvmbus/ctl takes one command per write and keeps its answer for
 * the next read (see ctl.rs for the commands).
 */
static struct dentry *rvmbus_debugfs;
static DEFINE_MUTEX(ctl_lock);
static char ctl_answer[4096];
static size_t ctl_answer_len;

static ssize_t ctl_write(struct file *f, const char __user *ubuf, size_t len,
			 loff_t *pos)
{
	char cmd[256];
	ssize_t n;

	if (len == 0 || len >= sizeof(cmd))
		return -EINVAL;
	if (copy_from_user(cmd, ubuf, len))
		return -EFAULT;
	cmd[len] = 0;
	mutex_lock(&ctl_lock);
	n = rvmbus_rust_ctl(cmd, len, ctl_answer, sizeof(ctl_answer));
	ctl_answer_len = n < 0 ? 0 : min_t(size_t, n, sizeof(ctl_answer));
	mutex_unlock(&ctl_lock);
	return n < 0 ? n : len;
}

static ssize_t ctl_read(struct file *f, char __user *ubuf, size_t len,
			loff_t *pos)
{
	ssize_t n;

	mutex_lock(&ctl_lock);
	n = simple_read_from_buffer(ubuf, len, pos, ctl_answer, ctl_answer_len);
	mutex_unlock(&ctl_lock);
	return n;
}

static const struct file_operations ctl_fops = {
	.owner = THIS_MODULE,
	.write = ctl_write,
	.read = ctl_read,
	.llseek = default_llseek,
};

int rvmbus_sysfs_debugfs_init(void)
{
	rvmbus_debugfs = debugfs_create_dir("rvmbus", NULL);
	if (IS_ERR(rvmbus_debugfs))
		return PTR_ERR(rvmbus_debugfs);
	debugfs_create_file("ctl", 0600, rvmbus_debugfs, NULL, &ctl_fops);
	return 0;
}

void rvmbus_sysfs_debugfs_exit(void)
{
	debugfs_remove_recursive(rvmbus_debugfs);
	rvmbus_debugfs = NULL;
}
