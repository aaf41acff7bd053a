// SPDX-License-Identifier: GPL-2.0
/*
 * The tasklet calls that are inline in <linux/interrupt.h>, for
 * support/tasklet.rs; the exported ones (tasklet_setup, tasklet_kill,
 * tasklet_unlock_wait) are called from Rust directly.
 */

#include <linux/interrupt.h>

#include "tasklet.h"

void rvmbus_tasklet_schedule(struct tasklet_struct *t)
{
	tasklet_schedule(t);
}

void rvmbus_tasklet_disable(struct tasklet_struct *t)
{
	tasklet_disable(t);
}

void rvmbus_tasklet_enable(struct tasklet_struct *t)
{
	tasklet_enable(t);
}
