// SPDX-License-Identifier: GPL-2.0
/*
 * The Hyper-V transport's C half (see hv_shim.h).  Uses only the Hyper-V
 * core exports of the kernel (hv_set_msr, hv_setup_vmbus_handler, the
 * kexec and crash handler hooks, the hypercall static call,
 * hyperv_pcpu_input_arg, ms_hyperv), never a symbol of the C hv_vmbus
 * driver.
 */

#include <linux/module.h>
#include <linux/smp.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/irqflags.h>
#include <linux/irq_work.h>
#include <linux/lockdep.h>
#include <linux/string.h>
#include <asm/hypervisor.h>
#include <asm/mshyperv.h>
#include <hyperv/hvgdk_mini.h>
#include <hyperv/hvhdk.h>

#include "hv_shim.h"

#define RVMBUS_SINT 2

/*
 * The Rust context of the bus while it is attached: set before the
 * handlers are installed, cleared after they are removed, and freed by
 * Rust only after synchronize_rcu(), so a handler that read it inside its
 * RCU read-side section still sees it live.
 */
static void __rcu *hv_ctx;

bool rvmbus_hv_usable(void)
{
	if (!hypervisor_is_type(X86_HYPER_MS_HYPERV) ||
	    !hv_is_hyperv_initialized() ||
	    !(ms_hyperv.features & HV_MSR_SYNIC_AVAILABLE))
		return false;
	if (IS_ENABLED(CONFIG_PREEMPT_RT)) {
		/* See rvmbus_hv_isr(); said only where Hyper-V is there. */
		pr_warn_once("rvmbus: the hyperv transport does not run on PREEMPT_RT kernels: its interrupt handler takes spinlock_t locks at hard IRQ level\n");
		return false;
	}
	return true;
}

u8 rvmbus_hv_partition_facts(void)
{
	u8 facts = 0;

	if (hv_is_isolation_supported())
		facts |= RVMBUS_HV_ISOLATED;
	if (ms_hyperv.paravisor_present)
		facts |= RVMBUS_HV_PARAVISOR;
	if (hv_root_partition())
		facts |= RVMBUS_HV_ROOT;
	return facts;
}

u8 rvmbus_hv_vtl(void)
{
	return ms_hyperv.vtl;
}

struct synic_args {
	u64 simp, siefp;
	bool enable;
};

/*
 * Turns this CPU's SynIC off as Linux's hv_synic_cleanup does: the VMBus
 * SINT masked, the message and event flags pages disabled and their
 * addresses cleared (the pages are the guest's own: nothing may point at
 * them once they are freed or belong to the next kernel), and the SynIC
 * disabled.  Interrupts off.
 */
static void synic_off_local(void)
{
	union hv_synic_sint sint = {
		.as_uint64 = hv_get_msr(HV_MSR_SINT0 + RVMBUS_SINT) };
	union hv_synic_simp simp;
	union hv_synic_siefp siefp;
	union hv_synic_scontrol sctrl;

	sint.masked = true;
	hv_set_msr(HV_MSR_SINT0 + RVMBUS_SINT, sint.as_uint64);
	simp.as_uint64 = hv_get_msr(HV_MSR_SIMP);
	simp.simp_enabled = 0;
	simp.base_simp_gpa = 0;
	hv_set_msr(HV_MSR_SIMP, simp.as_uint64);
	siefp.as_uint64 = hv_get_msr(HV_MSR_SIEFP);
	siefp.siefp_enabled = 0;
	siefp.base_siefp_gpa = 0;
	hv_set_msr(HV_MSR_SIEFP, siefp.as_uint64);
	sctrl.as_uint64 = hv_get_msr(HV_MSR_SCONTROL);
	sctrl.enable = 0;
	hv_set_msr(HV_MSR_SCONTROL, sctrl.as_uint64);
}

/* Runs on the CPU being programmed, with interrupts off. */
static void synic_on_cpu(void *data)
{
	struct synic_args *a = data;
	union hv_synic_simp simp;
	union hv_synic_siefp siefp;
	union hv_synic_sint sint;
	union hv_synic_scontrol sctrl;

	if (!a->enable) {
		synic_off_local();
		return;
	}
	simp.as_uint64 = hv_get_msr(HV_MSR_SIMP);
	siefp.as_uint64 = hv_get_msr(HV_MSR_SIEFP);
	sint.as_uint64 = hv_get_msr(HV_MSR_SINT0 + RVMBUS_SINT);
	sctrl.as_uint64 = hv_get_msr(HV_MSR_SCONTROL);
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
}

int rvmbus_hv_synic_setup(unsigned int cpu, u64 simp, u64 siefp, bool enable)
{
	struct synic_args a = { .simp = simp, .siefp = siefp, .enable = enable };

	return smp_call_function_single(cpu, synic_on_cpu, &a, 1);
}

static void synic_off_on_cpu(void *unused)
{
	synic_off_local();
}

static void eom_on_cpu(void *unused)
{
	hv_set_msr(HV_MSR_EOM, 0);
}

/*
 * Runs @fn for @cpu on the way out: here if this is @cpu, else by IPI when
 * @may_ipi and interrupts are on (smp_call_function_single() must not be
 * called with interrupts off); -EAGAIN otherwise.
 */
static int on_cpu_now(unsigned int cpu, smp_call_func_t fn, bool may_ipi)
{
	unsigned long flags;
	int this = get_cpu();
	int ret = 0;

	if (this == cpu) {
		local_irq_save(flags);
		fn(NULL);
		local_irq_restore(flags);
	} else if (may_ipi && !irqs_disabled()) {
		ret = smp_call_function_single(cpu, fn, NULL, 1);
	} else {
		ret = -EAGAIN;
	}
	put_cpu();
	return ret;
}

int rvmbus_hv_synic_off_now(unsigned int cpu, bool may_ipi)
{
	return on_cpu_now(cpu, synic_off_on_cpu, may_ipi);
}

int rvmbus_hv_eom_now(unsigned int cpu, bool may_ipi)
{
	return on_cpu_now(cpu, eom_on_cpu, may_ipi);
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

int rvmbus_hv_eom(unsigned int cpu)
{
	return smp_call_function_single(cpu, eom_on_cpu, NULL, 1);
}

u32 rvmbus_hv_vp_index(unsigned int cpu)
{
	return hv_vp_index ? hv_vp_index[cpu] : cpu;
}

/*
 * HYPERVISOR_CALLBACK_VECTOR, hard IRQ context.  The read-side section is
 * explicit, so the dereference is one that PROVE_RCU accepts, and
 * rvmbus_hv_detach()'s synchronize_rcu() waits for it.
 *
 * The vector is never threaded, and the Rust side takes spinlock_t locks
 * (the relid table, a channel's driver slot, wait queues).  Without
 * PREEMPT_RT those never sleep; the wait-type override tells lockdep so,
 * as hv_vmbus's vmbus_isr() does (without it, PROVE_RAW_LOCK_NESTING
 * reports an invalid wait context at the first interrupt).  On PREEMPT_RT
 * they would sleep, and rvmbus_hv_usable() refuses the transport.
 */
static void rvmbus_hv_isr(void)
{
	static DEFINE_WAIT_OVERRIDE_MAP(rvmbus_hv_isr_map, LD_WAIT_CONFIG);
	void *ctx;

	lock_map_acquire_try(&rvmbus_hv_isr_map);
	rcu_read_lock();
	ctx = rcu_dereference(hv_ctx);
	if (ctx)
		rvmbus_rust_hv_interrupt(ctx);
	rcu_read_unlock();
	lock_map_release(&rvmbus_hv_isr_map);
}

/* The way out: kexec (machine_shutdown) or a crash (crash_shutdown). */
static void rvmbus_hv_way_out(bool crash)
{
	void *ctx;

	rcu_read_lock();
	ctx = rcu_dereference(hv_ctx);
	if (ctx)
		rvmbus_rust_hv_way_out(ctx, crash);
	rcu_read_unlock();
}

static void rvmbus_hv_kexec(void)
{
	rvmbus_hv_way_out(false);
}

static void rvmbus_hv_crash(struct pt_regs *regs)
{
	rvmbus_hv_way_out(true);
}

void rvmbus_hv_attach(void *ctx)
{
	rcu_assign_pointer(hv_ctx, ctx);
	hv_setup_vmbus_handler(rvmbus_hv_isr);
	hv_setup_kexec_handler(rvmbus_hv_kexec);
	hv_setup_crash_handler(rvmbus_hv_crash);
}

void rvmbus_hv_detach(void)
{
	hv_remove_crash_handler();
	hv_remove_kexec_handler();
	hv_remove_vmbus_handler();
	RCU_INIT_POINTER(hv_ctx, NULL);
	/* No handler still uses the old context after this. */
	synchronize_rcu();
}

#if IS_ENABLED(CONFIG_KUNIT)
struct isr_call {
	struct irq_work work;
	bool hardirq;
	bool irqs_off;
};

static void isr_call_fn(struct irq_work *work)
{
	struct isr_call *call = container_of(work, struct isr_call, work);

	call->hardirq = in_hardirq();
	call->irqs_off = irqs_disabled();
	rvmbus_hv_isr();
}

/*
 * For KUnit: runs the vector's handler once in hard IRQ context with
 * interrupts off, as HYPERVISOR_CALLBACK_VECTOR does, with @ctx (or none)
 * as the attached context; the handlers themselves are not installed.
 * -EBUSY when a bus is attached; -EINVAL when the handler did not run in
 * hard IRQ context with interrupts off.
 */
int rvmbus_hv_isr_for_test(void *ctx)
{
	struct isr_call call = { .work = IRQ_WORK_INIT_HARD(isr_call_fn) };

	if (!ctx && rcu_access_pointer(hv_ctx))
		return -EBUSY;
	if (ctx && unrcu_pointer(cmpxchg(&hv_ctx, NULL, RCU_INITIALIZER(ctx))))
		return -EBUSY;
	irq_work_queue(&call.work);
	irq_work_sync(&call.work);
	if (ctx) {
		RCU_INIT_POINTER(hv_ctx, NULL);
		synchronize_rcu();
	}
	return call.hardirq && call.irqs_off ? 0 : -EINVAL;
}
#endif
