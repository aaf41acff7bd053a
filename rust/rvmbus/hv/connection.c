// SPDX-License-Identifier: GPL-2.0
/*
 * The connection as the hv_vmbus interface shows it to drivers:
 * the variables vmbus_connection (the kernel's own struct vmbus_connection
 * of drivers/hv/hyperv_vmbus.h, which uio_hv_generic includes) and
 * vmbus_proto_version, and vmbus_set_event(),
 * vmbus_set_chn_rescind_callback(), vmbus_device_unregister() and, for
 * hv_sock, vmbus_send_tl_connect_request() and
 * vmbus_hvsock_device_unregister(); connection.rs is the Rust half.
 *
 * Of vmbus_connection, the fields a driver reads are kept true: int_page
 * and monitor_pages[] (the core's interrupt page and its two monitor
 * pages, which uio_hv_generic offers to user space), set with
 * vmbus_proto_version when the connection comes up, before any driver
 * binds, and cleared when it ends (rvmbus_hv_conn_set());
 * channel_mutex, which guards every primary's sc_list here as in hv_vmbus
 * (uio_hv_generic walks sc_list under it); and the empty lists.  The rest
 * of hv_vmbus's bookkeeping is not rvmbus's and stays zero.
 *
 * The structure needs hv_vmbus's private header, which only a kernel
 * source tree has (not Debian's linux-headers): Kbuild defines
 * RVMBUS_HV_CONNECTION where $(srctree)/drivers/hv/hyperv_vmbus.h exists.
 * Without it there is no vmbus_connection (uio_hv_generic cannot be built
 * either) and sc_list has a mutex of its own.
 */

#include "retarget.h"

#include <linux/delay.h>
#include <linux/hyperv.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/mutex.h>

#include "../sysfs/sysfs.h"
#include "hv_private.h"
#include "hv_vmbus.h"

#ifdef RVMBUS_HV_CONNECTION

struct vmbus_connection vmbus_connection = {
	.channel_mutex = __MUTEX_INITIALIZER(vmbus_connection.channel_mutex),
	.chn_list = LIST_HEAD_INIT(vmbus_connection.chn_list),
	.chn_msg_list = LIST_HEAD_INIT(vmbus_connection.chn_msg_list),
	.channelmsg_lock = __SPIN_LOCK_UNLOCKED(vmbus_connection.channelmsg_lock),
};
EXPORT_SYMBOL_GPL(vmbus_connection);

struct mutex *rvmbus_hv_channel_mutex(void)
{
	return &vmbus_connection.channel_mutex;
}

static void rvmbus_hv_conn_pages_set(void * const *p)
{
	mutex_lock(&vmbus_connection.channel_mutex);
	vmbus_connection.int_page = p[0];
	vmbus_connection.recv_int_page = p[0];
	vmbus_connection.send_int_page = p[0] ? p[0] + PAGE_SIZE / 2 : NULL;
	vmbus_connection.monitor_pages[0] = p[1];
	vmbus_connection.monitor_pages[1] = p[2];
	mutex_unlock(&vmbus_connection.channel_mutex);
}

#else

static DEFINE_MUTEX(rvmbus_hv_sc_mutex);

struct mutex *rvmbus_hv_channel_mutex(void)
{
	return &rvmbus_hv_sc_mutex;
}

static void rvmbus_hv_conn_pages_set(void * const *p)
{
}

#endif /* RVMBUS_HV_CONNECTION */

/*
 * The negotiated version, as hv_vmbus encodes it (VERSION_WIN10 and the
 * others of <linux/hyperv.h>): hv_sock sizes its rings by it.
 */
__u32 vmbus_proto_version;
EXPORT_SYMBOL_GPL(vmbus_proto_version);

void rvmbus_hv_conn_set(u32 version, void * const *pages)
{
	WRITE_ONCE(vmbus_proto_version, version);
	rvmbus_hv_conn_pages_set(pages);
}

void vmbus_set_event(struct vmbus_channel *c)
{
	rvmbus_hv_rust_set_event(rvmbus_hv_binding_of(c));
}
EXPORT_SYMBOL_GPL(vmbus_set_event);

/*
 * Called for a primary channel when the host rescinds it, instead of
 * removing its device: the driver does that (uio_hv_generic at once,
 * with vmbus_device_unregister(); hv_sock once its socket is gone).
 */
void vmbus_set_chn_rescind_callback(struct vmbus_channel *c,
				    void (*chn_rescind_cb)(struct vmbus_channel *))
{
	WRITE_ONCE(c->chn_rescind_callback, chn_rescind_cb);
}
EXPORT_SYMBOL_GPL(vmbus_set_chn_rescind_callback);

bool rvmbus_hv_c_rescind_callback(void *cchan)
{
	struct vmbus_channel *c = rvmbus_hv_chan_of(cchan);
	void (*cb)(struct vmbus_channel *chan) = READ_ONCE(c->chn_rescind_callback);

	if (!cb || c->primary_channel)
		return false;
	cb(c);
	return true;
}

void vmbus_device_unregister(struct hv_device *hdev)
{
	might_sleep();
	rvmbus_hv_rust_device_unregister(to_rdev(&hdev->device)->ctx);
}
EXPORT_SYMBOL_GPL(vmbus_device_unregister);

/* ---- Hyper-V sockets ---------------------------------------------------- */

/*
 * Asks the host to connect a socket: the guest endpoint and the host
 * service.  The host answers by offering the connection's channel, which
 * hv_sock's probe opens; a host that refuses may say so, or say nothing,
 * and the socket's connect times out.
 */
int vmbus_send_tl_connect_request(const guid_t *guest_endpoint,
				  const guid_t *host_service)
{
	might_sleep();
	return rvmbus_hv_rust_tl_connect(guest_endpoint->b,
					 host_service->b);
}
EXPORT_SYMBOL_GPL(vmbus_send_tl_connect_request);

/*
 * How long the last user of a Hyper-V socket channel waits for the host
 * to rescind it before the device goes anyway.
 */
#define RVMBUS_HVSOCK_RESCIND_WAIT_MS	30000

/*
 * hv_sock calls this when the socket of a connection is gone.  The host
 * rescinds a connection's channel once it closed its end (hv_sock's
 * rescind callback then ends the socket); the device goes once it has.
 * hv_vmbus waits for that rescind without a bound; a host that never
 * sends it costs a caller here RVMBUS_HVSOCK_RESCIND_WAIT_MS, and the
 * device is removed anyway: the relid stays taken until the host
 * rescinds the channel and the guest releases it.
 */
void vmbus_hvsock_device_unregister(struct vmbus_channel *c)
{
	unsigned long end = jiffies + msecs_to_jiffies(RVMBUS_HVSOCK_RESCIND_WAIT_MS);

	might_sleep();
	if (!is_hvsock_channel(c)) {
		pr_err_ratelimited("rvmbus: channel %u is no Hyper-V socket; its device stays\n",
				   c->offermsg.child_relid);
		return;
	}
	while (!READ_ONCE(c->rescind) && time_before(jiffies, end))
		usleep_range(500, 1000);
	if (!READ_ONCE(c->rescind))
		pr_warn_ratelimited("rvmbus: Hyper-V socket channel %u: the host did not rescind it in %u ms; removing its device\n",
				    c->offermsg.child_relid,
				    RVMBUS_HVSOCK_RESCIND_WAIT_MS);
	vmbus_device_unregister(c->device_obj);
}
EXPORT_SYMBOL_GPL(vmbus_hvsock_device_unregister);
