# SPDX-License-Identifier: GPL-2.0
# Linux's own hv_netvsc on rvmbus across power management: eth0 up with
# its address, pinging both ways and moving NIC_MB MiB (8) each way over
# TCP with an MD5 check; then suspend-to-RAM (ACPI S3; the harness wakes
# the guest) and hibernation (test_resume, the swap on the virtio disk) in
# one boot. During S3 the host sends a link-down, which hv_netvsc must see
# after the resume. Hibernation closes hv_netvsc's channels (its
# suspend()), the bus unloads and connects again, the host offers the
# adapter anew and hv_netvsc's resume() opens it again with a new
# sub-channel. After each, eth0 is the same interface (MAC, address,
# ifindex), has its carrier, pings both ways and moves the same data both
# ways; then hv_netvsc and rvmbus unload with nothing kept.
SCEN=netvsc-pm
. /scenarios/lib.sh
. /scenarios/hib-lib.sh
. /scenarios/netvsc-lib.sh
NIC_MB=${NIC_MB:-8}
echo 60 > /proc/sys/kernel/hung_task_timeout_secs
echo 1 > /proc/sys/kernel/sysrq

nic_up
nchan=$(ls -d $DEV/channels/* | wc -l)
ifindex=$(cat /sys/class/net/eth0/ifindex)

dd if=/dev/urandom of=/tmp/up bs=1M count=$NIC_MB 2> /dev/null || fail "dd failed"
want=$(md5sum < /tmp/up | cut -d' ' -f1)
bytes=$((NIC_MB * 1048576))

# eth0 is the interface it was and works ($1: when): carrier, MAC,
# ifindex, address, pings both ways, a transfer each way.
works() {
	[ -e /sys/class/net/eth0 ] || fail "no eth0 $1"
	[ "$(cat /sys/class/net/eth0/ifindex)" = $ifindex ] ||
		fail "eth0 is a new interface $1 (ifindex $(cat /sys/class/net/eth0/ifindex), was $ifindex)"
	[ "$(cat /sys/class/net/eth0/address)" = "$MAC" ] || fail "eth0 lost its MAC $1"
	wait_carrier 30 1 || fail "eth0 has no carrier 30 s $1"
	ip addr show eth0 | grep -q "inet $ME/" || fail "eth0 lost its address $1"
	ping -c 3 -W 5 $PEER > /tmp/ping.out 2>&1 || {
		nic_stalled
		fail "ping $PEER $1 failed: $(tail -2 /tmp/ping.out | tr '\n' ' ')"
	}
	r=$(harness ns-ping $ME)
	case "$r" in ok*) ;; *) fail "ping from the namespace to $ME $1 failed: $r" ;; esac
	got=$({ echo "PUT $bytes"; cat /tmp/up; } | timeout ${NIC_TIMEOUT:-300} nc $PEER $PORT)
	[ "$got" = "md5 $want $bytes" ] || nic_stalled
	[ "$got" = "md5 $want $bytes" ] || fail "upload of $NIC_MB MiB $1: server says '$got', want 'md5 $want $bytes'"
	back=$(echo GET | timeout ${NIC_TIMEOUT:-300} nc $PEER $PORT | md5sum | cut -d' ' -f1)
	[ "$back" = "$want" ] || nic_stalled
	[ "$back" = "$want" ] || fail "download of $NIC_MB MiB $1: md5 $back, want $want"
	n=$(ls -d /sys/class/net/eth0/device/channels/* | wc -l)
	[ $n = $nchan ] || fail "eth0 has $n channels $1, $nchan before"
}
works "before suspend"

# While the guest sleeps, the host tells hv_netvsc the link went down: a
# packet on the primary channel whose interrupt the sleeping guest cannot
# take (QEMU resets the devices at the wake-up, and ivshmem drops an MSI-X
# message until the guest's PCI core enables MSI-X again). The host
# signals a ring only when it was empty, so unless rvmbus looks at the
# event flags once after the resume, that channel never interrupts again.
r=$(harness ctl-after 2 nic-link $RELID down)
[ "$r" = ok ] || fail "harness ctl-after: $r"
r=$(harness wake-after 5)
[ "$r" = ok ] || fail "harness cannot wake the guest: $r"
mark
echo mem > /sys/power/state || fail "suspend failed: $(dmesg | tail -5)"
[ "$(cat /sys/power/suspend_stats/success)" = 1 ] || fail "suspend_stats/success is $(cat /sys/power/suspend_stats/success)"
wait_carrier 20 0 || {
	nic_stalled
	fail "eth0 kept its carrier 20 s after S3: the link-down the host sent during the sleep was never read"
}
r=$(harness ctl nic-link $RELID up)
case "$r" in ok*) ;; *) fail "ctl nic-link $RELID up: $r" ;; esac
works "after S3"

swap_up
mark
echo test_resume > /sys/power/disk || fail "no test_resume in /sys/power/disk"
echo disk > /sys/power/state || fail "hibernation failed: $(dmesg | grep -E 'PM:|rvmbus|netvsc' | tail -8)"
wait_new "rvmbus: hibernation: resumed" 50 || fail "rvmbus did not resume from hibernation"
works "after hibernation"
rm -f /tmp/up
swapoff /dev/vda

unload_netvsc "after hibernation"
rmmod rvmbus || fail "rmmod rvmbus failed"
expect_no_kept_memory
pass "eth0 $MAC across S3 and hibernation: the link-down sent during S3 seen after the resume; the same interface with $nchan channels, ping both ways and $NIC_MB MiB each way checked before and after each; unloaded, no GPADL left"
