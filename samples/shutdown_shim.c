// SPDX-License-Identifier: GPL-2.0
/*
 * What the shutdown sample needs from C: the kernel's orderly power-off and
 * reboot, which run the system's power-off command (or reboot command) from
 * a work item and, with force, power off anyway if that fails.
 */

#include <linux/reboot.h>

void rvmbus_sample_poweroff(void);
void rvmbus_sample_reboot(void);

void rvmbus_sample_poweroff(void)
{
	orderly_poweroff(true);
}

void rvmbus_sample_reboot(void)
{
	orderly_reboot();
}
