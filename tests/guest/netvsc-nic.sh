# SPDX-License-Identifier: GPL-2.0
# Linux's own hv_netvsc (linux-drivers/hv_netvsc) on rvmbus against the
# host's network adapter; the host runs in a network namespace of the
# harness's with TAP rvnet0 at 10.99.0.1/24 and the server
# tests/harness/netns_server.py on port 7777. eth0 appears with the MAC the
# host gives (run.py: mac=00:15:5d:42:00:07) and link up; it takes
# 10.99.0.2, pings the namespace and is pinged from it; NIC_MB MiB go each
# way over TCP with an MD5 check (the server's digest of what it received;
# the guest's of what it got back); the host takes the link down (ping
# fails, carrier 0) and up again (ping works); hv_netvsc is removed (the
# host then holds no GPADL) and loaded again (eth0 comes back with the same
# MAC and works); rvmbus is removed and loaded again under it, the same
# again; rvmbus keeps no memory. A transfer gets NIC_TIMEOUT seconds (300;
# it takes 2-5); one that stalls, or a link change that never arrives,
# prints the channels' state first (netvsc-lib.sh, nic_stalled).
SCEN=netvsc-nic
. /scenarios/lib.sh
. /scenarios/netvsc-lib.sh
# 64 MiB each way; 16 on the debug kernel, where the upload alone took
# 164-169 s of the 300 allowed (one frame every 2-50 ms in the host's
# trace, against 3.4 s for 64 MiB on the cloud kernel).
case $(uname -r) in
*-rvmbus-debug) NIC_MB=${NIC_MB:-16} ;;
*) NIC_MB=${NIC_MB:-64} ;;
esac

insmod $MOD || fail "insmod rvmbus failed"
i=0
until dev_of_class $NETCLASS > /dev/null; do
	i=$((i + 1)); [ $i -gt 300 ] && fail "the host's network adapter was not offered"
	sleep 0.1
done
DEV=$(dev_of_class $NETCLASS)
RELID=$(cat $DEV/id)

load_netvsc "first load"
bring_up "first load"
nic_trace_on
echo "netvsc-nic: eth0 $MAC up, $ME pings $PEER and back"

# TCP each way with an MD5 check.
dd if=/dev/urandom of=/tmp/up bs=1M count=$NIC_MB 2> /dev/null || fail "dd failed"
want=$(md5sum < /tmp/up | cut -d' ' -f1)
bytes=$((NIC_MB * 1048576))
t0=$(now)
got=$({ echo "PUT $bytes"; cat /tmp/up; } | timeout ${NIC_TIMEOUT:-300} nc $PEER $PORT)
t1=$(now)
[ "$got" = "md5 $want $bytes" ] || nic_stalled
[ "$got" = "md5 $want $bytes" ] || fail "upload of $NIC_MB MiB: server says '$got', want 'md5 $want $bytes'"
back=$(echo GET | timeout ${NIC_TIMEOUT:-300} nc $PEER $PORT | md5sum | cut -d' ' -f1)
t2=$(now)
[ "$back" = "$want" ] || nic_stalled
[ "$back" = "$want" ] || fail "download of $NIC_MB MiB: md5 $back, want $want"
rm -f /tmp/up
echo "netvsc-nic: $NIC_MB MiB up in $(secs $t0 $t1) s, down in $(secs $t1 $t2) s, md5 $want both ways"

# Link down and up from the host.
r=$(harness ctl nic-link $RELID down)
case "$r" in ok*) ;; *) fail "ctl nic-link $RELID down: $r" ;; esac
if ! wait_carrier 30 0; then
	nic_stalled
	fail "eth0 keeps its carrier 30 s after the host took the link down"
fi
ping -c 2 -W 2 $PEER > /dev/null 2>&1 && fail "ping $PEER works with the link down"
r=$(harness ctl nic-link $RELID up)
case "$r" in ok*) ;; *) fail "ctl nic-link $RELID up: $r" ;; esac
wait_carrier 30 1 || fail "eth0 has no carrier 30 s after the host brought the link up"
ping -c 3 -W 5 $PEER > /dev/null 2>&1 || fail "ping $PEER fails after the link came back"
echo "netvsc-nic: link down and up from the host"

unload_netvsc "first load"
load_netvsc "second load"
bring_up "second load"
unload_netvsc "second load"

# rmmod and insmod rvmbus under it: a new connection, the adapter offered
# again, hv_netvsc binds it again.
rmmod rvmbus || fail "rmmod rvmbus failed"
expect_no_kept_memory
insmod $MOD || fail "insmod rvmbus failed (second time)"
i=0
until dev_of_class $NETCLASS > /dev/null; do
	i=$((i + 1)); [ $i -gt 300 ] && fail "the network adapter was not offered again after insmod rvmbus"
	sleep 0.1
done
load_netvsc "after rvmbus reload"
bring_up "after rvmbus reload"
unload_netvsc "after rvmbus reload"
rmmod rvmbus || fail "rmmod rvmbus failed (second time)"
expect_no_kept_memory
pass "eth0 $MAC: ping both ways, $NIC_MB MiB each way over TCP (up $(secs $t0 $t1) s, down $(secs $t1 $t2) s), link down/up, hv_netvsc reloaded, rvmbus reloaded, no GPADL left"
