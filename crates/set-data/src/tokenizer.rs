//! Word-level tokenizer: HTML stripping, control-character cleanup, Unicode word boundaries (UAX #29).
//!
//! The pipeline, in order:
//!
//! 1. **Clean-up** (one pass over the text):
//!    - with [`TokenizerConfig::strip_html`], an HTML-like tag (`<` + ASCII letter, `/` or `!`,
//!      then up to 256 bytes without `<`, `>` or a newline, then `>`) becomes a space, so IMDB's
//!      `<br /><br />` separates words. A `<` that does not open such a tag (`a < b`, `<3`) is kept.
//!      Then the entities `&amp; &lt; &gt; &quot; &apos; &nbsp;` and numeric `&#NNN;`/`&#xHH;` are
//!      decoded (Sanders tweets contain `&lt;3`, IMDB `&#345;`); entities are decoded *after* tag
//!      detection, so `&lt;br&gt;` never turns into a tag.
//!    - Control characters (Unicode `Cc`: U+0000–U+001F, U+007F–U+009F) become spaces. The data has
//!      C1 controls from cp1252 mojibake (U+0096 for an en dash, U+0085 for an ellipsis, ...), which
//!      word segmentation would otherwise keep as one-character tokens. U+FEFF and U+200B (zero
//!      width space) also become spaces; U+00AD (soft hyphen) is deleted.
//! 2. **Segmentation** with [`UnicodeSegmentation::split_word_bounds`]: words stay whole
//!    (`don't`, `3.5`, `U.S`), and each punctuation character is its own segment (`!!` gives two
//!    `!` tokens). Whitespace-only segments are dropped.
//! 3. **Punctuation**: with [`Punctuation::Keep`] (the default) punctuation and symbol segments are
//!    tokens, since `!`, `?` and emoticon pieces carry sentiment; with [`Punctuation::Drop`] every
//!    segment without an alphanumeric character is dropped (this also drops emoji).
//! 4. **Case**: with [`TokenizerConfig::lowercase`] each token is lower-cased with Unicode rules.
//!
//! Tokens therefore never contain whitespace-only content, control characters or newlines.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

/// What to do with segments that contain no letter or digit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Punctuation {
    /// Keep punctuation and symbols as separate tokens (`"great!"` → `great`, `!`).
    #[default]
    Keep,
    /// Drop every segment without an alphanumeric character.
    Drop,
}

/// Tokenizer settings. Part of the token-cache key, so changing any field invalidates caches.
///
/// Deserialising rejects unknown fields; missing fields take their defaults.
///
/// ```
/// use set_data::{Punctuation, TokenizerConfig};
/// let c: TokenizerConfig = serde_json::from_str(r#"{"punctuation": "drop"}"#).unwrap();
/// assert_eq!(c, TokenizerConfig { punctuation: Punctuation::Drop, ..TokenizerConfig::default() });
/// assert!(serde_json::from_str::<TokenizerConfig>(r#"{"lowercas": true}"#).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizerConfig {
    /// Lower-case every token (default `true`).
    pub lowercase: bool,
    /// Replace HTML tags by spaces and decode common entities (default `true`).
    pub strip_html: bool,
    /// Keep or drop punctuation tokens (default [`Punctuation::Keep`]).
    pub punctuation: Punctuation,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            lowercase: true,
            strip_html: true,
            punctuation: Punctuation::Keep,
        }
    }
}

/// Splits text into word and punctuation tokens; see the [module docs](self) for the exact rules.
///
/// ```
/// use set_data::{Tokenizer, TokenizerConfig};
/// let tok = Tokenizer::new(TokenizerConfig::default());
/// assert_eq!(
///     tok.tokenize("Great film!!<br /><br />Don't miss it\u{96}really."),
///     ["great", "film", "!", "!", "don't", "miss", "it", "really", "."]
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tokenizer {
    config: TokenizerConfig,
}

impl Tokenizer {
    /// A tokenizer with the given settings.
    pub fn new(config: TokenizerConfig) -> Self {
        Self { config }
    }

    /// The settings.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// Tokenizes `text`. Never fails; may return an empty vector (e.g. for `"<br />"`).
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let cleaned = self.clean(text);
        let mut out = Vec::with_capacity(cleaned.len() / 5 + 1);
        for seg in cleaned.split_word_bounds() {
            if seg.chars().all(char::is_whitespace) {
                continue;
            }
            if self.config.punctuation == Punctuation::Drop
                && !seg.chars().any(char::is_alphanumeric)
            {
                continue;
            }
            out.push(if self.config.lowercase {
                seg.to_lowercase()
            } else {
                seg.to_owned()
            });
        }
        out
    }

    /// Step 1 of the pipeline: the text after HTML stripping and control-character clean-up.
    ///
    /// ```
    /// use set_data::Tokenizer;
    /// let tok = Tokenizer::default();
    /// assert_eq!(tok.clean("a<br />b &lt;3\u{85}c"), "a b <3 c");
    /// ```
    pub fn clean<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let needs_work = text.chars().any(|c| {
            is_separator_char(c)
                || c == SOFT_HYPHEN
                || (self.config.strip_html && (c == '<' || c == '&'))
        });
        if !needs_work {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let html = self.config.strip_html;
            if html
                && c == '<'
                && let Some(len) = tag_len(rest)
            {
                out.push(' ');
                rest = &rest[len..];
                continue;
            }
            if html
                && c == '&'
                && let Some((decoded, len)) = entity(rest)
            {
                out.push(if is_separator_char(decoded) {
                    ' '
                } else {
                    decoded
                });
                rest = &rest[len..];
                continue;
            }
            if is_separator_char(c) {
                out.push(' ');
            } else if c != SOFT_HYPHEN {
                out.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
        Cow::Owned(out)
    }
}

const SOFT_HYPHEN: char = '\u{AD}';
/// Longest tag body (between `<` and `>`) that is still treated as a tag.
const MAX_TAG_BYTES: usize = 256;

/// Characters turned into spaces before segmentation.
fn is_separator_char(c: char) -> bool {
    c.is_control() || c == '\u{FEFF}' || c == '\u{200B}'
}

/// Length in bytes of the tag at the start of `s` (which starts with `<`), if it is one.
fn tag_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let first = *bytes.get(1)?;
    if !(first.is_ascii_alphabetic() || first == b'/' || first == b'!') {
        return None;
    }
    for (i, &b) in bytes.iter().enumerate().skip(2).take(MAX_TAG_BYTES) {
        match b {
            b'>' => return Some(i + 1),
            b'<' | b'\n' => return None,
            _ => {}
        }
    }
    None
}

/// The character and byte length of the HTML entity at the start of `s` (which starts with `&`).
fn entity(s: &str) -> Option<(char, usize)> {
    let end = s.as_bytes().iter().take(12).position(|&b| b == b';')?;
    let name = &s[1..end];
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse::<u32>().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(config: TokenizerConfig, text: &str) -> Vec<String> {
        Tokenizer::new(config).tokenize(text)
    }

    #[test]
    fn default_keeps_punctuation_and_lowercases() {
        assert_eq!(
            toks(TokenizerConfig::default(), "I LOVED it!!! Why?"),
            ["i", "loved", "it", "!", "!", "!", "why", "?"]
        );
    }

    #[test]
    fn drop_punctuation() {
        let c = TokenizerConfig {
            punctuation: Punctuation::Drop,
            ..Default::default()
        };
        assert_eq!(toks(c, "Bad, bad... 10/10 :-("), ["bad", "bad", "10", "10"]);
    }

    #[test]
    fn html_tags_and_entities() {
        let d = TokenizerConfig::default();
        assert_eq!(
            toks(d.clone(), "end.<br /><br />Next"),
            ["end", ".", "next"]
        );
        assert_eq!(toks(d.clone(), "<i>Wow</i>"), ["wow"]);
        // Not tags: kept as punctuation.
        assert_eq!(
            toks(d.clone(), "a < b, i <3 it"),
            ["a", "<", "b", ",", "i", "<", "3", "it"]
        );
        assert_eq!(toks(d.clone(), "&lt;3 &amp; &#345;"), ["<", "3", "&", "ř"]);
        assert_eq!(toks(d.clone(), "&lt;br&gt;x"), ["<", "br", ">", "x"]);
        assert_eq!(
            toks(d.clone(), "AT&T; &bogus;"),
            ["at", "&", "t", ";", "&", "bogus", ";"]
        );
        let raw = TokenizerConfig {
            strip_html: false,
            lowercase: false,
            ..Default::default()
        };
        assert_eq!(toks(raw, "a<br/>B"), ["a", "<", "br", "/", ">", "B"]);
    }

    #[test]
    fn control_chars_are_separators() {
        let d = TokenizerConfig::default();
        assert_eq!(
            toks(d.clone(), "good\u{96}bad\u{85}ok\u{0}x"),
            ["good", "bad", "ok", "x"]
        );
        assert_eq!(
            toks(d.clone(), "a\u{200B}b\u{FEFF}c in\u{AD}side"),
            ["a", "b", "c", "inside"]
        );
        assert_eq!(toks(d, "\u{85}\u{96}  \t\r\n"), Vec::<String>::new());
    }

    #[test]
    fn contractions_numbers_and_unicode() {
        let d = TokenizerConfig::default();
        assert_eq!(
            toks(d.clone(), "don't 3.5 stars"),
            ["don't", "3.5", "stars"]
        );
        assert_eq!(toks(d, "ÉTÉ Straße"), ["été", "straße"]);
    }

    #[test]
    fn clean_borrows_when_nothing_to_do() {
        assert!(matches!(
            Tokenizer::default().clean("plain text"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn config_serde_round_trip() {
        let c = TokenizerConfig {
            lowercase: false,
            strip_html: true,
            punctuation: Punctuation::Drop,
        };
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(
            s,
            r#"{"lowercase":false,"strip_html":true,"punctuation":"drop"}"#
        );
        assert_eq!(serde_json::from_str::<TokenizerConfig>(&s).unwrap(), c);
    }
}
