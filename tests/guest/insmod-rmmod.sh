# SPDX-License-Identifier: GPL-2.0
# rvmbus.ko loads against a live host, binds the ivshmem device, unloads
# cleanly, and does so again.
SCEN=insmod-rmmod
. /scenarios/lib.sh
for round in 1 2; do
	insmod $MOD || fail "insmod failed in round $round"
	loaded || fail "rvmbus not in /proc/modules after insmod (round $round)"
	[ -e /sys/bus/pci/drivers/rvmbus ] || fail "no /sys/bus/pci/drivers/rvmbus"
	ls /sys/bus/pci/drivers/rvmbus | grep -q ':' || fail "no device bound to rvmbus"
	rmmod rvmbus || fail "rmmod failed in round $round"
	loaded && fail "rvmbus still loaded after rmmod (round $round)"
	[ -e /sys/bus/pci/drivers/rvmbus ] && fail "driver directory left behind after rmmod"
done
n=$(dmesg | grep -c 'detached from the host')
[ "$n" -eq 2 ] || fail "expected 2 clean detaches, saw $n"
pass "2 insmod/rmmod rounds, device bound and released each time"
