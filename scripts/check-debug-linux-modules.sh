#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The debug kernel's hv_vmbus is a module, and rvmbus.ko built for that
# kernel takes its place: it exports hv_vmbus's own names
# (rust/rvmbus/hv/retarget.h renames nothing there). This checks, before
# any guest boots, that every hv_vmbus symbol the kernel's own driver
# modules import is one that rvmbus.ko exports, so that a missing one is
# named here rather than as "Unknown symbol" at insmod in the guest.
#
# Then it checks the modprobe set-up that Documentation/running.rst gives
# for such a kernel, with Debian's kmod in the build chroot: in a module
# tree holding hv_vmbus.ko, rvmbus.ko, the drivers and the other modules
# they depend on (uio.ko for uio_hv_generic, from the same build), depmod
# names hv_vmbus among the drivers' dependencies (both export the names),
# and "install hv_vmbus /sbin/modprobe --ignore-install rvmbus" makes
# `modprobe -n -v` of each driver load rvmbus and never hv_vmbus.ko.
#
# Usage: check-debug-linux-modules.sh KBUILD RVMBUS_SYMVERS MODULE.ko...
# (KROOT, the chroot, from $RVMBUS_CACHE/env.mk.)
set -euo pipefail
die() { echo "check-debug-linux-modules: $*" >&2; exit 1; }
[ $# -ge 3 ] || die "usage: KBUILD RVMBUS_SYMVERS MODULE.ko..."
kbuild=$1 rvmbus=$2
shift 2
# Module.symvers: CRC, symbol, module, export type, namespace (tab-separated).
hv=$(awk -F'\t' '$3 == "drivers/hv/hv_vmbus" { print $2 }' "$kbuild/Module.symvers" | sort -u)
[ -n "$hv" ] || die "$kbuild/Module.symvers lists no export of drivers/hv/hv_vmbus (is it a module there?)"
ours=$(awk -F'\t' '{ print $2 }' "$rvmbus" | sort -u)
for ko in "$@"; do
	[ -f "$ko" ] || die "no $ko (the debug kernel's build makes it)"
	needed=$(nm -u "$ko" | awk '{ print $2 }' | sort -u | comm -12 - <(echo "$hv"))
	[ -n "$needed" ] || die "$ko imports nothing of hv_vmbus"
	missing=$(comm -23 <(echo "$needed") <(echo "$ours"))
	[ -z "$missing" ] || die "$ko imports hv_vmbus symbols that rvmbus.ko does not export: $(echo $missing)"
	echo "check-debug-linux-modules: $(basename "$ko"): its $(echo "$needed" | wc -l) hv_vmbus imports are all rvmbus.ko's"
done

# The modprobe set-up, in a scratch module tree under build/debug/ (it
# must be inside the repository, which is /src in the chroot).
CACHE=${RVMBUS_CACHE:-$HOME/.cache/rvmbus}
eval "$(sed -n 's/^\(KROOT\) := \(.*\)$/\1="\2"/p' "$CACHE/env.mk")"
REPO=$(cd "$(dirname "$0")/.." && pwd)
krel=$(cat "$kbuild/include/config/kernel.release")
scratch=build/debug/modprobe-check
rm -rf "$REPO/$scratch"
mods=$REPO/$scratch/lib/modules/$krel
mkdir -p "$mods/kernel" "$mods/extra" "$REPO/$scratch/modprobe.d"
cp "$kbuild/drivers/hv/hv_vmbus.ko" "$mods/kernel/"
cp "$(dirname "$rvmbus")/rvmbus.ko" "$mods/extra/"
for ko in "$@"; do cp "$ko" "$mods/kernel/"; done
cp "$kbuild/modules.builtin" "$kbuild/modules.builtin.modinfo" "$mods/"
echo "install hv_vmbus /sbin/modprobe --ignore-install rvmbus" >"$REPO/$scratch/modprobe.d/rvmbus.conf"
inch() { "$REPO/scripts/in-chroot.sh" "$KROOT" "$REPO" "$@"; }
# The drivers' other dependencies (modinfo's depends; uio for
# uio_hv_generic), from the same build; hv_vmbus is there already.
for ko in "$@"; do
	for d in $(inch modinfo -F depends "/src/$scratch/lib/modules/$krel/kernel/$(basename "$ko")" | tr , ' '); do
		[ "$d" = hv_vmbus ] || [ -f "$mods/kernel/$d.ko" ] && continue
		dep=$(find "$kbuild" -name "$d.ko" -print -quit)
		[ -n "$dep" ] || die "$(basename "$ko") depends on $d, and $kbuild has no $d.ko"
		cp "$dep" "$mods/kernel/"
	done
done
inch depmod -b "/src/$scratch" "$krel"
for ko in "$@"; do
	m=$(basename "$ko" .ko)
	grep -Eq "^kernel/$m.ko:( kernel/[a-z0-9_]+\.ko)* kernel/hv_vmbus\.ko( |\$)" "$mods/modules.dep" ||
		die "depmod did not make $m depend on hv_vmbus: $(grep "^kernel/$m.ko:" "$mods/modules.dep")"
	plan=$(inch modprobe -n -v -d "/src/$scratch" -S "$krel" -C "/src/$scratch/modprobe.d" "$m" 2>&1) ||
		die "modprobe -n -v $m failed: $plan"
	echo "$plan" | grep -q '^install /sbin/modprobe --ignore-install rvmbus' ||
		die "modprobe $m would not load rvmbus: $plan"
	echo "$plan" | grep -q 'hv_vmbus\.ko' && die "modprobe $m would load hv_vmbus.ko: $plan"
	echo "$plan" | grep -q "^insmod .*/$m\.ko" || die "modprobe $m would not load $m.ko: $plan"
done
echo "check-debug-linux-modules: with 'install hv_vmbus ... rvmbus', modprobe of $(for ko in "$@"; do basename "$ko" .ko; done | tr '\n' ' ')loads rvmbus, not hv_vmbus"
