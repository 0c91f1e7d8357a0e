//! UCI Sentiment Labelled Sentences: `*_labelled.txt` (`sentence TAB score`) → JSONL per site.
//!
//! Output (in `uci_sentiment_sentences/`): `{amazon_cells,imdb,yelp}.jsonl.gz` with records
//! `{"label":0|1,"text":str,"line":int}` in file order (`line` is the 0-based line number), plus
//! the originals byte for byte as `original/<name>_labelled.txt.gz` and `original/readme.txt`.
//! Lines are split on `\n` only (the imdb file contains U+0085, a Unicode line break), and each
//! line at its **last** tab; the text before it is kept unchanged (trailing spaces, stray quotes).

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{find_unique, is_macos_junk, list_files, read_utf8};
use crate::jsonl::{GzFile, Value, write_gz_file, write_plain_file};

/// The three source files and the output name of each.
pub const SOURCES: [(&str, &str); 3] = [
    ("amazon_cells_labelled.txt", "amazon_cells"),
    ("imdb_labelled.txt", "imdb"),
    ("yelp_labelled.txt", "yelp"),
];

/// Keeps everything except macOS resource forks.
pub fn wants(rel: &Path) -> bool {
    !is_macos_junk(rel)
}

/// Converts the extracted zip under `extracted` into `out`.
pub fn convert(extracted: &Path, out: &Path) -> Result<()> {
    let files = list_files(extracted)?;
    for (source, stem) in SOURCES {
        let path = extracted.join(find_unique(&files, source)?);
        let content = read_utf8(&path)?;
        let mut gz = GzFile::create(&out.join(format!("{stem}.jsonl.gz")))?;
        for (line_no, label, text) in
            parse(&content).with_context(|| format!("in {}", path.display()))?
        {
            gz.write_record(&[
                ("label", Value::Int(label)),
                ("text", Value::Str(text)),
                ("line", Value::Int(line_no)),
            ])?;
        }
        gz.finish()?;
        write_gz_file(
            &out.join("original").join(format!("{source}.gz")),
            content.as_bytes(),
        )?;
    }
    let readme = extracted.join(find_unique(&files, "readme.txt")?);
    let bytes =
        std::fs::read(&readme).with_context(|| format!("cannot read {}", readme.display()))?;
    write_plain_file(&out.join("original/readme.txt"), &bytes)
}

/// Parses `sentence TAB score` lines into `(0-based line, label, text)`.
pub fn parse(content: &str) -> Result<Vec<(i64, i64, &str)>> {
    let body = content.strip_suffix('\n').unwrap_or(content);
    if body.is_empty() {
        bail!("the file is empty");
    }
    let mut records = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        let Some((text, score)) = line.rsplit_once('\t') else {
            bail!("line {} has no tab: {line:?}", i + 1);
        };
        let label = match score {
            "0" => 0,
            "1" => 1,
            other => bail!("line {} has score {other:?}, expected 0 or 1", i + 1),
        };
        records.push((i as i64, label, text));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_last_tab_and_on_newlines_only() {
        let content = "a\tb  \t1\nnel\u{85}inside  \t0\n";
        let recs = parse(content).unwrap();
        assert_eq!(recs, vec![(0, 1, "a\tb  "), (1, 0, "nel\u{85}inside  ")]);
        // No trailing newline on the last line is fine too.
        assert_eq!(parse("x\t1").unwrap(), vec![(0, 1, "x")]);
    }

    #[test]
    fn malformed_lines_are_errors() {
        let err = parse("ok\t1\nno tab here\n").unwrap_err().to_string();
        assert!(err.contains("line 2 has no tab"), "{err}");
        let err = parse("x\t2\n").unwrap_err().to_string();
        assert!(err.contains("score \"2\""), "{err}");
        let err = parse("x\t1\r\n").unwrap_err().to_string();
        assert!(err.contains("score \"1\\r\""), "{err}");
        assert!(parse("").is_err());
        assert!(parse("a\t1\n\nb\t0\n").is_err());
    }
}
