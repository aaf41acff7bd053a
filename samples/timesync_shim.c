// SPDX-License-Identifier: GPL-2.0
/*
 * What the time sync sample needs from C: reading and setting the wall
 * clock in nanoseconds since the Unix epoch.
 */

#include <linux/timekeeping.h>
#include <linux/time64.h>

s64 rvmbus_sample_realtime_ns(void);
int rvmbus_sample_set_realtime_ns(s64 ns);

s64 rvmbus_sample_realtime_ns(void)
{
	return ktime_get_real_ns();
}

int rvmbus_sample_set_realtime_ns(s64 ns)
{
	struct timespec64 ts = ns_to_timespec64(ns);

	return do_settimeofday64(&ts);
}
