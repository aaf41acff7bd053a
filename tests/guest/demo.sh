# SPDX-License-Identifier: GPL-2.0
# What `make run` shows: the module finds the host, connects, lists the
# bus, moves data through the echo channel, and unloads.
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
echo "== connection: $(ctl status)"
echo "== the vmbus bus (/sys/bus/vmbus/devices):"
for d in /sys/bus/vmbus/devices/*; do
	echo "   relid $(cat $d/id) class $(cat $d/class_id) state $(cat $d/state) monitor $(cat $d/monitor_id) cpu $(cat $d/channels/*/cpu | head -1)"
	echo "      $(basename $d) $(cat $d/modalias)"
done
echo "== echo channel (relid 4): open on CPU 1, 100 packets of 1500 bytes, 10 GPA-direct of 9000 bytes"
ctl open 4 1 | sed 's/^/   /' || fail "open failed"
ctl echo 4 100 1500 | sed 's/^/   /' || fail "echo failed"
ctl echo-gpa 4 10 9000 | sed 's/^/   /' || fail "echo-gpa failed"
d=$(dev_of_relid 4)
echo "   ring: out_write_index $(cat $d/out_write_index) in_read_index $(cat $d/in_read_index) events $(cat $d/channels/4/events) interrupts $(cat $d/channels/4/interrupts)"
ctl close 4 | sed 's/^/   /' || fail "close failed"
echo "== MSI-X interrupts of rvmbus:"
grep rvmbus /proc/interrupts | sed 's/^/   /'
echo "== rmmod rvmbus"
rmmod rvmbus || fail "rmmod failed"
pass "demo finished"
