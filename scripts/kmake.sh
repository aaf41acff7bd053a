#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs the kernel's make for an external module inside the build chroot, with
# Debian's settings (.kernelvariables), the repository bind-mounted at /src.
# The mounts live in a private mount namespace and vanish with the command.
#
# With KFLAVOUR=debug it builds against the debug kernel of
# scripts/build-debug-kernel.sh instead (LLVM=1, its own build directory);
# give it a DIR of its own (the Makefile copies the sources to build/debug/).
#
# Usage: [KFLAVOUR=debug] scripts/kmake.sh DIR [make arguments...]   (DIR relative to the repo)
set -euo pipefail
CACHE=${RVMBUS_CACHE:-$HOME/.cache/rvmbus}
[ -f "$CACHE/env.mk" ] || { echo "kmake: run 'make setup' first" >&2; exit 1; }
eval "$(sed -n 's/^\([A-Z_]*\) := \(.*\)$/\1="\2"/p' "$CACHE/env.mk")"
REPO=$(cd "$(dirname "$0")/.." && pwd)
dir=$1; shift
if [ "${KFLAVOUR:-}" = debug ]; then
	[ -f "$CACHE/debug-env.mk" ] || { echo "kmake: run 'make debug-kernel' first" >&2; exit 1; }
	eval "$(sed -n 's/^\([A-Z_]*\) := \(.*\)$/\1="\2"/p' "$CACHE/debug-env.mk")"
	set -- -C "$DEBUG_KBUILD_IN_CHROOT" ARCH=x86 LLVM=1 KERNELRELEASE="$DEBUG_KREL" "$@"
else
	set -- -C "$KSRC_IN_CHROOT" ARCH=x86 CROSS_COMPILE=x86_64-linux-gnu- \
		CC=x86_64-linux-gnu-gcc-14 KERNELRELEASE="$KREL" "$@"
fi
exec "$REPO/scripts/in-chroot.sh" "$KROOT" "$REPO" make M="/src/$dir" "$@"
