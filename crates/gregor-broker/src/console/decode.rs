//! Record keys, values and headers as text for the browser: UTF-8, JSON
//! (pretty-printed) or hex. The result is plain text; the page escapes it.

use serde_json::Value;

/// The most bytes of one field shown; the rest is counted.
const SHOWN_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON when it parses as an object or array, else UTF-8, else hex.
    Auto,
    Text,
    Json,
    Hex,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        Some(match text {
            "" | "auto" => Format::Auto,
            "text" | "utf8" | "utf-8" => Format::Text,
            "json" => Format::Json,
            "hex" => Format::Hex,
            _ => return None,
        })
    }
}

/// A field as shown: its text and how it was decoded.
pub struct Shown {
    pub text: String,
    pub as_: &'static str,
}

pub fn show(bytes: Option<&[u8]>, format: Format) -> Shown {
    let Some(bytes) = bytes else {
        return Shown {
            text: "null".to_string(),
            as_: "null",
        };
    };
    let (head, rest) = bytes.split_at(bytes.len().min(SHOWN_BYTES));
    let more = |mut text: String| {
        if !rest.is_empty() {
            text.push_str(&format!("\n… ({} more bytes)", rest.len()));
        }
        text
    };
    let json = || -> Option<String> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        serde_json::to_string_pretty(&value).ok()
    };
    match format {
        Format::Hex => Shown {
            text: more(hex(head)),
            as_: "hex",
        },
        Format::Json => match json() {
            Some(text) => Shown { text, as_: "json" },
            None => show(Some(bytes), Format::Auto),
        },
        Format::Text => match std::str::from_utf8(head) {
            Ok(text) => Shown {
                text: more(text.to_string()),
                as_: "text",
            },
            Err(_) => Shown {
                text: more(String::from_utf8_lossy(head).into_owned()),
                as_: "text (lossy)",
            },
        },
        Format::Auto => {
            let structured = matches!(bytes.first(), Some(b'{' | b'['));
            if structured {
                if let Some(text) = json() {
                    return Shown { text, as_: "json" };
                }
            }
            match std::str::from_utf8(bytes) {
                Ok(_) => show(Some(bytes), Format::Text),
                Err(_) => show(Some(bytes), Format::Hex),
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(if i % 16 == 0 { '\n' } else { ' ' });
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            show(Some(b"{\"a\":1}"), Format::Auto).text,
            "{\n  \"a\": 1\n}"
        );
        assert_eq!(show(Some(b"hello"), Format::Auto).as_, "text");
        assert_eq!(show(Some(&[0xff, 0x00]), Format::Auto).text, "ff 00");
        assert_eq!(show(Some(b"hi"), Format::Hex).text, "68 69");
        assert_eq!(show(None, Format::Auto).text, "null");
        assert_eq!(show(Some(b"nope"), Format::Json).as_, "text");
        let big = vec![b'a'; SHOWN_BYTES + 5];
        assert!(show(Some(&big), Format::Text)
            .text
            .ends_with("(5 more bytes)"));
    }
}
