#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Creates the root file system of the nested Hyper-V tests' middle level
# (L1, Documentation/testing.rst "Under real Hyper-V emulation"): Debian
# trixie minbase with trixie's QEMU 10 (its VMBus server, vmbus-bridge, and
# its Dynamic Memory device, hv-balloon), kmod and busybox, as an ext4 image
# that L1 mounts read-only from a virtio disk.
#
# The image is cached in $RVMBUS_CACHE/nested/ under a name keyed on a hash
# of its inputs (this script, the package list, the mirror), so a second run
# only prints its path. The L1 and L2 initramfs are not cached here: they
# hold the freshly built modules, and tests/nested/run.py packs them in a
# second.
#
# Usage: scripts/setup-nested.sh   (prints the image's path on stdout)
set -euo pipefail

CACHE=${RVMBUS_CACHE:-$HOME/.cache/rvmbus}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=qemu-system-x86,kmod,busybox-static
SIZE_MB=900

log() { printf '[setup-nested] %s\n' "$*" >&2; }
die() { printf '[setup-nested] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap needs it)"
# Only the image's path goes to stdout (fd 3); everything the tools print
# goes to stderr (mkfs.ext4 -d prints "Creating regular file ..." even with
# -q, which once became the "path" of a first run on a fresh machine).
exec 3>&1 1>&2
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
	log "installing host packages: ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${need[@]}" >/dev/null || die "could not install ${need[*]}"
fi

key=$( { cat "$0"; echo "$MIRROR $PACKAGES $SIZE_MB"; } | sha256sum | cut -c1-16)
dir=$CACHE/nested
img=$dir/l1-root-$key.img
if [ -f "$img" ]; then
	log "L1 root image is ready (cached): $img"
	echo "$img" >&3
	exit 0
fi

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ -f "$img" ]; then
	echo "$img" >&3
	exit 0
fi
tmp=$dir/root.tmp
rm -rf "$tmp" "$img.tmp"
log "debootstrap trixie minbase with $PACKAGES (no recommends)"
t0=$(date +%s)
# debootstrap resolves Depends only, never Recommends.
debootstrap --variant=minbase --include="$PACKAGES" trixie "$tmp" "$MIRROR" \
	>"$dir/debootstrap.log" 2>&1 ||
	{ tail -20 "$dir/debootstrap.log" >&2; die "debootstrap failed (log: $dir/debootstrap.log)"; }
[ -x "$tmp/usr/bin/qemu-system-x86_64" ] || die "no qemu-system-x86_64 in the new root"
# What L1 never reads: the package caches, documentation and locales.
rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/* \
	"$tmp"/usr/share/doc "$tmp"/usr/share/man "$tmp"/usr/share/locale
# Mount points L1's /init fills (proc, sys, dev, run, tmp exist already).
mkdir -p "$tmp/l2"
mkfs.ext4 -q -F -L rvmbus-l1 -d "$tmp" "$img.tmp" "${SIZE_MB}M" ||
	die "mkfs.ext4 -d failed"
rm -rf "$tmp"
mv "$img.tmp" "$img"
# Older images of other keys are of no use any more.
find "$dir" -maxdepth 1 -name 'l1-root-*.img' ! -name "l1-root-$key.img" -delete
log "L1 root image made in $(( $(date +%s) - t0 )) s: $img"
echo "$img" >&3
