# SPDX-License-Identifier: GPL-2.0
# rvmbus against old hosts. First Windows Server 2012 (VMBus 2.4 only,
# connection id 1), which does not know UNLOAD: the guest connects, moves
# data, and unloads without sending UNLOAD or waiting for an answer that
# cannot come (Linux sends it from 3.0 on); the pages that host was given
# stay kept. Then a 3.0 host (see bus-common.sh).
SCEN=bus-old
. /scenarios/lib.sh
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

harness ctl set-profile ws2012 | grep -q "^ok" || fail "set-profile ws2012"
mark
insmod $MOD || fail "insmod against a 2.4 host failed"
wait_new "connected to the host: VMBus version 2.4, message connection id 1," 10 || fail "no 2.4 connection: $(new_lines | grep 'rvmbus:' | head -3)"
wait_new "all offers delivered: 4 channels" 10 || fail "offers at 2.4"
ctl open 4 0 >/dev/null || fail "open at 2.4"
ctl echo 4 20 300 | grep -q "packets=20 .*errors=0" || fail "echo at 2.4"
ctl close 4 >/dev/null || fail "close at 2.4"
u0=$(host_stat unloads); r0=$(host_stat refused)
t0=$(now_ms)
rmmod rvmbus || fail "rmmod at 2.4 failed"
dt=$(( $(now_ms) - t0 ))
wait_new "UNLOAD not sent: VMBus 2.4 hosts do not know it" 10 || fail "no word of the UNLOAD not sent: $(new_lines | grep -i unload)"
[ "$(host_stat unloads)" = "$u0" ] && [ "$(host_stat refused)" = "$r0" ] ||
	fail "the 2.4 host got an UNLOAD (unloads $u0 -> $(host_stat unloads), refused $r0 -> $(host_stat refused))"
[ $dt -lt 1500 ] || fail "rmmod at 2.4 took $dt ms: it waited for an answer"
wait_new "shared pages: [0-9]+ allocations, all freed but [0-9]+ KiB kept for the host" 10 ||
	fail "the pages the 2.4 host was given were not kept: $(new_lines | grep 'shared pages')"
ws2012="2.4 host: echo worked, no UNLOAD sent, rmmod in $dt ms, its pages kept"
harness ctl set-profile old | grep -q "^ok" || fail "set-profile old"

VERSION=3.0
CONNID=1
PASS_MORE="; $ws2012"
. /scenarios/bus-common.sh
