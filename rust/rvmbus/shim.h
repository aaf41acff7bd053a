/* SPDX-License-Identifier: GPL-2.0 */
#ifndef RVMBUS_SHIM_H
#define RVMBUS_SHIM_H

#include <linux/types.h>

struct page;

const char *rvmbus_shim_transport_param(void);
unsigned int rvmbus_shim_timeout_ms(void);
bool rvmbus_shim_hyperv_present(void);
u64 rvmbus_shim_page_to_phys(struct page *page);
void rvmbus_shim_wmb(void);
void rvmbus_shim_rmb(void);

#endif /* RVMBUS_SHIM_H */
