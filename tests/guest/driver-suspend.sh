# SPDX-License-Identifier: GPL-2.0
# Real suspend-to-RAM through the kernel's PM core (ACPI S3; the harness
# wakes the guest through QEMU's monitor): the bus suspends each bound
# driver (callbacks stopped, requests cancelled, sends refused) and resumes
# it; heartbeats and echo traffic flow again afterwards.
SCEN=driver-suspend
. /scenarios/lib.sh
RUN=/sys/kernel/debug/rvmbus_echo/run
insmod $MOD || fail "insmod rvmbus failed"
insmod /modules/rvmbus_echo.ko || fail "insmod rvmbus_echo failed"
insmod /modules/rvmbus_heartbeat.ko || fail "insmod rvmbus_heartbeat failed"
wait_dmesg "heartbeat 1 answered" 50 || fail "no heartbeat before suspend"
echo "100 1000" > $RUN || fail "run before suspend failed"
grep -q "sent=100 completed=100" $RUN || fail "run before suspend: $(cat $RUN)"
r=$(harness wake-after 4)
[ "$r" = ok ] || fail "harness cannot wake the guest: $r"
echo mem > /sys/power/state || fail "suspend failed: $(dmesg | tail -5)"
[ "$(cat /sys/power/suspend_stats/success)" = 1 ] || fail "suspend_stats/success is $(cat /sys/power/suspend_stats/success)"
expect_dmesg "relid 4: suspend"
expect_dmesg "relid 4: resume"
expect_dmesg "rvmbus_heartbeat: suspended after [0-9]+ heartbeats"
d=$(dev_of_class $ECHO)
[ "$(cat $d/state)" = 3 ] || fail "echo channel state $(cat $d/state) after resume"
echo "100 1000" > $RUN || fail "run after resume failed: $(dmesg | tail -5)"
r=$(cat $RUN); echo "$r"
echo "$r" | grep -q "sent=100 completed=100 cancelled=0 mismatched=0 failed=0 lost=0" || fail "run after resume: $r"
heartbeats_go_on 100 || fail "heartbeats stopped after resume (last $beat)"
rmmod rvmbus_heartbeat && rmmod rvmbus_echo && rmmod rvmbus || fail "unload after resume failed"
pass "S3 suspend and resume: drivers suspended and resumed, 100 echo requests before and after, heartbeats continued past $beat"
