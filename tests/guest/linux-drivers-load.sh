# SPDX-License-Identifier: GPL-2.0
# Linux's own hv_storvsc and hv_netvsc load on rvmbus with every symbol
# they import resolved (no "Unknown symbol", which fails any scenario) and
# from rvmbus.ko (its holders), and register on its bus. On Debian's cloud
# kernel, whose hv_vmbus is built in, they are built from the kernel's
# unchanged source and retargeted at rvmbus (linux-drivers/): out of tree,
# taint O. On the debug kernel, whose hv_vmbus is a module, they are that
# kernel's own modules, unrebuilt: in tree, no taint O. The test host
# offers no storage or network device, so neither binds; both unload
# cleanly, and rvmbus after them. Twice, for what the first unload may have left behind.
SCEN=linux-drivers-load
. /scenarios/lib.sh
STOR=/modules/linux/hv_storvsc.ko
NET=/modules/linux/hv_netvsc.ko
for m in $STOR $NET; do
	[ -f $m ] || fail "no $m in the initramfs (make modules builds it)"
done
insmod $MOD || fail "insmod rvmbus failed"
load_linux_deps
for round in 1 2; do
	insmod $STOR || fail "insmod hv_storvsc failed (round $round)"
	insmod $NET || fail "insmod hv_netvsc failed (round $round)"
	for d in hv_storvsc hv_netvsc; do
		grep -q "^$d " /proc/modules || fail "$d not in /proc/modules"
		[ -d /sys/bus/vmbus/drivers/$d ] || fail "$d not registered on rvmbus's bus"
		ls /sys/bus/vmbus/drivers/$d | grep -q -- '-' && fail "$d bound to a device the host does not offer"
		[ -e /sys/module/rvmbus/holders/$d ] || fail "$d does not use rvmbus.ko's symbols (not among its holders)"
	done
	[ -e /sys/module/hv_vmbus/holders ] && fail "hv_vmbus.ko is loaded"
	for d in hv_storvsc hv_netvsc; do
		t=$(cat /sys/module/$d/taint)
		case "$(uname -r):$t" in
		*-rvmbus-debug:*O*) fail "the debug kernel's own $d is out of tree (taint $t)" ;;
		*-rvmbus-debug:*) kind="the kernel's own in-tree modules (no taint O)" ;;
		*:*O*) kind="built out of tree for rvmbus (taint O)" ;;
		*) fail "the retargeted $d is not out of tree (taint '$t')" ;;
		esac
	done
	rmmod hv_netvsc || fail "rmmod hv_netvsc failed (round $round)"
	rmmod hv_storvsc || fail "rmmod hv_storvsc failed (round $round)"
	for d in hv_storvsc hv_netvsc; do
		grep -q "^$d " /proc/modules && fail "$d still loaded"
		[ -e /sys/bus/vmbus/drivers/$d ] && fail "$d still registered"
	done
done
expect_dmesg_count "rvmbus: registering hv_vmbus driver hv_(storvsc|netvsc)" 4
rmmod rvmbus || fail "rmmod rvmbus failed"
expect_no_kept_memory
pass "hv_storvsc and hv_netvsc, $kind, loaded and unloaded twice on rvmbus, every symbol resolved from rvmbus.ko"
