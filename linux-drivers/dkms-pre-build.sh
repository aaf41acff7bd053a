#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The PRE_BUILD step of the rvmbus-linux-drivers DKMS package (dkms.conf
# in this folder), run by dkms in the package's build directory. It takes
# from the rvmbus package installed for the same kernel its Module.symvers
# (which dkms keeps with the built modules, in the kernel-<release>-<arch>
# link's module/ folder) and the retarget header of the same version (its
# source under /usr/src), into ./rvmbus/, and makes the drivers' build
# directories with prepare.sh from the kernel's source tree.
#
# Usage: dkms-pre-build.sh KERNEL_SOURCE_DIR RVMBUS_KERNEL_LINK SOURCE_TREE
set -euo pipefail
die() { echo "dkms-pre-build.sh: $*" >&2; exit 1; }
[ $# -eq 3 ] || die "usage: dkms-pre-build.sh KERNEL_SOURCE_DIR RVMBUS_KERNEL_LINK SOURCE_TREE"
ksrc=$1 link=$2 source_tree=$3
# The link names .../rvmbus/<version>/<release>/<arch>.
target=$(readlink -f "$link") || die "rvmbus is not installed for this kernel ($link)"
ver=$(basename "$(dirname "$(dirname "$target")")")
symvers=$target/module/Module.symvers
retarget=$source_tree/rvmbus-$ver/rust/rvmbus/hv/retarget.h
[ -f "$symvers" ] || die "no $symvers: is rvmbus/$ver built and installed for this kernel?"
[ -f "$retarget" ] || die "no $retarget: is rvmbus/$ver added?"
# Where hv_vmbus is a module, rvmbus exports its own names and the kernel's
# own driver modules load against it (Documentation/running.rst, step 3):
# there is nothing to retarget.
if grep -q '^CONFIG_HYPERV_VMBUS=m$' "$ksrc/.config" 2>/dev/null; then
	die "this kernel's hv_vmbus is a module: its own hv_utils, hv_storvsc and hv_netvsc load against rvmbus as they are; this package is for kernels with hv_vmbus built in"
fi
grep -q 'rvmbus_hv___vmbus_driver_register' "$symvers" ||
	die "$symvers does not export rvmbus's hv_vmbus interface"
rm -rf rvmbus
mkdir -p rvmbus/rust/rvmbus/hv
cp "$symvers" rvmbus/Module.symvers
cp "$retarget" rvmbus/rust/rvmbus/hv/retarget.h
echo "rvmbus/$ver: $symvers"
"$(dirname "$0")/prepare.sh" "$ksrc" rvmbus/rust/rvmbus/hv/retarget.h . .
