# SPDX-License-Identifier: GPL-2.0
# The host asks the guest to shut down over VMBus; the shutdown sample
# answers and starts the kernel's orderly power-off, which runs
# /sbin/poweroff: the guest powers itself off. The harness counts that
# power-off as the pass; getting back here is the failure.
SCEN=driver-shutdown
. /scenarios/lib.sh
insmod $MOD || fail "insmod rvmbus failed"
insmod /modules/rvmbus_shutdown.ko || fail "insmod rvmbus_shutdown failed"
wait_dmesg "shutdown: negotiated framework" 50 || fail "shutdown did not negotiate"
wait_host_negotiated shutdown 10 || fail "the host never saw the shutdown negotiation"
r=$(harness ctl shutdown-guest poweroff)
echo "$r" | grep -q "^ok" || fail "the host could not send the request: $r"
sleep 60
fail "still running 60 s after the host's shutdown request"
