// SPDX-License-Identifier: GPL-2.0
/*
 * Driver-owned GPADLs of the hv_vmbus interface: vmbus_alloc_buffer() and
 * vmbus_free_buffer() for the memory, vmbus_establish_gpadl(),
 * vmbus_establish_gpadl_caller_decrypted() and vmbus_teardown_gpadl() to
 * lend it to the host (hv_netvsc's receive and send buffers).  The
 * messages and the waits are the core's (bus/connection/driver_gpadl.rs,
 * through gpadl.rs).
 *
 * The guest never frees memory the host may still hold.  Each page of a
 * GPADL gets a reference when the GPADL is made, dropped only when the
 * host confirmed the teardown.  A driver that frees its buffer after a
 * teardown the host did not answer (hv_netvsc logs the error and frees)
 * then only drops its own reference: vfree() leaves the pages allocated,
 * since vmalloc memory is reference counted, and they are kept for good.
 * The same holds for a GPADL the host did not confirm created.
 *
 * Only vmalloc memory is accepted (what vmbus_alloc_buffer() returns and
 * what every driver in Linux passes): its pages are reference counted
 * one by one.  Confidential VMs (hv_is_isolation_supported()) are not
 * supported: their buffers would have to be decrypted first.
 *
 * Context: process context, may sleep (the calls wait for the host).
 */

#include "retarget.h"

#include <linux/hyperv.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include <asm/mshyperv.h>

#include "hv_vmbus.h"

/* A GPADL the host has or may have: its channel, its id and its pages. */
struct rvmbus_hv_gpadl_rec {
	struct list_head node;
	struct vmbus_channel *chan;
	u32 id;
	u32 npages;
	struct page **pages;	/* each with a reference of ours */
};

static LIST_HEAD(rvmbus_hv_gpadl_recs);
static DEFINE_MUTEX(rvmbus_hv_gpadl_lock);

void *vmbus_alloc_buffer(struct vmbus_channel *c, u32 size,
			 struct page ***chunks_out, u32 *chunk_cnt_out)
{
	*chunks_out = NULL;
	*chunk_cnt_out = 0;
	if (!size)
		return NULL;
	if (hv_is_isolation_supported() && !c->co_external_memory) {
		pr_warn_ratelimited("rvmbus: channel %u: buffers of confidential VMs are not supported\n",
				    c->offermsg.child_relid);
		return NULL;
	}
	return vzalloc(PFN_UP(size) << PAGE_SHIFT);
}
EXPORT_SYMBOL_GPL(vmbus_alloc_buffer);

void vmbus_free_buffer(void *addr, struct page **chunks, u32 chunk_cnt)
{
	/* vmbus_alloc_buffer() above never hands out chunks. */
	if (chunks) {
		pr_err_ratelimited("rvmbus: vmbus_free_buffer() with chunks rvmbus never made; leaking them\n");
		return;
	}
	/* Pages a GPADL still holds keep their reference (see above). */
	vfree(addr);
}
EXPORT_SYMBOL_GPL(vmbus_free_buffer);

static void rvmbus_hv_pages_put(struct page **pages, u32 n)
{
	u32 i;

	for (i = 0; i < n; i++)
		put_page(pages[i]);
	kvfree(pages);
}

static int rvmbus_hv_gpadl_make(struct vmbus_channel *c, void *kbuffer,
				u32 size, struct vmbus_gpadl *gpadl)
{
	struct rvmbus_hv_gpadl_rec *rec;
	bool host_holds = false;
	struct page **pages;
	u32 n, i, id = 0;
	u64 *pfns;
	int ret;

	might_sleep();
	if (!kbuffer || !size || !PAGE_ALIGNED(size) || !PAGE_ALIGNED(kbuffer))
		return -EINVAL;
	if (!is_vmalloc_addr(kbuffer)) {
		pr_warn_ratelimited("rvmbus: channel %u: GPADLs of memory that is not vmalloc'ed are not supported\n",
				    c->offermsg.child_relid);
		return -EINVAL;
	}
	n = size >> PAGE_SHIFT;
	rec = kzalloc(sizeof(*rec), GFP_KERNEL);
	pages = kvmalloc_array(n, sizeof(*pages), GFP_KERNEL);
	pfns = kvmalloc_array(n, sizeof(*pfns), GFP_KERNEL);
	if (!rec || !pages || !pfns) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < n; i++) {
		pages[i] = vmalloc_to_page(kbuffer + ((size_t)i << PAGE_SHIFT));
		if (!pages[i]) {
			ret = -EINVAL;
			goto out_free;
		}
		pfns[i] = page_to_pfn(pages[i]);
	}
	for (i = 0; i < n; i++)
		get_page(pages[i]);
	ret = rvmbus_hv_rust_gpadl_create(rvmbus_hv_binding_of(c), pfns, n,
					  &id, &host_holds);
	kvfree(pfns);
	pfns = NULL;
	if (ret) {
		if (host_holds)
			/* Never freed: the references stay. */
			pr_err("rvmbus: channel %u: keeping %u KiB the host may hold\n",
			       c->offermsg.child_relid, n * (u32)(PAGE_SIZE / 1024));
		else
			rvmbus_hv_pages_put(pages, n);
		kfree(rec);
		return ret;
	}
	rec->chan = c;
	rec->id = id;
	rec->npages = n;
	rec->pages = pages;
	mutex_lock(&rvmbus_hv_gpadl_lock);
	list_add_tail(&rec->node, &rvmbus_hv_gpadl_recs);
	mutex_unlock(&rvmbus_hv_gpadl_lock);
	gpadl->gpadl_handle = id;
	gpadl->buffer = kbuffer;
	gpadl->size = size;
	gpadl->decrypted = false;
	return 0;

out_free:
	kvfree(pfns);
	kvfree(pages);
	kfree(rec);
	return ret;
}

int vmbus_establish_gpadl(struct vmbus_channel *c, void *kbuffer,
			  u32 size, struct vmbus_gpadl *gpadl)
{
	return rvmbus_hv_gpadl_make(c, kbuffer, size, gpadl);
}
EXPORT_SYMBOL_GPL(vmbus_establish_gpadl);

int vmbus_establish_gpadl_caller_decrypted(struct vmbus_channel *c,
					   void *kbuffer, u32 size,
					   struct vmbus_gpadl *gpadl)
{
	/* Nothing is ever decrypted here (no confidential VMs). */
	return rvmbus_hv_gpadl_make(c, kbuffer, size, gpadl);
}
EXPORT_SYMBOL_GPL(vmbus_establish_gpadl_caller_decrypted);

int vmbus_teardown_gpadl(struct vmbus_channel *c,
			 struct vmbus_gpadl *gpadl)
{
	struct rvmbus_hv_gpadl_rec *r, *rec = NULL;
	int ret;

	might_sleep();
	mutex_lock(&rvmbus_hv_gpadl_lock);
	list_for_each_entry(r, &rvmbus_hv_gpadl_recs, node) {
		if (r->chan == c && r->id == gpadl->gpadl_handle) {
			list_del(&r->node);
			rec = r;
			break;
		}
	}
	mutex_unlock(&rvmbus_hv_gpadl_lock);
	if (!rec)
		return -EINVAL;
	ret = rvmbus_hv_rust_gpadl_teardown(rvmbus_hv_binding_of(c), rec->id);
	if (ret) {
		/* The host may still use the pages: their references stay. */
		pr_err("rvmbus: channel %u: keeping %u KiB the host may hold\n",
		       c->offermsg.child_relid, rec->npages * (u32)(PAGE_SIZE / 1024));
	} else {
		rvmbus_hv_pages_put(rec->pages, rec->npages);
		gpadl->gpadl_handle = 0;
	}
	kfree(rec);
	return ret;
}
EXPORT_SYMBOL_GPL(vmbus_teardown_gpadl);

void rvmbus_hv_gpadls_forget(struct vmbus_channel *c)
{
	struct rvmbus_hv_gpadl_rec *r, *next;

	/*
	 * GPADLs the driver never tore down: the host may still use their
	 * pages, whose references stay; only the records go.
	 */
	mutex_lock(&rvmbus_hv_gpadl_lock);
	list_for_each_entry_safe(r, next, &rvmbus_hv_gpadl_recs, node) {
		if (r->chan != c)
			continue;
		pr_err("rvmbus: channel %u: GPADL %#x never torn down; keeping %u KiB\n",
		       c->offermsg.child_relid, r->id,
		       r->npages * (u32)(PAGE_SIZE / 1024));
		list_del(&r->node);
		kfree(r);
	}
	mutex_unlock(&rvmbus_hv_gpadl_lock);
}
