// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel going away under a transport that has no hook of its own for
 * it (the ivshmem transport; Hyper-V's core has kexec and crash handlers,
 * see transport/hv_shim.c):
 *
 *  - a restart, which is a reboot or a kexec: syscore_shutdown() runs after
 *    every device's shutdown and before the machine restarts or jumps into
 *    the next kernel, in process context, with other CPUs still running
 *    and CPU hotplug disabled; a power-off is left alone (the machine
 *    goes, and with it everything the host could write);
 *  - a panic: the panic notifier chain, after the other CPUs were stopped,
 *    with interrupts off (with a crash kernel loaded, only when the kernel
 *    runs with crash_kexec_post_notifiers).
 *
 * One context at a time may be registered; the callbacks read it under RCU
 * and unregistering waits for them.
 */

#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/panic_notifier.h>
#include <linux/rcupdate.h>
#include <linux/syscore_ops.h>

#include "way_out.h"

static DEFINE_MUTEX(way_out_lock);
static void __rcu *way_out_ctx;

static void way_out_call(bool crash)
{
	void *ctx;

	rcu_read_lock();
	ctx = rcu_dereference(way_out_ctx);
	if (ctx)
		rvmbus_rust_way_out(ctx, crash);
	rcu_read_unlock();
}

static void way_out_shutdown(void *data)
{
	if (system_state == SYSTEM_RESTART)
		way_out_call(false);
}

static const struct syscore_ops way_out_syscore_ops = {
	.shutdown = way_out_shutdown,
};

static struct syscore way_out_syscore = {
	.ops = &way_out_syscore_ops,
};

static int way_out_panic(struct notifier_block *nb, unsigned long event, void *msg)
{
	way_out_call(true);
	return NOTIFY_DONE;
}

static struct notifier_block way_out_panic_nb = {
	.notifier_call = way_out_panic,
};

int rvmbus_shim_way_out_register(void *ctx)
{
	int ret = 0;

	mutex_lock(&way_out_lock);
	if (rcu_access_pointer(way_out_ctx)) {
		ret = -EBUSY;
		goto out;
	}
	rcu_assign_pointer(way_out_ctx, ctx);
	register_syscore(&way_out_syscore);
	atomic_notifier_chain_register(&panic_notifier_list, &way_out_panic_nb);
out:
	mutex_unlock(&way_out_lock);
	return ret;
}

void rvmbus_shim_way_out_unregister(void *ctx)
{
	mutex_lock(&way_out_lock);
	if (rcu_access_pointer(way_out_ctx) != ctx) {
		mutex_unlock(&way_out_lock);
		return;
	}
	atomic_notifier_chain_unregister(&panic_notifier_list, &way_out_panic_nb);
	unregister_syscore(&way_out_syscore);
	RCU_INIT_POINTER(way_out_ctx, NULL);
	mutex_unlock(&way_out_lock);
	/* No callback still uses the context after this. */
	synchronize_rcu();
}
