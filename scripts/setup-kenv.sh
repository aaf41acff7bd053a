#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Creates the kernel build environment for rvmbus from nothing:
#
#   - a debootstrap'd Debian trixie chroot with the toolchain Debian built its
#     cloud kernel with (trixie's rustc, rust-src, bindgen, gcc-14);
#   - the current linux-image-*-cloud-amd64 of trixie-backports (discovered
#     from the package index unless KVER/KREL are given), its source, headers
#     and prebuilt vmlinuz;
#   - a prepared tree (`modules_prepare`) with Debian's Module.symvers.
#
# The result lives in $RVMBUS_CACHE (default ~/.cache/rvmbus), outside the
# repository.  A stamp file keyed on the inputs makes a second run finish in
# seconds.  All mounts are made in a private mount namespace (unshare), so
# nothing stays mounted when the script ends, however it ends.
#
# Called by `make setup`; not meant to be run by hand.
set -euo pipefail

CACHE=${RVMBUS_CACHE:-$HOME/.cache/rvmbus}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
ROOT=$CACHE/chroot
KVER=${KVER:-}      # Debian package version, e.g. 7.3.4-1~bpo13+1
KREL=${KREL:-}      # kernel release, e.g. 7.3.4+deb13-cloud-amd64
JOBS=${JOBS:-$(nproc)}
SCRIPT_VERSION=3

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot need it)"

# Runs a command inside the chroot with /proc, /sys and /dev available.  The
# mounts live in a private mount namespace and vanish with the command.
in_chroot() {
	unshare --mount --propagation private -- /bin/sh -c '
		set -e
		R=$1; shift
		mount -t proc proc "$R/proc"
		mount -t sysfs sys "$R/sys"
		mount --rbind /dev "$R/dev"
		exec chroot "$R" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
	' sh "$ROOT" "$@"
}

host_tools() {
	local need=()
	command -v debootstrap >/dev/null || need+=(debootstrap)
	command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
	command -v cpio >/dev/null || need+=(cpio)
	command -v unshare >/dev/null || need+=(util-linux)
	command -v zstd >/dev/null || need+=(zstd)
	if [ ${#need[@]} -gt 0 ]; then
		log "installing host packages: ${need[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${need[@]}" >/dev/null
	fi
}

make_chroot() {
	if [ -f "$ROOT/.rvmbus-chroot-ok" ]; then
		return
	fi
	log "debootstrap trixie into $ROOT"
	rm -rf "$ROOT"
	mkdir -p "$ROOT"
	debootstrap --variant=minbase trixie "$ROOT" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
		{ tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
	cat >"$ROOT/etc/apt/sources.list" <<EOS
deb $MIRROR trixie main
deb $MIRROR trixie-updates main
deb $MIRROR trixie-backports main
deb $SECMIRROR trixie-security main
EOS
	# Never let backports win for the toolchain: the kernel was built with
	# trixie's rustc, and a newer one produces different symbol hashes.
	in_chroot apt-get update -qq
	log "installing the kernel toolchain in the chroot"
	in_chroot apt-get install -y -qq --no-install-recommends \
		build-essential gcc-14 make bc bison flex libelf-dev libssl-dev python3 \
		cpio kmod xz-utils zstd rustc rust-src bindgen clang llvm lld libclang-dev \
		dwarves busybox-static ca-certificates rust-clippy >"$CACHE/apt-chroot.log" 2>&1 ||
		{ tail -20 "$CACHE/apt-chroot.log" >&2; die "toolchain install failed"; }
	touch "$ROOT/.rvmbus-chroot-ok"
}

# Packages added after the first chroots were made: installed when missing.
chroot_extras() {
	if [ ! -x "$ROOT/usr/bin/clippy-driver" ]; then
		log "installing rust-clippy in the chroot (for CLIPPY=1 module builds)"
		in_chroot apt-get install -y -qq --no-install-recommends rust-clippy \
			>>"$CACHE/apt-chroot.log" 2>&1 || die "rust-clippy install failed"
	fi
	# kexec-tools: the kexec scenario packs /usr/sbin/kexec and the shared
	# libraries it needs (resolved with the chroot's own loader) into the
	# guest's initramfs.
	if [ ! -x "$ROOT/usr/sbin/kexec" ]; then
		log "installing kexec-tools in the chroot (for the kexec scenario)"
		in_chroot apt-get install -y -qq --no-install-recommends kexec-tools \
			>>"$CACHE/apt-chroot.log" 2>&1 || die "kexec-tools install failed"
	fi
	# hyperv-daemons: the hv-ic scenario packs Debian's hv_kvp_daemon and
	# hv_vss_daemon with the shared libraries they need into the guest's
	# initramfs, for Linux's hv_utils to hand the host's KVP and VSS
	# requests to.
	if [ ! -x "$ROOT/usr/sbin/hv_kvp_daemon" ]; then
		log "installing hyperv-daemons in the chroot (for the hv-ic scenario)"
		in_chroot apt-get install -y -qq --no-install-recommends hyperv-daemons \
			>>"$CACHE/apt-chroot.log" 2>&1 || die "hyperv-daemons install failed"
	fi
}

discover_kernel() {
	if [ -n "$KVER" ] && [ -n "$KREL" ]; then
		return
	fi
	in_chroot apt-get update -qq
	# The newest linux-image-*-cloud-amd64 (not the meta package) in backports.
	local pkg
	pkg=$(in_chroot apt-cache search --names-only '^linux-image-7\.[0-9.]+\+deb13-cloud-amd64$' |
		awk '{print $1}' | sort -V | tail -1)
	[ -n "$pkg" ] || die "no linux-image-7.*-cloud-amd64 found in trixie-backports; set KVER and KREL"
	KREL=${pkg#linux-image-}
	KVER=$(in_chroot apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
	[ -n "$KVER" ] || die "could not find the version of $pkg"
}

fetch_kernel() {
	local kdir=$1 series
	series=$(echo "$KREL" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
	mkdir -p "$kdir/debs"
	if [ ! -f "$kdir/.fetched" ]; then
		log "fetching linux $KVER ($KREL)"
		# The headers come as an arch package and a -common package.
		in_chroot sh -c "cd /kbuild/$KVER/debs && apt-get download -qq \
			linux-source-$series=$KVER linux-headers-$KREL=$KVER" ||
			die "apt-get download of linux-source-$series / linux-headers-$KREL failed"
		local common
		common=$(in_chroot apt-cache depends "linux-headers-$KREL=$KVER" |
			awk '/Depends: linux-headers-.*-common/ {print $2}' | head -1)
		if [ -n "$common" ]; then
			in_chroot sh -c "cd /kbuild/$KVER/debs && apt-get download -qq $common=$KVER" ||
				die "apt-get download of $common failed"
		fi
		# The vmlinuz is in linux-image-KREL (older layout) or linux-binary-KREL.
		in_chroot sh -c "cd /kbuild/$KVER/debs && (apt-get download -qq linux-binary-$KREL=$KVER ||
			apt-get download -qq linux-image-$KREL=$KVER)" ||
			die "could not download the kernel image package of $KREL"
		# Modules package (virtio_blk etc. for hibernation tests), if separate.
		in_chroot sh -c "cd /kbuild/$KVER/debs && apt-get download -qq linux-modules-$KREL=$KVER" 2>/dev/null || true
		touch "$kdir/.fetched"
	fi
}

unpack_kernel() {
	local kdir=$1 series
	series=$(echo "$KREL" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
	if [ -f "$kdir/.unpacked" ]; then
		return
	fi
	log "unpacking packages"
	rm -rf "$kdir/pkg"
	mkdir -p "$kdir/pkg"
	for d in "$kdir"/debs/*.deb; do
		dpkg-deb -x "$d" "$kdir/pkg"
	done
	local tarball
	tarball=$(ls "$kdir"/pkg/usr/src/linux-source-"$series".tar.* 2>/dev/null | head -1)
	[ -n "$tarball" ] || die "linux-source tarball not found in $kdir/pkg/usr/src"
	rm -rf "$kdir/src"
	mkdir -p "$kdir/src"
	tar -C "$kdir/src" --strip-components=1 -xf "$tarball"
	touch "$kdir/.unpacked"
}

prepare_tree() {
	local kdir=$1
	local hdr="$kdir/pkg/usr/src/linux-headers-$KREL"
	[ -f "$hdr/.config" ] || die "no .config in $hdr"
	local want_rustc have_rustc
	want_rustc=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"$/\1/p' "$hdr/.config")
	have_rustc=$(in_chroot rustc --version)
	if [ "$want_rustc" != "$have_rustc" ]; then
		die "rustc mismatch: the kernel was built with '$want_rustc' but the chroot has '$have_rustc'.
  Pick a kernel built with this rustc (KVER=... KREL=...), or remove $ROOT to rebuild the chroot from the current trixie."
	fi
	if [ -f "$kdir/.prepared" ]; then
		return
	fi
	log "preparing the tree (olddefconfig, modules_prepare with -j$JOBS)"
	cp "$hdr/.config" "$kdir/src/.config"
	cp "$hdr/Module.symvers" "$kdir/src/Module.symvers"
	local kmake="make -C /kbuild/$KVER/src ARCH=x86 CROSS_COMPILE=x86_64-linux-gnu- CC=x86_64-linux-gnu-gcc-14 KERNELRELEASE=$KREL"
	in_chroot sh -c "$kmake olddefconfig >/dev/null && $kmake -j$JOBS modules_prepare" \
		>"$kdir/prepare.log" 2>&1 || { tail -30 "$kdir/prepare.log" >&2; die "modules_prepare failed (log: $kdir/prepare.log)"; }
	# modules_prepare leaves a stub Module.symvers behind in some versions.
	cp "$hdr/Module.symvers" "$kdir/src/Module.symvers"
	if [ -f "$hdr/vmlinux" ]; then
		cp "$hdr/vmlinux" "$kdir/src/vmlinux"
	fi
	touch "$kdir/.prepared"
}

check_hashes() {
	local kdir=$1 want have
	# The crate hashes in the Rust core symbols that Debian's kernel exports
	# must be the ones our freshly built rust/ produced.
	want=$(grep -oE '_R[A-Za-z0-9_]*Cs[A-Za-z0-9_]{11,13}_4core' "$kdir/src/Module.symvers" |
		grep -oE 'Cs[A-Za-z0-9_]+_4core' | sort -u | head -1)
	have=$(grep -aoE 'Cs[A-Za-z0-9_]{11,13}_4core' "$kdir/src/rust/libcore.rmeta" 2>/dev/null | sort | uniq -c | sort -rn |
		awk 'NR==1{print $2}')
	if [ -z "$want" ]; then
		die "no Rust core symbols in Module.symvers: is CONFIG_RUST on in this kernel?"
	fi
	if [ -n "$have" ] && [ "$want" != "$have" ]; then
		die "Rust crate hash mismatch: Module.symvers has $want, the prepared tree built $have.
  The toolchain differs from Debian's; remove $CACHE and rerun, or pin KVER/KREL."
	fi
	echo "$want"
}

main() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	host_tools
	make_chroot
	chroot_extras
	discover_kernel
	local kdir=$ROOT/kbuild/$KVER
	local stamp="$CACHE/env.$KVER.v$SCRIPT_VERSION"
	if [ -f "$stamp" ] && [ -f "$kdir/.prepared" ]; then
		log "kernel environment for $KREL ($KVER) is ready (cached)"
	else
		fetch_kernel "$kdir"
		unpack_kernel "$kdir"
		prepare_tree "$kdir"
		local h
		h=$(check_hashes "$kdir")
		log "Rust core crate hash $h matches Module.symvers"
		touch "$stamp"
	fi
	local vmlinuz
	vmlinuz=$(ls "$kdir/pkg/usr/lib/modules/$KREL/vmlinuz" "$kdir/pkg/boot/vmlinuz-$KREL" 2>/dev/null | head -1 || true)
	[ -n "$vmlinuz" ] || die "no prebuilt vmlinuz-$KREL in the image package"
	# The environment file the Makefile includes.
	cat >"$CACHE/env.mk.tmp" <<EOM
# Generated by scripts/setup-kenv.sh; do not edit.
KVER := $KVER
KREL := $KREL
KROOT := $ROOT
KSRC_IN_CHROOT := /kbuild/$KVER/src
KSRC := $kdir/src
KPKG := $kdir/pkg
VMLINUZ := $vmlinuz
EOM
	mv "$CACHE/env.mk.tmp" "$CACHE/env.mk"
	log "environment: $CACHE/env.mk"
}

main "$@"
