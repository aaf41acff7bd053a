// SPDX-License-Identifier: GPL-2.0
/*
 * C shim of rvmbus.ko: the few things that Rust cannot reach because they
 * are inline functions or macros in C, and module parameters with string
 * values.  Every function here is small and has a prototype in shim.h.
 */

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mm.h>
#include <linux/io.h>
#include <asm/hypervisor.h>
#include <asm/barrier.h>
#include <linux/workqueue.h>
#include <linux/gfp.h>
#include <linux/topology.h>
#include <linux/cpumask.h>
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/sched/signal.h>
#include <linux/preempt.h>

#include "shim.h"

static char transport[16] = "auto";
module_param_string(transport, transport, sizeof(transport), 0444);
MODULE_PARM_DESC(transport,
		 "Transport to the host: auto (default), hyperv or ivshmem");

static unsigned int timeout_ms = 2000;
module_param(timeout_ms, uint, 0644);
MODULE_PARM_DESC(timeout_ms,
		 "Milliseconds to wait for the host to answer a request (default 2000)");

static bool pending_send_size = true;
module_param(pending_send_size, bool, 0444);
MODULE_PARM_DESC(pending_send_size,
		 "Offer pending-send-size flow control on new rings (default 1; 0 for the benchmark's comparison)");

static bool irq_events = true;
module_param(irq_events, bool, 0444);
MODULE_PARM_DESC(irq_events,
		 "Where the event flags are scanned: 1 (default) in the interrupt handler, 0 in the message work (the old path, kept for the benchmark's comparison); channel callbacks run in a per-channel tasklet either way");

static bool rust_cb_work;
module_param(rust_cb_work, bool, 0444);
MODULE_PARM_DESC(rust_cb_work,
		 "Rust driver API: run packet and completion callbacks from a work item on the rvmbus_chan workqueue (1, the old path, kept for the benchmark's comparison) instead of in the channel's tasklet (0, default)");

bool rvmbus_shim_rust_cb_work(void)
{
	return READ_ONCE(rust_cb_work);
}

bool rvmbus_shim_in_task(void)
{
	return in_task();
}

bool rvmbus_shim_irq_events(void)
{
	return READ_ONCE(irq_events);
}

bool rvmbus_shim_pending_send_size(void)
{
	return READ_ONCE(pending_send_size);
}

const char *rvmbus_shim_transport_param(void)
{
	return transport;
}

unsigned int rvmbus_shim_timeout_ms(void)
{
	return READ_ONCE(timeout_ms);
}

bool rvmbus_shim_hyperv_present(void)
{
	return hypervisor_is_type(X86_HYPER_MS_HYPERV);
}

bool rvmbus_shim_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

u64 rvmbus_shim_page_to_phys(struct page *page)
{
	return page_to_phys(page);
}

void rvmbus_shim_wmb(void)
{
	wmb();
}

void rvmbus_shim_rmb(void)
{
	rmb();
}

/*
 * Pages shared with the host, counted so that unloading can prove that
 * every one was freed or deliberately kept for a host that did not let go.
 */
static atomic_long_t pages_live = ATOMIC_LONG_INIT(0);
static atomic_long_t pages_kept = ATOMIC_LONG_INIT(0);
static atomic_long_t pages_allocs = ATOMIC_LONG_INIT(0);

/*
 * Exactly @npages pages: alloc_pages_exact() gives back the tail of the
 * power-of-two block it splits, so a ring of 34 pages costs 34, not 64.
 */
void *rvmbus_shim_alloc_pages(unsigned long npages)
{
	void *addr = alloc_pages_exact(npages * PAGE_SIZE, GFP_KERNEL | __GFP_ZERO);

	if (addr) {
		atomic_long_add(npages, &pages_live);
		atomic_long_inc(&pages_allocs);
	}
	return addr;
}

void rvmbus_shim_free_pages(void *addr, unsigned long npages)
{
	free_pages_exact(addr, npages * PAGE_SIZE);
	atomic_long_sub(npages, &pages_live);
}

void rvmbus_shim_pages_kept(unsigned long npages)
{
	atomic_long_add(npages, &pages_kept);
}

void rvmbus_shim_pages_report(void)
{
	long live = atomic_long_read(&pages_live);
	long kept = atomic_long_read(&pages_kept);
	long allocs = atomic_long_read(&pages_allocs);

	if (live != kept)
		pr_err("rvmbus: %ld KiB of shared pages neither freed nor kept for the host (%ld allocations)\n",
		       (live - kept) * (PAGE_SIZE / 1024), allocs);
	else if (kept)
		pr_info("rvmbus: shared pages: %ld allocations, all freed but %ld KiB kept for the host\n",
			allocs, kept * (PAGE_SIZE / 1024));
	else
		pr_info("rvmbus: shared pages: %ld allocations, every one freed\n", allocs);
}

u64 rvmbus_shim_virt_to_phys(void *addr)
{
	return virt_to_phys(addr);
}

void rvmbus_shim_mb(void)
{
	mb();
}

int rvmbus_shim_cpu_to_node(unsigned int cpu)
{
	return cpu_to_node(cpu);
}

unsigned int rvmbus_shim_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}

bool rvmbus_shim_cpu_online(unsigned int cpu)
{
	return cpu_online(cpu);
}

static struct workqueue_struct *rvmbus_wq_msg, *rvmbus_wq_dev, *rvmbus_wq_chan;

int rvmbus_shim_wq_init(void)
{
	rvmbus_wq_msg = alloc_ordered_workqueue("rvmbus_msg", WQ_HIGHPRI | WQ_MEM_RECLAIM);
	rvmbus_wq_dev = alloc_ordered_workqueue("rvmbus_dev", 0);
	/* Drivers' packet callbacks: one work item per device, many devices at once. */
	rvmbus_wq_chan = alloc_workqueue("rvmbus_chan", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!rvmbus_wq_msg || !rvmbus_wq_dev || !rvmbus_wq_chan) {
		if (rvmbus_wq_chan)
			destroy_workqueue(rvmbus_wq_chan);
		if (rvmbus_wq_dev)
			destroy_workqueue(rvmbus_wq_dev);
		if (rvmbus_wq_msg)
			destroy_workqueue(rvmbus_wq_msg);
		rvmbus_wq_msg = rvmbus_wq_dev = rvmbus_wq_chan = NULL;
		return -ENOMEM;
	}
	return 0;
}

struct workqueue_struct *rvmbus_shim_wq_chan(void)
{
	return rvmbus_wq_chan;
}

struct workqueue_struct *rvmbus_shim_wq_msg(void)
{
	return rvmbus_wq_msg;
}

struct workqueue_struct *rvmbus_shim_wq_dev(void)
{
	return rvmbus_wq_dev;
}

void rvmbus_shim_wq_flush(void)
{
	flush_workqueue(rvmbus_wq_msg);
	flush_workqueue(rvmbus_wq_dev);
	flush_workqueue(rvmbus_wq_chan);
}

void rvmbus_shim_wq_exit(void)
{
	destroy_workqueue(rvmbus_wq_chan);
	destroy_workqueue(rvmbus_wq_dev);
	destroy_workqueue(rvmbus_wq_msg);
	rvmbus_wq_msg = rvmbus_wq_dev = rvmbus_wq_chan = NULL;
}

void rvmbus_shim_cpus_read_lock(void)
{
	cpus_read_lock();
}

void rvmbus_shim_cpus_read_unlock(void)
{
	cpus_read_unlock();
}

/*
 * CPU hotplug: a dynamic state whose callbacks run on the CPU coming up
 * (after it is online) and going down (before it goes), in process
 * context with the CPU hotplug lock held for writing.  They reach the
 * connection through cpuhp_target, which is written only under
 * cpus_read_lock(), so a callback never sees it change.
 */
static int rvmbus_cpuhp_state = -1;
static void *cpuhp_target;

static int rvmbus_cpuhp_online(unsigned int cpu)
{
	return cpuhp_target ? rvmbus_rust_cpu_online(cpuhp_target, cpu) : 0;
}

static int rvmbus_cpuhp_offline(unsigned int cpu)
{
	if (!cpuhp_target)
		return 0;
	/* cpuhp_tasks_frozen: the CPU goes for suspend and comes back. */
	return rvmbus_rust_cpu_offline(cpuhp_target, cpu, cpuhp_tasks_frozen);
}

int rvmbus_shim_cpuhp_init(void)
{
	int ret = cpuhp_setup_state_nocalls(CPUHP_AP_ONLINE_DYN, "rvmbus:online",
					    rvmbus_cpuhp_online,
					    rvmbus_cpuhp_offline);

	if (ret < 0)
		return ret;
	rvmbus_cpuhp_state = ret;
	return 0;
}

void rvmbus_shim_cpuhp_exit(void)
{
	if (rvmbus_cpuhp_state >= 0)
		cpuhp_remove_state_nocalls(rvmbus_cpuhp_state);
	rvmbus_cpuhp_state = -1;
}

void rvmbus_shim_cpuhp_set_target(void *ctx)
{
	cpus_read_lock();
	cpuhp_target = ctx;
	cpus_read_unlock();
}
