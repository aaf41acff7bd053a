#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs rvmbus the ways out-of-tree modules are installed, in the build
# chroot against the prepared tree of Debian's cloud kernel, and checks what
# a user would see:
#
#   1. `make install` (kbuild's modules_install, which runs depmod) into a
#      staging root: modinfo shows the description, the parameters and the
#      aliases (the VMBus ACPI device for rvmbus, the device classes for
#      the samples), and modprobe resolves a sample's dependency on rvmbus;
#   2. Debian's dkms: add, build, install, status of rvmbus;
#   3. the second package, rvmbus-linux-drivers (linux-drivers/dkms.conf):
#      add, build and install against the installed rvmbus, status, the
#      seven drivers under updates/ with their vmbus: aliases (hv_sock has
#      none: it binds the hvsocket offers by hv_driver.hvsock), depending
#      on rvmbus and not on hv_vmbus, and remove; then rvmbus's remove.
#
# Prints "DKMS <step>: ok|FAIL detail" per step; exits non-zero on a failure.
# Called by `make test-dkms` (part of `make test`).
set -euo pipefail
CACHE=${RVMBUS_CACHE:-$HOME/.cache/rvmbus}
eval "$(sed -n 's/^\([A-Z_]*\) := \(.*\)$/\1="\2"/p' "$CACHE/env.mk")"
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
VER=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$REPO/dkms.conf")
DVER=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$REPO/linux-drivers/dkms.conf")
SRC=$REPO/$BUILD/dkms/rvmbus-$VER

# Debian's dkms in the chroot, once (cached with the chroot).
if [ ! -x "$KROOT/usr/sbin/dkms" ]; then
	echo "[dkms] installing Debian's dkms in the build chroot"
	"$REPO/scripts/in-chroot.sh" "$KROOT" "$REPO" apt-get install -y -qq \
		--no-install-recommends dkms >"$CACHE/apt-dkms.log" 2>&1 ||
		{ tail -20 "$CACHE/apt-dkms.log"; echo "DKMS setup: FAIL apt-get install dkms"; exit 1; }
fi

# A clean copy of the sources (what a user downloads): the files git
# tracks or would track, no build outputs.
rm -rf "$SRC"
mkdir -p "$SRC"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
	grep -zv '^build/' | cpio -0pdm --quiet "$SRC")

cat >"$REPO/$BUILD/dkms/check.sh" <<EOS
set -u
KREL=$KREL
SRC=/src/$BUILD/dkms/rvmbus-$VER
VER=$VER
DVER=$DVER
KSRC=$KSRC_IN_CHROOT
EOS
cat >>"$REPO/$BUILD/dkms/check.sh" <<'EOS'
rc=0
ok() { echo "DKMS $1: ok $2"; }
bad() { echo "DKMS $1: FAIL $2"; rc=1; }
# The kernel as its packages install it: Debian's modules of this kernel
# and their depmod (the postinst's), once; the prepared tree as its build
# directory. dkms runs depmod only for a kernel whose modules.dep exists.
if [ ! -f /lib/modules/$KREL/modules.dep ]; then
	dpkg -x "$(ls $KSRC/../debs/linux-modules-${KREL}_*.deb)" / && depmod -a $KREL 2>/dev/null ||
		bad setup "cannot install the kernel's modules"
fi
ln -sfn "$KSRC" /lib/modules/$KREL/build

# 1. make install into a staging root.
STAGE=/tmp/rvmbus-stage
rm -rf $STAGE
if make -C $SRC install KDIR=/lib/modules/$KREL/build INSTALL_MOD_PATH=$STAGE \
	>/tmp/make-install.log 2>&1; then
	ok install "modules_install + depmod into a staging root"
else
	tail -20 /tmp/make-install.log; bad install "make install failed"
fi
mi() { modinfo -b $STAGE -k $KREL "$@" 2>&1; }
info=$(mi rvmbus)
for want in "description: *VMBus bus driver" "parm: *transport:" "parm: *timeout_ms:" \
	"parm: *pending_send_size:" "alias: *acpi\*:VMBUS:\*" "alias: *acpi\*:VMBus:\*" "license: *GPL"; do
	if echo "$info" | grep -q "^$want"; then :; else bad modinfo "rvmbus lacks '$want'"; fi
done
echo "$info" | grep -q "^alias: *acpi" && ok modinfo "rvmbus: $(echo "$info" | grep -c '^parm:') parameters, $(echo "$info" | grep -c '^alias:') aliases"
hb=$(mi rvmbus_heartbeat)
echo "$hb" | grep -q '^alias: *vmbus:' || bad modinfo "rvmbus_heartbeat has no vmbus: alias"
echo "$hb" | grep -q '^depends: *rvmbus$' || bad modinfo "rvmbus_heartbeat does not depend on rvmbus"
deps=$(modprobe -d $STAGE -S $KREL --show-depends rvmbus_heartbeat 2>&1)
if echo "$deps" | grep -q 'rvmbus\.ko' && echo "$deps" | grep -q 'rvmbus_heartbeat\.ko'; then
	ok modprobe "rvmbus_heartbeat pulls in rvmbus"
else
	echo "$deps"; bad modprobe "dependency not resolved"
fi
alias_dev=$(modprobe -d $STAGE -S $KREL --resolve-alias 'acpi:VMBUS:' 2>&1)
[ "$alias_dev" = rvmbus ] && ok alias "modalias acpi:VMBUS: resolves to rvmbus" ||
	bad alias "acpi:VMBUS: resolves to '$alias_dev'"

# 2. Debian's dkms.
D=rvmbus-linux-drivers
dkms remove $D/$DVER --all >/dev/null 2>&1 || true
dkms remove rvmbus/$VER --all >/dev/null 2>&1 || true
rm -rf /usr/src/rvmbus-$VER /usr/src/$D-$DVER
if dkms add $SRC >/tmp/dkms.log 2>&1; then ok add "$(tail -1 /tmp/dkms.log)"; else cat /tmp/dkms.log; bad add "dkms add failed"; fi
if dkms build rvmbus/$VER -k $KREL >/tmp/dkms.log 2>&1; then
	ok build "rvmbus/$VER for $KREL"
else
	cat /tmp/dkms.log; cat /var/lib/dkms/rvmbus/$VER/build/make.log 2>/dev/null | tail -20
	bad build "dkms build failed"
fi
if dkms install rvmbus/$VER -k $KREL --force >/tmp/dkms.log 2>&1; then
	n=$(find /lib/modules/$KREL/updates -name 'rvmbus*.ko*' | wc -l)
	[ "$n" = 5 ] && ok install "5 modules under /lib/modules/$KREL/updates" || bad install "$n modules installed, want 5"
	modinfo -k $KREL rvmbus 2>&1 | grep -q '^alias: *acpi' || bad install "modinfo of the installed rvmbus has no ACPI alias"
else
	cat /tmp/dkms.log; bad install "dkms install failed"
fi
st=$(dkms status rvmbus 2>&1)
echo "$st" | grep -q "installed" && ok status "$st" || bad status "$st"

# 3. rvmbus-linux-drivers, built from the kernel's own source tree against
# the rvmbus just installed.
# The modules' file names: hyperv-keyboard keeps the kernel's dash.
DRV="hv_utils hv_balloon hv_storvsc hv_netvsc uio_hv_generic hv_sock hyperv-keyboard"
if dkms add $SRC/linux-drivers >/tmp/dkms.log 2>&1; then
	ok drivers-add "$(tail -1 /tmp/dkms.log)"
else
	cat /tmp/dkms.log; bad drivers-add "dkms add failed"
fi
if dkms build $D/$DVER -k $KREL >/tmp/dkms.log 2>&1; then
	ok drivers-build "$D/$DVER for $KREL"
else
	cat /tmp/dkms.log; tail -30 /var/lib/dkms/$D/$DVER/build/make.log 2>/dev/null
	bad drivers-build "dkms build failed"
fi
if dkms install $D/$DVER -k $KREL --force >/tmp/dkms.log 2>&1; then
	n=0
	for m in $DRV; do
		[ -f /lib/modules/$KREL/updates/dkms/$m.ko ] || [ -f /lib/modules/$KREL/updates/dkms/$m.ko.xz ] &&
			n=$((n + 1))
	done
	[ "$n" = 7 ] && ok drivers-install "$DRV under /lib/modules/$KREL/updates/dkms" ||
		bad drivers-install "$n of 7 drivers installed"
else
	cat /tmp/dkms.log; bad drivers-install "dkms install failed"
fi
st=$(dkms status $D 2>&1)
echo "$st" | grep -q "installed" && ok drivers-status "$st" || bad drivers-status "$st"
# modinfo by name, as modprobe finds them: the dkms copies under updates/
# (which depmod prefers to the kernel's own drivers), with the drivers'
# vmbus: aliases, depending on rvmbus and on no C hv_vmbus. hv_sock has
# no alias: its id_table is empty, and the bus matches it to every
# hvsocket offer by its hvsock flag instead (its one alias is net-pf-40,
# PF_VSOCK's, for socket() to load it).
for m in $DRV; do
	info=$(modinfo -k $KREL $m 2>&1)
	file=$(echo "$info" | sed -n 's/^filename: *//p')
	dep=$(echo "$info" | sed -n 's/^depends: *//p')
	na=$(echo "$info" | grep -c '^alias: *vmbus:' || true)
	case "$file" in
	*/updates/dkms/$m.ko*) ;;
	*) bad drivers-modinfo "$m resolves to '$file', not the dkms copy"; continue ;;
	esac
	want=1
	[ $m = hv_sock ] && want=0
	if [ "$na" -ge $want ] && echo ",$dep," | grep -q ',rvmbus,' && ! echo ",$dep," | grep -q ',hv_vmbus,'; then
		ok drivers-modinfo "$m: $na vmbus: aliases, depends: $dep"
	else
		bad drivers-modinfo "$m: $na vmbus: aliases, depends: '$dep'"
	fi
done
dkms remove $D/$DVER --all >/tmp/dkms.log 2>&1 || { cat /tmp/dkms.log; bad drivers-remove "dkms remove failed"; }
left=$(for m in $DRV; do ls /lib/modules/$KREL/updates/dkms/$m.ko* 2>/dev/null; done)
st=$(dkms status $D 2>&1)
[ -z "$left" ] && [ -z "$st" ] && ok drivers-remove "removed, no driver left under updates/dkms" ||
	bad drivers-remove "left: $left; status: $st"

dkms remove rvmbus/$VER --all >/tmp/dkms.log 2>&1 && ok remove "removed" || { cat /tmp/dkms.log; bad remove "dkms remove failed"; }
rm -rf /usr/src/rvmbus-$VER /usr/src/$D-$DVER $STAGE
exit $rc
EOS
"$REPO/scripts/in-chroot.sh" "$KROOT" "$REPO" /bin/bash /src/$BUILD/dkms/check.sh
