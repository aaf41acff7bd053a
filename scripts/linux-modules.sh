#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds Linux's own VMBus drivers from the cached kernel source tree as
# external modules retargeted at rvmbus (linux-drivers/*/Kbuild), under
# build/linux/<module>/ (made by linux-drivers/prepare.sh, which the DKMS
# package rvmbus-linux-drivers also runs), and checks that neither they
# nor rvmbus.ko import any symbol of the C hv_vmbus. Run by `make modules` after rvmbus.ko is
# built (its Module.symvers at the repository root); a second run only
# relinks what changed.
#
# Usage: scripts/linux-modules.sh
set -euo pipefail
CACHE=${RVMBUS_CACHE:-$HOME/.cache/rvmbus}
eval "$(sed -n 's/^\([A-Z_]*\) := \(.*\)$/\1="\2"/p' "$CACHE/env.mk")"
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
die() { echo "linux-modules: $*" >&2; exit 1; }

# The build directories (build/linux/<module>/: its Kbuild and links to the
# kernel's .c files) and the check that the retarget header renames every
# hv_vmbus export, shared with the DKMS package.
linux-drivers/prepare.sh "$KSRC" rust/rvmbus/hv/retarget.h linux-drivers build/linux "$KSRC_IN_CHROOT"
exports=$(cat build/linux/hv_vmbus.exports)

for m in linux-drivers/*/; do
	m=$(basename "$m")
	out=build/linux/$m
	scripts/kmake.sh "$out" modules RVMBUS=/src KBUILD_EXTRA_SYMBOLS=/src/Module.symvers
	# The module's file is named as its Kbuild's obj-m names it: the
	# folder's name, or with dashes where the kernel's file has them
	# (hyperv-keyboard.ko in hyperv_keyboard/).
	name=$(sed -n 's/^obj-m[[:space:]]*:=[[:space:]]*\([A-Za-z0-9_-]*\)\.o$/\1/p' "$out/Kbuild")
	[ -n "$name" ] || die "no obj-m in $out/Kbuild"
	for ko in "$out/$name.ko" rust/rvmbus/rvmbus.ko; do
		bad=$(nm -u "$ko" | awk '{ print $2 }' | grep -Fxf <(echo "$exports") || true)
		[ -z "$bad" ] || die "$ko imports hv_vmbus symbols: $(echo $bad)"
	done
done
