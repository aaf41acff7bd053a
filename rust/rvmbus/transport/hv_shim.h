/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Hyper-V transport's C half: SynIC MSRs, hypercalls, the
 * HYPERVISOR_CALLBACK_VECTOR handler and the kexec and crash handlers,
 * which only C can reach (inline hypercall helpers, MSR accessors, per-CPU
 * input pages, ms_hyperv's bit fields).
 */
#ifndef RVMBUS_HV_SHIM_H
#define RVMBUS_HV_SHIM_H

#include <linux/types.h>

bool rvmbus_hv_usable(void);
/*
 * What the Hyper-V core found about this partition at boot, as the flags
 * of vmbus_proto's PartitionFacts (partition.rs), which decides.
 */
#define RVMBUS_HV_ISOLATED	(1 << 0)
#define RVMBUS_HV_PARAVISOR	(1 << 1)
#define RVMBUS_HV_ROOT		(1 << 2)
u8 rvmbus_hv_partition_facts(void);
u8 rvmbus_hv_vtl(void);
int rvmbus_hv_synic_setup(unsigned int cpu, u64 simp, u64 siefp, bool enable);
int rvmbus_hv_synic_off_now(unsigned int cpu, bool may_ipi);
u16 rvmbus_hv_post_message(const void *input, size_t len);
u16 rvmbus_hv_signal_event(u32 connection_id);
int rvmbus_hv_eom(unsigned int cpu);
int rvmbus_hv_eom_now(unsigned int cpu, bool may_ipi);
u32 rvmbus_hv_vp_index(unsigned int cpu);
void rvmbus_hv_attach(void *ctx);
void rvmbus_hv_detach(void);
int rvmbus_hv_isr_for_test(void *ctx);

/* Implemented in Rust (hyperv.rs): the interrupt, on the CPU it came on. */
void rvmbus_rust_hv_interrupt(void *ctx);
/* Implemented in Rust (hyperv.rs): kexec or a crash; never sleeps. */
void rvmbus_rust_hv_way_out(void *ctx, bool crash);

#endif /* RVMBUS_HV_SHIM_H */
