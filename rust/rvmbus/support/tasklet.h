/* SPDX-License-Identifier: GPL-2.0 */
#ifndef RVMBUS_TASKLET_H
#define RVMBUS_TASKLET_H

struct tasklet_struct;

void rvmbus_tasklet_schedule(struct tasklet_struct *t);
void rvmbus_tasklet_disable(struct tasklet_struct *t);
void rvmbus_tasklet_enable(struct tasklet_struct *t);

#endif
