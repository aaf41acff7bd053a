/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VMBus bus in sysfs: the C half.  The bus type, its devices and their
 * attributes are C structures (the kernel's Rust has no bus_type, kobject or
 * sysfs abstractions); every value they show comes from the Rust side
 * through rvmbus_rust_chan_info(), which fills a snapshot of one channel.
 *
 * The layout of struct rvmbus_chan_info is mirrored by ChanInfo in
 * device.rs; both sides assert its size.
 */
#ifndef RVMBUS_SYSFS_H
#define RVMBUS_SYSFS_H

#include <linux/types.h>
#include <linux/device.h>
#include <linux/hyperv.h>

/* One ring end as sysfs shows it. */
struct rvmbus_ring_info {
	u32 intr_mask;
	u32 read_index;
	u32 write_index;
	u32 read_avail;
	u32 write_avail;
	u32 pending_send_sz;
};

/* What one monitor page holds for the channel's monitor id. */
struct rvmbus_monitor_info {
	u32 pending;		/* the trigger group's pending word */
	u32 latency;		/* 100 ns units */
	u32 conn_id;
};

/* A snapshot of one channel. */
struct rvmbus_chan_info {
	u8 class_id[16];
	u8 instance_id[16];
	u32 relid;
	u32 state;		/* Linux's enum vmbus_channel_state */
	u32 dev_type;		/* Linux's enum vmbus_device_type */
	u32 monitor_allocated;	/* the offer has a monitor id */
	u32 monitor_id;
	u32 target_cpu;
	u32 subchannel_id;
	s32 numa_node;
	u32 is_open;		/* the ring fields are valid */
	u32 reserved;
	struct rvmbus_ring_info out;	/* guest to host */
	struct rvmbus_ring_info in;	/* host to guest */
	u64 events;		/* signals sent to the host */
	u64 interrupts;		/* signals received from the host */
	u64 intr_in_full;
	u64 intr_out_empty;
	u64 out_full_first;
	u64 out_full_total;
	struct rvmbus_monitor_info server;	/* monitor page 1, host to guest */
	struct rvmbus_monitor_info client;	/* monitor page 2, guest to host */
};

/* Shared with Rust: keep in step with device.rs. */
#define RVMBUS_CHAN_INFO_SIZE 192

struct rvmbus_chan_kobj;
struct dev_pm_ops;

/*
 * The bus device of a primary channel.  It is the kernel's own struct
 * hv_device, so that Linux's VMBus drivers bound through the hv_vmbus
 * interface (hv/hv_vmbus.c) get the device they expect; its identity
 * fields are filled here, its channel when such a driver binds.
 */
struct rvmbus_device {
	struct hv_device hv;
	void *ctx;		/* a channel reference, given back at release */
	u8 class_id[16];	/* for matching drivers */
	/*
	 * A Hyper-V socket connection (the offer's TLNPI provider flag):
	 * only hv_sock drivers bind it, whatever its class.
	 */
	bool hvsock;
	struct kset *channels;
};

#define to_rdev(d) container_of(d, struct rvmbus_device, hv.device)

extern const struct bus_type rvmbus_bus;

/* The driver side of the bus (driver.c). */
int rvmbus_bus_match(struct device *dev, const struct device_driver *drv);
int rvmbus_bus_probe(struct device *dev);
void rvmbus_bus_remove(struct device *dev);
void rvmbus_bus_shutdown(struct device *dev);
extern const struct dev_pm_ops rvmbus_bus_pm;
/* new_id and remove_id in each driver's directory. */
extern const struct attribute_group *rvmbus_drv_groups[];

int rvmbus_sysfs_bus_register(void);
/* pm.c */
struct device *rvmbus_root_register(void);
void rvmbus_root_unregister(struct device *dev);
int rvmbus_pm_link(struct device *supplier);
void rvmbus_pm_unlink(void);
void rvmbus_sysfs_bus_unregister(void);
struct rvmbus_device *rvmbus_sysfs_device_add(void *ctx, const u8 *class_id,
					      const u8 *instance, bool hvsock,
					      u16 dev_type);
void rvmbus_sysfs_device_del(struct rvmbus_device *rdev);
struct rvmbus_chan_kobj *rvmbus_sysfs_channel_add(struct rvmbus_device *rdev,
						  void *ctx, u32 relid);
void rvmbus_sysfs_channel_del(struct rvmbus_chan_kobj *ck);
/*
 * The "ring" file of channel @c in its channels/<relid>/ directory, whose
 * context is @key, under the bus device @hdev (the primary's, for a
 * sub-channel): shown from now on, also in a directory made later; and
 * hidden again, which returns once no mmap() of it runs.
 */
int rvmbus_sysfs_ring_show(struct hv_device *hdev, const void *key,
			   struct vmbus_channel *c);
int rvmbus_sysfs_ring_hide(struct hv_device *hdev, const void *key,
			   struct vmbus_channel *c);
int rvmbus_sysfs_debugfs_init(void);
void rvmbus_sysfs_debugfs_exit(void);

/* Implemented in Rust (device.rs). */
int rvmbus_rust_chan_info(void *ctx, struct rvmbus_chan_info *out);
bool rvmbus_rust_chan_monitored(void *ctx);
int rvmbus_rust_chan_set_cpu(void *ctx, const char *buf, size_t len);
void rvmbus_rust_ctx_put(void *ctx);
ssize_t rvmbus_rust_ctl(const char *cmd, size_t len, char *out, size_t outlen);
int rvmbus_rust_vp_mapping(void *ctx, char *buf, size_t len);

#endif /* RVMBUS_SYSFS_H */
