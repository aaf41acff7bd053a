# SPDX-License-Identifier: GPL-2.0
# Module autoload and load order. With the modules installed and depmod'ed,
# a uevent listener does what udev does (modprobe $MODALIAS for each new
# device): loading rvmbus alone brings in every sample driver through its
# alias, and each binds. Then a driver registered while the bus has no
# devices (the transport unbound) binds when they come back.
SCEN=driver-autoload
. /scenarios/lib.sh
kdir=/lib/modules/$(uname -r)
mkdir -p $kdir
cp /modules/*.ko $kdir/
depmod || fail "depmod failed"
for m in echo heartbeat shutdown timesync; do
	grep -q "rvmbus_$m" $kdir/modules.alias || fail "modules.alias has no alias for rvmbus_$m"
done
# The uevent helper: for every uevent with a MODALIAS, modprobe it.
cat > /tmp/hotplug <<'H'
#!/bin/sh
[ "$ACTION" = add ] && [ -n "$MODALIAS" ] && modprobe -q "$MODALIAS" && echo "autoload: $MODALIAS" > /dev/console
exit 0
H
chmod +x /tmp/hotplug
uevent /tmp/hotplug &
listener=$!
sleep 0.5
modprobe rvmbus || fail "modprobe rvmbus failed"
for c in $ECHO $HEARTBEAT $SHUTDOWN $TIMESYNC; do
	d=$(dev_of_class $c) || fail "no device of class $c"
	i=0
	until [ -e $d/driver ]; do
		i=$((i + 1)); [ $i -gt 100 ] && fail "device ${d##*/} ($(cat $d/modalias)) got no driver by autoload"
		sleep 0.1
	done
	echo "${d##*/}: $(cat $d/modalias) -> $(driver_of $d)"
done
for m in echo heartbeat shutdown timesync; do
	grep -q "^rvmbus_$m " /proc/modules || fail "rvmbus_$m not loaded"
done
kill $listener
for m in echo heartbeat shutdown timesync; do
	rmmod rvmbus_$m || fail "rmmod rvmbus_$m failed"
done
# Load order: the transport unbound, the bus has no devices; a driver
# registered now binds when the devices come back.
pci=$(ls /sys/bus/pci/drivers/rvmbus | grep '^0000:' | head -1)
[ -n "$pci" ] || fail "no PCI device bound to rvmbus"
echo $pci > /sys/bus/pci/drivers/rvmbus/unbind || fail "unbind of $pci failed"
[ -z "$(ls /sys/bus/vmbus/devices)" ] || fail "devices left after unbind: $(ls /sys/bus/vmbus/devices)"
insmod $kdir/rvmbus_heartbeat.ko || fail "insmod rvmbus_heartbeat with no devices failed"
[ -d /sys/bus/vmbus/drivers/rvmbus_heartbeat ] || fail "driver not registered"
echo $pci > /sys/bus/pci/drivers/rvmbus/bind || fail "bind of $pci failed"
hb=$(dev_of_class $HEARTBEAT) || fail "no heartbeat device after rebind"
[ "$(driver_of $hb)" = rvmbus_heartbeat ] || fail "heartbeat device bound to '$(driver_of $hb)' after rebind"
wait_dmesg "heartbeat 1 answered" 50 || fail "no heartbeat answered after rebind"
# The transport goes away under a bound driver: it is unbound first, its
# channel closed, then the connection unloads.
echo $pci > /sys/bus/pci/drivers/rvmbus/unbind || fail "second unbind failed"
expect_dmesg "rvmbus_heartbeat: removed after [0-9]+ heartbeats"
expect_dmesg "unloaded: 4 channels removed, host released all memory"
rmmod rvmbus_heartbeat || fail "rmmod rvmbus_heartbeat failed"
rmmod rvmbus || fail "rmmod rvmbus failed"
pass "modprobe rvmbus autoloaded and bound all 4 sample drivers by MODALIAS; a driver loaded while the bus had no devices bound when they came; unbinding the transport unbound it first"
