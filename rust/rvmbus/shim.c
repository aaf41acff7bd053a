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

#include "shim.h"

static char transport[16] = "auto";
module_param_string(transport, transport, sizeof(transport), 0444);
MODULE_PARM_DESC(transport,
		 "Transport to the host: auto (default), hyperv or ivshmem");

static unsigned int timeout_ms = 2000;
module_param(timeout_ms, uint, 0644);
MODULE_PARM_DESC(timeout_ms,
		 "Milliseconds to wait for the host to answer a request (default 2000)");

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
