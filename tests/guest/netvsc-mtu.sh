# SPDX-License-Identifier: GPL-2.0
# Linux's own hv_netvsc on rvmbus changes its MTU to 9000 and back to 1500.
# Each change makes hv_netvsc close all its channels and open them again
# (netvsc_change_mtu: detach, attach), with new receive and send buffers
# and new sub-channels; the host takes the MTU the guest configures
# (SEND_NDIS_CONFIG, at most 9000) and cuts its receive buffer into
# sections that hold such a frame. At each MTU: eth0 keeps its MAC and
# address, pings both ways, and NIC_MB MiB go each way over TCP with an
# MD5 check; the mean frame size each way (eth0's statistics; the host
# offers no segmentation offload, so a frame is at most MTU + 14 bytes)
# shows jumbo frames at 9000 and none at 1500. Then hv_netvsc and rvmbus
# go, and nothing is kept.
SCEN=netvsc-mtu
. /scenarios/lib.sh
. /scenarios/netvsc-lib.sh
NIC_MB=${NIC_MB:-16}

nic_up
nchan=$(ls -d $DEV/channels/* | wc -l)

dd if=/dev/urandom of=/tmp/up bs=1M count=$NIC_MB 2> /dev/null || fail "dd failed"
want=$(md5sum < /tmp/up | cut -d' ' -f1)
bytes=$((NIC_MB * 1048576))
st=/sys/class/net/eth0/statistics

# Mean bytes per frame of counter $1 (tx or rx) since the values in $2 $3.
mean() {
	b=$(cat $st/${1}_bytes); p=$(cat $st/${1}_packets)
	[ $((p - $3)) -gt 0 ] || { echo 0; return; }
	echo $(((b - $2) / (p - $3)))
}

# Both transfers at the current MTU ($1); sets UP and DOWN (mean frame
# sizes of the upload's and the download's direction).
transfers() {
	tb=$(cat $st/tx_bytes); tp=$(cat $st/tx_packets)
	got=$({ echo "PUT $bytes"; cat /tmp/up; } | timeout ${NIC_TIMEOUT:-300} nc $PEER $PORT)
	[ "$got" = "md5 $want $bytes" ] || nic_stalled
	[ "$got" = "md5 $want $bytes" ] || fail "upload of $NIC_MB MiB at MTU $1: server says '$got', want 'md5 $want $bytes'"
	UP=$(mean tx $tb $tp)
	rb=$(cat $st/rx_bytes); rp=$(cat $st/rx_packets)
	back=$(echo GET | timeout ${NIC_TIMEOUT:-300} nc $PEER $PORT | md5sum | cut -d' ' -f1)
	[ "$back" = "$want" ] || nic_stalled
	[ "$back" = "$want" ] || fail "download of $NIC_MB MiB at MTU $1: md5 $back, want $want"
	DOWN=$(mean rx $rb $rp)
}

# Changes the MTU to $1: the channels close and open again, eth0 stays.
set_mtu() {
	ip link set eth0 mtu $1 || fail "ip link set eth0 mtu $1 failed"
	[ "$(cat /sys/class/net/eth0/mtu)" = $1 ] ||
		fail "eth0's MTU is $(cat /sys/class/net/eth0/mtu) after setting $1"
	[ "$(cat /sys/class/net/eth0/address)" = "$MAC" ] || fail "eth0 lost its MAC at MTU $1"
	wait_carrier 30 1 || fail "eth0 has no carrier 30 s after the MTU change to $1"
	n=$(ls -d /sys/class/net/eth0/device/channels/* | wc -l)
	[ $n = $nchan ] || fail "eth0 has $n channels at MTU $1, $nchan before"
	ping -c 3 -W 5 $PEER > /tmp/ping.out 2>&1 ||
		fail "ping $PEER at MTU $1 failed: $(tail -2 /tmp/ping.out | tr '\n' ' ')"
	r=$(harness ns-ping $ME)
	case "$r" in ok*) ;; *) fail "ping from the namespace to $ME at MTU $1 failed: $r" ;; esac
}

set_mtu 9000
transfers 9000
UP9=$UP DOWN9=$DOWN
[ $UP9 -gt 1514 ] || fail "at MTU 9000 the upload's frames are $UP9 bytes on average: no jumbo frames"
[ $DOWN9 -gt 1514 ] || fail "at MTU 9000 the download's frames are $DOWN9 bytes on average: no jumbo frames"
[ $UP9 -le 9014 ] && [ $DOWN9 -le 9014 ] || fail "frames of $UP9/$DOWN9 bytes on average exceed MTU 9000"

set_mtu 1500
transfers 1500
UP1=$UP DOWN1=$DOWN
[ $UP1 -le 1514 ] && [ $DOWN1 -le 1514 ] ||
	fail "at MTU 1500 the frames are $UP1/$DOWN1 bytes on average, more than 1514"
rm -f /tmp/up

unload_netvsc "after the MTU changes"
rmmod rvmbus || fail "rmmod rvmbus failed"
expect_no_kept_memory
pass "eth0 $MAC at MTU 9000 and back at 1500, $nchan channels reopened each time: ping both ways, $NIC_MB MiB each way checked, mean frame up/down $UP9/$DOWN9 bytes at 9000, $UP1/$DOWN1 at 1500, no GPADL left"
