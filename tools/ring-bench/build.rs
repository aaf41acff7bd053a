// SPDX-License-Identifier: GPL-2.0

//! Compiles Linux's userspace ring buffer, `tools/hv/vmbus_bufring.c`, from
//! the kernel source that `make setup` unpacks, so that the benchmark can
//! run it next to vmbus_proto's ring. `scripts/bench.sh` names the source
//! tree in `RVMBUS_KSRC` (from `env.mk`'s `KSRC`); without it, or without
//! the file, the C ring is left out with a warning and the build goes on.
//! Nothing of Linux's is copied into this repository.

use std::env;
use std::path::PathBuf;

/// Leaves the C ring out; the benchmark and its report say why. A build
/// that named a source tree also gets a warning: the tree is not usable.
fn skip(why: &str, warn: bool) {
    if warn {
        println!("cargo::warning=Linux's C ring left out of the benchmark: {why}");
    }
    println!("cargo::rustc-env=RING_BENCH_LINUX_SKIPPED={why}");
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(linux_bufring)");
    println!("cargo::rerun-if-env-changed=RVMBUS_KSRC");
    let Some(ksrc) = env::var_os("RVMBUS_KSRC").filter(|s| !s.is_empty()) else {
        skip(
            "RVMBUS_KSRC is not set (scripts/bench.sh sets it from env.mk's KSRC; run `make setup`)",
            false,
        );
        return;
    };
    let dir = PathBuf::from(ksrc).join("tools/hv");
    let src = dir.join("vmbus_bufring.c");
    println!("cargo::rerun-if-changed={}", src.display());
    println!(
        "cargo::rerun-if-changed={}",
        dir.join("vmbus_bufring.h").display()
    );
    if !src.is_file() {
        skip(
            &format!("{} not found (run `make setup`)", src.display()),
            true,
        );
        return;
    }
    // The flags of Linux's tools/hv/Makefile.
    let mut b = cc::Build::new();
    b.file(&src)
        .include(&dir)
        .opt_level(2)
        .debug(true)
        .define("_GNU_SOURCE", None)
        .flag("-Wall")
        .flag_if_supported("-Wno-address-of-packed-member")
        .cargo_warnings(false);
    if let Err(e) = b.try_compile("vmbus_bufring") {
        skip(&format!("compiling {} failed: {e}", src.display()), true);
        return;
    }
    println!("cargo::rustc-cfg=linux_bufring");
    println!("cargo::rustc-env=RING_BENCH_LINUX_SRC={}", src.display());
}
