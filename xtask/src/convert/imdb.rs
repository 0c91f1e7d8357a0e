//! IMDB Large Movie Review v1.0: `aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt` → JSONL.
//!
//! Output (in `imdb/`): `{train,test}.jsonl.gz` with records
//! `{"label":0|1,"text":str,"id":int,"rating":int}`, negatives (`neg/`, label 0) first, then
//! positives (`pos/`, label 1), each by ascending numeric id; `text` is the file content
//! unchanged (UTF-8, no trailing newline added). The archive's `README` is kept as
//! `README.original.txt`. The unlabelled reviews and the bag-of-words files are not extracted.

use std::fs;
use std::path::{Component, Path};

use anyhow::{Context, Result, bail, ensure};

use super::read_utf8;
use crate::jsonl::{GzFile, Value, write_plain_file};

/// The labelled splits.
pub const SPLITS: [&str; 2] = ["train", "test"];
/// Class folders with their labels, in output order.
pub const CLASSES: [(&str, i64); 2] = [("neg", 0), ("pos", 1)];

/// Keeps `aclImdb/README` and the labelled reviews, nothing else.
pub fn wants(rel: &Path) -> bool {
    let parts: Vec<&str> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().unwrap_or(""),
            _ => "",
        })
        .collect();
    match parts.as_slice() {
        ["aclImdb", "README"] => true,
        ["aclImdb", split, class, _file] => {
            SPLITS.contains(split) && CLASSES.iter().any(|(c, _)| c == class)
        }
        _ => false,
    }
}

/// Parses a review file name `<id>_<rating>.txt`.
pub fn parse_file_name(name: &str) -> Result<(u64, i64)> {
    let parsed = name
        .strip_suffix(".txt")
        .and_then(|stem| stem.split_once('_'))
        .and_then(|(id, rating)| {
            let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            (all_digits(id) && all_digits(rating))
                .then(|| Some((id.parse().ok()?, rating.parse().ok()?)))
                .flatten()
        });
    parsed.with_context(|| {
        format!("unexpected review file name {name:?} (expected <id>_<rating>.txt)")
    })
}

/// Converts the extracted tarball under `extracted` into `out`.
pub fn convert(extracted: &Path, out: &Path) -> Result<()> {
    let root = extracted.join("aclImdb");
    ensure!(
        root.is_dir(),
        "the archive has no aclImdb/ folder (is it aclImdb_v1.tar.gz?)"
    );
    let readme = root.join("README");
    let bytes = fs::read(&readme).with_context(|| format!("cannot read {}", readme.display()))?;
    write_plain_file(&out.join("README.original.txt"), &bytes)?;
    for split in SPLITS {
        let mut gz = GzFile::create(&out.join(format!("{split}.jsonl.gz")))?;
        for (class, label) in CLASSES {
            let dir = root.join(split).join(class);
            for (id, rating, path) in reviews(&dir)? {
                let text = read_utf8(&path)?;
                gz.write_record(&[
                    ("label", Value::Int(label)),
                    ("text", Value::Str(&text)),
                    ("id", Value::Int(i64::try_from(id)?)),
                    ("rating", Value::Int(rating)),
                ])?;
            }
        }
        gz.finish()?;
    }
    Ok(())
}

/// The reviews in `dir`, sorted by id; ids must be unique.
fn reviews(dir: &Path) -> Result<Vec<(u64, i64, std::path::PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name();
        let name = name
            .to_str()
            .with_context(|| format!("non-UTF-8 file name in {}", dir.display()))?;
        let (id, rating) =
            parse_file_name(name).with_context(|| format!("in {}", dir.display()))?;
        out.push((id, rating, entry.path()));
    }
    out.sort_by_key(|(id, _, _)| *id);
    if let Some(pair) = out.windows(2).find(|w| w[0].0 == w[1].0) {
        bail!("duplicate review id {} in {}", pair[0].0, dir.display());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(parse_file_name("0_3.txt").unwrap(), (0, 3));
        assert_eq!(parse_file_name("12499_10.txt").unwrap(), (12499, 10));
        for bad in [
            "x_3.txt",
            "1_3",
            "1-3.txt",
            "_3.txt",
            "1_.txt",
            "1_3_4.txt",
            ".DS_Store",
        ] {
            assert!(parse_file_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_labelled_reviews_are_kept() {
        assert!(wants(Path::new("aclImdb/README")));
        assert!(wants(Path::new("aclImdb/train/neg/0_3.txt")));
        assert!(wants(Path::new("aclImdb/test/pos/9_10.txt")));
        assert!(!wants(Path::new("aclImdb/train/unsup/0_0.txt")));
        assert!(!wants(Path::new("aclImdb/train/labeledBow.feat")));
        assert!(!wants(Path::new("aclImdb/imdb.vocab")));
        assert!(!wants(Path::new("other/train/neg/0_3.txt")));
    }
}
