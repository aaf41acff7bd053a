// SPDX-License-Identifier: GPL-2.0
/*
 * hv_iftest: exercises rvmbus's hv_vmbus interface over the test host's
 * echo device (tools/vmbus-host, class 2e1c0f5a-...): an in-band packet
 * and a GPA-direct packet (vmbus_sendpacket_mpb_desc()) with completions
 * requested, matched back through the request-id table
 * (vmbus_next_request_id(), vmbus_request_addr()) and read with packet
 * iteration (foreach_vmbus_pkt()); ids the host never had are refused;
 * the ring fields of the channel read sensibly through <linux/hyperv.h>'s
 * helpers; and a driver GPADL over vmbus_alloc_buffer() memory is made
 * and torn down; the host is asked for a sub-channel, which reaches the
 * driver's sc_creation_callback, is opened from there and answers a
 * request of its own.  Each step logs "hv_iftest: <step> ok", or "hv_iftest:
 * FAIL <step>: ..." and stops; "hv_iftest: all ok" at the end.
 *
 * Runs in probe, which waits for the host's answers; the channel callback
 * runs in process context on rvmbus.
 */

#include <linux/completion.h>
#include <linux/hyperv.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#define ECHO_GUID GUID_INIT(0x2e1c0f5a, 0x8b1d, 0x4a8e, 0x9c, 0x3f, 0x72, \
			    0x76, 0x6d, 0x62, 0x75, 0x73)

#define RING_BYTES (8 * PAGE_SIZE)
#define GPA_OFFSET 100
#define GPA_LEN 200

/* One request: what the completion must carry back. */
struct iftest_req {
	struct completion done;
	u8 data[512];
	u32 len;
	u64 bad_ids;
};

struct iftest {
	struct vmbus_channel *chan;
	struct iftest_req req;
	u32 completions;
	/* Callbacks that found the ring fields empty (must stay 0). */
	u32 no_rings;
	/* The sub-channel the host offered, once open (or its error). */
	struct vmbus_channel *sub;
	int sub_err;
	struct completion sub_ready;
};

static struct iftest *iftest_of_sub;

static void iftest_callback(void *ctx)
{
	struct iftest *t = ctx;
	struct vmpacket_descriptor *desc;

	/* A callback may come before vmbus_open() returns: rings are set. */
	if (!t->chan->inbound.ring_buffer || !t->chan->outbound.ring_buffer)
		t->no_rings++;
	foreach_vmbus_pkt(desc, t->chan) {
		struct iftest_req *r;
		u64 addr;
		u32 n;

		if (desc->type != VM_PKT_COMP)
			continue;
		addr = vmbus_request_addr(t->chan, desc->trans_id);
		if (addr == VMBUS_RQST_ERROR) {
			t->req.bad_ids++;
			continue;
		}
		r = (struct iftest_req *)(unsigned long)addr;
		n = min_t(u32, hv_pkt_datalen(desc), sizeof(r->data));
		memcpy(r->data, hv_pkt_data(desc), n);
		r->len = n;
		t->completions++;
		complete(&r->done);
	}
}

static void iftest_sub_callback(void *ctx)
{
	struct iftest *t = ctx;
	struct vmpacket_descriptor *desc;

	foreach_vmbus_pkt(desc, t->sub) {
		struct iftest_req *r;
		u64 addr;

		if (desc->type != VM_PKT_COMP)
			continue;
		addr = vmbus_request_addr(t->sub, desc->trans_id);
		if (addr == VMBUS_RQST_ERROR) {
			t->req.bad_ids++;
			continue;
		}
		r = (struct iftest_req *)(unsigned long)addr;
		r->len = min_t(u32, hv_pkt_datalen(desc), sizeof(r->data));
		memcpy(r->data, hv_pkt_data(desc), r->len);
		t->completions++;
		complete(&r->done);
	}
}

/* The driver's sc_creation_callback: opens the new sub-channel. */
static void iftest_sc_created(struct vmbus_channel *sc)
{
	struct iftest *t = iftest_of_sub;

	if (!t || sc->primary_channel != t->chan) {
		pr_err("hv_iftest: FAIL subchannel: primary_channel is not ours\n");
		return;
	}
	sc->rqstor_size = 4;
	sc->next_request_id_callback = vmbus_next_request_id;
	sc->request_addr_callback = vmbus_request_addr;
	t->sub = sc;
	t->sub_err = vmbus_open(sc, RING_BYTES, RING_BYTES, NULL, 0,
				iftest_sub_callback, t);
	complete(&t->sub_ready);
}

static int iftest_wait(struct iftest *t, const char *step)
{
	if (!wait_for_completion_timeout(&t->req.done, 10 * HZ)) {
		pr_err("hv_iftest: FAIL %s: no completion in 10 s\n", step);
		return -ETIMEDOUT;
	}
	return 0;
}

static int iftest_inband(struct iftest *t)
{
	static const char msg[] = "hv_iftest in-band";
	int ret;

	reinit_completion(&t->req.done);
	ret = vmbus_sendpacket(t->chan, (void *)msg, sizeof(msg),
			       (unsigned long)&t->req, VM_PKT_DATA_INBAND,
			       VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED);
	if (ret) {
		pr_err("hv_iftest: FAIL inband: send %d\n", ret);
		return ret;
	}
	ret = iftest_wait(t, "inband");
	if (ret)
		return ret;
	if (t->req.len < sizeof(msg) || memcmp(t->req.data, msg, sizeof(msg))) {
		pr_err("hv_iftest: FAIL inband: answer of %u bytes differs\n", t->req.len);
		return -EIO;
	}
	pr_info("hv_iftest: inband ok (request id matched back)\n");
	return 0;
}

static int iftest_mpb(struct iftest *t)
{
	static const char msg[] = "GPA!";
	struct {
		struct vmbus_packet_mpb_array d;
		u64 pfn;
	} __packed desc = { };
	unsigned long page;
	u8 *p;
	int ret, i;

	page = get_zeroed_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	p = (u8 *)page;
	for (i = 0; i < GPA_LEN; i++)
		p[GPA_OFFSET + i] = (u8)(i * 7 + 1);
	desc.d.rangecount = 1;
	desc.d.range.len = GPA_LEN;
	desc.d.range.offset = GPA_OFFSET;
	desc.pfn = virt_to_phys(p) >> HV_HYP_PAGE_SHIFT;
	reinit_completion(&t->req.done);
	ret = vmbus_sendpacket_mpb_desc(t->chan, &desc.d, sizeof(desc),
					(void *)msg, sizeof(msg),
					(unsigned long)&t->req);
	if (ret) {
		pr_err("hv_iftest: FAIL mpb_desc: send %d\n", ret);
		goto out;
	}
	ret = iftest_wait(t, "mpb_desc");
	if (ret)
		goto out;
	/* The echo answers the in-band bytes (padded to 8), then the range's. */
	ret = -EIO;
	if (t->req.len < 8 + GPA_LEN || memcmp(t->req.data, msg, sizeof(msg))) {
		pr_err("hv_iftest: FAIL mpb_desc: answer of %u bytes\n", t->req.len);
		goto out;
	}
	if (memcmp(t->req.data + t->req.len - GPA_LEN, p + GPA_OFFSET, GPA_LEN)) {
		pr_err("hv_iftest: FAIL mpb_desc: the range's bytes differ\n");
		goto out;
	}
	ret = 0;
	pr_info("hv_iftest: mpb_desc ok (%u bytes back)\n", t->req.len);
out:
	free_page(page);
	return ret;
}

static int iftest_ids(struct iftest *t)
{
	u64 id, addr;

	/* Ids the host could make up: never a request's value. */
	if (vmbus_request_addr(t->chan, 0) != VMBUS_RQST_ERROR ||
	    vmbus_request_addr(t->chan, 17) != VMBUS_RQST_ERROR ||
	    vmbus_request_addr(t->chan, 3) != VMBUS_RQST_ERROR) {
		pr_err("hv_iftest: FAIL ids: an id not handed out was accepted\n");
		return -EIO;
	}
	id = vmbus_next_request_id(t->chan, 0x1234);
	addr = vmbus_request_addr(t->chan, id);
	if (id == VMBUS_RQST_ERROR || addr != 0x1234 ||
	    vmbus_request_addr(t->chan, id) != VMBUS_RQST_ERROR) {
		pr_err("hv_iftest: FAIL ids: id %llu gave %#llx, or twice\n", id, addr);
		return -EIO;
	}
	pr_info("hv_iftest: ids ok\n");
	return 0;
}

static int iftest_rings(struct iftest *t)
{
	u32 w = hv_get_bytes_to_write(&t->chan->outbound);
	u32 r = hv_get_bytes_to_read(&t->chan->inbound);
	u32 pct = hv_get_avail_to_write_percent(&t->chan->outbound);

	if (!t->chan->outbound.ring_buffer || !t->chan->inbound.ring_buffer ||
	    t->chan->outbound.ring_datasize != RING_BYTES - PAGE_SIZE ||
	    w == 0 || w > t->chan->outbound.ring_datasize || r != 0 ||
	    pct < 50 || pct > 100) {
		pr_err("hv_iftest: FAIL rings: to write %u, to read %u, %u%%\n", w, r, pct);
		return -EIO;
	}
	pr_info("hv_iftest: rings ok (to write %u, to read %u, %u%% free)\n", w, r, pct);
	return 0;
}

static int iftest_gpadl(struct iftest *t)
{
	struct vmbus_gpadl g = { };
	struct page **chunks;
	u32 nchunks;
	void *buf;
	int ret;

	buf = vmbus_alloc_buffer(t->chan, 64 * 1024, &chunks, &nchunks);
	if (!buf) {
		pr_err("hv_iftest: FAIL gpadl: no buffer\n");
		return -ENOMEM;
	}
	ret = vmbus_establish_gpadl_caller_decrypted(t->chan, buf, 64 * 1024, &g);
	if (ret) {
		pr_err("hv_iftest: FAIL gpadl: establish %d\n", ret);
		goto out;
	}
	ret = vmbus_teardown_gpadl(t->chan, &g);
	if (ret) {
		pr_err("hv_iftest: FAIL gpadl: teardown %d\n", ret);
		goto out;
	}
	pr_info("hv_iftest: gpadl ok\n");
out:
	vmbus_free_buffer(buf, chunks, nchunks);
	return ret;
}

static int iftest_sub(struct iftest *t)
{
	static const char msg[] = "hv_iftest sub-channel";
	struct {
		char tag[8];
		u32 n;
	} __packed ask = { .tag = "ECHO-SUB", .n = 1 };
	struct vmbus_channel *sc;
	bool listed = false;
	int ret;

	iftest_of_sub = t;
	vmbus_set_sc_create_callback(t->chan, iftest_sc_created);
	ret = vmbus_sendpacket(t->chan, &ask, sizeof(ask), 0, VM_PKT_DATA_INBAND, 0);
	if (ret) {
		pr_err("hv_iftest: FAIL subchannel: request %d\n", ret);
		return ret;
	}
	if (!wait_for_completion_timeout(&t->sub_ready, 10 * HZ)) {
		pr_err("hv_iftest: FAIL subchannel: none offered in 10 s\n");
		return -ETIMEDOUT;
	}
	if (t->sub_err) {
		pr_err("hv_iftest: FAIL subchannel: open %d\n", t->sub_err);
		return t->sub_err;
	}
	list_for_each_entry(sc, &t->chan->sc_list, sc_list)
		listed |= sc == t->sub;
	if (!listed || !t->sub->offermsg.offer.sub_channel_index) {
		pr_err("hv_iftest: FAIL subchannel: not on sc_list, or index 0\n");
		return -EIO;
	}
	reinit_completion(&t->req.done);
	ret = vmbus_sendpacket(t->sub, (void *)msg, sizeof(msg),
			       (unsigned long)&t->req, VM_PKT_DATA_INBAND,
			       VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED);
	if (ret) {
		pr_err("hv_iftest: FAIL subchannel: send %d\n", ret);
		return ret;
	}
	ret = iftest_wait(t, "subchannel");
	if (ret)
		return ret;
	if (t->req.len < sizeof(msg) || memcmp(t->req.data, msg, sizeof(msg))) {
		pr_err("hv_iftest: FAIL subchannel: answer differs\n");
		return -EIO;
	}
	pr_info("hv_iftest: subchannel ok (relid %u, index %u)\n",
		t->sub->offermsg.child_relid, t->sub->offermsg.offer.sub_channel_index);
	return 0;
}

static int iftest_probe(struct hv_device *dev, const struct hv_vmbus_device_id *id)
{
	struct iftest *t;
	int ret;

	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	t->chan = dev->channel;
	init_completion(&t->req.done);
	init_completion(&t->sub_ready);
	hv_set_drvdata(dev, t);
	t->chan->rqstor_size = 16;
	t->chan->next_request_id_callback = vmbus_next_request_id;
	t->chan->request_addr_callback = vmbus_request_addr;
	ret = vmbus_open(t->chan, RING_BYTES, RING_BYTES, NULL, 0,
			 iftest_callback, t);
	if (ret) {
		pr_err("hv_iftest: FAIL open %d\n", ret);
		kfree(t);
		return ret;
	}
	if (!iftest_rings(t) && !iftest_ids(t) && !iftest_inband(t) &&
	    !iftest_mpb(t) && !iftest_gpadl(t) && !iftest_sub(t))
		pr_info("hv_iftest: all ok (%u completions, %llu bad ids, %u callbacks without rings)\n",
			t->completions, t->req.bad_ids, t->no_rings);
	return 0;
}

static void iftest_remove(struct hv_device *dev)
{
	struct iftest *t = hv_get_drvdata(dev);

	/* Closes the sub-channel too. */
	vmbus_close(t->chan);
	iftest_of_sub = NULL;
	kfree(t);
}

static const struct hv_vmbus_device_id iftest_ids_table[] = {
	{ .guid = ECHO_GUID },
	{ },
};
/*
 * No MODULE_DEVICE_TABLE: scenarios that depmod /modules must not have
 * this test driver autoloaded for the echo device.
 */

static struct hv_driver iftest_drv = {
	.name = "hv_iftest",
	.id_table = iftest_ids_table,
	.probe = iftest_probe,
	.remove = iftest_remove,
};

static int __init iftest_init(void)
{
	return vmbus_driver_register(&iftest_drv);
}

static void __exit iftest_exit(void)
{
	vmbus_driver_unregister(&iftest_drv);
}

module_init(iftest_init);
module_exit(iftest_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Test driver of rvmbus's hv_vmbus interface, over the test host's echo device");
