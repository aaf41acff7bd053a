#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs a command in the build chroot with /proc mounted and the repository
# bind-mounted at /src, with a clean environment. The mounts live in a private
# mount namespace and vanish with the command, however it ends.
#
# Usage: scripts/in-chroot.sh ROOT REPO COMMAND [ARGS...]
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 ROOT REPO COMMAND [ARGS...]" >&2; exit 2; }
mkdir -p "$1/src"
exec unshare --mount --propagation private -- /bin/sh -c '
	set -e
	R=$1; REPO=$2; shift 2
	mount -t proc proc "$R/proc"
	mount --bind "$REPO" "$R/src"
	exec chroot "$R" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
' sh "$@"
