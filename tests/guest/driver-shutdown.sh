# SPDX-License-Identifier: GPL-2.0
# The host asks the guest to shut down over VMBus; the shutdown sample
# answers and starts the kernel's orderly power-off, which runs
# /sbin/poweroff: the guest powers itself off. The harness counts that
# power-off as the pass; getting back here is the failure. Before that, a
# request with unknown flags must be refused and change nothing.
SCEN=driver-shutdown
. /scenarios/lib.sh
insmod $MOD || fail "insmod rvmbus failed"
insmod /modules/rvmbus_shutdown.ko || fail "insmod rvmbus_shutdown failed"
wait_dmesg "shutdown: negotiated framework" 50 || fail "shutdown did not negotiate"
wait_host_negotiated shutdown 10 || fail "the host never saw the shutdown negotiation"
# A request with flags Linux's hv_utils does not know (8) is refused
# with HV_E_FAIL and changes nothing, as there: the guest stays up.
shutdown_stat() {
	harness ctl stats | tr ' ' '\n' | sed -n "s/^dev\.[0-9]*\.shutdown\.$1=//p"
}
r=$(harness ctl shutdown-guest flags 8)
echo "$r" | grep -q "^ok" || fail "the host could not send the request with flags 8: $r"
i=0
until [ "$(shutdown_stat failed)" = 1 ]; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "no failure status for flags 8 (host: $(harness ctl stats | tr ' ' '\n' | grep shutdown | tr '\n' ' '))"
	sleep 0.2
done
st=$(shutdown_stat last_status)
# HV_E_FAIL, 0x80004005.
[ "$st" = 2147500037 ] || fail "flags 8 answered with status $st, not HV_E_FAIL"
wait_dmesg "shutdown: request with unknown flags 0x8 refused" 10 || fail "no log of the refused flags"
sleep 3
dmesg | grep -q "the host asked for a power-off" && fail "flags 8 started a power-off"
echo "@@SHUTDOWN flags 8 refused with HV_E_FAIL; guest up 3 s later"
r=$(harness ctl shutdown-guest poweroff)
echo "$r" | grep -q "^ok" || fail "the host could not send the request: $r"
sleep 60
fail "still running 60 s after the host's shutdown request"
