# SPDX-License-Identifier: GPL-2.0
# Linux's own hv_netvsc on rvmbus: the host rescinds the network adapter
# while a TCP upload runs over it and offers it again (ctl reoffer, a new
# relid): eth0 goes, the host gets every GPADL back, hv_netvsc binds the new
# offer by itself, eth0 comes back with the same MAC, pings both ways and
# carries NIC_MB MiB (8 unless the kernel command line says) up with an
# MD5 check; then both modules go and rvmbus keeps no memory.
SCEN=netvsc-rescind
. /scenarios/lib.sh
. /scenarios/netvsc-lib.sh
NIC_MB=${NIC_MB:-8}

nic_up
OLD=$RELID

# Uploads that outlast the rescind (the server never sees all of them),
# with the host completing each send 400 ms late: the rescind finds sends
# outstanding, and hv_netvsc's remove() waits for their completions, which
# the host writes after the rescind. A connection's sends go to one
# channel (hv_netvsc hashes the flow): connections are added, up to 8,
# until every channel of the adapter has sends outstanding, so that the
# sub-channel's are among them.
r=$(harness ctl nic-hold $OLD 400)
case "$r" in ok*) ;; *) fail "ctl nic-hold $OLD 400: $r" ;; esac
dd if=/dev/urandom of=/tmp/up bs=1M count=$NIC_MB 2> /dev/null || fail "dd failed"
bytes=$((NIC_MB * 1048576))
nchan=$(ls -d $DEV/channels/* | wc -l)
held_now() {
	harness ctl stats | tr ' ' '\n' | sed -n 's/^dev\.\([0-9]*\)\.net\.held=/\1:/p' | tr '\n' ' '
}
NCS=
for f in 1 2 3 4 5 6 7 8; do
	{ echo "PUT $((bytes * 64))"; while :; do cat /tmp/up || break; done; } |
		timeout 120 nc $PEER $PORT > /dev/null 2>&1 &
	NCS="$NCS $!"
	sleep 1
	held=$(held_now)
	busy=$(echo "$held" | tr ' ' '\n' | grep -c ':[1-9]')
	[ "$busy" -ge "$nchan" ] && break
done
for p in $NCS; do
	[ -d /proc/$p ] || fail "an upload ended before the rescind"
done
r=$(harness ctl reoffer $OLD)
case "$r" in ok*) ;; *) fail "ctl reoffer $OLD: $r" ;; esac

# eth0 goes with the rescinded device, and the host has every page back.
i=0
while dev_of_relid $OLD > /dev/null; do
	i=$((i + 1)); [ $i -gt 300 ] && fail "relid $OLD still a device 30 s after its rescind"
	sleep 0.1
done
kill $NCS 2> /dev/null
wait_adapter "re-offer"
[ "$RELID" != "$OLD" ] || fail "the re-offer kept relid $OLD"
i=0
until [ "$(driver_of $DEV)" = hv_netvsc ]; do
	i=$((i + 1)); [ $i -gt 600 ] && fail "hv_netvsc did not bind the re-offered adapter (relid $RELID) in 60 s"
	sleep 0.1
done
bring_up "after the re-offer"
want=$(md5sum < /tmp/up | cut -d' ' -f1)
got=$({ echo "PUT $bytes"; cat /tmp/up; } | timeout 300 nc $PEER $PORT)
[ "$got" = "md5 $want $bytes" ] || fail "upload of $NIC_MB MiB after the re-offer: server says '$got', want 'md5 $want $bytes'"
rm -f /tmp/up
unload_netvsc "after the re-offer"
rmmod rvmbus || fail "rmmod rvmbus failed"
expect_no_kept_memory
pass "eth0 $MAC rescinded (relid $OLD) under $f TCP uploads, sends outstanding on $busy of $nchan channels (relid:sends $held) and re-offered (relid $RELID): bound again, ping both ways, $NIC_MB MiB up checked, no GPADL left"
