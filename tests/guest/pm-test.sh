# SPDX-License-Identifier: GPL-2.0
# Suspend-to-RAM through each of the PM core's test levels
# (/sys/power/pm_test, CONFIG_PM_DEBUG: the debug kernel only). From
# "devices" on, the bus suspends and resumes every bound driver; at
# "freezer" only tasks freeze. Echo traffic and heartbeats flow after each
# level, and nothing is lost.
SCEN=pm-test
. /scenarios/lib.sh
[ -e /sys/power/pm_test ] || fail "no /sys/power/pm_test: this kernel lacks CONFIG_PM_DEBUG (run it on the debug kernel)"
insmod $MOD || fail "insmod rvmbus failed"
insmod /modules/rvmbus_echo.ko || fail "insmod rvmbus_echo failed"
insmod /modules/rvmbus_heartbeat.ko || fail "insmod rvmbus_heartbeat failed"
wait_dmesg "heartbeat 1 answered" 100 || fail "no heartbeat"
echo_run_ok 50 "before"
echo 1 > /sys/module/suspend/parameters/pm_test_delay 2>/dev/null
levels="freezer devices platform processors core"
for level in $levels; do
	mark
	echo $level > /sys/power/pm_test || fail "pm_test $level refused"
	echo mem > /sys/power/state || fail "suspend with pm_test=$level failed: $(dmesg | tail -3)"
	s=$(count_new "relid 4: suspend$"); r=$(count_new "relid 4: resume$")
	case $level in
	freezer) [ "$s$r" = 00 ] || fail "pm_test=freezer ran device callbacks ($s suspends, $r resumes)" ;;
	*) [ "$s$r" = 11 ] || fail "pm_test=$level: $s suspends and $r resumes of the echo driver, want 1 and 1" ;;
	esac
	echo_run_ok 50 "after pm_test=$level"
done
echo none > /sys/power/pm_test
heartbeats_go_on 150 || fail "heartbeats stopped (last $beat)"
rmmod rvmbus_heartbeat && rmmod rvmbus_echo && rmmod rvmbus || fail "unload failed"
pass "pm_test levels $levels: device callbacks from 'devices' on, 50 echo requests after each, heartbeats past $beat"
