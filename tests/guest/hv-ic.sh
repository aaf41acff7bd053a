# SPDX-License-Identifier: GPL-2.0
# Linux's own hv_utils (linux-drivers/hv_utils) with every IC the host has:
# heartbeat, shutdown, time sync, KVP and VSS, the last two answered through
# Debian's hv_kvp_daemon and hv_vss_daemon from the initramfs. The host
# reads the guest's fully qualified domain name, its IPv4 addresses and an
# adapter's IP configuration through KVP, sets a key in the external pool
# that the guest finds in /var/lib/hyperv/.kvp_pool_0, and reads a key the
# guest put in its own pool; it asks for a hot backup, freezes the guest's
# file system (a write waits until the thaw) and thaws it. Then each IC
# channel is rescinded and offered again while hv_utils is bound, and
# hv_utils follows every time (KVP answers again after its re-offer).
SCEN=hv-ic
. /scenarios/lib.sh
. /scenarios/hib-lib.sh
HVU=/modules/linux/hv_utils.ko
KVP=a9a0f4e7-5a45-4d96-b827-8a841e8c03e6
VSS=35fa2e29-ea23-4236-96ae-3a6ebacba440
POOLS=/var/lib/hyperv
FQDN=kvpguest.rvmbus.test
ADDR=192.0.2.7
MAC=02:00:5E:10:00:07
[ -f $HVU ] || fail "no $HVU in the initramfs (make modules builds it)"
for d in hv_kvp_daemon hv_vss_daemon; do
	[ -x /usr/sbin/$d ] || fail "no /usr/sbin/$d in the initramfs (hyperv-daemons in the build chroot)"
done
[ -f /modules/dummy.ko ] || fail "no dummy.ko in the initramfs"

# The daemons' log and pids come with a failure.
daemons_status() { echo "@@DAEMONS kvp: $(pidof hv_kvp_daemon) vss: $(pidof hv_vss_daemon)"; }
daemons_syslog

# What KVP reports: a host name that resolves to a name with a domain, and
# an adapter with an address.
mkdir -p /etc $POOLS
echo "hosts: files" > /etc/nsswitch.conf
echo "$ADDR $FQDN kvpguest" > /etc/hosts
hostname kvpguest
insmod /modules/dummy.ko || fail "insmod dummy failed"
ip link set dummy0 address $MAC || fail "cannot set dummy0's MAC address"
ip addr add $ADDR/24 dev dummy0 || fail "cannot give dummy0 an address"
ip link set dummy0 up || fail "cannot bring dummy0 up"

# A key in the guest's own pool (records of a 512-byte key and a 2048-byte
# value, NUL-padded), for the host to read. The host enumerates the pool,
# as Hyper-V does: a GET would come back empty, because Linux's hv_kvp
# passes the daemon a value size of 0 for it.
record() { printf '%s' "$1"; head -c $((512 - ${#1})) /dev/zero; printf '%s' "$2"; head -c $((2048 - ${#2})) /dev/zero; }
record GuestKey guest-value-7 > $POOLS/.kvp_pool_1

# A writable block-device file system for VSS to freeze.
disk_up
mke2fs -q /dev/vda >/dev/null 2>&1 || fail "mke2fs /dev/vda failed"
mkdir -p /mnt/vss
mount -t ext2 /dev/vda /mnt/vss || fail "cannot mount /dev/vda"

# Starts the daemons that are not running (each exits when it cannot reopen
# its device, as after a rescind).
daemons_up() {
	pidof hv_kvp_daemon >/dev/null || { /usr/sbin/hv_kvp_daemon -n >/dev/null 2>&1 & }
	pidof hv_vss_daemon >/dev/null || { /usr/sbin/hv_vss_daemon -n >/dev/null 2>&1 & }
}

# The host's answers so far on the kvp or vss channel.
results() { harness ctl $1 results; }

# Waits up to $3 seconds for the host's $1 results to match $2; prints them.
wait_result() {
	i=0
	until results $1 | grep -Eq "$2"; do
		i=$((i + 1)); [ $i -gt $(($3 * 5)) ] && return 1
		sleep 0.2
	done
}

# Queues a request on the host; fails unless it was taken.
ask() {
	r=$(harness ctl "$@")
	echo "$r" | grep -q "^ok" || fail "the host refused '$*': $r"
}

insmod $MOD || fail "insmod rvmbus failed"
hb=$(dev_of_class $HEARTBEAT) || fail "no heartbeat device"
ts=$(dev_of_class $TIMESYNC) || fail "no timesync device"
sd=$(dev_of_class $SHUTDOWN) || fail "no shutdown device"
kv=$(dev_of_class $KVP) || fail "no KVP device"
vs=$(dev_of_class $VSS) || fail "no VSS device"
insmod $HVU || fail "insmod hv_utils failed"
daemons_up
for d in $hb $ts $sd $kv $vs; do
	[ "$(driver_of $d)" = hv_utils ] || fail "${d##*/} bound to '$(driver_of $d)', not hv_utils"
	[ "$(cat $d/state)" = 3 ] || fail "${d##*/}: state $(cat $d/state), want 3 (open)"
done
wait_dmesg "hv_utils: KVP IC version 4\.0" 100 || fail "KVP did not negotiate 4.0"
wait_dmesg "hv_utils: VSS IC version 5\.0" 100 || fail "VSS did not negotiate 5.0"
wait_dmesg "hv_utils: VSS: userspace daemon ver\. [0-9]+ connected" 50 || fail "hv_vss_daemon did not register"
wait_host_negotiated kvp 30 || fail "the host never saw the KVP negotiation"
wait_host_negotiated vss 30 || fail "the host never saw the VSS negotiation"

# KVP, guest to host: the name, the addresses, one adapter's configuration
# and the key the guest set; host to guest: a key in the external pool.
ask kvp enumerate auto 0
ask kvp enumerate auto 2
ask kvp ip-info $MAC
ask kvp enumerate guest 0
ask kvp set external HostKey host-value-42
wait_result kvp "kvp\.5 set pool=external key=HostKey status=0x0" 30 ||
	fail "the host has no answer to its set: $(results kvp)"
r=$(results kvp)
echo "host's KVP answers: $r"
echo "$r" | grep -q "kvp\.1 enumerate pool=auto index=0 status=0x0 key=FullyQualifiedDomainName value=$FQDN" ||
	fail "the host did not read the guest's name $FQDN: $r"
echo "$r" | grep -q "kvp\.2 enumerate pool=auto index=2 status=0x0 key=NetworkAddressIPv4 value=$ADDR" ||
	fail "the host did not read the guest's address $ADDR: $r"
# Family: IPv4 (1), with IPv6 (3) where dummy0 has its link-local address.
echo "$r" | grep -Eq "kvp\.3 ip-info adapter=$MAC status=0x0 family=[13] dhcp=0 adapter=$MAC ip=$ADDR[; ]" ||
	fail "the host did not read dummy0's configuration: $r"
echo "$r" | grep -q "kvp\.4 enumerate pool=guest index=0 status=0x0 key=GuestKey value=guest-value-7" ||
	fail "the host did not read the guest's key: $r"
i=0
until strings $POOLS/.kvp_pool_0 2>/dev/null | grep -qx host-value-42; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "no host-value-42 in $POOLS/.kvp_pool_0: $(strings $POOLS/.kvp_pool_0 2>&1 | head -4)"
	sleep 0.1
done
strings $POOLS/.kvp_pool_0 | grep -qx HostKey || fail "no HostKey in $POOLS/.kvp_pool_0"
echo "@@NOTE KVP: the host read FullyQualifiedDomainName=$FQDN, NetworkAddressIPv4=$ADDR, dummy0's configuration by its MAC and the guest's GuestKey; the guest found the host's HostKey=host-value-42 in $POOLS/.kvp_pool_0"

# VSS: a hot backup, then freeze (a write to the frozen file system waits)
# and thaw (the write goes through). The hot-backup answer's flags are not
# checked: hv_vss sets "no auto recovery" only when the daemon's reply
# still names the operation, and hv_vss_daemon overwrites it with its
# error code (0), so Linux answers with flags 0.
ask vss hot-backup
wait_result vss "vss\.1 hot-backup status=0x0 flags=" 30 || fail "no hot-backup answer: $(results vss)"
ask vss freeze
wait_result vss "vss\.2 freeze status=" 70 || fail "no freeze answer: $(results vss)"
results vss | grep -q "vss\.2 freeze status=0x0 " || fail "the freeze failed: $(results vss)"
grep -q " /mnt/vss ext2 " /proc/mounts || fail "/mnt/vss is not mounted"
touch /mnt/vss/written-while-frozen &
writer=$!
# The writer blocks in the kernel (state D) on the frozen file system.
i=0
until grep -q "^State:.*D" /proc/$writer/status 2>/dev/null; do
	[ -e /mnt/vss/written-while-frozen ] && fail "a write went through the frozen file system"
	kill -0 $writer 2>/dev/null || fail "the writer ended on the frozen file system"
	i=$((i + 1)); [ $i -gt 100 ] && fail "the writer did not block on the frozen file system: $(grep State /proc/$writer/status)"
	sleep 0.1
done
[ -e /mnt/vss/written-while-frozen ] && fail "a write went through the frozen file system"
ask vss thaw
wait_result vss "vss\.3 thaw status=" 30 || fail "no thaw answer: $(results vss)"
results vss | grep -q "vss\.3 thaw status=0x0 " || fail "the thaw failed: $(results vss)"
wait $writer
[ -e /mnt/vss/written-while-frozen ] || fail "the write did not go through after the thaw"
echo "host's VSS answers: $(results vss)"
echo "@@NOTE VSS: hot backup answered, /mnt/vss frozen (a write waited) and thawed (the write went through)"

# Each IC rescinded and offered again under hv_utils: hv_utils closes the
# old channel, the relid is released, and it binds and negotiates the new
# one.
reoffered=""
for pair in "$hb:Heartbeat IC version 3\.0" "$ts:TimeSync IC version 4\.0" "$sd:Shutdown IC version 3\.2" \
	"$kv:KVP IC version 4\.0" "$vs:VSS IC version 5\.0"; do
	d=${pair%%:*}
	want=${pair#*:}
	old=$(cat $d/id)
	mark
	r=$(harness ctl reoffer $old)
	echo "$r" | grep -q "^ok" || fail "the host could not re-offer relid $old: $r"
	wait_new "relid $old released" 50 || fail "relid $old not released"
	# A daemon whose device went away exits when it cannot open it again;
	# KVP negotiates only once its daemon is back.
	i=0
	until new_lines | grep -Eq "hv_utils: $want"; do
		i=$((i + 1)); [ $i -gt 60 ] && fail "hv_utils did not negotiate again after the re-offer of relid $old ($want)"
		daemons_up
		sleep 1
	done
	[ "$(driver_of $d)" = hv_utils ] || fail "re-offered ${d##*/} bound to '$(driver_of $d)'"
	new=$(cat $d/id)
	[ "$new" != "$old" ] || fail "re-offer kept relid $old"
	reoffered="$reoffered $old->$new"
done
# VSS negotiates without its daemon (KVP waits for its own), and answers a
# request with E_FAIL until the daemon has registered on the new device.
i=0
until new_lines | grep -Eq "hv_utils: VSS: userspace daemon ver\. [0-9]+ connected"; do
	i=$((i + 1)); [ $i -gt 60 ] && fail "hv_vss_daemon did not register again after the VSS re-offer"
	daemons_up
	sleep 1
done
# KVP and VSS answer on their new channels.
ask kvp enumerate auto 0
wait_result kvp "kvp\.1 enumerate pool=auto index=0 status=0x0 key=FullyQualifiedDomainName value=$FQDN" 60 ||
	fail "no KVP answer after the re-offer: $(results kvp)"
ask vss hot-backup
wait_result vss "vss\.1 hot-backup status=0x0 flags=" 60 || fail "no VSS answer after the re-offer: $(results vss)"
echo "@@NOTE each IC rescinded and re-offered under hv_utils (relids$reoffered); KVP and VSS answered on their new channels"

kill $(pidof hv_kvp_daemon) $(pidof hv_vss_daemon) 2>/dev/null
umount /mnt/vss || fail "umount /mnt/vss failed"
mark
rmmod hv_utils || fail "rmmod hv_utils failed"
wait_new "hv_vmbus driver hv_utils unregistered; 0 channel structures of hv_vmbus drivers left" 20 ||
	fail "channel structures left: $(new_lines | grep 'channel structures')"
mark
rmmod rvmbus || fail "rmmod rvmbus failed"
wait_new "rvmbus: shared pages: [0-9]+ allocations, every one freed" 20 ||
	fail "page audit: $(new_lines | grep 'shared pages')"
pass "hv_utils bound heartbeat, shutdown, time sync, KVP and VSS; KVP both ways, VSS freeze/thaw, every IC re-offered; unloaded cleanly"
