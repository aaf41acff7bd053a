// SPDX-License-Identifier: GPL-2.0
/*
 * Defines rvmbus's trace events (trace.h): the tracepoints, their tracefs
 * entries under events/rvmbus/, and the rust_do_trace_* functions that
 * fire them for support/trace.rs.
 */

#include <linux/string.h>

#define CREATE_TRACE_POINTS
#define CREATE_RUST_TRACE_POINTS
#include "trace.h"
