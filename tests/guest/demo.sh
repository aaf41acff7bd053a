# SPDX-License-Identifier: GPL-2.0
# What `make run` shows: the module finds the host and connects, the bus
# lists its devices, the sample drivers load by MODALIAS and bind,
# heartbeats flow, the echo driver runs a checked transfer, and the host
# asks the guest to shut down over VMBus: the guest powers itself off.
SCEN=demo
. /scenarios/lib.sh
echo "== guest: $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
echo "== PCI devices (vendor:device):"
for d in /sys/bus/pci/devices/*; do
	echo "   $(basename $d) $(cat $d/vendor):$(cat $d/device) driver=$(basename $(readlink $d/driver 2>/dev/null) 2>/dev/null)"
done
kdir=/lib/modules/$(uname -r)
mkdir -p $kdir && cp /modules/*.ko $kdir/ && depmod || fail "depmod failed"
echo "== modprobe rvmbus (a uevent listener modprobes each device's MODALIAS, as udev does)"
cat > /tmp/hotplug <<'H'
#!/bin/sh
[ "$ACTION" = add ] && [ -n "$MODALIAS" ] && modprobe -q "$MODALIAS"
exit 0
H
chmod +x /tmp/hotplug
uevent /tmp/hotplug &
sleep 0.5
modprobe rvmbus || fail "modprobe rvmbus failed"
echo "== connection: $(ctl status)"
i=0
while [ $(ls /sys/bus/vmbus/drivers/*/ 2>/dev/null | grep -c -- -) -lt 4 ] && [ $i -lt 100 ]; do
	i=$((i + 1)); sleep 0.1
done
echo "== the vmbus bus (/sys/bus/vmbus/devices):"
for d in /sys/bus/vmbus/devices/*; do
	echo "   relid $(cat $d/id) class $(cat $d/class_id) state $(cat $d/state) monitor $(cat $d/monitor_id) cpu $(cat $d/channels/*/cpu | head -1) driver $(driver_of $d)"
	echo "      $(basename $d) $(cat $d/modalias)"
done
echo "== drivers: $(ls /sys/bus/vmbus/drivers | tr '\n' ' ')"
echo "== heartbeats (the host sends one every 500 ms):"
wait_dmesg "heartbeat 10 answered" 100 || fail "fewer than 10 heartbeats"
dmesg | grep -E "rvmbus_heartbeat|rvmbus_timesync" | sed 's/^/   /'
harness ctl stats | tr ' ' '\n' | grep "heartbeat\." | sed 's/^/   host: /'
echo "== echo driver: 200 requests of 1 to 200 bytes, then 100 of 8000 bytes"
echo "200 0" > /sys/kernel/debug/rvmbus_echo/run || fail "echo run failed"
cat /sys/kernel/debug/rvmbus_echo/run | sed 's/^/   /'
echo "100 8000" > /sys/kernel/debug/rvmbus_echo/run || fail "echo run failed"
cat /sys/kernel/debug/rvmbus_echo/run | sed 's/^/   /'
d=$(dev_of_class $ECHO)
echo "   ring: out_write_index $(cat $d/out_write_index) in_read_index $(cat $d/in_read_index) events $(cat $d/channels/*/events) interrupts $(cat $d/channels/*/interrupts)"
echo "== MSI-X interrupts of rvmbus:"
grep rvmbus /proc/interrupts | sed 's/^/   /'
echo "== the host asks the guest to shut down (shutdown IC); the guest powers itself off"
wait_host_negotiated shutdown 10 || fail "the host never saw the shutdown negotiation"
harness ctl shutdown-guest poweroff | sed 's/^/   host: /'
sleep 60
fail "still running 60 s after the host's shutdown request"
