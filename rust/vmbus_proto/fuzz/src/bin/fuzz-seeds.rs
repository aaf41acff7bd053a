// SPDX-License-Identifier: GPL-2.0

//! Writes the seed inputs of every fuzz target (`vmbus_proto_fuzz::seeds`)
//! as `DIR/TARGET/NAME`, replacing what was there.
//!
//! Usage: `fuzz-seeds [DIR]` (default: `seeds/` beside this crate's
//! Cargo.toml).

use std::path::{Path, PathBuf};

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds"));
    let seeds = vmbus_proto_fuzz::seeds::all();
    for (target, _) in vmbus_proto_fuzz::TARGETS {
        let d = dir.join(target);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
        }
        std::fs::create_dir_all(&d)?;
    }
    for (target, name, bytes) in &seeds {
        std::fs::write(dir.join(target).join(name), bytes)?;
    }
    println!("{} seeds written under {}", seeds.len(), dir.display());
    Ok(())
}
