# SPDX-License-Identifier: GPL-2.0
# Allocation failures (debug kernel: failslab and fail_page_alloc) at every
# allocation of connecting to the host and of opening a channel (its ring
# pages, ring GPADL and messages): each ends in a clean error or a clean
# recovery, the bus keeps working afterwards, and nothing leaks (kmemleak
# scans after the scenario; the page audit at rmmod must say every shared
# page was freed).
#
# /proc/self/fail-nth makes the Nth allocation of one task fail. Connecting
# runs in the task that binds the ivshmem PCI device (the probe) and
# opening in the task that writes the control file, so a subshell sets
# fail-nth and then writes, with shell builtins only (an exec would spend
# the count). N goes up from 1 until the write no longer uses it up: then
# every allocation on the way has failed once.
#
# Connecting makes several hundred allocations (the driver core, MSI-X, the
# devices' sysfs), and a connect that survives its failure takes seconds on
# the debug kernel. So rvmbus.faults=D,P on the kernel command line: every N
# up to D, then steps of P percent up to the end (make test: 40,15; make
# stress: every one). The summary says how many were tried of how many.
SCEN=fault-inject
. /scenarios/lib.sh
[ -d /sys/kernel/debug/failslab ] || fail "no failslab (not the debug kernel?)"
PCIDEV=$(ivshmem_pcidev) || fail "no ivshmem PCI device"
DRV=/sys/bus/pci/drivers/rvmbus
# At most this many allocations per operation (a safety stop).
MAX=5000
faults=$(sed -n 's/.*rvmbus\.faults=\([0-9]*,[0-9]*\).*/\1/p' /proc/cmdline)
faults=${faults:-40,15}
DENSE=${faults%,*}; STEP=${faults#*,}
# The allocation to fail after $1.
next_n() {
	if [ $1 -lt $DENSE ] || [ $STEP = 0 ]; then
		echo $(($1 + 1))
	else
		s=$(($1 * STEP / 100)); [ $s -ge 1 ] || s=1
		echo $(($1 + s))
	fi
}

# GFP_KERNEL allocations and order-0 pages fail too (by default both are
# exempt); verbose 1 logs each forced failure in one line, without a stack.
for f in failslab fail_page_alloc; do
	echo N > /sys/kernel/debug/$f/ignore-gfp-wait
	echo 1 > /sys/kernel/debug/$f/verbose
done
echo N > /sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem
echo 0 > /sys/kernel/debug/fail_page_alloc/min-order

# Runs "echo $2 > $3" with the $1-th allocation of the writing task made to
# fail. Sets $rc (the write's status) and $used (whether the failure
# happened, in the write or in reading the count back afterwards; then N
# did not reach past the write's allocations).
inject() {
	out=$( (
		echo $1 > /proc/self/fail-nth || exit 9
		echo "$2" > $3
		r=$?
		if read left < /proc/self/fail-nth 2>/dev/null && [ "$left" -gt 0 ]; then
			echo "$r unused"
		else
			echo "$r used"
		fi
	) )
	rc=${out%% *}
	case "$out" in *unused) used=0 ;; *) used=1 ;; esac
	[ "$rc" != 9 ] || fail "cannot set /proc/self/fail-nth"
}

insmod $MOD timeout_ms=1000 || fail "insmod failed"
wait_dmesg "all offers delivered: 4 channels" 50 || fail "no offers"
echo $PCIDEV > $DRV/unbind || fail "unbind failed"

# 1. Connecting: the probe maps the device, sets up MSI-X and the SynIC,
# negotiates, takes the offers and adds the devices.
n=0; tried=0; failed=0; recovered=0
while :; do
	prev=$n; n=$(next_n $n); tried=$((tried + 1))
	[ $n -le $MAX ] || fail "connect still allocating after $MAX allocations"
	mark
	inject $n $PCIDEV $DRV/bind
	if [ "$rc" = 0 ]; then
		# Bound despite the failure (or without one): the bus must be whole.
		wait_new "all offers delivered: 4 channels" 50 ||
			fail "bound with allocation $n failed, but the offers did not all come: $(new_lines | tail -3)"
		[ $used = 1 ] && recovered=$((recovered + 1))
		echo $PCIDEV > $DRV/unbind || fail "unbind after connect $n failed"
	else
		[ $used = 1 ] || fail "bind failed with no allocation failure ($n)"
		failed=$((failed + 1))
		[ -e $DRV/$PCIDEV ] && fail "bind $n failed but the device stayed bound"
		[ -z "$(ls /sys/bus/vmbus/devices)" ] || fail "devices left after failed bind $n"
	fi
	[ $used = 1 ] || break
done
# The count of allocations: at least $prev, fewer than $n.
connect_points=$prev; [ $((n - 1)) = $prev ] || connect_points="$prev-$((n - 1))"
connect_tried=$((tried - 1))
echo "@@INFO connect: $connect_tried of its $connect_points allocations failed one at a time: $failed binds failed cleanly, $recovered recovered"

# The bus still connects, and its channels work.
mark
echo $PCIDEV > $DRV/bind || fail "bind after the connect failures failed"
wait_new "all offers delivered: 4 channels" 50 || fail "offers after the connect failures"

# 2. Opening a channel: ring pages, the ring GPADL (its messages), the
# open request and the wait for the host's answer.
n=0; tried=0; ofailed=0; orecovered=0
while :; do
	prev=$n; n=$(next_n $n); tried=$((tried + 1))
	[ $n -le $MAX ] || fail "open still allocating after $MAX allocations"
	inject $n "open 4 0" $CTL
	if [ "$rc" = 0 ]; then
		[ $used = 1 ] && orecovered=$((orecovered + 1))
		r=$(ctl echo 4 10 300) || fail "echo after open $n (allocation $n failed) failed"
		echo "$r" | grep -q "errors=0" || fail "echo after open $n: $r"
		ctl close 4 > /dev/null || fail "close after open $n failed"
	else
		[ $used = 1 ] || fail "open failed with no allocation failure ($n)"
		ofailed=$((ofailed + 1))
	fi
	[ $used = 1 ] || break
done
open_points=$prev; [ $((n - 1)) = $prev ] || open_points="$prev-$((n - 1))"
open_tried=$((tried - 1))
echo "@@INFO open: $open_tried of its $open_points allocations failed one at a time: $ofailed opens failed cleanly, $orecovered recovered"
[ "$(host_stat gpadls)" = 0 ] || fail "the host holds $(host_stat gpadls) GPADLs after the open failures"

# Afterwards: every channel opens and carries data, and unloading frees
# every page the host was given.
ctl open 4 1 > /dev/null || fail "open after the failures failed"
ctl echo 4 50 1000 | grep -q "errors=0" || fail "echo after the failures failed"
ctl close 4 > /dev/null || fail "close after the failures failed"
mark
rmmod rvmbus || fail "rmmod failed"
wait_new "rvmbus: shared pages: [0-9]+ allocations, every one freed" 20 ||
	fail "page audit: $(new_lines | grep 'shared pages')"
forced=$(dmesg | grep -c "FAULT_INJECTION: forcing a failure")
pass "$connect_tried of the $connect_points allocations of connecting ($failed binds failed cleanly, $recovered recovered) and $open_tried of the $open_points of opening a channel ($ofailed opens failed cleanly, $orecovered recovered) failed one at a time ($forced forced failures logged): no crash, the bus works after, every shared page freed, the host holds no GPADL"
