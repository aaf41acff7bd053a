// SPDX-License-Identifier: GPL-2.0

//! Runs the fuzz targets on random inputs (mutations of earlier inputs and
//! fresh random bytes) for a time budget, without libFuzzer.
//!
//! It is the fallback of `scripts/fuzz.sh` where libFuzzer cannot be
//! built. Usage: `fuzz-plain TARGET SECONDS [SEED]`. Prints
//! `FUZZ <target>: <execs> execs, <n> input classes (plain runner, no
//! code coverage)`. This runner has no instrumentation: `<n>` is the
//! number of distinct input classes (first byte mod 32, second byte mod 8,
//! length / 8) that were tried and kept as mutation seeds. It starts from
//! the target's seed inputs (`seeds/TARGET/`).
//!
//! An input that makes a target panic is saved as
//! `regressions/TARGET/crash-HASH` (the directory from `$FUZZ_REGRESSIONS`,
//! else the one beside this crate's Cargo.toml), where it is kept in git
//! and replayed for good:
//!
//! - `fuzz-plain --replay` runs every saved input, and every seed input
//!   (`seeds/TARGET/`), through its target and fails if any panics;
//! - `fuzz-plain --selftest` checks the saving and the replay themselves
//!   with a target that always panics, in a scratch directory.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vmbus_proto_fuzz::Target;

/// Where crashing inputs are kept.
fn regressions_dir() -> PathBuf {
    std::env::var_os("FUZZ_REGRESSIONS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions"))
}

/// Where the seed inputs are kept.
fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds")
}

/// The files under `dir/name`, sorted.
fn files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join(name)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.retain(|f| f.is_file());
    files.sort();
    files
}

/// Runs `target` on `input`; false if it panicked.
fn survives(target: Target, input: &[u8]) -> bool {
    catch_unwind(AssertUnwindSafe(|| target(input))).is_ok()
}

/// FNV-1a, to name a saved input after its bytes.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Saves a crashing input of `name` under `dir`; returns its path.
fn save(dir: &Path, name: &str, input: &[u8]) -> std::io::Result<PathBuf> {
    let d = dir.join(name);
    std::fs::create_dir_all(&d)?;
    let p = d.join(format!("crash-{:016x}", fnv(input)));
    std::fs::write(&p, input)?;
    Ok(p)
}

/// Replays every input saved under `dir` through the target its
/// directory names, naming each that crashes if `report`; returns
/// (inputs, crashes).
fn replay(dir: &Path, targets: &[(&str, Target)], report: bool) -> (usize, usize) {
    let (mut n, mut crashed) = (0, 0);
    for &(name, target) in targets {
        for f in files(dir, name) {
            let Ok(input) = std::fs::read(&f) else {
                continue;
            };
            n += 1;
            if !survives(target, &input) {
                crashed += 1;
                if report {
                    println!("FUZZ {name}: regression {} still crashes", f.display());
                }
            }
        }
    }
    (n, crashed)
}

/// A target that panics on every input, for `--selftest`.
fn always_panics(data: &[u8]) {
    panic!("self-test target: {} bytes", data.len());
}

/// Saves a crash of [`always_panics`] in a scratch directory and replays
/// it; true if both work.
fn selftest() -> bool {
    let dir = std::env::temp_dir().join(format!("fuzz-selftest-{}", std::process::id()));
    let targets: &[(&str, Target)] = &[("selftest", always_panics)];
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let input = b"saved and replayed".to_vec();
    let saved = !survives(always_panics, &input) && save(&dir, "selftest", &input).is_ok();
    let (n, crashed) = replay(&dir, targets, false);
    std::panic::set_hook(hook);
    let _ = std::fs::remove_dir_all(&dir);
    saved && n == 1 && crashed == 1
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--replay") => {
            let (n, crashed) = replay(&regressions_dir(), vmbus_proto_fuzz::TARGETS, true);
            println!("FUZZ regressions: {n} saved inputs replayed, {crashed} crashed");
            let (m, seeds_crashed) = replay(&seeds_dir(), vmbus_proto_fuzz::TARGETS, true);
            println!("FUZZ seeds: {m} seed inputs replayed, {seeds_crashed} crashed");
            std::process::exit(i32::from(crashed + seeds_crashed > 0));
        }
        Some("--selftest") => {
            let ok = selftest();
            println!(
                "FUZZ self-test: a crashing input {} saved and replayed as a regression",
                if ok { "was" } else { "was NOT" }
            );
            std::process::exit(i32::from(!ok));
        }
        _ => {}
    }
    if args.len() < 3 {
        eprintln!("usage: fuzz-plain TARGET SECONDS [SEED]");
        std::process::exit(2);
    }
    let Some(&(name, target)) = vmbus_proto_fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == args[1])
    else {
        eprintln!("unknown target {}", args[1]);
        std::process::exit(2);
    };
    let secs: u64 = args[2].parse().unwrap_or(10);
    let seed: u64 = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_5678_9abc);
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut corpus: Vec<Vec<u8>> = files(&seeds_dir(), name)
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .collect();
    let mut seen: HashSet<(u8, u8, usize)> = HashSet::new();
    let mut execs: u64 = 0;
    while Instant::now() < deadline {
        for _ in 0..256 {
            let input = if corpus.is_empty() || rng.below(4) == 0 {
                let n = rng.below(300);
                (0..n).map(|_| rng.next() as u8).collect::<Vec<u8>>()
            } else {
                let mut v = corpus[rng.below(corpus.len())].clone();
                for _ in 0..=rng.below(8) {
                    match rng.below(4) {
                        0 if !v.is_empty() => {
                            let i = rng.below(v.len());
                            v[i] = rng.next() as u8;
                        }
                        1 if !v.is_empty() => {
                            let i = rng.below(v.len());
                            v[i] = [0, 1, 0xff, 0x80, 8, 16][rng.below(6)];
                        }
                        2 => v.push(rng.next() as u8),
                        _ => {
                            let n = rng.below(v.len() + 1);
                            v.truncate(n);
                        }
                    }
                }
                v
            };
            if !survives(target, &input) {
                match save(&regressions_dir(), name, &input) {
                    Ok(p) => println!("FUZZ {name}: CRASH, input saved as {}", p.display()),
                    Err(e) => println!("FUZZ {name}: CRASH, input not saved: {e}"),
                }
                std::process::exit(1);
            }
            execs += 1;
            let key = (
                input.first().copied().unwrap_or(0) % 32,
                input.get(1).copied().unwrap_or(0) % 8,
                input.len() / 8,
            );
            if seen.insert(key) && corpus.len() < 4096 {
                corpus.push(input);
            }
        }
    }
    println!(
        "FUZZ {name}: {execs} execs, {} input classes (plain runner, no code coverage)",
        seen.len()
    );
}
