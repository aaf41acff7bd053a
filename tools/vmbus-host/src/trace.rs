// SPDX-License-Identifier: GPL-2.0

//! The trace file: one line per message, mailbox request, doorbell or
//! interrupt seen or sent, flushed per line:
//!
//! ```text
//! <seconds>.<micros> <g2h|h2g> <channel|-> <type> <hex bytes>
//! ```

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

/// Which way a traced item went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Guest to host.
    G2h,
    /// Host to guest.
    H2g,
}

impl Dir {
    fn as_str(self) -> &'static str {
        match self {
            Dir::G2h => "g2h",
            Dir::H2g => "h2g",
        }
    }
}

/// The trace sink; a disabled trace costs one branch per event.
pub struct Trace {
    out: RefCell<Option<File>>,
    start: Instant,
}

impl Trace {
    /// A trace that records nothing.
    pub fn disabled() -> Self {
        Self {
            out: RefCell::new(None),
            start: Instant::now(),
        }
    }

    /// A trace writing to `path` (created or truncated).
    pub fn to_file(path: &Path) -> io::Result<Self> {
        Ok(Self {
            out: RefCell::new(Some(File::create(path)?)),
            start: Instant::now(),
        })
    }

    /// Whether events are recorded.
    pub fn enabled(&self) -> bool {
        self.out.borrow().is_some()
    }

    /// Records one event. `channel` is `None` for `-`.
    pub fn event(&self, dir: Dir, channel: Option<u32>, kind: &str, bytes: &[u8]) {
        let mut out = self.out.borrow_mut();
        let Some(f) = out.as_mut() else {
            return;
        };
        let t = self.start.elapsed();
        let mut line = String::with_capacity(48 + bytes.len() * 2);
        let _ = write!(
            line,
            "{}.{:06} {} ",
            t.as_secs(),
            t.subsec_micros(),
            dir.as_str()
        );
        match channel {
            Some(c) => {
                let _ = write!(line, "{c}");
            }
            None => line.push('-'),
        }
        line.push(' ');
        // Keep the line parseable: the type is one word.
        line.extend(
            kind.chars()
                .map(|c| if c.is_whitespace() { '_' } else { c }),
        );
        line.push(' ');
        if bytes.is_empty() {
            line.push('-');
        }
        // A packet of 8 KiB is 16 K digits: a table, not `write!` per byte.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for &b in bytes {
            line.push(char::from(HEX[usize::from(b >> 4)]));
            line.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        line.push('\n');
        if let Err(e) = f.write_all(line.as_bytes()).and_then(|()| f.flush()) {
            crate::log_limited!(crate::log::Level::Error, "trace file write failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_five_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        let t = Trace::to_file(&p).unwrap();
        t.event(Dir::G2h, None, "mbox PING", &[1, 0xab]);
        t.event(Dir::H2g, Some(7), "irq", &[]);
        let s = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 2);
        let f: Vec<&str> = lines[0].split(' ').collect();
        assert_eq!(f.len(), 5);
        assert!(f[0].contains('.'));
        assert_eq!(&f[1..], &["g2h", "-", "mbox_PING", "01ab"]);
        let f: Vec<&str> = lines[1].split(' ').collect();
        assert_eq!(&f[1..], &["h2g", "7", "irq", "-"]);
    }
}
