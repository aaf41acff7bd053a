# SPDX-License-Identifier: GPL-2.0
# Linux's own hv_utils, built from the kernel's unchanged source and
# retargeted at rvmbus (linux-drivers/hv_utils), binds through rvmbus's
# hv_vmbus interface to the host's heartbeat, time sync and shutdown
# devices, with none of rvmbus's Rust sample drivers loaded: it negotiates
# the IC versions, answers heartbeats (the host counts them good), sets a
# clock 25 years off to the host's time, and unloads cleanly, rvmbus after
# it (every shared page freed). In between the host rescinds the heartbeat
# device and offers it again, which hv_utils follows, and the guest
# hibernates (test_resume) with hv_utils bound. Loaded again, it follows
# the transport's unbind and bind, and answers the host's shutdown request
# by powering the guest off: the harness counts that power-off as the
# pass; getting to the end of this script is the failure.
SCEN=hv-utils
. /scenarios/lib.sh
. /scenarios/hib-lib.sh
HVU=/modules/linux/hv_utils.ko
[ -f $HVU ] || fail "no $HVU in the initramfs (make modules builds it)"
insmod $MOD || fail "insmod rvmbus failed"
hb=$(dev_of_class $HEARTBEAT) || fail "no heartbeat device"
ts=$(dev_of_class $TIMESYNC) || fail "no timesync device"
sd=$(dev_of_class $SHUTDOWN) || fail "no shutdown device"
# A clock 25 years off, for time sync to correct.
date -s "2001-01-01 00:00:00" >/dev/null || fail "cannot set the clock"
insmod $HVU || fail "insmod hv_utils failed"
grep -Eq "^rvmbus_[a-z]+ " /proc/modules && fail "a Rust sample driver is loaded: $(grep '^rvmbus_' /proc/modules)"
for d in $hb $ts $sd; do
	[ "$(driver_of $d)" = hv_utils ] || fail "${d##*/} bound to '$(driver_of $d)', not hv_utils"
	[ "$(cat $d/state)" = 3 ] || fail "${d##*/}: state $(cat $d/state), want 3 (open)"
done
wait_dmesg "hv_utils: Heartbeat IC version 3\.0" 50 || fail "heartbeat did not negotiate 3.0"
wait_dmesg "hv_utils: Shutdown IC version 3\.2" 50 || fail "shutdown did not negotiate 3.2"
wait_dmesg "hv_utils: TimeSync IC version 4\.0" 50 || fail "time sync did not negotiate 4.0"
wait_host_negotiated heartbeat 10 || fail "the host never saw the heartbeat negotiation"
wait_host_negotiated timesync 10 || fail "the host never saw the time sync negotiation"
# The host's first sample carries ICTIMESYNCFLAG_SYNC: hv_utils sets the
# clock from a work item.
i=0
until [ "$(date +%Y)" -ge 2024 ]; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "clock still says $(date) 5 s after negotiation"
	sleep 0.1
done
host=$(harness time)
guest=$(date +%s)
echo "$host" | grep -Eq '^[0-9]+$' || fail "the harness gave no time: $host"
off=$((guest - host))
echo "clock: guest $guest, host $host, offset $off s"
[ ${off#-} -le 3 ] || fail "the clock is $off s off the host's after the SYNC sample"
# The host beats every 200 ms (host_args): wait until it counts 10 good
# answers from hv_utils.
i=0
while :; do
	st=$(harness ctl stats | tr ' ' '\n')
	ok=$(echo "$st" | sed -n 's/^dev\.[0-9]*\.heartbeat\.ok=//p')
	[ "${ok:-0}" -ge 10 ] && break
	i=$((i + 1)); [ $i -gt 50 ] && fail "the host counts ${ok:-0} good heartbeats after 10 s"
	sleep 0.2
done
echo "$st" | grep heartbeat
echo "$st" | grep -q "heartbeat\.bad=0" || fail "the host saw bad heartbeat answers"
# With Linux's own driver bound, the tree is Linux's too (abi_check, with
# the Python of the initramfs; after the heartbeats are counted: run
# before, it left two answers late in one run), and the driver's directory
# takes new ids as
# hv_vmbus's does: a class no device has (so nothing binds: hv_utils takes
# its service from the id's driver_data, which new_id leaves empty, on
# hv_vmbus as here), EEXIST for it again, EINVAL for a malformed GUID,
# ENODEV for a second remove_id.
abi_check --driver hv_utils --bound $(cat $hb/id)=hv_utils --bound $(cat $ts/id)=hv_utils \
	--bound $(cat $sd/id)=hv_utils
HDRV=/sys/bus/vmbus/drivers/hv_utils
NOCLASS=72766d62-0000-4000-8000-0000000000ff
echo $NOCLASS > $HDRV/new_id || fail "new_id of hv_utils: write failed"
echo $NOCLASS > $HDRV/new_id 2>/tmp/err && fail "new_id of hv_utils took the same class twice"
grep -q "File exists" /tmp/err || fail "new_id of hv_utils, known class: $(cat /tmp/err), want EEXIST"
echo not-a-guid > $HDRV/new_id 2>/tmp/err && fail "new_id of hv_utils took a malformed GUID"
grep -q "Invalid argument" /tmp/err || fail "new_id of hv_utils, malformed GUID: $(cat /tmp/err), want EINVAL"
echo $NOCLASS > $HDRV/remove_id || fail "remove_id of hv_utils failed"
echo $NOCLASS > $HDRV/remove_id 2>/tmp/err && fail "remove_id of hv_utils removed a class twice"
grep -q "No such device" /tmp/err || fail "remove_id of hv_utils, unknown class: $(cat /tmp/err), want ENODEV"
# The host rescinds the heartbeat device under hv_utils and offers the same
# instance again: the channel callback stops, hv_utils's remove closes the
# channel, the relid is released, and hv_utils binds the new offer.
inst=${hb##*/}
old=$(cat $hb/id)
mark
r=$(harness ctl reoffer $old)
echo "$r" | grep -q "^ok" || fail "the host could not re-offer the heartbeat device: $r"
wait_new "relid $old released" 50 || fail "relid $old not released"
wait_new "hv_utils: Heartbeat IC version 3\.0" 50 || fail "hv_utils did not negotiate with the re-offered heartbeat device"
[ "$(driver_of $hb)" = hv_utils ] || fail "re-offered heartbeat device bound to '$(driver_of $hb)'"
new=$(cat $hb/id)
[ "$new" != "$old" ] || fail "re-offer kept relid $old"
i=0
while :; do
	rok=$(harness ctl stats | tr ' ' '\n' | sed -n "s/^dev\.$new\.heartbeat\.ok=//p")
	[ "${rok:-0}" -ge 3 ] && break
	i=$((i + 1)); [ $i -gt 50 ] && fail "the host counts ${rok:-0} good heartbeats on relid $new after 10 s"
	sleep 0.2
done
# Hibernation in one boot (test_resume) with hv_utils bound: its suspend
# closes each channel, its resume opens it again and the host negotiates
# anew; heartbeats go on.
swap_up
mark
echo test_resume > /sys/power/disk || fail "no test_resume in /sys/power/disk: $(cat /sys/power/disk)"
echo disk > /sys/power/state || fail "hibernation failed: $(dmesg | grep -E 'PM:|rvmbus|hv_utils' | tail -8)"
wait_new "rvmbus: hibernation: resumed" 50 || fail "rvmbus did not resume from hibernation"
wait_new "hv_utils: Heartbeat IC version 3\.0" 50 || fail "hv_utils did not negotiate heartbeat again after hibernation"
wait_new "hv_utils: TimeSync IC version 4\.0" 50 || fail "hv_utils did not negotiate time sync again after hibernation"
for d in $hb $ts $sd; do
	[ "$(driver_of $d)" = hv_utils ] || fail "${d##*/} bound to '$(driver_of $d)' after hibernation"
	[ "$(cat $d/state)" = 3 ] || fail "${d##*/}: state $(cat $d/state) after hibernation, want 3 (open)"
done
hrelid=$(cat $hb/id)
base=$(harness ctl stats | tr ' ' '\n' | sed -n "s/^dev\.$hrelid\.heartbeat\.ok=//p")
i=0
while :; do
	hok=$(harness ctl stats | tr ' ' '\n' | sed -n "s/^dev\.$hrelid\.heartbeat\.ok=//p")
	[ "${hok:-0}" -ge $((${base:-0} + 3)) ] && break
	i=$((i + 1)); [ $i -gt 50 ] && fail "heartbeats stopped after hibernation: ${hok:-0} good on relid $hrelid"
	sleep 0.2
done
mark
rmmod hv_utils || fail "rmmod hv_utils failed"
wait_new "hv_vmbus driver hv_utils unregistered; 0 channel structures of hv_vmbus drivers left" 20 ||
	fail "channel structures left: $(new_lines | grep 'channel structures')"
for d in $hb $ts $sd; do
	[ -e $d/driver ] && fail "${d##*/} still bound after rmmod hv_utils"
	[ "$(cat $d/state)" = 2 ] || fail "${d##*/}: state $(cat $d/state) after unbind, want 2 (closed)"
done
mark
rmmod rvmbus || fail "rmmod rvmbus failed"
wait_new "rvmbus: shared pages: [0-9]+ allocations, every one freed" 20 ||
	fail "page audit: $(new_lines | grep 'shared pages')"
echo "@@NOTE $abi_summary; new_id/remove_id on hv_utils"
echo "@@NOTE hv_utils bound heartbeat, time sync and shutdown; the host counted $ok good heartbeats and none bad; clock 2001 -> $(date +%Y), $off s off the host's; heartbeat rescinded and re-offered under hv_utils (relid $old released, $rok good heartbeats on relid $new); hibernation (test_resume) with hv_utils bound: channels closed by its suspend, opened by its resume, $((${hok:-0} - ${base:-0})) more good heartbeats on relid $hrelid; hv_utils and rvmbus unloaded, every shared page freed"

# Again, for the shutdown request.
mark
insmod $MOD || fail "second insmod rvmbus failed"
insmod $HVU || fail "second insmod hv_utils failed"
wait_new "hv_utils: Shutdown IC version 3\.2" 50 || fail "shutdown did not negotiate again"
# The transport goes away under hv_utils: the devices are removed (its
# remove() closes each channel) and the connection unloads; bound again,
# the new devices bind to hv_utils, still loaded.
pci=$(ls /sys/bus/pci/drivers/rvmbus | grep '^0000:' | head -1)
[ -n "$pci" ] || fail "no PCI device bound to rvmbus"
mark
echo $pci > /sys/bus/pci/drivers/rvmbus/unbind || fail "unbind of the transport failed"
[ -z "$(ls /sys/bus/vmbus/devices)" ] || fail "devices left after unbind: $(ls /sys/bus/vmbus/devices)"
wait_new "unloaded: [0-9]+ channels removed, host released all memory" 20 || fail "the connection did not unload at the unbind"
[ "$(count_new 'rvmbus: channel [0-9]+ closed')" = 3 ] || fail "closed $(count_new 'rvmbus: channel [0-9]+ closed') channels at the unbind, want 3"
mark
echo $pci > /sys/bus/pci/drivers/rvmbus/bind || fail "bind of the transport failed"
wait_new "hv_utils: Shutdown IC version 3\.2" 50 || fail "shutdown did not negotiate after the transport came back"
sd=$(dev_of_class $SHUTDOWN) || fail "no shutdown device after the transport came back"
[ "$(driver_of $sd)" = hv_utils ] || fail "shutdown device bound to '$(driver_of $sd)' after the transport came back"
echo "@@NOTE loaded again: the transport unbound under hv_utils (3 channels closed, connection unloaded) and bound again (hv_utils bound the new devices)"
wait_host_negotiated shutdown 10 || fail "the host never saw the shutdown negotiation"
r=$(harness ctl shutdown-guest poweroff)
echo "$r" | grep -q "^ok" || fail "the host could not send the request: $r"
sleep 60
fail "still running 60 s after the host's shutdown request"
