# SPDX-License-Identifier: GPL-2.0
# Shared body of the bench-scale-N scenarios (make bench-scale; not
# tests): the host offers N echo devices. Measures, from the kernel log's
# time stamps, how long rvmbus takes from binding its PCI device (contact,
# offers) until rvmbus_echo has probed and opened every channel, and the
# kernel memory each channel costs: offered (a device, no driver) and
# open (bound, 64 KiB rings each way). Sourced with $N set; prints one
# @@BENCH line that scripts/bench-guest.py reads.
SCEN=bench-scale-$N
. /scenarios/lib.sh

# The memory counters, in KiB, as "key=value ...". Free is MemFree plus
# the pages waiting in the per-CPU free lists (which MemFree counts as
# used), from /proc/zoneinfo.
meminfo() {
	sync
	awk '/^ +pages free / { f += $3 } / +count: / { f += $2 }
		END { printf "Free=%d ", f * 4 }' /proc/zoneinfo
	awk '/^(MemFree|Slab|SUnreclaim|KernelStack|PageTables|Percpu|VmallocUsed):/ {
		sub(":", "", $1); printf "%s=%s ", $1, $2 }' /proc/meminfo
}

# The time stamp (seconds) of the last kernel log line after the mark
# that matches $1.
stamp() { new_lines | grep -E "$1" | tail -1 | sed -n 's/^\[ *\([0-9]*\.[0-9]*\)\].*/\1/p'; }

# Waits up to $2 seconds until $1 lines after the mark say a device is ready.
wait_ready() {
	i=0
	until [ "$(count_new 'echo device ready')" -ge "$1" ]; do
		i=$((i + 1)); [ $i -gt $(($2 * 10)) ] && fail "$(count_new 'echo device ready') of $1 echo devices ready"
		sleep 0.1
	done
}

# How long to wait for N devices (seconds): TCG on a busy machine.
WAIT=$((N / 4 + 120))

# The serial console is slow under TCG: keep kernel messages off it while
# timing (dmesg still has them).
dmesg -n 1
m0=$(meminfo)
insmod $MOD || fail "insmod rvmbus failed"
# Offers that take longer than rvmbus's wait at load go on arriving.
i=0
until [ "$(ls /sys/bus/vmbus/devices | wc -l)" -ge "$N" ]; do
	i=$((i + 1)); [ $i -gt $((WAIT * 10)) ] && break
	sleep 0.1
done
n=$(ls /sys/bus/vmbus/devices | wc -l)
[ "$n" = "$N" ] || fail "$n devices, want $N"
m1=$(meminfo)
mark
insmod /modules/rvmbus_echo.ko || fail "insmod rvmbus_echo failed"
wait_ready $N $WAIT
m2=$(meminfo)
# Connect to all probed, with the driver loaded: unbind rvmbus from its
# PCI device (the devices go) and bind it again.
pci=$(ls /sys/bus/pci/drivers/rvmbus | grep ':' | head -1)
[ -n "$pci" ] || fail "rvmbus is bound to no PCI device"
echo "$pci" > /sys/bus/pci/drivers/rvmbus/unbind || fail "unbind failed"
[ "$(ls /sys/bus/vmbus/devices | wc -l)" = 0 ] || fail "devices left after unbind"
m3=$(meminfo)
mark
echo "rvmbus-bench: bind" > /dev/kmsg
echo "$pci" > /sys/bus/pci/drivers/rvmbus/bind || fail "bind failed"
wait_ready $N $WAIT
t0=$(stamp 'rvmbus-bench: bind')
t1=$(stamp 'connected to the host')
t2=$(stamp 'all offers delivered')
t3=$(stamp 'echo device ready')
m4=$(meminfo)
# Once more, for the memory: nothing but rvmbus and the driver runs
# between these two readings.
echo "$pci" > /sys/bus/pci/drivers/rvmbus/unbind || fail "second unbind failed"
m5=$(meminfo)
mark
echo "$pci" > /sys/bus/pci/drivers/rvmbus/bind || fail "second bind failed"
wait_ready $N $WAIT
m6=$(meminfo)
# More timed connects, for the spread: each one unbind, bind, all probed.
REPEAT=$(sed -n 's/.*rvmbus\.bench_repeat=\([0-9]*\).*/\1/p' /proc/cmdline)
REPEAT=${REPEAT:-3}
reps="rep=$t0,$t1,$t2,$t3"
k=1
while [ $k -lt $REPEAT ]; do
	echo "$pci" > /sys/bus/pci/drivers/rvmbus/unbind || fail "unbind $k failed"
	mark
	echo "rvmbus-bench: bind" > /dev/kmsg
	echo "$pci" > /sys/bus/pci/drivers/rvmbus/bind || fail "bind $k failed"
	wait_ready $N $WAIT
	reps="$reps rep=$(stamp 'rvmbus-bench: bind'),$(stamp 'connected to the host'),$(stamp 'all offers delivered'),$(stamp 'echo device ready')"
	k=$((k + 1))
done
dmesg -n 7
echo "@@BENCH kind=scale n=$N t_bind=$t0 t_connected=$t1 t_offers=$t2 t_probed=$t3" \
	"base: $m0 offered: $m1 open: $m2 unbound: $m3 rebound: $m4 unbound2: $m5 rebound2: $m6"
echo "@@BENCH kind=scale-reps n=$N $reps"
rmmod rvmbus_echo || fail "rmmod rvmbus_echo failed"
rmmod rvmbus || fail "rmmod rvmbus failed"
audit=$(dmesg | grep "shared pages:" | tail -1)
echo "@@BENCH kind=audit n=$N ${audit#*shared pages: }"
pass "$N echo channels probed and opened twice"
