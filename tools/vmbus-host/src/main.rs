// SPDX-License-Identifier: GPL-2.0

//! vmbus-host: see `vmbus-host --help`.

fn main() {
    let cli = vmbus_host::cli::parse();
    std::process::exit(vmbus_host::cli::main_with(cli));
}
