# SPDX-License-Identifier: GPL-2.0
# The echo sample driver binds to the echo device by class, opens its
# channel and moves checked traffic; rvmbus cannot be unloaded under it;
# unloading the driver unbinds and closes; unloading it while a run is in
# flight cancels what is outstanding (nothing is lost). The driver's
# completions run in the channel's tasklet: rvmbus's hop counters (ctl
# path) count no work item between the interrupt and the driver
# (kick_to_driver) and count the tasklet's deliveries (tasklet_dispatch);
# with rust_cb_work=1 (the old path) it is the other way round.
SCEN=driver-echo
. /scenarios/lib.sh
RUN=/sys/kernel/debug/rvmbus_echo/run

# The count of hop $1 in rvmbus's hop counters (ctl path: NAME=COUNT/NS).
hop_n() {
	ctl path | tr ' ' '\n' | sed -n "s|^$1=\([0-9]*\)/.*|\1|p"
}
insmod $MOD || fail "insmod rvmbus failed"
d=$(dev_of_relid 4) || fail "no echo device (relid 4)"
insmod /modules/rvmbus_echo.ko || fail "insmod rvmbus_echo failed"
[ -d /sys/bus/vmbus/drivers/rvmbus_echo ] || fail "no /sys/bus/vmbus/drivers/rvmbus_echo"
[ "$(basename $(readlink $d/driver))" = rvmbus_echo ] || fail "echo device not bound: driver=$(readlink $d/driver)"
[ "$(cat $d/state)" = 3 ] || fail "state $(cat $d/state) after bind, want 3 (open)"
for other in /sys/bus/vmbus/devices/*; do
	[ "$other" = "$d" ] && continue
	[ -e $other/driver ] && fail "${other##*/} bound to $(readlink $other/driver)"
done
echo "200 0" > $RUN || fail "echo run failed: $(dmesg | tail -3)"
r=$(cat $RUN); echo "$r"
echo "$r" | grep -q "sent=200 completed=200 cancelled=0 mismatched=0 failed=0 lost=0" || fail "run: $r"
# The ring counters, as Linux counts them: a request written to an empty
# outbound ring signals (intr_out_empty). Then a burst of 40 unsolicited
# 16000-byte packets from the host (ctl echo-burst): 640 KB through the
# 64 KiB inbound ring. Each time the host finds the ring full even after
# setting a pending-send size, it waits (its ring_waits), and the driver's
# read that frees the room must signal (intr_in_full). When the guest
# drains the ring faster than the host fills it, the host's second try
# finds room and no signal is due: under multi-threaded TCG that happened
# through a whole burst (1 run in about 15), so the check applies only when
# the host waited. (bus-azure fills the outbound ring, out_full_*.)
C=$d/channels/4
echo "50 16000" > $RUN || fail "large run failed"
r=$(cat $RUN); echo "$r"
echo "$r" | grep -q "sent=50 completed=50 cancelled=0 mismatched=0 failed=0 lost=0" || fail "large run: $r"
in0=$(cat $C/intr_in_full)
w0=$(host_stat ring_waits)
case "$(harness ctl echo-burst 4 40 16000)" in ok*) ;; *) fail "host: echo-burst failed" ;; esac
i=0
while :; do
	echo "1 8" > $RUN || fail "run after the burst failed"
	stray=$(sed -n 's/.* stray=\([0-9]*\).*/\1/p' $RUN)
	[ "$stray" -ge 40 ] && break
	i=$((i + 1)); [ $i -gt 50 ] && fail "the driver got $stray of the 40 burst packets"
	sleep 0.1
done
set -- $(cat $C/intr_in_full $C/intr_out_empty $C/events $C/out_full_first $C/out_full_total)
waits=$(( $(host_stat ring_waits) - w0 ))
echo "@@INFO intr_in_full=$1 (before the burst $in0) intr_out_empty=$2 events=$3 out_full_first=$4 out_full_total=$5 host_ring_waits=$waits"
[ "$waits" -eq 0 ] || [ "$1" -gt "$in0" ] ||
	fail "the host waited $waits times for room in the inbound ring during the burst, and the driver never signalled (intr_in_full stayed $1)"
[ "$2" -gt 0 ] || fail "intr_out_empty is 0 after 250 requests"
[ $(($1 + $2)) -le "$3" ] || fail "intr_in_full $1 + intr_out_empty $2 > events $3"
[ "$4" -le "$5" ] || fail "out_full_first $4 > out_full_total $5"
# Eight requests in flight: a packet written while the host reads a batch
# is not signalled, and the host must still find it.
BENCH=/sys/kernel/debug/rvmbus_echo/bench
k0=$(hop_n kick_to_driver); t0=$(hop_n tasklet_dispatch)
echo "64 2000 8 4" > $BENCH || fail "windowed run failed: $(dmesg | tail -3)"
r=$(cat $BENCH); echo "$r"
echo "$r" | grep -q " sent=2000 completed=2000 cancelled=0 mismatched=0 failed=0 lost=0 " || fail "windowed run: $r"
kd=$(( $(hop_n kick_to_driver) - k0 )); td=$(( $(hop_n tasklet_dispatch) - t0 ))
echo "@@INFO 2000 requests: kick_to_driver=$kd tasklet_dispatch=$td"
[ "$kd" -eq 0 ] || fail "$kd work items between the interrupt and the driver (kick_to_driver), want 0"
[ "$td" -gt 0 ] || fail "no delivery in the channel's tasklet (tasklet_dispatch stayed $t0)"
rmmod rvmbus 2>/dev/null && fail "rvmbus unloaded while a driver uses it"
rmmod rvmbus_echo || fail "rmmod rvmbus_echo failed"
[ -e $d/driver ] && fail "still bound after rmmod"
[ "$(cat $d/state)" = 2 ] || fail "state $(cat $d/state) after unbind, want 2 (closed: CHANNEL_OPEN_STATE)"
expect_dmesg "relid 4: echo device removed, 0 requests without completion"
# Again, and unload in the middle of a long run.
insmod /modules/rvmbus_echo.ko || fail "second insmod rvmbus_echo failed"
[ "$(cat $d/state)" = 3 ] || fail "state $(cat $d/state) after rebind"
(echo "1000000 2000" > $RUN) 2>/dev/null &
bg=$!
sleep 2
rmmod rvmbus_echo || fail "rmmod during a run failed"
wait $bg
check_cut_short_run
[ "$(cat $d/state)" = 2 ] || fail "state $(cat $d/state) after unload during traffic, want 2"
rmmod rvmbus || fail "rmmod rvmbus failed"
# The old path (rust_cb_work=1): the tasklet queues a work item per event,
# which calls the driver.
insmod $MOD rust_cb_work=1 || fail "insmod rvmbus rust_cb_work=1 failed"
d=$(dev_of_relid 4) || fail "no echo device (relid 4) with rust_cb_work=1"
insmod /modules/rvmbus_echo.ko || fail "insmod rvmbus_echo with rust_cb_work=1 failed"
echo "200 0" > $RUN || fail "echo run with rust_cb_work=1 failed: $(dmesg | tail -3)"
r=$(cat $RUN); echo "$r"
echo "$r" | grep -q "sent=200 completed=200 cancelled=0 mismatched=0 failed=0 lost=0" || fail "run with rust_cb_work=1: $r"
kw=$(hop_n kick_to_driver); tw=$(hop_n tasklet_dispatch)
echo "@@INFO rust_cb_work=1, 200 requests: kick_to_driver=$kw tasklet_dispatch=$tw"
[ "$kw" -gt 0 ] || fail "rust_cb_work=1: no work item between the interrupt and the driver"
[ "$tw" -eq 0 ] || fail "rust_cb_work=1: $tw deliveries in the tasklet, want 0"
rmmod rvmbus_echo || fail "rmmod rvmbus_echo (rust_cb_work=1) failed"
expect_dmesg "relid 4: echo device removed, 0 requests without completion"
rmmod rvmbus || fail "rmmod rvmbus (rust_cb_work=1) failed"
pass "completions in the tasklet (2000 requests: kick_to_driver=$kd tasklet_dispatch=$td; rust_cb_work=1: kick_to_driver=$kw tasklet_dispatch=$tw); bound by class; 200 + 50 requests checked, 2000 with 8 in flight; unbind closes; unload during traffic: sent=$sent completed=$done_ cancelled=$canc lost=0"
