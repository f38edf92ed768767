//! Peer-supplied text made safe to log or to quote in an error message.
//!
//! A peer chooses header names, request targets, correlation ids and
//! handshake fields, and every one of them can end up in a log line. Written
//! raw, a 1 MiB header name makes a 1 MiB log line (log amplification), and a
//! newline or an ANSI escape sequence forges log entries or rewrites a
//! terminal (log injection). [`Excerpt`] shows at most [`SHOWN`] bytes of a
//! value, escapes everything that is not printable, and says how long the
//! whole value was.

use std::fmt;

/// The most bytes of a peer-supplied value that are shown.
pub(crate) const SHOWN: usize = 128;

/// A peer-supplied value, displayed bounded and escaped: at most [`SHOWN`]
/// bytes, then `…(N bytes)` with the full length. Control characters,
/// invisible direction overrides, `"` and `\` are escaped (`\n`, `\x1b`,
/// `\u{202e}`, `\"`, `\\`) and invalid UTF-8 shows as `\xNN`, so the result
/// is one line of printable text that can be put between quotes without
/// ambiguity.
///
/// Display does the work only when the value is shown, so a disabled log
/// level costs nothing.
#[derive(Clone, Copy)]
pub(crate) struct Excerpt<'a>(&'a [u8]);

/// Wraps a peer-supplied value for a log line or an error message.
pub(crate) fn excerpt<T: AsRef<[u8]> + ?Sized>(value: &T) -> Excerpt<'_> {
    Excerpt(value.as_ref())
}

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = 0usize;
        'chunks: for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                if shown + c.len_utf8() > SHOWN {
                    break 'chunks;
                }
                shown += c.len_utf8();
                write_char(f, c)?;
            }
            for byte in chunk.invalid() {
                if shown + 1 > SHOWN {
                    break 'chunks;
                }
                shown += 1;
                write!(f, "\\x{byte:02x}")?;
            }
        }
        if shown < self.0.len() {
            write!(f, "…({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

fn write_char(f: &mut fmt::Formatter<'_>, c: char) -> fmt::Result {
    match c {
        '\n' => f.write_str("\\n"),
        '\r' => f.write_str("\\r"),
        '\t' => f.write_str("\\t"),
        '"' => f.write_str("\\\""),
        '\\' => f.write_str("\\\\"),
        c if (c as u32) < 0x80 && c.is_control() => write!(f, "\\x{:02x}", c as u32),
        c if c.is_control() || invisible(c) => write!(f, "\\u{{{:x}}}", c as u32),
        c => write!(f, "{c}"),
    }
}

/// Characters that change how the text around them is displayed without
/// showing themselves: zero-width characters, bidirectional controls, the
/// line and paragraph separators and the byte order mark.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_printable_values_are_shown_as_they_are() {
        assert_eq!(excerpt("abc-123 é").to_string(), "abc-123 é");
        assert_eq!(excerpt("").to_string(), "");
        assert_eq!(format!("{:?}", excerpt("a\"b")), "\"a\\\"b\"");
    }

    #[test]
    fn control_characters_and_invalid_utf8_are_escaped() {
        assert_eq!(
            excerpt(b"a\r\nINFO forged\x1b[31m\x7f\\").to_string(),
            "a\\r\\nINFO forged\\x1b[31m\\x7f\\\\"
        );
        assert_eq!(excerpt(b"\xff\xfe ok").to_string(), "\\xff\\xfe ok");
        assert_eq!(
            excerpt("x\u{202e}y\u{85}z").to_string(),
            "x\\u{202e}y\\u{85}z"
        );
        let shown = excerpt(&(0u8..=255).collect::<Vec<_>>()).to_string();
        assert!(
            shown.chars().all(|c| !c.is_control()),
            "a control character got through: {shown:?}"
        );
    }

    #[test]
    fn long_values_are_cut_and_their_length_given() {
        let long = "x".repeat(1 << 20);
        let shown = excerpt(&long).to_string();
        assert_eq!(shown, format!("{}…(1048576 bytes)", "x".repeat(SHOWN)));
        // A multi-byte character is never split.
        let wide = "é".repeat(100);
        let shown = excerpt(&wide).to_string();
        assert_eq!(shown, format!("{}…(200 bytes)", "é".repeat(SHOWN / 2)));
        // Escaping cannot make the output unbounded either.
        let shown = excerpt(&[0u8; 4096]).to_string();
        assert!(shown.len() < 4 * SHOWN + 20, "{} bytes", shown.len());
        assert!(shown.ends_with("…(4096 bytes)"));
    }
}
