//! Stanford Sentiment Treebank: PTB trees → SST-5 and SST-2 sentence-level JSONL.
//!
//! Output (in `sst/`): `{train,dev,test}.jsonl.gz` (SST-5, `{"label":0..4,"text":str,"idx":int}`,
//! label = root label, text = leaves joined by single spaces, idx = 0-based line in the tree
//! file), `sst2_{train,dev,test}.jsonl.gz` (neutral roots dropped, 0–1 → 0 and 3–4 → 1, same idx)
//! and the tree files byte for byte as `trees/{split}.txt.gz`.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

use super::{find_unique, is_macos_junk, list_files, read_utf8};
use crate::jsonl::{GzFile, Value, write_gz_file};

/// The official splits, in output order.
pub const SPLITS: [&str; 3] = ["train", "dev", "test"];

/// Keeps everything except macOS resource forks.
pub fn wants(rel: &Path) -> bool {
    !is_macos_junk(rel)
}

/// One parsed sentence: root label and tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sentence<'a> {
    /// Sentiment label of the root node (0..=4).
    pub label: u8,
    /// Leaves, left to right.
    pub tokens: Vec<&'a str>,
}

/// Converts the extracted zip under `extracted` into `out`.
pub fn convert(extracted: &Path, out: &Path) -> Result<()> {
    let files = list_files(extracted)?;
    for split in SPLITS {
        let path = extracted.join(find_unique(&files, &format!("trees/{split}.txt"))?);
        let content = read_utf8(&path)?;
        let body = content.strip_suffix('\n').unwrap_or(&content);
        let mut sst5 = GzFile::create(&out.join(format!("{split}.jsonl.gz")))?;
        let mut sst2 = GzFile::create(&out.join(format!("sst2_{split}.jsonl.gz")))?;
        for (idx, line) in body.split('\n').enumerate() {
            let sentence =
                parse_tree(line).with_context(|| format!("{} line {}", path.display(), idx + 1))?;
            let text = sentence.tokens.join(" ");
            let idx = idx as i64;
            sst5.write_record(&[
                ("label", Value::Int(i64::from(sentence.label))),
                ("text", Value::Str(&text)),
                ("idx", Value::Int(idx)),
            ])?;
            let binary = match sentence.label {
                0 | 1 => Some(0),
                3 | 4 => Some(1),
                _ => None,
            };
            if let Some(label) = binary {
                sst2.write_record(&[
                    ("label", Value::Int(label)),
                    ("text", Value::Str(&text)),
                    ("idx", Value::Int(idx)),
                ])?;
            }
        }
        sst5.finish()?;
        sst2.finish()?;
        write_gz_file(
            &out.join(format!("trees/{split}.txt.gz")),
            content.as_bytes(),
        )?;
    }
    Ok(())
}

/// Parses one PTB tree line such as `(3 (2 It) (4 (2 's) (3 good)))`.
///
/// Nodes are `(label child child ...)` with children separated by single spaces; leaves are
/// `(label token)`, where the token is everything up to the closing parenthesis (it may contain
/// a no-break space, as in `8 1\/2`). The root label must be 0..=4.
pub fn parse_tree(line: &str) -> Result<Sentence<'_>> {
    let mut parser = Parser { s: line, pos: 0 };
    let mut tokens = Vec::new();
    let label = parser.node(&mut tokens, 0)?;
    ensure!(
        parser.pos == line.len(),
        "unexpected text after the tree at byte {}",
        parser.pos
    );
    ensure!(label <= 4, "root label {label} is not in 0..=4");
    Ok(Sentence { label, tokens })
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn expect(&mut self, byte: u8) -> Result<()> {
        match self.s.as_bytes().get(self.pos) {
            Some(&b) if b == byte => {
                self.pos += 1;
                Ok(())
            }
            found => bail!(
                "expected {:?} at byte {}, found {:?}",
                char::from(byte),
                self.pos,
                found.map(|&b| char::from(b))
            ),
        }
    }

    fn node(&mut self, tokens: &mut Vec<&'a str>, depth: usize) -> Result<u8> {
        ensure!(depth < 1000, "tree nested too deeply");
        self.expect(b'(')?;
        let start = self.pos;
        let digits = self.s.as_bytes()[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        ensure!(digits > 0, "missing label at byte {start}");
        self.pos += digits;
        let label: u8 = self.s[start..self.pos]
            .parse()
            .context("label out of range")?;
        self.expect(b' ')?;
        if self.s.as_bytes().get(self.pos) == Some(&b'(') {
            loop {
                self.node(tokens, depth + 1)?;
                match self.s.as_bytes().get(self.pos) {
                    Some(b' ') => self.pos += 1,
                    Some(b')') => break,
                    other => bail!(
                        "expected ' ' or ')' at byte {}, found {:?}",
                        self.pos,
                        other.map(|&b| char::from(b))
                    ),
                }
            }
        } else {
            let rest = &self.s[self.pos..];
            let len = rest
                .find(')')
                .with_context(|| format!("unterminated leaf at byte {}", self.pos))?;
            let token = &rest[..len];
            ensure!(
                !token.is_empty() && !token.contains('('),
                "malformed leaf {token:?} at byte {}",
                self.pos
            );
            tokens.push(token);
            self.pos += len;
        }
        self.expect(b')')?;
        Ok(label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_root_label_and_leaves() {
        let s = parse_tree("(3 (2 It) (4 (4 (2 's) (4 (3 lovely) (2 film))) (2 .)))").unwrap();
        assert_eq!(s.label, 3);
        assert_eq!(s.tokens, ["It", "'s", "lovely", "film", "."]);
        let s = parse_tree("(1 (2 8\u{a0}1\\/2) (2 -LRB-))").unwrap();
        assert_eq!(s.tokens, ["8\u{a0}1\\/2", "-LRB-"]);
        assert_eq!(parse_tree("(4 word)").unwrap().tokens, ["word"]);
    }

    #[test]
    fn malformed_trees_are_errors() {
        for bad in [
            "",
            "(3 (2 a)",
            "(3 (2 a)) extra",
            "(3  (2 a))",
            "(x (2 a))",
            "(5 (2 a))",
            "(3 ())",
            "(3 (2 a)(2 b))",
            "(3 (2 a))\r",
        ] {
            assert!(parse_tree(bad).is_err(), "{bad:?} should fail");
        }
    }
}
