//! Loader for the raw aclImdb folder layout: `<root>/{train,test}/{neg,pos}/<id>_<rating>.txt`.
//!
//! Labels: `neg` = 0, `pos` = 1. Order: all negatives, then all positives, each by ascending id
//! (the order of the canonical `imdb/*.jsonl.gz`). Hidden files (starting with `.`) are ignored;
//! any other entry whose name is not `<id>_<rating>.txt` is an error naming it. A UTF-8 BOM at
//! the start of a review is removed.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Location, Result};
use crate::example::{EmptyTextPolicy, Example, LoadOptions, LoadStats, Loaded};

/// Loads one split (`"train"` or `"test"`) of an extracted `aclImdb/` folder.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let root = dir.path();
/// # for (d, f, t) in [("neg", "10_2.txt", "Awful."), ("neg", "9_1.txt", "Bad."), ("pos", "3_9.txt", "Great<br />fun")] {
/// #     std::fs::create_dir_all(root.join("train").join(d)).unwrap();
/// #     std::fs::write(root.join("train").join(d).join(f), t).unwrap();
/// # }
/// use set_data::{load_aclimdb, LoadOptions};
/// let l = load_aclimdb(root, "train", &LoadOptions::default())?;
/// let texts: Vec<_> = l.examples.iter().map(|e| (e.label, e.text.as_str())).collect();
/// assert_eq!(texts, [(0, "Bad."), (0, "Awful."), (1, "Great<br />fun")]);
/// # Ok::<(), set_data::DataError>(())
/// ```
pub fn load_aclimdb(root: impl AsRef<Path>, split: &str, options: &LoadOptions) -> Result<Loaded> {
    if split != "train" && split != "test" {
        return Err(DataError::invalid(
            "aclImdb split",
            format!("expected \"train\" or \"test\", got {split:?}"),
        ));
    }
    let mut examples = Vec::new();
    let mut stats = LoadStats::new(2);
    for (label, class_dir) in [(0usize, "neg"), (1, "pos")] {
        let dir = root.as_ref().join(split).join(class_dir);
        for (_, path) in review_files(&dir)? {
            let bytes = fs::read(&path).map_err(|e| DataError::io(&path, "read", e))?;
            let text = match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    let valid = e.utf8_error().valid_up_to();
                    let bytes = e.as_bytes();
                    let line = 1 + bytes[..valid].iter().filter(|&&b| b == b'\n').count();
                    let line_start = bytes[..valid]
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .map_or(0, |p| p + 1);
                    return Err(DataError::InvalidUtf8 {
                        at: Location::at(&path, line),
                        detail: format!("byte {} of the line", valid - line_start + 1),
                    });
                }
            };
            let text = match text.strip_prefix('\u{feff}') {
                Some(rest) => rest.to_owned(),
                None => text,
            };
            if text.trim().is_empty() {
                match options.empty_text {
                    EmptyTextPolicy::Error => {
                        return Err(DataError::EmptyText {
                            at: Location::file(&path),
                            field: "review".into(),
                        });
                    }
                    EmptyTextPolicy::Skip => {
                        stats.skipped_empty += 1;
                        continue;
                    }
                }
            }
            stats.keep(label);
            examples.push(Example { label, text });
        }
    }
    Ok(Loaded { examples, stats })
}

/// The review files of one class folder, sorted by id.
fn review_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = fs::read_dir(dir).map_err(|e| DataError::io(dir, "read directory", e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, "read directory", e))?;
        let path = entry.path();
        let bad = |reason: &str| DataError::BadFileName {
            at: Location::file(&path),
            reason: reason.to_owned(),
        };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(bad("not valid UTF-8; expected <id>_<rating>.txt"));
        };
        if name.starts_with('.') {
            continue;
        }
        let id = parse_name(&name)
            .ok_or_else(|| bad("expected <id>_<rating>.txt with integer id and rating 1-10"))?;
        files.push((id, path));
    }
    files.sort();
    if let Some(w) = files.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(DataError::BadFileName {
            at: Location::file(&w[1].1),
            reason: format!("duplicate id {} (also {})", w[1].0, w[0].1.display()),
        });
    }
    Ok(files)
}

/// `<id>_<rating>.txt` → id, with rating in 1..=10.
fn parse_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".txt")?;
    let (id, rating) = stem.split_once('_')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(id) || !digits(rating) {
        return None;
    }
    let rating: u32 = rating.parse().ok()?;
    if !(1..=10).contains(&rating) {
        return None;
    }
    id.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for split in ["train", "test"] {
            for c in ["neg", "pos"] {
                fs::create_dir_all(dir.path().join(split).join(c)).unwrap();
            }
        }
        for (sub, name, body) in files {
            fs::write(dir.path().join("train").join(sub).join(name), body).unwrap();
        }
        dir
    }

    #[test]
    fn order_labels_and_hidden_files() {
        let d = tree(&[
            ("pos", "2_10.txt", b"b"),
            ("pos", "10_7.txt", b"c"),
            ("neg", "100_1.txt", b"\xEF\xBB\xBFa"),
            ("neg", ".DS_Store", b"junk"),
        ]);
        let l = load_aclimdb(d.path(), "train", &LoadOptions::default()).unwrap();
        let got: Vec<_> = l
            .examples
            .iter()
            .map(|e| (e.label, e.text.as_str()))
            .collect();
        assert_eq!(got, [(0, "a"), (1, "b"), (1, "c")]);
        assert_eq!(l.stats.per_class, [1, 2]);
        assert!(
            load_aclimdb(d.path(), "test", &LoadOptions::default())
                .unwrap()
                .examples
                .is_empty()
        );
        assert!(load_aclimdb(d.path(), "unsup", &LoadOptions::default()).is_err());
    }

    #[test]
    fn errors_name_the_file() {
        let d = tree(&[("neg", "1_2.txt", b"ok"), ("pos", "7_x.txt", b"?")]);
        let e = load_aclimdb(d.path(), "train", &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("pos/7_x.txt: bad file name"), "{e}");

        let d = tree(&[("neg", "1_2.txt", b"line one\nli\xffne")]);
        let e = load_aclimdb(d.path(), "train", &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("neg/1_2.txt:2: invalid UTF-8 (byte 3 of the line)"),
            "{e}"
        );

        let d = tree(&[("neg", "1_2.txt", b"  ")]);
        let e = load_aclimdb(d.path(), "train", &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("neg/1_2.txt: field `review` is empty"), "{e}");
        let skip = LoadOptions {
            empty_text: EmptyTextPolicy::Skip,
            ..LoadOptions::default()
        };
        assert_eq!(
            load_aclimdb(d.path(), "train", &skip)
                .unwrap()
                .stats
                .skipped_empty,
            1
        );

        let e = load_aclimdb(d.path().join("nope"), "train", &LoadOptions::default()).unwrap_err();
        assert!(e.to_string().contains("cannot read directory"), "{e}");
    }

    #[test]
    fn file_names() {
        assert_eq!(parse_name("123_10.txt"), Some(123));
        for bad in [
            "123_0.txt",
            "123_11.txt",
            "123.txt",
            "_1.txt",
            "1_1.TXT",
            "a_1.txt",
            "1_+1.txt",
            "1_1_1.txt",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}
