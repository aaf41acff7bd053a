// SPDX-License-Identifier: GPL-2.0

//! vmbus-host: see `vmbus-host --help`.

use clap::Parser;

fn main() {
    let cli = vmbus_host::cli::Cli::parse();
    std::process::exit(vmbus_host::cli::main_with(cli));
}
