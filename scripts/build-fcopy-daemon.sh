#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds Linux's own file-copy daemon, hv_fcopy_uio_daemon, from the cached
# kernel source (tools/hv/hv_fcopy_uio_daemon.c and tools/hv/vmbus_bufring.c,
# unchanged) with the build chroot's gcc, for the hv-fcopy scenario: in the
# guest it opens the fcopy device's /dev/uioN that uio_hv_generic makes,
# maps its rings and answers the host's file-copy messages. Debian's
# hyperv-daemons (trixie) ships hv_kvp_daemon and hv_vss_daemon but not
# this daemon, so it is built here.
#
# The flags are those of the kernel's tools/hv/Makefile. The one kernel
# header it needs, <linux/hyperv.h>, is taken from the same source tree's
# include/uapi (a build directory of its own holds a link to it), not from
# the chroot's linux-libc-dev.
#
# The result is cached in the chroot under /kbuild/<KVER>/tools/, keyed on
# the sources, that header, the flags, the compiler's version and
# SCRIPT_VERSION; a cached run takes a second. It is copied to
# build/tools/hv_fcopy_uio_daemon, where the Makefile hands it to the
# harness (--fcopy-daemon). Run by `make modules` and `make debug-modules`.
#
# Usage: scripts/build-fcopy-daemon.sh
set -euo pipefail
CACHE=${RVMBUS_CACHE:-$HOME/.cache/rvmbus}
[ -f "$CACHE/env.mk" ] || { echo "fcopy-daemon: run 'make setup' first" >&2; exit 1; }
eval "$(sed -n 's/^\([A-Z_]*\) := \(.*\)$/\1="\2"/p' "$CACHE/env.mk")"
REPO=$(cd "$(dirname "$0")/.." && pwd)
SCRIPT_VERSION=1
NAME=hv_fcopy_uio_daemon
CFLAGS="-O2 -Wall -g -D_GNU_SOURCE -Wno-address-of-packed-member"
SOURCES="tools/hv/hv_fcopy_uio_daemon.c tools/hv/vmbus_bufring.c"
INPUTS="$SOURCES tools/hv/vmbus_bufring.h include/uapi/linux/hyperv.h"
DEST=$REPO/build/tools/$NAME
die() { echo "fcopy-daemon: $*" >&2; exit 1; }

for f in $INPUTS; do
	[ -f "$KSRC/$f" ] || die "no $f in $KSRC (Linux older than 6.10 has no $NAME)"
done
inch() { "$REPO/scripts/in-chroot.sh" "$KROOT" "$REPO" "$@"; }
cc_version=$(inch gcc --version | head -n1)
key=$( {
	echo "$KVER v$SCRIPT_VERSION $CFLAGS $cc_version"
	for f in $INPUTS; do echo "$f"; cat "$KSRC/$f"; done
} | sha256sum | cut -c1-12)
TOOLS_IN=/kbuild/$KVER/tools # as the chroot sees it
OUT_IN=$TOOLS_IN/$NAME-$key
OUT=$KROOT$OUT_IN

if [ -x "$OUT/$NAME" ]; then
	echo "[fcopy-daemon] $NAME (key $key) is ready (cached)"
else
	echo "[fcopy-daemon] building $NAME (key $key) from $KSRC_IN_CHROOT/tools/hv with $cc_version"
	rm -rf "$OUT"
	mkdir -p "$OUT/include/linux"
	ln -s "$KSRC_IN_CHROOT/include/uapi/linux/hyperv.h" "$OUT/include/linux/hyperv.h"
	srcs=$(for s in $SOURCES; do echo "$KSRC_IN_CHROOT/$s"; done)
	# shellcheck disable=SC2086 # flags and sources are lists of words
	inch gcc $CFLAGS -I"$OUT_IN/include" -o "$OUT_IN/$NAME.tmp" $srcs >"$OUT/build.log" 2>&1 ||
		{ cat "$OUT/build.log" >&2; die "compiling $NAME failed"; }
	[ ! -s "$OUT/build.log" ] || sed 's/^/[fcopy-daemon] gcc: /' "$OUT/build.log"
	mv "$OUT/$NAME.tmp" "$OUT/$NAME"
	# Builds of other keys are stale now.
	find "$KROOT$TOOLS_IN" -maxdepth 1 -name "$NAME-*" ! -name "$NAME-$key" -exec rm -rf {} +
fi
mkdir -p "$(dirname "$DEST")"
cmp -s "$OUT/$NAME" "$DEST" 2>/dev/null || cp "$OUT/$NAME" "$DEST"
