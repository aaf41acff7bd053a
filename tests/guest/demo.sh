# SPDX-License-Identifier: GPL-2.0
# What `make run` shows: the module finds the host and connects, the bus
# lists its devices, drivers load by MODALIAS and bind (the sample drivers
# and Linux's own hv_storvsc and hv_netvsc, retargeted at rvmbus),
# heartbeats flow, the echo driver runs a checked transfer, a SCSI disk of
# the host's holds an ext2 file system with a file that reads back intact,
# eth0 with the host's MAC pings the host's namespace both ways and moves
# data over TCP each way with an MD5 check, and the host asks the guest to
# shut down over VMBus: the guest powers itself off.
SCEN=demo
. /scenarios/lib.sh
. /scenarios/netvsc-lib.sh
NIC_MB=${NIC_MB:-16}
DISK_MB=64
FILE_MB=8
STORCLASS=ba6163d9-04a1-4d29-b605-72e2ffb1dc7f
echo "== guest: $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
echo "== PCI devices (vendor:device):"
for d in /sys/bus/pci/devices/*; do
	echo "   $(basename $d) $(cat $d/vendor):$(cat $d/device) driver=$(basename $(readlink $d/driver 2>/dev/null) 2>/dev/null)"
done
# The modules go where modprobe looks: rvmbus and its samples, Linux's
# hv_storvsc and hv_netvsc built for rvmbus, and Debian's SCSI modules
# (hv_storvsc's dependencies, and sd_mod for its disks) under their own
# names. Not hv_utils: its heartbeat, shutdown and time sync aliases are
# the samples' too.
kdir=/lib/modules/$(uname -r)
mkdir -p $kdir && cp /modules/*.ko $kdir/ || fail "cannot install the modules"
for m in hv_storvsc hv_netvsc; do
	[ -f /modules/linux/$m.ko ] || fail "no /modules/linux/$m.ko in the initramfs (make modules builds it)"
	cp /modules/linux/$m.ko $kdir/
done
for d in /modules/linux/deps/*; do
	[ -f "$d" ] || continue
	n=${d##*/}
	cp $d $kdir/${n#*-}
done
depmod || fail "depmod failed"
echo "== modprobe rvmbus (a uevent listener modprobes each device's MODALIAS, as udev does)"
cat > /tmp/hotplug <<'H'
#!/bin/sh
[ "$ACTION" = add ] && [ -n "$MODALIAS" ] && modprobe -q "$MODALIAS" && echo "$MODALIAS" >> /tmp/autoloaded
exit 0
H
chmod +x /tmp/hotplug
uevent /tmp/hotplug &
sleep 0.5
modprobe rvmbus || fail "modprobe rvmbus failed"
echo "== connection: $(ctl status)"
# Every device offered gets its driver by MODALIAS; hv_netvsc's probe
# (RNDIS, the receive and send buffers) takes a few seconds under TCG.
i=0
until [ -n "$(ls /sys/bus/vmbus/devices)" ] && [ $(ls /sys/bus/vmbus/drivers/*/ 2>/dev/null | grep -c -- -) -ge $(ls /sys/bus/vmbus/devices | wc -l) ]; do
	i=$((i + 1)); [ $i -gt 600 ] && break
	sleep 0.1
done
# How Linux's drivers came: by the storage and network devices' MODALIAS,
# or, should that not have bound them within 60 s, by insmod here.
for m in hv_storvsc:$STORCLASS hv_netvsc:$NETCLASS; do
	drv=${m%%:*}
	d=$(dev_of_class ${m#*:}) || fail "the host offered no device of class ${m#*:} for $drv"
	if [ "$(driver_of $d)" = $drv ] && grep -qx "$(cat $d/modalias)" /tmp/autoloaded; then
		how="loaded by MODALIAS: modprobe $(cat $d/modalias) (the uevent helper)"
	elif grep -q "^$drv " /proc/modules; then
		fail "$drv is loaded but ${d##*/} has driver '$(driver_of $d)' 60 s after modprobe rvmbus"
	else
		insmod $kdir/$drv.ko || fail "insmod $drv failed"
		[ "$(driver_of $d)" = $drv ] || fail "$drv bound no device after insmod"
		how="loaded by insmod (MODALIAS had not loaded it within 60 s)"
	fi
	echo "== $drv: $how"
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

# A disk: the host's SCSI controller with a data disk at LUN 0 (the
# sparse file host-data.img of the harness), through hv_storvsc.
echo "== disk: Linux's hv_storvsc and the host's SCSI controller with a $DISK_MB MiB data disk"
dev=
i=0
while [ -z "$dev" ]; do
	for b in /sys/block/sd*; do
		[ -e "$b/device" ] && dev=${b##*/}
	done
	[ -n "$dev" ] && break
	i=$((i + 1)); [ $i -gt 300 ] && fail "no SCSI disk 30 s after hv_storvsc bound"
	sleep 0.1
done
b=/sys/block/$dev
sz=$(cat $b/size)
[ "$sz" = $((DISK_MB * 2048)) ] || fail "/dev/$dev has $sz sectors, want $((DISK_MB * 2048))"
ctrl=$(ls /sys/bus/vmbus/drivers/hv_storvsc | grep -- - | head -1)
echo "   /dev/$dev: SCSI $(basename $(readlink -f $b/device)) '$(echo $(cat $b/device/vendor $b/device/model))' rev $(echo $(cat $b/device/rev)), $sz sectors = $((sz / 2048)) MiB, driver $(driver_of $b/device), controller vmbus $ctrl"
grep -x "scsi:t-0x00" /tmp/autoloaded > /dev/null && echo "   sd_mod: loaded by MODALIAS: modprobe scsi:t-0x00 (the uevent helper)"
harness ctl disks | sed 's/^ok //; s/^/   host: /'
mke2fs -L demo /dev/$dev > /tmp/err 2>&1 || fail "mke2fs /dev/$dev failed: $(tail -3 /tmp/err)"
mkdir -p /mnt
mount -t ext2 /dev/$dev /mnt || fail "mount /dev/$dev failed"
dd if=/dev/urandom of=/tmp/file bs=1M count=$FILE_MB 2> /dev/null || fail "dd failed"
want=$(md5sum < /tmp/file | cut -d' ' -f1)
cp /tmp/file /mnt/demo.bin || fail "writing /mnt/demo.bin failed"
sync
echo "   mke2fs, mount, wrote /mnt/demo.bin: $FILE_MB MiB, md5 $want"
echo "   NAME MAJ:MIN SIZE RO LOG-SEC ROTA MOUNTPOINT (from /sys/block)"
echo "   $dev $(cat $b/dev) $((sz / 2048))M $(cat $b/ro) $(cat $b/queue/logical_block_size) $(cat $b/queue/rotational) $(grep "^/dev/$dev " /proc/mounts | cut -d' ' -f2)"
df -k /mnt | tail -1 | awk '{ print "   df: " $1 " " $2 " KiB, " $3 " used, " $4 " free, on " $6 }'
umount /mnt || fail "umount failed"
echo 3 > /proc/sys/vm/drop_caches
mount -t ext2 /dev/$dev /mnt || fail "second mount failed"
got=$(md5sum < /mnt/demo.bin | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "/mnt/demo.bin read back after umount and mount: md5 $got, want $want"
echo "   umount, drop caches, mount: /mnt/demo.bin read back from the disk, md5 $got: the same"
umount /mnt || fail "second umount failed"
rm -f /tmp/file
echo "   host: storage packets received per channel: $(harness ctl stats | tr ' ' '\n' |
	sed -n 's/^dev\.\([0-9]*\)\.storage\.packets_in=/relid \1: /p' | awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $0 }')"

# A network interface: the host's network adapter, its frames on TAP
# rvnet0 ($PEER) in a network namespace of the harness, through
# hv_netvsc.
echo "== network: Linux's hv_netvsc and the host's network adapter (TAP rvnet0, $PEER, in a namespace of the harness)"
wait_eth 30 "demo"
n=/sys/class/net/eth0
[ "$(cat $n/address)" = "$MAC" ] || fail "eth0 has MAC $(cat $n/address), the host gave $MAC"
echo "   eth0: MAC $(cat $n/address) (the host's), mtu $(cat $n/mtu), driver $(driver_of $n/device), vmbus $(basename $(readlink -f $n/device)), $(ls -d $n/device/channels/* | wc -l) channel(s)"
ip link set eth0 up || fail "ip link set eth0 up failed"
wait_carrier 30 1 || fail "eth0 has no carrier 30 s after link up"
ip addr add $ME/24 dev eth0 || fail "ip addr add failed"
echo "   link up: carrier $(cat $n/carrier), operstate $(cat $n/operstate); $(ip -4 -o addr show dev eth0 | awk '{ print $2 " " $3 " " $4 }')"
ping -c 3 -W 5 $PEER > /tmp/ping.out 2>&1 || fail "ping $PEER failed: $(tail -2 /tmp/ping.out | tr '\n' ' ')"
echo "   guest -> host: ping $PEER: $(echo $(tail -2 /tmp/ping.out))"
r=$(harness ns-ping $ME)
case "$r" in ok*) ;; *) fail "ping from the namespace to $ME failed: $r" ;; esac
echo "   host -> guest: ping $ME: ${r#ok }"
dd if=/dev/urandom of=/tmp/up bs=1M count=$NIC_MB 2> /dev/null || fail "dd failed"
want=$(md5sum < /tmp/up | cut -d' ' -f1)
bytes=$((NIC_MB * 1048576))
t0=$(now)
got=$({ echo "PUT $bytes"; cat /tmp/up; } | timeout 300 nc $PEER $PORT)
t1=$(now)
[ "$got" = "md5 $want $bytes" ] || nic_stalled
[ "$got" = "md5 $want $bytes" ] || fail "upload of $NIC_MB MiB: the server says '$got', want 'md5 $want $bytes'"
echo "   TCP up:   $NIC_MB MiB to $PEER:$PORT in $(secs $t0 $t1) s; the host's server got md5 $want: the same"
back=$(echo GET | timeout 300 nc $PEER $PORT | md5sum | cut -d' ' -f1)
t2=$(now)
[ "$back" = "$want" ] || nic_stalled
[ "$back" = "$want" ] || fail "download of $NIC_MB MiB: md5 $back, want $want"
echo "   TCP down: $NIC_MB MiB from $PEER:$PORT in $(secs $t1 $t2) s; md5 $back: the same"
rm -f /tmp/up
echo "   eth0: $(cat $n/statistics/rx_packets) packets ($(cat $n/statistics/rx_bytes) bytes) in, $(cat $n/statistics/tx_packets) ($(cat $n/statistics/tx_bytes) bytes) out"
echo "@@NOTE disk /dev/$dev $DISK_MB MiB, $FILE_MB MiB file md5 checked; eth0 $NIC_MB MiB up $(secs $t0 $t1) s, down $(secs $t1 $t2) s"

echo "== MSI-X interrupts of rvmbus:"
grep rvmbus /proc/interrupts | sed 's/^/   /'
echo "== the host asks the guest to shut down (shutdown IC); the guest powers itself off"
wait_host_negotiated shutdown 10 || fail "the host never saw the shutdown negotiation"
harness ctl shutdown-guest poweroff | sed 's/^/   host: /'
sleep 60
fail "still running 60 s after the host's shutdown request"
