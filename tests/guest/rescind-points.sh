# SPDX-License-Identifier: GPL-2.0
# The host rescinds a channel at each point of its life where drivers have
# crashed in the field: before any driver probed it, while its driver's
# probe runs, while it opens (GPADL created, no open result), while it
# closes (teardown posted), and while the guest is suspended (S3). Each
# time the guest tears down in order, releases the relid, keeps the other
# channels working (heartbeats), and frees ring memory only after the host
# gave it back. (Rescind under traffic: driver-rescind.)
SCEN=rescind-points
. /scenarios/lib.sh
RUN=/sys/kernel/debug/rvmbus_echo/run
insmod $MOD || fail "insmod rvmbus failed"
insmod /modules/rvmbus_heartbeat.ko || fail "insmod rvmbus_heartbeat failed"
wait_dmesg "heartbeat 1 answered" 50 || fail "no heartbeat"

# 1. Before any driver probed it: no echo driver is loaded yet.
mark
r1=$(host_offer echo)
wait_new "offer: relid $r1 " 50 || fail "no offer of relid $r1"
dev_of_relid $r1 >/dev/null || fail "relid $r1 has no device"
harness ctl rescind $r1 | grep -q "^ok" || fail "rescind $r1 failed"
wait_gone $r1 || fail "relid $r1 still on the bus"
wait_new "relid $r1 released" 50 || fail "relid $r1 not released"

# 2. During probe: the driver's probe sleeps 3 s; the rescind comes then.
mark
r2=$(host_offer echo)
wait_new "offer: relid $r2 " 50 || fail "no offer of relid $r2"
insmod /modules/rvmbus_echo.ko probe_delay_ms=3000 &
ins=$!
wait_new "relid $r2: probe sleeps" 150 || fail "probe of relid $r2 did not start"
harness ctl rescind $r2 | grep -q "^ok" || fail "rescind $r2 failed"
wait $ins || fail "insmod rvmbus_echo failed"
wait_new "relid $r2 released" 100 || fail "relid $r2 not released after a rescind during probe"
wait_gone $r2 || fail "relid $r2 still on the bus"
[ $(count_new "channel $r2: rescinded while its driver probed; not starting it") = 1 ] || fail "no probe-time rescind notice for relid $r2"
[ $(count_new "relid $r2: echo device rescinded") = 1 ] || fail "driver told of the probe-time rescind $(count_new "relid $r2: echo device rescinded") times"
[ $(count_new "relid $r2: echo device ready") = 0 ] || fail "relid $r2 was started after its rescind"
echo "20 500" > $RUN || fail "echo run on relid 4 failed"
grep -q "relid=4 sent=20 completed=20" $RUN || fail "relid 4 after the probe rescind: $(cat $RUN)"

# 3. While opening: the host answers OPEN_CHANNEL with a rescind.
mark
harness ctl hostile rescind-mid-open on | grep -q "^ok" || fail "hostile on"
r3=$(host_offer echo)
wait_new "relid $r3 released" 100 || fail "relid $r3 not released after a rescind mid-open"
wait_gone $r3 || fail "relid $r3 still on the bus"
harness ctl hostile rescind-mid-open off | grep -q "^ok" || fail "hostile off"
# The ring GPADL was created: the guest tore it down before reusing its
# memory.
g=$(host_stat gpadls)

# 4. While closing: the host rescinds on CLOSE_CHANNEL, before it answers
# the ring GPADL's teardown.
mark
r4=$(host_offer echo)
wait_bound $r4 || fail "relid $r4 not bound"
wait_new "relid $r4: echo device ready" 50 || fail "relid $r4 not started"
harness ctl hostile rescind-on-close on | grep -q "^ok" || fail "hostile on"
inst=$(basename $(dev_of_relid $r4))
echo $inst > /sys/bus/vmbus/drivers/rvmbus_echo/unbind || fail "unbind of relid $r4 failed"
wait_new "relid $r4 released" 100 || fail "relid $r4 not released after a rescind while closing"
[ $(count_new "channel $r4 closed") = 1 ] || fail "relid $r4 did not finish closing"
harness ctl hostile rescind-on-close off | grep -q "^ok" || fail "hostile off"

# 5. While suspended (S3): the rescind is posted while the guest sleeps.
mark
r5=$(host_offer echo)
wait_bound $r5 || fail "relid $r5 not bound"
wait_new "relid $r5: echo device ready" 50 || fail "relid $r5 not started"
hb=$(last_beat)
harness ctl-after 2 rescind $r5 | grep -q "^ok" || fail "ctl-after refused"
harness wake-after 5 | grep -q "^ok" || fail "harness cannot wake the guest"
echo mem > /sys/power/state || fail "suspend failed"
wait_new "relid $r5 released" 100 || fail "relid $r5 not released after a rescind during suspend"
wait_gone $r5 || fail "relid $r5 still on the bus"
[ $(count_new "relid $r5: echo device rescinded") = 1 ] || fail "driver told of the S3 rescind $(count_new "relid $r5: echo device rescinded") times"

# The rest kept working and every ring came back.
echo "50 1000" > $RUN || fail "echo run on relid 4 failed at the end"
grep -q "relid=4 sent=50 completed=50 cancelled=0 mismatched=0 failed=0 lost=0" $RUN || fail "relid 4 at the end: $(cat $RUN)"
wait_dmesg "heartbeat $(( (hb / 10 + 2) * 10 )) answered" 150 || fail "heartbeats stopped (last before S3 $hb)"
expect_no_kept_memory
rmmod rvmbus_echo && rmmod rvmbus_heartbeat || fail "unloading the drivers failed"
rmmod rvmbus || fail "rmmod rvmbus failed"
expect_dmesg "host released all memory"
pass "rescind before probe (relid $r1), during probe ($r2), mid-open ($r3), while closing ($r4), during S3 ($r5): each released, driver told once, no memory kept; echo and heartbeats kept working (host GPADLs after mid-open: $g)"
