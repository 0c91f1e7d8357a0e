//! Token ↔ id vocabulary with `<pad>` = 0 and `<unk>` = 1, built from training tokens, saved as text.
//!
//! File format (UTF-8, `\n` line ends):
//!
//! ```text
//! set-lstm-vocab v1
//! <pad>
//! <unk>
//! the
//! ,
//! ...
//! ```
//!
//! Line 1 is the header; line `k + 2` holds the token with id `k`. Loading rejects a wrong header,
//! missing or misplaced specials, empty tokens and duplicates, naming `path:line`.

use std::collections::HashMap;
use std::fs;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Location, Result};
use crate::reader::LineReader;

/// Longest token line accepted when loading a vocabulary file.
const MAX_TOKEN_LINE: usize = 64 * 1024;

/// A frozen vocabulary: ids `0..len()`, with `<pad>` = [`Vocab::PAD`] and `<unk>` = [`Vocab::UNK`].
///
/// ```
/// use set_data::Vocab;
/// let docs = [vec!["good".to_string(), "film".into()], vec!["bad".into(), "film".into()]];
/// let v = Vocab::build(&docs, 100, 1);
/// // Most frequent first, ties broken by the token string.
/// assert_eq!(v.token(2), Some("film"));
/// assert_eq!(v.token(3), Some("bad"));
/// assert_eq!(v.encode(&["good", "unseen"]), [4, Vocab::UNK]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "VocabRepr", into = "VocabRepr")]
pub struct Vocab {
    tokens: Vec<String>,
    index: HashMap<String, u32>,
}

/// How a [`Vocab`] is serialised with serde: `{"tokens": ["<pad>", "<unk>", ...]}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabRepr {
    tokens: Vec<String>,
}

impl From<Vocab> for VocabRepr {
    fn from(v: Vocab) -> Self {
        Self { tokens: v.tokens }
    }
}

impl TryFrom<VocabRepr> for Vocab {
    type Error = String;
    fn try_from(r: VocabRepr) -> Result<Self, String> {
        Vocab::from_tokens(r.tokens).map_err(|e| e.to_string())
    }
}

impl Vocab {
    /// Id of the padding token `<pad>`. Text never encodes to it.
    pub const PAD: u32 = 0;
    /// Id of the unknown-token `<unk>`.
    pub const UNK: u32 = 1;
    /// The padding token string.
    pub const PAD_TOKEN: &'static str = "<pad>";
    /// The unknown token string.
    pub const UNK_TOKEN: &'static str = "<unk>";
    /// First line of a vocabulary file.
    pub const HEADER: &'static str = "set-lstm-vocab v1";

    /// Builds a vocabulary from tokenised documents (use the **training split only**).
    ///
    /// Keeps tokens seen at least `min_count` times (0 is treated as 1), most frequent first, ties
    /// broken by byte-wise token order, so the result is deterministic. `max_size` counts the two
    /// specials; values below 2 are treated as 2 (only the specials). Empty tokens and the special
    /// strings themselves are ignored.
    pub fn build<I, L, S>(token_lists: I, max_size: usize, min_count: usize) -> Self
    where
        I: IntoIterator<Item = L>,
        L: AsRef<[S]>,
        S: AsRef<str>,
    {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        // Collect owned lists first only if needed: borrow each list for the duration of counting.
        let lists: Vec<L> = token_lists.into_iter().collect();
        for list in &lists {
            for tok in list.as_ref() {
                *counts.entry(tok.as_ref()).or_insert(0) += 1;
            }
        }
        Self::build_from_counts(counts, max_size, min_count)
    }

    /// [`Vocab::build`] from token counts (each token once): the same ranking (count, then
    /// token), limits and special-token handling, for callers that count without keeping every
    /// token list (such as interned ids).
    ///
    /// ```
    /// let v = set_data::Vocab::build_from_counts([("good", 3), ("bad", 3), ("meh", 1)], 10, 2);
    /// assert_eq!(v.tokens(), ["<pad>", "<unk>", "bad", "good"]);
    /// ```
    pub fn build_from_counts<'a>(
        counts: impl IntoIterator<Item = (&'a str, usize)>,
        max_size: usize,
        min_count: usize,
    ) -> Self {
        let counts = counts
            .into_iter()
            .filter(|(t, _)| !(t.is_empty() || *t == Self::PAD_TOKEN || *t == Self::UNK_TOKEN));
        let min_count = min_count.max(1);
        let mut ranked: Vec<(&str, usize)> = counts.filter(|&(_, c)| c >= min_count).collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked.truncate(max_size.max(2) - 2);
        let tokens = [Self::PAD_TOKEN, Self::UNK_TOKEN]
            .into_iter()
            .chain(ranked.into_iter().map(|(t, _)| t))
            .map(str::to_owned)
            .collect();
        Self::from_tokens(tokens).unwrap_or_else(|_| unreachable!("build output is valid"))
    }

    /// A vocabulary from tokens in id order; `tokens[0]` must be `<pad>` and `tokens[1]` `<unk>`,
    /// with no empty tokens, no duplicates and no line breaks (so it can be saved).
    ///
    /// ```
    /// use set_data::Vocab;
    /// assert!(Vocab::from_tokens(vec!["<pad>".into(), "<unk>".into(), "a".into()]).is_ok());
    /// assert!(Vocab::from_tokens(vec!["<unk>".into(), "<pad>".into()]).is_err());
    /// ```
    pub fn from_tokens(tokens: Vec<String>) -> Result<Self> {
        let at = |i: usize| Location::line("<memory>", i + 1);
        Self::validate(tokens, at)
    }

    fn validate(tokens: Vec<String>, at: impl Fn(usize) -> Location) -> Result<Self> {
        let err = |i: usize, message: String| DataError::Vocab { at: at(i), message };
        if u32::try_from(tokens.len()).is_err() {
            return Err(err(0, "more than u32::MAX tokens".into()));
        }
        for (i, special) in [Self::PAD_TOKEN, Self::UNK_TOKEN].into_iter().enumerate() {
            match tokens.get(i) {
                Some(t) if t == special => {}
                Some(t) => {
                    return Err(err(
                        i,
                        format!("expected `{special}` for id {i}, found `{t}`"),
                    ));
                }
                None => {
                    return Err(err(
                        i,
                        format!("missing special token `{special}` (id {i})"),
                    ));
                }
            }
        }
        let mut index = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            if t.is_empty() {
                return Err(err(i, format!("empty token (id {i})")));
            }
            if t.contains(['\n', '\r']) {
                return Err(err(i, format!("token with a line break (id {i}): {t:?}")));
            }
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            if let Some(first) = index.insert(t.clone(), id) {
                return Err(err(
                    i,
                    format!("duplicate token `{t}` (id {i}, first at id {first})"),
                ));
            }
        }
        Ok(Self { tokens, index })
    }

    /// Number of ids, including the two specials.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Always `false`: a vocabulary holds at least the two specials.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of `token`, or [`Vocab::UNK`] if it is unknown. `id("<pad>")` is [`Vocab::PAD`].
    pub fn id(&self, token: &str) -> u32 {
        self.index.get(token).copied().unwrap_or(Self::UNK)
    }

    /// The token with id `id`, if any.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// All tokens in id order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Encodes tokens to ids; unknown tokens become [`Vocab::UNK`]. A literal `<pad>` token also
    /// becomes `UNK`, so text can never produce padding.
    pub fn encode<S: AsRef<str>>(&self, tokens: &[S]) -> Vec<u32> {
        tokens
            .iter()
            .map(|t| match self.id(t.as_ref()) {
                Self::PAD => Self::UNK,
                id => id,
            })
            .collect()
    }

    /// Writes the vocabulary file format described in the [module docs](self), atomically
    /// (temporary file in the same directory, then rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::atomic::write_atomic(path.as_ref(), &self.to_bytes())
    }

    /// The bytes [`Vocab::save`] writes: the header line, then one token per line in id order.
    ///
    /// ```
    /// let v = set_data::Vocab::from_tokens(vec!["<pad>".into(), "<unk>".into(), "good".into()]).unwrap();
    /// assert_eq!(v.to_bytes(), b"set-lstm-vocab v1\n<pad>\n<unk>\ngood\n");
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text =
            String::with_capacity(self.tokens.iter().map(|t| t.len() + 1).sum::<usize>() + 32);
        text.push_str(Self::HEADER);
        text.push('\n');
        for t in &self.tokens {
            text.push_str(t);
            text.push('\n');
        }
        text.into_bytes()
    }

    /// SHA-256 (hex) of [`Vocab::to_bytes`]: the digest of the saved vocabulary file, which
    /// checkpoints and model files record.
    pub fn sha256(&self) -> String {
        crate::digest::sha256_hex(&self.to_bytes())
    }

    /// Loads a vocabulary file written by [`Vocab::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = fs::File::open(path).map_err(|e| DataError::io(path, "open", e))?;
        Self::read_from(file, path)
    }

    /// Parses the vocabulary file format from any reader; `name` is used in error messages.
    ///
    /// ```
    /// use set_data::Vocab;
    /// let v = Vocab::read_from("set-lstm-vocab v1\n<pad>\n<unk>\nfine\n".as_bytes(), "v.txt".as_ref()).unwrap();
    /// assert_eq!(v.id("fine"), 2);
    /// let e = Vocab::read_from("set-lstm-vocab v1\n<pad>\n<unk>\nx\nx\n".as_bytes(), "v.txt".as_ref());
    /// assert_eq!(e.unwrap_err().to_string(), "v.txt:5: vocabulary: duplicate token `x` (first at line 4)");
    /// ```
    pub fn read_from<R: Read>(reader: R, name: &Path) -> Result<Self> {
        let mut lines = LineReader::new(BufReader::new(reader), name, MAX_TOKEN_LINE);
        let at = |line: usize| Location::at(name, line);
        let err = |line: usize, message: String| DataError::Vocab {
            at: at(line),
            message,
        };
        match lines.next_line()? {
            Some((_, Self::HEADER)) => {}
            Some((n, other)) => {
                return Err(err(
                    n,
                    format!(
                        "expected header `{}`, found `{}`",
                        Self::HEADER,
                        truncate(other, 40)
                    ),
                ));
            }
            None => {
                return Err(err(
                    1,
                    format!("empty file (expected header `{}`)", Self::HEADER),
                ));
            }
        }
        let mut tokens: Vec<String> = Vec::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        while let Some((n, tok)) = lines.next_line()? {
            let id = tokens.len();
            let special = [Self::PAD_TOKEN, Self::UNK_TOKEN].get(id).copied();
            if let Some(special) = special
                && tok != special
            {
                return Err(err(
                    n,
                    format!(
                        "expected special token `{special}` (id {id}), found `{}`",
                        truncate(tok, 40)
                    ),
                ));
            }
            if tok.is_empty() {
                return Err(err(n, format!("empty token (id {id})")));
            }
            if let Some(first) = first_line.get(tok) {
                return Err(err(
                    n,
                    format!(
                        "duplicate token `{}` (first at line {first})",
                        truncate(tok, 40)
                    ),
                ));
            }
            first_line.insert(tok.to_owned(), n);
            tokens.push(tok.to_owned());
        }
        if tokens.len() < 2 {
            let missing = [Self::PAD_TOKEN, Self::UNK_TOKEN][tokens.len()];
            return Err(err(
                tokens.len() + 2,
                format!("missing special token `{missing}`"),
            ));
        }
        Self::validate(tokens, |i| at(i + 2))
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    let mut out: String = s.chars().take(max_chars).collect();
    if s.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn doc(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn build_orders_by_count_then_token_and_respects_limits() {
        let docs = [doc("b a c a b d"), doc("a e e")];
        let v = Vocab::build(&docs, 100, 1);
        // a:3, b:2, e:2, c:1, d:1
        assert_eq!(v.tokens(), ["<pad>", "<unk>", "a", "b", "e", "c", "d"]);
        let v = Vocab::build(&docs, 4, 1);
        assert_eq!(v.tokens(), ["<pad>", "<unk>", "a", "b"]);
        let v = Vocab::build(&docs, 100, 2);
        assert_eq!(v.tokens(), ["<pad>", "<unk>", "a", "b", "e"]);
        let v = Vocab::build(&docs, 0, 1);
        assert_eq!(v.len(), 2);
        // Slices of &str work too.
        let v = Vocab::build([&["x", "y", "x"][..]], 10, 1);
        assert_eq!(v.id("x"), 2);
    }

    #[test]
    fn specials_in_text_never_become_pad() {
        let v = Vocab::build([doc("<pad> <unk> a")], 10, 1);
        assert_eq!(v.len(), 3);
        assert_eq!(v.encode(&["<pad>", "a", "zz"]), [Vocab::UNK, 2, Vocab::UNK]);
        assert_eq!(v.id("<pad>"), Vocab::PAD);
    }

    #[test]
    fn save_load_round_trip_and_serde() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vocab.txt");
        let v = Vocab::build([doc("x y z y ! é")], 100, 1);
        v.save(&p).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("set-lstm-vocab v1\n<pad>\n<unk>\ny\n"));
        assert_eq!(Vocab::load(&p).unwrap(), v);
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Vocab>(&json).unwrap(), v);
        assert!(serde_json::from_str::<Vocab>(r#"{"tokens":["<pad>","<unk>","a","a"]}"#).is_err());
    }

    #[test]
    fn save_rejects_unwritable_tokens() {
        assert!(Vocab::from_tokens(vec!["<pad>".into(), "<unk>".into(), "a\nb".into()]).is_err());
    }

    fn load_str(s: &[u8]) -> Result<Vocab> {
        Vocab::read_from(s, Path::new("v.txt"))
    }

    #[test]
    fn load_errors_name_the_line() {
        let cases: [(&[u8], &str); 8] = [
            (b"", "v.txt:1: vocabulary: empty file"),
            (
                b"set-lstm-vocab v2\n",
                "v.txt:1: vocabulary: expected header",
            ),
            (
                b"set-lstm-vocab v1\n<unk>\n",
                "v.txt:2: vocabulary: expected special token `<pad>`",
            ),
            (
                b"set-lstm-vocab v1\n<pad>\n",
                "v.txt:3: vocabulary: missing special token `<unk>`",
            ),
            (
                b"set-lstm-vocab v1\n<pad>\n<unk>\na\n\nb\n",
                "v.txt:5: vocabulary: empty token",
            ),
            (
                b"set-lstm-vocab v1\n<pad>\n<unk>\na\nb\na\n",
                "v.txt:6: vocabulary: duplicate token `a` (first at line 4)",
            ),
            (
                b"set-lstm-vocab v1\n<pad>\n<unk>\n<pad>\n",
                "v.txt:4: vocabulary: duplicate token `<pad>`",
            ),
            (
                b"set-lstm-vocab v1\n<pad>\n<unk>\n\xff\n",
                "v.txt:4: invalid UTF-8",
            ),
        ];
        for (input, want) in cases {
            let e = load_str(input).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e:?} should start with {want:?}");
        }
    }

    #[test]
    fn load_accepts_bom_and_crlf() {
        let v = load_str(b"\xEF\xBB\xBFset-lstm-vocab v1\r\n<pad>\r\n<unk>\r\nok\r\n").unwrap();
        assert_eq!(v.tokens(), ["<pad>", "<unk>", "ok"]);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = load_str(&bytes);
        }

        #[test]
        fn header_plus_arbitrary_lines_never_panic(lines in proptest::collection::vec("[a-c<>pdunk\\r]{0,6}", 0..12)) {
            let text = format!("set-lstm-vocab v1\n{}", lines.join("\n"));
            if let Ok(v) = load_str(text.as_bytes()) {
                prop_assert_eq!(v.id("<unk>"), Vocab::UNK);
            }
        }
    }
}
