/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Hyper-V transport's C half: SynIC MSRs, hypercalls and the
 * HYPERVISOR_CALLBACK_VECTOR handler, which only C can reach (inline
 * hypercall helpers, MSR accessors, per-CPU input pages).
 */
#ifndef RVMBUS_HV_SHIM_H
#define RVMBUS_HV_SHIM_H

#include <linux/types.h>

bool rvmbus_hv_usable(void);
int rvmbus_hv_synic_setup(unsigned int cpu, u64 simp, u64 siefp, bool enable);
u16 rvmbus_hv_post_message(const void *input, size_t len);
u16 rvmbus_hv_signal_event(u32 connection_id);
int rvmbus_hv_eom(unsigned int cpu);
u32 rvmbus_hv_vp_index(unsigned int cpu);
void rvmbus_hv_attach(void *ctx);
void rvmbus_hv_detach(void);

/* Implemented in Rust (hyperv.rs): the interrupt, on the CPU it came on. */
void rvmbus_rust_hv_interrupt(void *ctx);

#endif /* RVMBUS_HV_SHIM_H */
