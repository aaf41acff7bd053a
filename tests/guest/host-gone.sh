# SPDX-License-Identifier: GPL-2.0
# The host dies under a loaded guest: rmmod and a second insmod finish within
# the timeout with clear messages; nothing hangs.
SCEN=host-gone
. /scenarios/lib.sh
insmod $MOD timeout_ms=1000 || fail "insmod failed"
r=$(harness kill-host)
[ "$r" = "done" ] || fail "harness could not kill the host: $r"
start=$(cut -d. -f1 /proc/uptime)
with_timeout 20 rmmod rvmbus || fail "rmmod failed or hung with the host gone"
expect_dmesg 'host did not answer GOODBYE'
loaded && fail "still loaded after rmmod"
out=$(with_timeout 20 insmod $MOD timeout_ms=1000 2>&1)
rc=$?
[ $rc -eq 124 ] && fail "insmod hung with the host gone"
[ $rc -eq 0 ] && fail "insmod succeeded with the host gone"
expect_dmesg 'rvmbus host does not answer'
loaded && fail "left loaded after failed insmod"
end=$(cut -d. -f1 /proc/uptime)
pass "rmmod and insmod returned in $((end - start)) s with the host dead; insmod said: $out"
