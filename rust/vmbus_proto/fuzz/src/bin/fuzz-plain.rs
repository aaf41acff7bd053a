// SPDX-License-Identifier: GPL-2.0

//! Runs the fuzz targets on random inputs (mutations of earlier inputs and
//! fresh random bytes) for a time budget, without libFuzzer.
//!
//! Usage: `fuzz-plain TARGET SECONDS [SEED]`. Prints
//! `FUZZ <target>: <execs> execs, <n> coverage`. This runner has no
//! instrumentation, so `coverage` here is not code coverage: it is the
//! number of distinct input classes (first byte mod 32, second byte mod 8,
//! length / 8) that were tried and kept as mutation seeds.

use std::collections::HashSet;
use std::time::{Duration, Instant};

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
    let mut corpus: Vec<Vec<u8>> = Vec::new();
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
            target(&input);
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
    println!("FUZZ {name}: {execs} execs, {} coverage", seen.len());
}
