//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the corpus replay test, so both
//! exercise exactly the same code. Each parses arbitrary bytes and must return, never panic.

use crate::delimited::{CsvOptions, read_delimited};
use crate::example::{LabelMap, LoadOptions};
use crate::jsonl::read_jsonl;
use crate::vocab::Vocab;
use std::io::Cursor;
use std::path::Path;

/// Parses `data` as a JSONL dataset file (gzip or plain) with binary labels.
pub fn jsonl(data: &[u8]) {
    let _ = read_jsonl(
        Cursor::new(data),
        Path::new("fuzz.jsonl"),
        &LabelMap::binary(),
        &LoadOptions::default(),
    );
}

/// Parses `data` as a TSV `text<TAB>label` file and as a CSV file with a header.
pub fn delimited(data: &[u8]) {
    for options in [CsvOptions::tsv_text_label(), CsvOptions::csv_with_header()] {
        let _ = read_delimited(
            Cursor::new(data),
            Path::new("fuzz.csv"),
            &LabelMap::binary(),
            &options,
            &LoadOptions::default(),
        );
    }
}

/// Parses `data` as a vocabulary file.
pub fn vocab(data: &[u8]) {
    let _ = Vocab::read_from(Cursor::new(data), Path::new("fuzz.vocab"));
}

/// Runs `f` on every file under `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/` of the
/// workspace (`fuzz_root`); returns how many inputs were replayed. Used by the replay tests of
/// every crate with fuzz targets.
///
/// # Panics
/// If a listed file cannot be read (a broken checkout).
pub fn replay(fuzz_root: &Path, target: &str, f: fn(&[u8])) -> usize {
    let mut replayed = 0;
    for dir in [
        fuzz_root.join("corpus").join(target),
        fuzz_root.join("artifacts").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("listing the fuzz corpus").path();
            f(&std::fs::read(&path).expect("reading a fuzz corpus file"));
            replayed += 1;
        }
    }
    replayed
}

#[cfg(test)]
mod tests {
    /// Replays every committed fuzz corpus entry and crash input through the same entry points.
    #[test]
    fn fuzz_corpus_replays_without_panics() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let replayed: usize = [
            ("jsonl", super::jsonl as fn(&[u8])),
            ("delimited", super::delimited),
            ("vocab", super::vocab),
        ]
        .into_iter()
        .map(|(target, f)| super::replay(&root, target, f))
        .sum();
        assert!(
            replayed >= 9,
            "expected the committed corpus under {}, replayed {replayed}",
            root.display()
        );
    }
}
