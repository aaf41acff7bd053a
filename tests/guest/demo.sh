# SPDX-License-Identifier: GPL-2.0
# What `make run` shows: the module finds the host, proves the transport,
# and unloads.
SCEN=demo
. /scenarios/lib.sh
echo "== guest: $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
echo "== PCI devices (vendor:device):"
for d in /sys/bus/pci/devices/*; do
	echo "   $(basename $d) $(cat $d/vendor):$(cat $d/device) driver=$(basename $(readlink $d/driver 2>/dev/null) 2>/dev/null)"
done
echo "== insmod rvmbus.ko"
insmod $MOD || fail "insmod failed"
echo "== bound devices:"
ls /sys/bus/pci/drivers/rvmbus | grep : | sed 's/^/   /'
echo "== MSI-X interrupts of rvmbus:"
grep rvmbus /proc/interrupts | sed 's/^/   /'
echo "== rmmod rvmbus"
rmmod rvmbus || fail "rmmod failed"
pass "demo finished"
