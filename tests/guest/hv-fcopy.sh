# SPDX-License-Identifier: GPL-2.0
# Linux's file copy (fcopy) as Linux 7.3 does it: Linux's own
# uio_hv_generic (linux-drivers/uio_hv_generic on the cloud kernel, the
# kernel's own module on the debug kernel) binds the file-copy device and
# makes /dev/uioN and the channel's "ring" file; Linux's own
# hv_fcopy_uio_daemon (tools/hv, built from the kernel source:
# scripts/build-fcopy-daemon.sh) opens /dev/uioN, which opens the channel,
# maps the rings and answers the host. The host copies files of
# pseudo-random bytes that the harness made (more than one 6 KiB fragment
# each) into the guest, and the guest checks each against the SHA-256 the
# harness gave: a new file, the same name again (overwritten, shorter), and
# after the device is rescinded and re-offered under uio_hv_generic (the
# daemon exits when its device goes; a new one is started) a file into a
# directory the daemon has to create. Then everything unloads.
SCEN=hv-fcopy
. /scenarios/lib.sh
UIOHV=/modules/linux/uio_hv_generic.ko
UIO=/modules/uio.ko
DAEMON=/usr/sbin/hv_fcopy_uio_daemon
FCOPY=34d14be3-dee4-41c8-9ae7-6b174977c192
# Hyper-V's instance GUID of the device, which the daemon looks for by name
# (the test host offers the same).
DEV=/sys/bus/vmbus/devices/eb765408-105f-49b6-b4aa-c123b64d17d4
DIR=/tmp/fcopy-in
# Each ring of the channel: Linux's VMBUS_RING_SIZE(0x4000), the 16 KiB
# that vmbus_devs[] prefers for fcopy plus the 4 KiB ring header, page
# aligned, is 20 KiB; the ring file maps both, 40 KiB.
RING_BYTES=$((2 * 20480))
[ -f $UIOHV ] || fail "no $UIOHV in the initramfs (make modules builds it)"
[ -f $UIO ] || fail "no $UIO in the initramfs (the kernel's UIO core; run.py's daemons_overlay)"
[ -x $DAEMON ] || fail "no $DAEMON in the initramfs (scripts/build-fcopy-daemon.sh; run.py --fcopy-daemon)"

# The daemon's log and pid come with a failure.
daemons_status() { echo "@@DAEMON $(pidof hv_fcopy_uio_daemon)"; }
daemons_syslog

# Checks what uio_hv_generic makes for the bound device: its UIO device
# (uio/uioN under the device, /dev/uioN) with the rings as map 0, and the
# channel's ring file with the size Linux gives it. Sets $uio and $relid.
check_uio() {
	[ "$(driver_of $DEV)" = uio_hv_generic ] || fail "the fcopy device is bound to '$(driver_of $DEV)', not uio_hv_generic ($1)"
	uio=$(ls $DEV/uio 2>/dev/null | head -1)
	[ -n "$uio" ] && [ -d $DEV/uio/$uio ] || fail "no uio/uioN under the fcopy device ($1): $(ls $DEV)"
	[ -c /dev/$uio ] || fail "no character device /dev/$uio ($1)"
	[ "$(cat $DEV/uio/$uio/name)" = uio_hv_generic ] || fail "$uio is named '$(cat $DEV/uio/$uio/name)' ($1)"
	[ "$(cat $DEV/uio/$uio/maps/map0/name)" = txrx_rings ] || fail "$uio's map 0 is '$(cat $DEV/uio/$uio/maps/map0/name)' ($1)"
	sz=$(printf '%d' "$(cat $DEV/uio/$uio/maps/map0/size)")
	[ "$sz" = $RING_BYTES ] || fail "$uio's map 0 has $sz bytes, want $RING_BYTES ($1)"
	relid=$(cat $DEV/id)
	ring=$DEV/channels/$relid/ring
	[ -f $ring ] || fail "no channels/$relid/ring ($1): $(ls $DEV/channels/$relid 2>&1 | tr '\n' ' ')"
	sz=$(stat -c %s $ring)
	[ "$sz" = $RING_BYTES ] || fail "channels/$relid/ring has $sz bytes, want $RING_BYTES ($1)"
}

# Starts the daemon in the foreground (-n) of a background job; waits up
# to 30 s until the channel is open and the host saw the negotiation.
daemon_up() {
	$DAEMON -n >/tmp/daemon.out 2>&1 &
	dpid=$!
	i=0
	until [ "$(cat $DEV/state 2>/dev/null)" = 3 ] &&
		harness ctl stats | tr ' ' '\n' | grep -qx "dev\.$relid\.fcopy\.negotiated=1"; do
		kill -0 $dpid 2>/dev/null || fail "the daemon exited ($1): $(cat /tmp/daemon.out)"
		i=$((i + 1)); [ $i -gt 150 ] && fail "no negotiation on relid $relid ($1): state $(cat $DEV/state)"
		sleep 0.2
	done
}

# Asks the harness for a host file of $2 pseudo-random bytes named $1 and
# the host to copy it into guest directory $3 as $4; waits up to 60 s for
# the host's result and checks the guest's file against the SHA-256.
copy() {
	r=$(harness make-file $1 $2)
	set -- $1 $2 $3 $4 $r
	[ "$5" = ok ] || fail "the harness made no host file $1: $r"
	host_file=$6 sum=$7
	r=$(harness ctl fcopy send $host_file $3 $4)
	echo "$r" | grep -q "^ok .* queued" || fail "the host did not queue the copy of $1: $r"
	i=0
	until harness ctl fcopy results | grep -Eq "name=$4 dir=$3 bytes=$2 (status|failed)="; do
		kill -0 $dpid 2>/dev/null || fail "the daemon exited during the copy of $1: $(cat /tmp/daemon.out)"
		i=$((i + 1)); [ $i -gt 300 ] && fail "no result for the copy of $1: $(harness ctl fcopy results)"
		sleep 0.2
	done
	res=$(harness ctl fcopy results)
	echo "$res" | grep -Eq "name=$4 dir=$3 bytes=$2 status=ok" || fail "the copy of $1 failed: $res"
	f=${3%/}/$4
	[ -f "$f" ] || fail "no $f after the copy"
	got=$(stat -c %s "$f")
	[ "$got" = $2 ] || fail "$f has $got bytes, want $2"
	[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$sum" ] || fail "$f differs from the host's file (SHA-256)"
	echo "copied $1: $2 bytes to $f, SHA-256 $sum"
}

insmod $MOD || fail "insmod rvmbus failed"
d=$(dev_of_class $FCOPY) || fail "no fcopy device"
[ "$d" = $DEV ] || fail "the fcopy device is $d, not $DEV"
insmod $UIO || fail "insmod uio failed"
insmod $UIOHV || fail "insmod uio_hv_generic failed"
[ -e /sys/module/rvmbus/holders/uio_hv_generic ] || fail "uio_hv_generic does not use rvmbus.ko's symbols"
[ -e /sys/module/hv_vmbus/holders ] && fail "hv_vmbus.ko is loaded"
# Retargeted and built out of tree on the cloud kernel; the kernel's own
# in-tree module on the debug kernel.
t=$(cat /sys/module/uio_hv_generic/taint)
case "$(uname -r):$t" in
*-rvmbus-debug:*O*) fail "the debug kernel's own uio_hv_generic is out of tree (taint $t)" ;;
*-rvmbus-debug:*) kind="the kernel's own module" ;;
*:*O*) kind="built out of tree for rvmbus" ;;
*) fail "the retargeted uio_hv_generic is not out of tree (taint '$t')" ;;
esac
check_uio "after insmod"
# Closed until the daemon opens /dev/uioN.
[ "$(cat $DEV/state)" = 2 ] || fail "state $(cat $DEV/state) before the daemon, want 2 (closed)"

mkdir -p $DIR
daemon_up "first start"
grep -q "FCopy IC version 1\.1" /tmp/syslog || fail "the daemon did not log its negotiation"
copy fcopy-a 300000 $DIR payload.bin
# The same name again: replaced (the host asks for OVER_WRITE), shorter.
copy fcopy-b 70001 $DIR payload.bin
echo "@@NOTE 2 copies through uio_hv_generic and hv_fcopy_uio_daemon (300000 and 70001 bytes, the second over the first) arrived byte-identical"

# The device rescinded and offered again while uio_hv_generic is bound
# and the daemon has it open: uio_hv_generic's rescind callback wakes the
# daemon (its read fails and it exits) and unregisters the device; the new
# offer binds to uio_hv_generic again.
old=$relid
mark
r=$(harness ctl reoffer $old)
echo "$r" | grep -q "^ok" || fail "the host could not re-offer relid $old: $r"
wait_new "relid $old released" 100 || fail "relid $old not released"
i=0
while kill -0 $dpid 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "the daemon did not exit after the rescind"
	sleep 0.1
done
i=0
until [ -e $DEV/driver ] && [ "$(cat $DEV/id 2>/dev/null)" != "$old" ]; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "the re-offered fcopy device was not bound: $(ls /sys/bus/vmbus/devices)"
	sleep 0.1
done
check_uio "after the re-offer"
[ "$relid" != "$old" ] || fail "re-offer kept relid $old"
daemon_up "after the re-offer"
copy fcopy-c 200000 $DIR/made/ again.bin
echo "@@NOTE rescinded and re-offered under uio_hv_generic (relid $old->$relid); a third copy, into a directory the daemon made, arrived byte-identical"

# The daemon's exit closes /dev/uioN, and so the channel.
kill $dpid
i=0
until [ "$(cat $DEV/state)" = 2 ]; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "the channel stayed open after the daemon exited: state $(cat $DEV/state)"
	sleep 0.1
done
mark
rmmod uio_hv_generic || fail "rmmod uio_hv_generic failed"
wait_new "hv_vmbus driver uio_hv_generic unregistered; 0 channel structures of hv_vmbus drivers left" 20 ||
	fail "channel structures left: $(new_lines | grep 'channel structures')"
rmmod uio || fail "rmmod uio failed"
mark
rmmod rvmbus || fail "rmmod rvmbus failed"
wait_new "rvmbus: shared pages: [0-9]+ allocations, every one freed" 20 ||
	fail "page audit: $(new_lines | grep 'shared pages')"
expect_no_kept_memory
pass "uio_hv_generic ($kind) bound the fcopy device (/dev/$uio, a ring file of $RING_BYTES bytes); hv_fcopy_uio_daemon took 3 host copies byte-identical, one after a rescind and re-offer; unloaded cleanly"
