/* SPDX-License-Identifier: GPL-2.0 */
#ifndef RVMBUS_SHIM_H
#define RVMBUS_SHIM_H

#include <linux/types.h>

struct page;

const char *rvmbus_shim_transport_param(void);
unsigned int rvmbus_shim_timeout_ms(void);
bool rvmbus_shim_pending_send_size(void);
bool rvmbus_shim_irq_events(void);
bool rvmbus_shim_rust_cb_work(void);
bool rvmbus_shim_in_task(void);
bool rvmbus_shim_hyperv_present(void);
bool rvmbus_shim_fatal_signal_pending(void);
u64 rvmbus_shim_page_to_phys(struct page *page);
void rvmbus_shim_wmb(void);
void rvmbus_shim_rmb(void);
void rvmbus_shim_mb(void);
void *rvmbus_shim_alloc_pages(unsigned long npages);
void rvmbus_shim_free_pages(void *addr, unsigned long npages);
void rvmbus_shim_pages_kept(unsigned long npages);
void rvmbus_shim_pages_report(void);
u64 rvmbus_shim_virt_to_phys(void *addr);
int rvmbus_shim_cpu_to_node(unsigned int cpu);
unsigned int rvmbus_shim_nr_cpu_ids(void);
bool rvmbus_shim_cpu_online(unsigned int cpu);

struct workqueue_struct;
int rvmbus_shim_wq_init(void);
struct workqueue_struct *rvmbus_shim_wq_msg(void);
struct workqueue_struct *rvmbus_shim_wq_dev(void);
struct workqueue_struct *rvmbus_shim_wq_chan(void);
void rvmbus_shim_wq_flush(void);
void rvmbus_shim_wq_exit(void);

void rvmbus_shim_cpus_read_lock(void);
void rvmbus_shim_cpus_read_unlock(void);
int rvmbus_shim_cpuhp_init(void);
void rvmbus_shim_cpuhp_exit(void);
void rvmbus_shim_cpuhp_set_target(void *ctx);
/* Implemented in Rust (cpuhp.rs). */
int rvmbus_rust_cpu_online(void *ctx, unsigned int cpu);
int rvmbus_rust_cpu_offline(void *ctx, unsigned int cpu, bool frozen);

#endif /* RVMBUS_SHIM_H */
