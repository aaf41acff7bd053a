// SPDX-License-Identifier: GPL-2.0

//! vmbus-host: placeholder entry point, replaced by the host implementation.

fn main() {
    eprintln!("vmbus-host: not implemented yet");
    std::process::exit(1);
}
