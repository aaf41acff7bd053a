#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The QEMU that runs L1 of the nested Hyper-V tests under TCG (L0): trixie's
# QEMU 10, taken out of L1's own root image (scripts/setup-nested.sh), not
# the QEMU of the machine that runs the tests. Bookworm's QEMU 7.2 emulates
# AMD SVM well enough to boot L1 and L2, but in `make test-hyperv` runs L1
# stopped as a whole now and then, with Linux's C hv_vmbus in L2 as well as
# with rvmbus (no line from L1 for 300 s, its QEMU busy at 100%; three L1
# RIPs in L1's kernel, interrupts off in two). Documentation/testing.rst,
# "Under real Hyper-V emulation", has the measurements.
#
# The files come out of the image with debugfs (no mount, no root file
# system of its own) into $RVMBUS_CACHE/nested/l0-<image key>/, and a
# wrapper there runs trixie's qemu-system-x86_64 with trixie's loader and
# libraries and its firmware directories. Cached: a second run only prints
# the wrapper's path.
#
# Usage: scripts/nested-l0-qemu.sh IMAGE   (prints the wrapper's path)
set -euo pipefail

img=${1:?usage: $0 IMAGE}
log() { printf '[nested-l0-qemu] %s\n' "$*" >&2; }
die() { printf '[nested-l0-qemu] ERROR: %s\n' "$*" >&2; exit 1; }

[ -f "$img" ] || die "no image $img"
base=$(basename "$img" .img)
dir=$(dirname "$img")/l0-${base#l1-root-}
wrapper=$dir/qemu-system-x86_64
if [ -x "$wrapper" ]; then
	echo "$wrapper"
	exit 0
fi
command -v debugfs >/dev/null || die "debugfs (e2fsprogs) is missing"
exec 9>"$(dirname "$img")/.lock-l0"
flock 9
if [ -x "$wrapper" ]; then
	echo "$wrapper"
	exit 0
fi
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
# /usr holds everything QEMU needs (trixie's /lib and /lib64 are links
# into it).
debugfs -R "rdump /usr $dir.tmp" "$img" >/dev/null 2>&1 || die "debugfs could not copy /usr out of $img"
ld=$dir.tmp/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
[ -x "$dir.tmp/usr/bin/qemu-system-x86_64" ] && [ -x "$ld" ] ||
	die "no qemu-system-x86_64 or loader in $img"
cat >"$dir.tmp/qemu-system-x86_64" <<'EOF'
#!/bin/sh
# trixie's QEMU with its own loader, libraries and firmware
# (scripts/nested-l0-qemu.sh).
R=$(dirname "$(readlink -f "$0")")/usr
exec "$R/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$R/lib/x86_64-linux-gnu" \
	"$R/bin/qemu-system-x86_64" -L "$R/share/qemu" -L "$R/share/seabios" "$@"
EOF
chmod +x "$dir.tmp/qemu-system-x86_64"
v=$("$dir.tmp/qemu-system-x86_64" --version | head -1) || die "trixie's QEMU does not start here"
# Older copies, of other images, are of no use any more.
find "$(dirname "$img")" -maxdepth 1 -name 'l0-*' ! -name "$(basename "$dir")" ! -name "$(basename "$dir").tmp" \
	-exec rm -rf {} +
mv "$dir.tmp" "$dir"
log "L0's QEMU: $v ($wrapper)"
echo "$wrapper"
