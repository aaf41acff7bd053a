# SPDX-License-Identifier: GPL-2.0
# The host rescinds the echo device while its driver moves traffic, and
# offers the same instance again: the driver hears of the rescind exactly
# once, every outstanding request is cancelled (none lost), the device goes,
# the relid is released, and the re-offered instance binds a fresh device
# that carries traffic.
SCEN=driver-rescind
. /scenarios/lib.sh
RUN=/sys/kernel/debug/rvmbus_echo/run
insmod $MOD || fail "insmod rvmbus failed"
insmod /modules/rvmbus_echo.ko || fail "insmod rvmbus_echo failed"
d=$(dev_of_class $ECHO) || fail "no echo device"
inst=${d##*/}
old=$(cat $d/id)
(echo "1000000 2000" > $RUN) 2>/dev/null &
bg=$!
sleep 2
r=$(harness ctl reoffer $old)
echo "$r" | grep -q "^ok" || fail "the host could not re-offer: $r"
wait $bg
check_cut_short_run
n=$(dmesg | grep -c "relid $old: echo device rescinded")
[ "$n" = 1 ] || fail "the driver heard of the rescind $n times"
expect_dmesg "relid $old: echo device removed, 0 requests without completion"
wait_dmesg "relid $old released" 50 || fail "relid $old not released"
# The same instance, offered again under a new relid, binds again.
i=0
until [ -e /sys/bus/vmbus/devices/$inst/driver ]; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "re-offered instance $inst not bound"
	sleep 0.1
done
new=$(cat /sys/bus/vmbus/devices/$inst/id)
[ "$new" != "$old" ] || fail "re-offer kept relid $old"
echo "100 1000" > $RUN || fail "run on the re-offered device failed"
r=$(cat $RUN); echo "$r"
echo "$r" | grep -q "relid=$new sent=100 completed=100 cancelled=0 mismatched=0 failed=0 lost=0" || fail "run after re-offer: $r"
rmmod rvmbus_echo || fail "rmmod rvmbus_echo failed"
rmmod rvmbus || fail "rmmod rvmbus failed"
pass "rescind under traffic: sent=$sent completed=$done_ cancelled=$canc lost=0, one rescind notice, relid $old released; re-offer as relid $new bound and carried 100 requests"
