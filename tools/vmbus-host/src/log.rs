// SPDX-License-Identifier: GPL-2.0

//! A tiny leveled logger writing to stderr, with per-call-site rate limiting
//! for lines a misbehaving guest could otherwise repeat without end.
//!
//! Use the macros [`log_error!`](crate::log_error), `log_warn!`, `log_info!`,
//! `log_debug!`, `log_trace!`, and `log_limited!` for rate-limited lines.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Log levels, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Something failed.
    Error = 1,
    /// Something is wrong but the host carries on (e.g. a bad guest request).
    Warn = 2,
    /// Connections, set-up, shutdown.
    Info = 3,
    /// Every request and message, briefly.
    Debug = 4,
    /// Everything.
    Trace = 5,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return Err(format!("unknown log level {s:?}")),
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Sets the most verbose level that is printed.
pub fn set_level(level: Level) {
    start();
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether lines of `level` are printed.
pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Prints one line (use the macros instead).
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let t = start().elapsed();
    eprintln!(
        "vmbus-host: [{:>5}.{:06}] {}: {}",
        t.as_secs(),
        t.subsec_micros(),
        level.name(),
        args
    );
}

/// A per-call-site budget of log lines: at most `BURST` lines per
/// `WINDOW_SECS`, then silence until the window ends, when the number of
/// suppressed lines is reported.
pub struct RateLimit {
    window: AtomicU64,
    count: AtomicU64,
    suppressed: AtomicU64,
}

const BURST: u64 = 10;
const WINDOW_SECS: u64 = 5;

impl RateLimit {
    /// A fresh budget.
    pub const fn new() -> Self {
        Self {
            window: AtomicU64::new(0),
            count: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Prints the line if the budget allows.
    pub fn write(&self, level: Level, args: fmt::Arguments<'_>) {
        if !enabled(level) {
            return;
        }
        let now = start().elapsed().as_secs() / WINDOW_SECS + 1;
        if self.window.swap(now, Ordering::Relaxed) != now {
            self.count.store(0, Ordering::Relaxed);
            let s = self.suppressed.swap(0, Ordering::Relaxed);
            if s > 0 {
                write(level, format_args!("({s} similar lines suppressed)"));
            }
        }
        if self.count.fetch_add(1, Ordering::Relaxed) < BURST {
            write(level, args);
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::new()
    }
}

/// Logs at error level.
#[macro_export]
macro_rules! log_error {
    ($($a:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($a)*)) };
}

/// Logs at warn level.
#[macro_export]
macro_rules! log_warn {
    ($($a:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($a)*)) };
}

/// Logs at info level.
#[macro_export]
macro_rules! log_info {
    ($($a:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($a)*)) };
}

/// Logs at debug level.
#[macro_export]
macro_rules! log_debug {
    ($($a:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($a)*)) };
}

/// Logs at trace level.
#[macro_export]
macro_rules! log_trace {
    ($($a:tt)*) => { $crate::log::write($crate::log::Level::Trace, format_args!($($a)*)) };
}

/// Logs at `level`, rate-limited per call site.
#[macro_export]
macro_rules! log_limited {
    ($level:expr, $($a:tt)*) => {{
        static RL: $crate::log::RateLimit = $crate::log::RateLimit::new();
        RL.write($level, format_args!($($a)*))
    }};
}
