// SPDX-License-Identifier: GPL-2.0
/*
 * The Hyper-V transport's C half (see hv_shim.h).  Uses only the Hyper-V
 * core exports of the kernel (hv_set_msr, hv_setup_vmbus_handler, the
 * hypercall static call, hyperv_pcpu_input_arg, ms_hyperv), never a symbol
 * of the C hv_vmbus driver.
 */

#include <linux/module.h>
#include <linux/smp.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/irqflags.h>
#include <linux/string.h>
#include <asm/hypervisor.h>
#include <asm/mshyperv.h>
#include <hyperv/hvgdk_mini.h>
#include <hyperv/hvhdk.h>

#include "hv_shim.h"

#define RVMBUS_SINT 2

static void __rcu *hv_ctx;

bool rvmbus_hv_usable(void)
{
	return hypervisor_is_type(X86_HYPER_MS_HYPERV) &&
	       hv_is_hyperv_initialized() &&
	       (ms_hyperv.features & HV_MSR_SYNIC_AVAILABLE);
}

struct synic_args {
	u64 simp, siefp;
	bool enable;
};

/* Runs on the CPU being programmed, with interrupts off. */
static void synic_on_cpu(void *data)
{
	struct synic_args *a = data;
	union hv_synic_simp simp = { .as_uint64 = hv_get_msr(HV_MSR_SIMP) };
	union hv_synic_siefp siefp = { .as_uint64 = hv_get_msr(HV_MSR_SIEFP) };
	union hv_synic_sint sint = {
		.as_uint64 = hv_get_msr(HV_MSR_SINT0 + RVMBUS_SINT) };
	union hv_synic_scontrol sctrl = {
		.as_uint64 = hv_get_msr(HV_MSR_SCONTROL) };

	if (a->enable) {
		simp.base_simp_gpa = a->simp >> HV_HYP_PAGE_SHIFT;
		simp.simp_enabled = 1;
		siefp.base_siefp_gpa = a->siefp >> HV_HYP_PAGE_SHIFT;
		siefp.siefp_enabled = 1;
		sint.vector = HYPERVISOR_CALLBACK_VECTOR;
		sint.masked = false;
		sint.auto_eoi = hv_recommend_using_aeoi();
		sctrl.enable = 1;
		hv_set_msr(HV_MSR_SIMP, simp.as_uint64);
		hv_set_msr(HV_MSR_SIEFP, siefp.as_uint64);
		hv_set_msr(HV_MSR_SINT0 + RVMBUS_SINT, sint.as_uint64);
		hv_set_msr(HV_MSR_SCONTROL, sctrl.as_uint64);
	} else {
		sint.masked = true;
		hv_set_msr(HV_MSR_SINT0 + RVMBUS_SINT, sint.as_uint64);
		simp.simp_enabled = 0;
		hv_set_msr(HV_MSR_SIMP, simp.as_uint64);
		siefp.siefp_enabled = 0;
		hv_set_msr(HV_MSR_SIEFP, siefp.as_uint64);
	}
}

int rvmbus_hv_synic_setup(unsigned int cpu, u64 simp, u64 siefp, bool enable)
{
	struct synic_args a = { .simp = simp, .siefp = siefp, .enable = enable };

	return smp_call_function_single(cpu, synic_on_cpu, &a, 1);
}

u16 rvmbus_hv_post_message(const void *input, size_t len)
{
	unsigned long flags;
	void *page;
	u64 status;

	if (len > HV_HYP_PAGE_SIZE)
		return HV_STATUS_INVALID_PARAMETER;
	local_irq_save(flags);
	page = *this_cpu_ptr(hyperv_pcpu_input_arg);
	if (!page) {
		local_irq_restore(flags);
		return HV_STATUS_INVALID_PARAMETER;
	}
	memcpy(page, input, len);
	status = hv_do_hypercall(HVCALL_POST_MESSAGE, page, NULL);
	local_irq_restore(flags);
	return status & HV_HYPERCALL_RESULT_MASK;
}

u16 rvmbus_hv_signal_event(u32 connection_id)
{
	return hv_do_fast_hypercall8(HVCALL_SIGNAL_EVENT, connection_id) &
	       HV_HYPERCALL_RESULT_MASK;
}

static void eom_on_cpu(void *unused)
{
	hv_set_msr(HV_MSR_EOM, 0);
}

int rvmbus_hv_eom(unsigned int cpu)
{
	return smp_call_function_single(cpu, eom_on_cpu, NULL, 1);
}

u32 rvmbus_hv_vp_index(unsigned int cpu)
{
	return hv_vp_index ? hv_vp_index[cpu] : cpu;
}

/* HYPERVISOR_CALLBACK_VECTOR, hard IRQ context. */
static void rvmbus_hv_isr(void)
{
	void *ctx = rcu_dereference(hv_ctx);

	if (ctx)
		rvmbus_rust_hv_interrupt(ctx);
}

void rvmbus_hv_attach(void *ctx)
{
	rcu_assign_pointer(hv_ctx, ctx);
	hv_setup_vmbus_handler(rvmbus_hv_isr);
}

void rvmbus_hv_detach(void)
{
	hv_remove_vmbus_handler();
	RCU_INIT_POINTER(hv_ctx, NULL);
	/* No interrupt handler still uses the old context after this. */
	synchronize_rcu();
}
