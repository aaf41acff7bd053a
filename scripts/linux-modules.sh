#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds Linux's own VMBus drivers from the cached kernel source tree as
# external modules retargeted at rvmbus (linux-drivers/*/Kbuild), under
# build/linux/<module>/, and checks that neither they nor rvmbus.ko import
# any symbol of the C hv_vmbus. Run by `make modules` after rvmbus.ko is
# built (its Module.symvers at the repository root); a second run only
# relinks what changed.
#
# Usage: scripts/linux-modules.sh
set -euo pipefail
CACHE=${RVMBUS_CACHE:-$HOME/.cache/rvmbus}
eval "$(sed -n 's/^\([A-Z_]*\) := \(.*\)$/\1="\2"/p' "$CACHE/env.mk")"
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
HV="$KSRC/drivers/hv"
die() { echo "linux-modules: $*" >&2; exit 1; }

# Every symbol hv_vmbus exports: the EXPORT_SYMBOL*s of the objects its
# Makefile lists (hv_vmbus-y, continued over several lines).
hv_objs=$(awk '/^hv_vmbus-y[[:space:]]*:=/ { f = 1 } f { print; if ($0 !~ /\\$/) exit }' "$HV/Makefile" |
	sed 's/^hv_vmbus-y[[:space:]]*:=//; s/\\//g')
[ -n "$hv_objs" ] || die "no hv_vmbus-y in $HV/Makefile"
exports=$(for o in $hv_objs; do sed -n 's/^EXPORT_SYMBOL[A-Z_]*(\([A-Za-z0-9_]*\).*/\1/p' "$HV/${o%.o}.c"; done | sort -u)
[ -n "$exports" ] || die "found no hv_vmbus exports"
# The retarget header must rename each of them.
missing=$(for s in $exports; do grep -q "^#define $s rvmbus_hv_$s\$" rust/rvmbus/hv/retarget.h || echo "$s"; done)
[ -z "$missing" ] || die "rust/rvmbus/hv/retarget.h does not rename: $(echo $missing)"

for m in linux-drivers/*/; do
	m=$(basename "$m")
	out=build/linux/$m
	# The driver's directory in the kernel tree: the first line of
	# linux-drivers/<module>/source, or drivers/hv without one.
	dir=drivers/hv
	[ -f "linux-drivers/$m/source" ] && dir=$(head -n1 "linux-drivers/$m/source")
	objs=$(sed -n "s/^$m-y[[:space:]]*:=//p" "$KSRC/$dir/Makefile")
	# A driver of one source file (hv_balloon) has no $m-y line, only
	# obj-$(CONFIG_...) += $m.o.
	if [ -z "$objs" ] && grep -Eq "^obj-.*\+=[[:space:]]*$m\.o\$" "$KSRC/$dir/Makefile"; then
		objs=$m.o
	fi
	[ -n "$objs" ] || die "no $m-y or $m.o in $dir/Makefile"
	mkdir -p "$out"
	cp -p "linux-drivers/$m/Kbuild" "$out/Kbuild"
	for o in $objs; do
		ln -sfn "$KSRC_IN_CHROOT/$dir/${o%.o}.c" "$out/${o%.o}.c"
	done
	scripts/kmake.sh "$out" modules RVMBUS=/src KBUILD_EXTRA_SYMBOLS=/src/Module.symvers
	for ko in "$out/$m.ko" rust/rvmbus/rvmbus.ko; do
		bad=$(nm -u "$ko" | awk '{ print $2 }' | grep -Fxf <(echo "$exports") || true)
		[ -z "$bad" ] || die "$ko imports hv_vmbus symbols: $(echo $bad)"
	done
done
