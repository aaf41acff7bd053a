#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Makes the build directories of Linux's own VMBus drivers retargeted at
# rvmbus, from a kernel's source tree; no source is copied. For each
# DRIVERS/<module>/Kbuild it makes OUT/<module>/ with that Kbuild and a
# symbolic link to each of the driver's .c files that the kernel's own
# Makefile lists (drivers/hv/Makefile, or the directory that the first line
# of DRIVERS/<module>/source names). It also checks that RETARGET (rvmbus's
# rust/rvmbus/hv/retarget.h) renames every symbol that this kernel's
# hv_vmbus exports, and writes those symbols to OUT/hv_vmbus.exports, one a
# line, so that a caller can check the built modules against them.
#
# Two callers: scripts/linux-modules.sh (`make modules`, from the cached
# kernel tree, links valid inside the build chroot) and the PRE_BUILD step
# of the rvmbus-linux-drivers DKMS package (linux-drivers/dkms-pre-build.sh,
# from /lib/modules/<release>/build, with OUT the same as DRIVERS).
#
# Usage: prepare.sh KSRC RETARGET DRIVERS OUT [LINK_KSRC]
#   KSRC       the kernel source tree to read;
#   LINK_KSRC  the path of that tree that the links name (default: KSRC).
set -euo pipefail
die() { echo "linux-drivers/prepare.sh: $*" >&2; exit 1; }
[ $# -ge 4 ] || die "usage: prepare.sh KSRC RETARGET DRIVERS OUT [LINK_KSRC]"
KSRC=$1 RETARGET=$2 DRIVERS=$3 OUT=$4 LINK_KSRC=${5:-$1}
HV="$KSRC/drivers/hv"
[ -f "$HV/Makefile" ] || die "$KSRC is not a kernel source tree (no drivers/hv/Makefile)"
[ -f "$RETARGET" ] || die "no $RETARGET"

# Every symbol hv_vmbus exports: the EXPORT_SYMBOL*s of the objects its
# Makefile lists (hv_vmbus-y, continued over several lines).
hv_objs=$(awk '/^hv_vmbus-y[[:space:]]*:=/ { f = 1 } f { print; if ($0 !~ /\\$/) exit }' "$HV/Makefile" |
	sed 's/^hv_vmbus-y[[:space:]]*:=//; s/\\//g')
[ -n "$hv_objs" ] || die "no hv_vmbus-y in $HV/Makefile"
exports=$(for o in $hv_objs; do sed -n 's/^EXPORT_SYMBOL[A-Z_]*(\([A-Za-z0-9_]*\).*/\1/p' "$HV/${o%.o}.c"; done | sort -u)
[ -n "$exports" ] || die "found no hv_vmbus exports"
# The retarget header must rename each of them.
missing=$(for s in $exports; do grep -q "^#define $s rvmbus_hv_$s\$" "$RETARGET" || echo "$s"; done)
[ -z "$missing" ] || die "$RETARGET does not rename: $(echo $missing)"
mkdir -p "$OUT"
echo "$exports" >"$OUT/hv_vmbus.exports"

for m in "$DRIVERS"/*/; do
	m=$(basename "$m")
	[ -f "$DRIVERS/$m/Kbuild" ] || continue
	# The driver's directory in the kernel tree.
	dir=drivers/hv
	[ -f "$DRIVERS/$m/source" ] && dir=$(head -n1 "$DRIVERS/$m/source")
	# Its objects: $m-y := ... (drivers/hv) or $m-y += ... (net/vmw_vsock).
	objs=$(sed -n "s/^$m-y[[:space:]]*[:+]=//p" "$KSRC/$dir/Makefile")
	# A driver of one source file (hv_balloon) has no $m-y line, only
	# obj-$(CONFIG_...) += $m.o.
	if [ -z "$objs" ] && grep -Eq "^obj-.*\+=[[:space:]]*$m\.o\$" "$KSRC/$dir/Makefile"; then
		objs=$m.o
	fi
	# A module whose file name has a dash (hyperv-keyboard.o) has a folder
	# here named as kbuild names the module, with an underscore.
	if [ -z "$objs" ] && grep -Eq "^obj-.*\+=[[:space:]]*${m//_/-}\.o\$" "$KSRC/$dir/Makefile"; then
		objs=${m//_/-}.o
	fi
	[ -n "$objs" ] || die "no $m-y or $m.o in $dir/Makefile"
	mkdir -p "$OUT/$m"
	[ "$DRIVERS/$m/Kbuild" -ef "$OUT/$m/Kbuild" ] || cp -p "$DRIVERS/$m/Kbuild" "$OUT/$m/Kbuild"
	for o in $objs; do
		[ -f "$KSRC/$dir/${o%.o}.c" ] || die "no $dir/${o%.o}.c in $KSRC"
		ln -sfn "$LINK_KSRC/$dir/${o%.o}.c" "$OUT/$m/${o%.o}.c"
	done
done
