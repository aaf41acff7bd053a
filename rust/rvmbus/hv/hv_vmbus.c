// SPDX-License-Identifier: GPL-2.0
/*
 * The hv_vmbus driver interface, C half: Linux's own VMBus drivers
 * (struct hv_driver) registered on rvmbus's bus, the kernel's struct
 * hv_device and struct vmbus_channel for each device they bind to, the
 * table of device types (vmbus_devs), and the channel's send and receive,
 * exported under hv_vmbus's names, which retarget.h turns into their
 * rvmbus_hv_ twins where hv_vmbus is built in (hv_vmbus.h says how the
 * work is split with Rust; open and close are ring_mem.c's).
 *
 * Lifetimes.  A bus device's struct hv_device lives as long as the device
 * (it is part of struct rvmbus_device, sysfs.h).  Its struct vmbus_channel
 * is allocated here when a driver of this interface binds and freed when
 * it is unbound, after the driver's remove() has returned and the binding
 * has been told (rvmbus_hv_rust_unbind), which closes the channel if the
 * driver left it open: from then on no callback runs and Rust never
 * touches the structure again.
 *
 * Contexts.  Registration, probe, remove, open and close run in process
 * context and may sleep: each says might_sleep() so a caller in atomic
 * context is caught by the debug kernel.  Send and receive never sleep,
 * as on hv_vmbus: the channel callback calls them in softirq (the
 * channel's tasklet) or, for HV_CALL_ISR, in the interrupt handler.
 */

/* First: where it renames, the kernel's prototypes below are renamed too. */
#include "retarget.h"

#include <linux/module.h>
#include <linux/atomic.h>
#include <linux/device.h>
#include <linux/hyperv.h>
#include <linux/interrupt.h>
#include <linux/list.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "../sysfs/sysfs.h"
#include "hv_private.h"
#include "hv_vmbus.h"

static_assert(sizeof(struct rvmbus_hv_offer) == RVMBUS_HV_OFFER_SIZE);

/* The channel a bound driver gets, and the Rust binding behind it. */
struct rvmbus_hv_chan {
	struct vmbus_channel chan;
	void *binding;		/* a reference, given back when this is freed */
	bool sealed;		/* a primary being unbound: no new sub-channels */
};

#define to_hc(c) container_of(c, struct rvmbus_hv_chan, chan)

/* Channel structures allocated and not freed yet, for the unregister log. */
static atomic_t rvmbus_hv_chans = ATOMIC_INIT(0);

/* ---- Registered drivers ------------------------------------------------ */

/*
 * The bus serves two kinds of driver (this interface's and rvmbus's own
 * rvmbus_api.h), and a struct device_driver does not say which it is
 * embedded in: the hv_drivers registered here are listed.
 */
struct rvmbus_hv_reg {
	struct list_head node;
	struct hv_driver *drv;
};

/*
 * A class written to an hv_driver's new_id, on its dynids list (hv_vmbus
 * keeps an entry of this shape in the same list; the list is only ever
 * walked here).
 */
struct rvmbus_hv_dynid {
	struct list_head node;
	struct hv_vmbus_device_id id;
};

static LIST_HEAD(rvmbus_hv_drivers);
static DEFINE_SPINLOCK(rvmbus_hv_drivers_lock);

struct hv_driver *rvmbus_hv_driver_of(const struct device_driver *drv)
{
	struct hv_driver *found = NULL;
	struct rvmbus_hv_reg *r;

	spin_lock(&rvmbus_hv_drivers_lock);
	list_for_each_entry(r, &rvmbus_hv_drivers, node) {
		if (&r->drv->driver == drv) {
			found = r->drv;
			break;
		}
	}
	spin_unlock(&rvmbus_hv_drivers_lock);
	return found;
}

static void rvmbus_hv_unlist(struct hv_driver *drv)
{
	struct rvmbus_hv_reg *r, *found = NULL;

	spin_lock(&rvmbus_hv_drivers_lock);
	list_for_each_entry(r, &rvmbus_hv_drivers, node) {
		if (r->drv == drv) {
			list_del(&r->node);
			found = r;
			break;
		}
	}
	spin_unlock(&rvmbus_hv_drivers_lock);
	kfree(found);
}

int __vmbus_driver_register(struct hv_driver *hv_driver,
			    struct module *owner, const char *mod_name)
{
	struct rvmbus_hv_reg *r;
	int ret;

	if (!hv_driver || !hv_driver->name)
		return -EINVAL;
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	pr_info("rvmbus: registering hv_vmbus driver %s\n", hv_driver->name);
	hv_driver->driver.name = hv_driver->name;
	hv_driver->driver.owner = owner;
	hv_driver->driver.mod_name = mod_name;
	hv_driver->driver.bus = &rvmbus_bus;
	/* The classes written to new_id (drivers/driver.c), as hv_vmbus keeps them. */
	spin_lock_init(&hv_driver->dynids.lock);
	INIT_LIST_HEAD(&hv_driver->dynids.list);
	/* Listed first: driver_register() matches it against every device. */
	r->drv = hv_driver;
	spin_lock(&rvmbus_hv_drivers_lock);
	list_add_tail(&r->node, &rvmbus_hv_drivers);
	spin_unlock(&rvmbus_hv_drivers_lock);
	ret = driver_register(&hv_driver->driver);
	if (ret)
		rvmbus_hv_unlist(hv_driver);
	return ret;
}
EXPORT_SYMBOL_GPL(__vmbus_driver_register);

void vmbus_driver_unregister(struct hv_driver *hv_driver)
{
	struct rvmbus_hv_dynid *d, *next;

	pr_info("rvmbus: unregistering hv_vmbus driver %s\n", hv_driver->name);
	/*
	 * Unbinds every device: each remove() has returned after this, and
	 * the new_id and remove_id files are gone.
	 */
	driver_unregister(&hv_driver->driver);
	rvmbus_hv_unlist(hv_driver);
	spin_lock(&hv_driver->dynids.lock);
	list_for_each_entry_safe(d, next, &hv_driver->dynids.list, node) {
		list_del(&d->node);
		kfree(d);
	}
	spin_unlock(&hv_driver->dynids.lock);
	pr_info("rvmbus: hv_vmbus driver %s unregistered; %d channel structures of hv_vmbus drivers left\n",
		hv_driver->name, atomic_read(&rvmbus_hv_chans));
}
EXPORT_SYMBOL_GPL(vmbus_driver_unregister);

/* ---- Matching and the bus callbacks ------------------------------------ */

/* What a driver bound through driver_override alone is given as its id. */
static const struct hv_vmbus_device_id rvmbus_hv_null_id;

/* The new_id entry of @drv for @guid, or NULL; the dynids lock held. */
static struct rvmbus_hv_dynid *rvmbus_hv_dynid_find(struct hv_driver *drv,
						const guid_t *guid)
{
	struct rvmbus_hv_dynid *d;

	list_for_each_entry(d, &drv->dynids.list, node)
		if (guid_equal(&d->id.guid, guid))
			return d;
	return NULL;
}

int rvmbus_hv_add_dynid(struct hv_driver *drv, const guid_t *guid)
{
	struct rvmbus_hv_dynid *d = kzalloc(sizeof(*d), GFP_KERNEL);

	if (!d)
		return -ENOMEM;
	d->id.guid = *guid;
	spin_lock(&drv->dynids.lock);
	if (rvmbus_hv_dynid_find(drv, guid)) {
		spin_unlock(&drv->dynids.lock);
		kfree(d);
		return -EEXIST;
	}
	list_add_tail(&d->node, &drv->dynids.list);
	spin_unlock(&drv->dynids.lock);
	return 0;
}

int rvmbus_hv_remove_dynid(struct hv_driver *drv, const guid_t *guid)
{
	struct rvmbus_hv_dynid *d;

	spin_lock(&drv->dynids.lock);
	d = rvmbus_hv_dynid_find(drv, guid);
	if (d)
		list_del(&d->node);
	spin_unlock(&drv->dynids.lock);
	if (!d)
		return -ENODEV;
	kfree(d);
	return 0;
}

/*
 * The id of @drv for @hdev, as hv_vmbus picks it: a class written to
 * new_id first, then the id_table.
 */
static const struct hv_vmbus_device_id *
rvmbus_hv_get_id(const struct hv_driver *drv, struct hv_device *hdev)
{
	struct hv_driver *mdrv = (struct hv_driver *)drv;
	const struct hv_vmbus_device_id *id;
	struct rvmbus_hv_dynid *d;
	int ovr = device_match_driver_override(&hdev->device, &drv->driver);

	/* An override naming another driver. */
	if (ovr == 0)
		return NULL;
	spin_lock(&mdrv->dynids.lock);
	d = rvmbus_hv_dynid_find(mdrv, &hdev->dev_type);
	spin_unlock(&mdrv->dynids.lock);
	if (d)
		return &d->id;
	for (id = drv->id_table; id && !guid_is_null(&id->guid); id++)
		if (guid_equal(&id->guid, &hdev->dev_type))
			return id;
	return ovr > 0 ? &rvmbus_hv_null_id : NULL;
}

int rvmbus_hv_match(struct hv_driver *drv, struct hv_device *hdev)
{
	/*
	 * A Hyper-V socket connection's class is the service it connects
	 * to: the hv_sock driver (hvsock set) takes every one, and nothing
	 * else any, driver_override included, as hv_vmbus matches.
	 */
	if (to_rdev(&hdev->device)->hvsock)
		return drv->hvsock;
	return rvmbus_hv_get_id(drv, hdev) != NULL;
}

/*
 * Linux's device types (hv_device.device_id and vmbus_channel.device_id),
 * indexed by type as hv_vmbus indexes its table: uio_hv_generic reads the
 * preferred ring size of its device from it (hv_dev_ring_size()).  The
 * GUIDs are the kernel's own; a class not listed is HV_UNKNOWN, whose
 * entry gives the ring size hv_vmbus gives unknown devices.  A device's
 * type comes from Rust's class table (bus/classes.rs, which also makes a
 * Hyper-V socket HV_UNKNOWN) when the device is added (sysfs.c).
 */
#define RVMBUS_HV_DEV(_type, _guid, _perf, _isolated, _ring)		\
	[_type] = { .dev_type = _type, .perf_device = _perf,		\
		    .allowed_in_isolated = _isolated,			\
		    .pref_ring_size = _ring, _guid }

const struct vmbus_device vmbus_devs[] = {
	RVMBUS_HV_DEV(HV_IDE, HV_IDE_GUID, true, false, 0),
	RVMBUS_HV_DEV(HV_SCSI, HV_SCSI_GUID, true, true, 0),
	RVMBUS_HV_DEV(HV_FC, HV_SYNTHFC_GUID, true, false, 0),
	RVMBUS_HV_DEV(HV_NIC, HV_NIC_GUID, true, true, 0),
	RVMBUS_HV_DEV(HV_ND, HV_ND_GUID, true, false, 0),
	RVMBUS_HV_DEV(HV_PCIE, HV_PCIE_GUID, false, true, 0),
	RVMBUS_HV_DEV(HV_FB, HV_SYNTHVID_GUID, false, false, 0),
	RVMBUS_HV_DEV(HV_KBD, HV_KBD_GUID, false, false, 0),
	RVMBUS_HV_DEV(HV_MOUSE, HV_MOUSE_GUID, false, false, 0),
	RVMBUS_HV_DEV(HV_KVP, HV_KVP_GUID, false, false, 0),
	RVMBUS_HV_DEV(HV_TS, HV_TS_GUID, false, true, 0),
	RVMBUS_HV_DEV(HV_HB, HV_HEART_BEAT_GUID, false, true, 0),
	RVMBUS_HV_DEV(HV_SHUTDOWN, HV_SHUTDOWN_GUID, false, true, 0),
	/* File copy's rings are 16 KiB of data each way on every host. */
	RVMBUS_HV_DEV(HV_FCOPY, HV_FCOPY_GUID, false, false, 0x4000),
	RVMBUS_HV_DEV(HV_BACKUP, HV_VSS_GUID, false, false, 0),
	RVMBUS_HV_DEV(HV_DM, HV_DM_GUID, false, false, 0),
	/* No GUID: hv_vmbus's ring size for a device it does not know. */
	[HV_UNKNOWN] = { .dev_type = HV_UNKNOWN, .pref_ring_size = 0x11000 },
};
EXPORT_SYMBOL_GPL(vmbus_devs);
static_assert(ARRAY_SIZE(vmbus_devs) == HV_UNKNOWN + 1);

#if IS_ENABLED(CONFIG_KUNIT)
/*
 * For KUnit: the class GUID of Linux's device type @type, from the table
 * above (the kernel's own GUIDs and enum), so that the test can hold
 * Rust's class table against it.  -EINVAL for HV_UNKNOWN and beyond.
 */
int rvmbus_hv_type_class(unsigned int type, u8 *guid)
{
	if (type >= HV_UNKNOWN)
		return -EINVAL;
	memcpy(guid, &vmbus_devs[type].guid, sizeof(guid_t));
	return 0;
}
#endif

/* Has the channel's callback run again, in the channel's tasklet (binding.rs). */
static void rvmbus_hv_tasklet(struct tasklet_struct *t)
{
	struct rvmbus_hv_chan *hc = from_tasklet(hc, t, chan.callback_event);

	rvmbus_hv_rust_kick(hc->binding);
}

static void rvmbus_hv_chan_init(struct rvmbus_hv_chan *hc, struct hv_device *hdev)
{
	struct vmbus_channel *c = &hc->chan;

	INIT_LIST_HEAD(&c->listentry);
	INIT_LIST_HEAD(&c->sc_list);
	c->device_obj = hdev;
	/* hv_vmbus's name for "offered, ready to open". */
	c->state = CHANNEL_OPEN_STATE;
	c->callback_mode = HV_CALL_BATCHED;
	c->max_pkt_size = VMBUS_DEFAULT_MAX_PKT_SIZE;
	/* The device's, as hv_vmbus gives the channel its device's type. */
	c->device_id = hdev->device_id;
	/* set_channel_pending_send_size() (hv_sock) takes the outbound's. */
	spin_lock_init(&c->outbound.ring_lock);
	spin_lock_init(&c->inbound.ring_lock);
	spin_lock_init(&c->sched_lock);
	spin_lock_init(&c->requestor.req_lock);
	init_completion(&c->rescind_event);
	/*
	 * Drivers schedule this tasklet to have their callback run again
	 * (hv_kvp, hv_snapshot); here it schedules the core's tasklet of the
	 * channel, which runs the callback.
	 */
	tasklet_setup(&c->callback_event, rvmbus_hv_tasklet);
}

/* Unbinds @hdev's channel from its binding and frees it. */
/*
 * Unbinds channel @c from its binding and frees it: no callback after
 * this, and the channel is closed if the driver left it open.
 */
void rvmbus_hv_release(struct vmbus_channel *c)
{
	struct rvmbus_hv_chan *hc = to_hc(c);

	/* As vmbus_close(), for a driver that left the channel open. */
	rvmbus_hv_rust_unbind(hc->binding);
	/* The ring file goes before the channel (no mmap() of it from now). */
	if (c->ring_sysfs_visible)
		hv_remove_ring_sysfs(c);
	rvmbus_hv_rqstor_free(c);
	rvmbus_hv_gpadls_forget(c);
	tasklet_kill(&c->callback_event);
	rvmbus_hv_rust_put(hc->binding);
	kfree(hc);
	atomic_dec(&rvmbus_hv_chans);
}

/* Unbinds @hdev's channel, its sub-channels first, and frees them. */
static void rvmbus_hv_unbind(struct hv_device *hdev)
{
	struct vmbus_channel *c = hdev->channel;
	struct vmbus_channel *sc;

	rvmbus_hv_sub_seal(c);
	while ((sc = rvmbus_hv_sub_unlink_first(c)))
		rvmbus_hv_release(sc);
	hdev->channel = NULL;
	rvmbus_hv_release(c);
}

struct vmbus_channel *rvmbus_hv_chan_of(void *cchan)
{
	return &((struct rvmbus_hv_chan *)cchan)->chan;
}

void rvmbus_hv_sub_seal(struct vmbus_channel *primary)
{
	rvmbus_hv_sub_lock();
	to_hc(primary)->sealed = true;
	rvmbus_hv_sub_unlock();
}

bool rvmbus_hv_sub_sealed(struct vmbus_channel *primary)
{
	return to_hc(primary)->sealed;
}

void *rvmbus_hv_c_sub_alloc(void *pcchan)
{
	struct vmbus_channel *primary = rvmbus_hv_chan_of(pcchan);
	struct rvmbus_hv_chan *hc = kzalloc(sizeof(*hc), GFP_KERNEL);

	if (!hc)
		return NULL;
	rvmbus_hv_chan_init(hc, primary->device_obj);
	hc->chan.primary_channel = primary;
	return hc;
}

void rvmbus_hv_c_sub_free(void *cchan)
{
	kfree(cchan);
}

struct vmbus_channel *rvmbus_hv_sub_bound(void *cchan, void *binding)
{
	struct rvmbus_hv_chan *hc = cchan;

	hc->binding = binding;
	atomic_inc(&rvmbus_hv_chans);
	return &hc->chan;
}

int rvmbus_hv_probe(struct hv_driver *drv, struct hv_device *hdev, void *ctx)
{
	const struct hv_vmbus_device_id *id = rvmbus_hv_get_id(drv, hdev);
	struct rvmbus_hv_chan *hc;
	int ret;

	if (!drv->probe) {
		pr_err("rvmbus: probe not set for driver %s\n", drv->name);
		return -ENODEV;
	}
	hc = kzalloc(sizeof(*hc), GFP_KERNEL);
	if (!hc)
		return -ENOMEM;
	rvmbus_hv_chan_init(hc, hdev);
	ret = rvmbus_hv_rust_bind(ctx, hc, &hc->binding);
	if (ret) {
		kfree(hc);
		return ret;
	}
	atomic_inc(&rvmbus_hv_chans);
	hdev->channel = &hc->chan;
	ret = drv->probe(hdev, id);
	if (ret) {
		pr_err("rvmbus: probe failed for device %s (%d)\n",
		       dev_name(&hdev->device), ret);
		rvmbus_hv_unbind(hdev);
	}
	return ret;
}

void rvmbus_hv_remove(struct hv_driver *drv, struct hv_device *hdev)
{
	if (drv->remove)
		drv->remove(hdev);
	if (hdev->channel)
		rvmbus_hv_unbind(hdev);
}

void rvmbus_hv_shutdown(struct hv_driver *drv, struct hv_device *hdev)
{
	if (drv->shutdown)
		drv->shutdown(hdev);
}

int rvmbus_hv_suspend(struct hv_driver *drv, struct hv_device *hdev)
{
	if (!drv->suspend)
		return -EOPNOTSUPP;
	return drv->suspend(hdev);
}

int rvmbus_hv_resume(struct hv_driver *drv, struct hv_device *hdev)
{
	if (!drv->resume)
		return -EOPNOTSUPP;
	if (hdev->channel)
		rvmbus_hv_rust_refresh(to_hc(hdev->channel)->binding);
	return drv->resume(hdev);
}

void *rvmbus_hv_binding_of(struct vmbus_channel *c)
{
	return to_hc(c)->binding;
}

/* ---- What Rust needs of the channel structure -------------------------- */

void rvmbus_hv_c_set_offer(void *cchan, const struct rvmbus_hv_offer *o)
{
	struct vmbus_channel *c = &((struct rvmbus_hv_chan *)cchan)->chan;
	struct vmbus_channel_offer_channel *m = &c->offermsg;

	memcpy(&m->offer.if_type, o->if_type, sizeof(m->offer.if_type));
	memcpy(&m->offer.if_instance, o->if_instance, sizeof(m->offer.if_instance));
	m->offer.sub_channel_index = o->sub_channel_index;
	m->offer.chn_flags = o->chn_flags;
	memcpy(m->offer.u.std.user_def, o->user_def, sizeof(o->user_def));
	m->child_relid = o->child_relid;
	m->connection_id = o->connection_id;
	m->is_dedicated_interrupt = !!o->dedicated_interrupt;
	c->is_dedicated_interrupt = !!o->dedicated_interrupt;
	if (o->monitor_id == RVMBUS_HV_NO_MONITOR) {
		m->monitor_allocated = 0;
		m->monitorid = 0;
	} else {
		m->monitor_allocated = 1;
		m->monitorid = o->monitor_id;
		c->monitor_grp = o->monitor_id / 32;
		c->monitor_bit = o->monitor_id % 32;
	}
	c->target_cpu = o->target_cpu;
}

void rvmbus_hv_c_set_rescind(void *cchan)
{
	WRITE_ONCE(((struct rvmbus_hv_chan *)cchan)->chan.rescind, true);
}

u32 rvmbus_hv_c_read_mode(void *cchan)
{
	return READ_ONCE(((struct rvmbus_hv_chan *)cchan)->chan.callback_mode);
}

void rvmbus_hv_c_invoke(void *cchan)
{
	struct vmbus_channel *c = &((struct rvmbus_hv_chan *)cchan)->chan;
	void (*cb)(void *context) = READ_ONCE(c->onchannel_callback);

	if (cb)
		cb(c->channel_callback_context);
}

void rvmbus_hv_c_invoke_irqoff(void *cchan)
{
	unsigned long flags;

	/*
	 * An HV_CALL_ISR callback expects the interrupt handler's context:
	 * hv_netvsc's calls __napi_schedule_irqoff(), which adds to this
	 * CPU's poll list without masking interrupts itself; an interrupt
	 * that schedules another NAPI in the middle would lose an entry.
	 */
	local_irq_save(flags);
	rvmbus_hv_c_invoke(cchan);
	local_irq_restore(flags);
}

/* ---- The channel operations -------------------------------------------- */

int vmbus_sendpacket_getid(struct vmbus_channel *c, void *buffer,
			   u32 bufferlen, u64 requestid, u64 *trans_id,
			   enum vmbus_packet_type type, u32 flags)
{
	bool took;
	u64 id;
	int ret;

	if (flags > U16_MAX || (unsigned int)type > U16_MAX)
		return -EINVAL;
	/* The id the packet carries: a slot of the table, or the driver's. */
	ret = rvmbus_hv_rqst_assign(c, flags, requestid, &id, &took);
	if (ret)
		return ret;
	ret = rvmbus_hv_rust_send(to_hc(c)->binding, buffer, bufferlen,
				  id, type, flags);
	if (ret) {
		rvmbus_hv_rqst_unsent(c, id, took);
		return ret;
	}
	if (trans_id)
		*trans_id = id;
	return 0;
}
EXPORT_SYMBOL(vmbus_sendpacket_getid);

int vmbus_sendpacket(struct vmbus_channel *c, void *buffer,
		     u32 bufferlen, u64 requestid,
		     enum vmbus_packet_type type, u32 flags)
{
	return vmbus_sendpacket_getid(c, buffer, bufferlen, requestid,
				      NULL, type, flags);
}
EXPORT_SYMBOL(vmbus_sendpacket);

int vmbus_recvpacket(struct vmbus_channel *c, void *buffer,
		     u32 bufferlen, u32 *buffer_actual_len,
		     u64 *requestid)
{
	return rvmbus_hv_rust_recv(to_hc(c)->binding, buffer, bufferlen,
				   buffer_actual_len, requestid, false);
}
EXPORT_SYMBOL(vmbus_recvpacket);

int vmbus_recvpacket_raw(struct vmbus_channel *c, void *buffer,
			 u32 bufferlen, u32 *buffer_actual_len,
			 u64 *requestid)
{
	return rvmbus_hv_rust_recv(to_hc(c)->binding, buffer, bufferlen,
				   buffer_actual_len, requestid, true);
}
EXPORT_SYMBOL_GPL(vmbus_recvpacket_raw);

/*
 * The integration components' version negotiation (Rust, over
 * vmbus_proto's IC framework).  @icmsghdrp must be the IC header inside
 * @buf, where every caller in Linux points it.
 */
bool vmbus_prep_negotiate_resp(struct icmsg_hdr *icmsghdrp, u8 *buf,
			       u32 buflen, const int *fw_version,
			       int fw_vercnt, const int *srv_version,
			       int srv_vercnt, int *nego_fw_version,
			       int *nego_srv_version)
{
	if ((u8 *)icmsghdrp != buf + sizeof(struct vmbuspipe_hdr)) {
		pr_err_ratelimited("rvmbus: negotiate: the IC header is not in the buffer\n");
		return false;
	}
	return rvmbus_hv_rust_negotiate(buf, buflen, fw_version, fw_vercnt,
					srv_version, srv_vercnt,
					nego_fw_version, nego_srv_version);
}
EXPORT_SYMBOL_GPL(vmbus_prep_negotiate_resp);
