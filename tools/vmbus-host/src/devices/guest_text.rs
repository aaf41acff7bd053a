// SPDX-License-Identifier: GPL-2.0

//! Text that came from the guest, made safe to show: on the control
//! socket an answer is one line of space-separated words, and the harness
//! splits it on white space, so every byte outside a small printable set
//! is written as `%XX` (its UTF-8 bytes in hex), and the text is cut at a
//! fixed length.

/// Most characters of guest text shown.
pub const MAX_SHOWN: usize = 1024;

/// `chars` (which may hold decoding errors) as one word: safe characters as
/// they are, others percent-encoded, an undecodable unit as `%uFFFD`, cut
/// after [`MAX_SHOWN`] characters with a trailing `...`.
pub fn shown<E>(chars: impl Iterator<Item = Result<char, E>>) -> String {
    let mut s = String::new();
    for (i, c) in chars.enumerate() {
        if i == MAX_SHOWN {
            s.push_str("...");
            break;
        }
        match c {
            Ok(c) if c.is_ascii_alphanumeric() || "._:;/-,+@[]()".contains(c) => s.push(c),
            Ok(c) => {
                let mut b = [0u8; 4];
                for byte in c.encode_utf8(&mut b).bytes() {
                    s.push_str(&format!("%{byte:02X}"));
                }
            }
            Err(_) => s.push_str("%uFFFD"),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        shown(s.chars().map(Ok::<char, ()>))
    }

    #[test]
    fn safe_text_stays() {
        assert_eq!(ok("host.example;10.0.0.2"), "host.example;10.0.0.2");
    }

    #[test]
    fn unsafe_text_is_encoded() {
        assert_eq!(ok("a b\n%é"), "a%20b%0A%25%C3%A9");
        assert_eq!(shown([Ok('x'), Err(())].into_iter()), "x%uFFFD");
    }

    #[test]
    fn long_text_is_cut() {
        let long = "a".repeat(MAX_SHOWN + 5);
        let s = ok(&long);
        assert_eq!(s.len(), MAX_SHOWN + 3);
        assert!(s.ends_with("..."));
    }
}
