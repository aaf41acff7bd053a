# SPDX-License-Identifier: GPL-2.0
# Hyper-V sockets (AF_VSOCK) through Linux's own hv_sock
# (linux-drivers/hv_sock, built out of tree for rvmbus; the cloud kernel
# only: the debug kernel has no vsock) after Debian's vsock.ko, against
# the test host's hvsocket services. The host runs an echo service on
# port 5001 (--hvsock-echo 5001) and offers one channel per connection,
# of the port's service class, which it rescinds once the connection is
# closed. The sockets are hv-sock.py's:
#   - the guest connects to the host's port 5001 and sends 1 MiB of
#     random bytes while reading the echo, which must be byte-identical;
#     while connected, the connection is a device of the port's class
#     bound to hv_sock, with hv_sock's default rings; after the guest's
#     shutdown it reads the host's end of file and closes, and the device
#     goes within 5 s;
#   - two more connections in a row, each device gone after its close;
#   - a guest listener on port 5002 with a large send buffer (the host's
#     connection takes its ring sizes from it: more out than 24 KiB in),
#     which the host connects to (control request hvsock-connect) and
#     whose echo of 100000 bytes the host checks (hvsock_host_ok);
#   - a connect to port 5003, which nobody serves, fails after vsock's
#     connect timeout (the host refuses it: tl_refused) and no device
#     appears;
# then hv_sock, vsock and rvmbus unload cleanly.
SCEN=hv-sock
. /scenarios/lib.sh
HVSOCK=/modules/linux/hv_sock.ko
VSOCK=$(ls /modules/vsock/*-vsock.ko 2>/dev/null | head -1)
PY=/usr/bin/python3
HELPER=/scenarios/hv-sock.py
ECHO_PORT=5001
LISTEN_PORT=5002
NOBODY_PORT=5003
ECHO_BYTES=1048576
[ -f $HVSOCK ] || fail "no $HVSOCK in the initramfs (make modules builds it)"
[ -n "$VSOCK" ] || fail "no vsock.ko in /modules/vsock/ (Debian's vsock core; run.py's VSOCK_MODULES)"
[ -x $PY ] || fail "no Python in the initramfs (the scenario needs python=True)"

# The service class of port $1, as dev_of_class takes it: hv_sock's
# template GUID with the port as its first four bytes (little-endian).
srv_class() { printf '%08x-facb-11e6-bd58-64006a7986d3' $1; }

ndevs() { ls /sys/bus/vmbus/devices | wc -l; }

# Waits up to 5 s until no device of port $1's class is left; sets
# $gone_after to the tenths of a second it took. The host rescinds a
# connection's channel once both sides' FINs have passed, and hv_sock's
# rescind callback lets the closed socket go at once (a socket that
# connected non-blocking is held by vsock until its connect timeout).
wait_class_gone() {
	gone_after=0
	while dev_of_class $(srv_class $1) >/dev/null; do
		gone_after=$((gone_after + 1)); [ $gone_after -gt 50 ] && return 1
		sleep 0.1
	done
}

# One connection to the host's echo service with $1 bytes; checks that
# its device goes after the close and that the devices are those of
# before. Sets $relid and $gone_after.
echo_connection() {
	r=$(timeout 120 $PY $HELPER echo $ECHO_PORT $1) || true
	echo "echo connection ($1 bytes): $r"
	case "$r" in ok*) ;; *) fail "the connection to the host's port $ECHO_PORT: ${r:-no answer (timeout)}" ;; esac
	relid=$(echo "$r" | sed -n 's/.*relid=\([0-9]*\).*/\1/p')
	wait_class_gone $ECHO_PORT ||
		fail "the device of relid $relid (port $ECHO_PORT) is still there 5 s after the close (hv_sock's close timeout is 8 s)"
	[ "$(ndevs)" = $base ] || fail "$(ndevs) devices after the connection of relid $relid, $base before"
}

insmod $MOD || fail "insmod rvmbus failed"
insmod $VSOCK || fail "insmod vsock failed"
if ! insmod $HVSOCK 2>/tmp/insmod.err; then
	unknown=$(dmesg | sed -n 's/.*hv_sock: Unknown symbol \([A-Za-z0-9_]*\).*/\1/p' | sort -u | tr '\n' ' ')
	fail "insmod hv_sock failed: $(cat /tmp/insmod.err)${unknown:+; unknown symbols: $unknown}"
fi
[ -e /sys/module/rvmbus/holders/hv_sock ] || fail "hv_sock does not use rvmbus.ko's symbols"
[ -e /sys/module/vsock/holders/hv_sock ] || fail "hv_sock does not use vsock.ko's symbols"
[ -e /sys/module/hv_vmbus/holders ] && fail "hv_vmbus.ko is loaded"
t=$(cat /sys/module/hv_sock/taint)
case "$t" in *O*) ;; *) fail "the retargeted hv_sock is not out of tree (taint '$t')" ;; esac
base=$(ndevs)

echo_connection $ECHO_BYTES
first=$relid
echo "@@NOTE 1 MiB echoed byte-identical through hv_sock (relid $relid); its device went $((gone_after * 100)) ms after the close"
echo_connection 65536
second=$relid
echo_connection 65536
echo "@@NOTE two more connections in a row (relids $second and $relid after $first), each device gone after its close"

rm -f /tmp/listen.ready
$PY $HELPER listen $LISTEN_PORT /tmp/listen.ready >/tmp/listen.out 2>&1 &
lpid=$!
i=0
until [ -f /tmp/listen.ready ]; do
	kill -0 $lpid 2>/dev/null || fail "the listener exited before listening: $(cat /tmp/listen.out)"
	i=$((i + 1)); [ $i -gt 100 ] && fail "the listener did not listen on port $LISTEN_PORT in 10 s"
	sleep 0.1
done
r=$(harness ctl hvsock-connect $LISTEN_PORT 100000)
case "$r" in ok*) ;; *) fail "the host could not connect to port $LISTEN_PORT: $r" ;; esac
i=0
until [ "$(host_stat hvsock_host_ok)" -ge 1 ] 2>/dev/null; do
	bad=$(host_stat hvsock_host_bad)
	[ "${bad:-0}" = 0 ] || fail "the host found the guest's echo wrong (hvsock_host_bad=$bad); listener: $(cat /tmp/listen.out)"
	i=$((i + 1)); [ $i -gt 300 ] &&
		fail "no hvsock_host_ok in 60 s: $(harness ctl stats | tr ' ' '\n' | grep hvsock | tr '\n' ' '); listener: $(cat /tmp/listen.out)"
	sleep 0.2
done
i=0
while kill -0 $lpid 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "the listener did not exit 10 s after the host's check: $(cat /tmp/listen.out)"
	sleep 0.1
done
wait $lpid
rc=$?
[ $rc = 0 ] || fail "the listener exited with $rc: $(cat /tmp/listen.out)"
echo "listener: $(cat /tmp/listen.out)"
wait_class_gone $LISTEN_PORT ||
	fail "the device of the host's connection to port $LISTEN_PORT is still there 5 s after the close (hv_sock's close timeout is 8 s)"
[ "$(ndevs)" = $base ] || fail "$(ndevs) devices after the host's connection, $base before"
echo "@@NOTE the host connected to the guest's listener on port $LISTEN_PORT and found its echo of 100000 bytes right"

refused=$(host_stat tl_refused)
r=$(timeout 60 $PY $HELPER refused $NOBODY_PORT) || true
echo "port $NOBODY_PORT: $r"
case "$r" in ok*) ;; *) fail "the connect to port $NOBODY_PORT, which nobody serves: ${r:-no answer (timeout)}" ;; esac
dev_of_class $(srv_class $NOBODY_PORT) >/dev/null && fail "a device of port $NOBODY_PORT's class"
[ "$(host_stat tl_refused)" -gt "${refused:-0}" ] 2>/dev/null ||
	fail "the host's tl_refused is '$(host_stat tl_refused)', '$refused' before the connect to port $NOBODY_PORT"

# The host's view: one channel offered per connection (3 from the guest, 1
# to it), each rescinded, no bad echo.
stats=$(harness ctl stats | tr ' ' '\n' | grep -E '(^|\.)(hvsock_|tl_refused)' | tr '\n' ' ')
echo "host: $stats"
[ "$(host_stat hvsock_offers)" = 4 ] || fail "the host offered '$(host_stat hvsock_offers)' hvsocket channels, want 4: $stats"
[ "$(host_stat hvsock_rescinds)" = 4 ] || fail "the host rescinded '$(host_stat hvsock_rescinds)' hvsocket channels, want 4: $stats"
[ "$(host_stat hvsock_host_bad)" = 0 ] || fail "bad host checks: $stats"

mark
rmmod hv_sock || fail "rmmod hv_sock failed"
wait_new "hv_vmbus driver hv_sock unregistered; 0 channel structures of hv_vmbus drivers left" 20 ||
	fail "channel structures left: $(new_lines | grep 'channel structures')"
rmmod vsock || fail "rmmod vsock failed"
mark
rmmod rvmbus || fail "rmmod rvmbus failed"
wait_new "rvmbus: shared pages: [0-9]+ allocations, every one freed" 20 ||
	fail "page audit: $(new_lines | grep 'shared pages')"
expect_no_kept_memory
pass "hv_sock (built out of tree for rvmbus) echoed 1 MiB byte-identical to the host's port $ECHO_PORT and 2 more connections, each device rescinded after its close; the host's connection to a guest listener checked its echo; a connect to an unserved port timed out; unloaded cleanly"
