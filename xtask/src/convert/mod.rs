//! Conversions from extracted official archives to the project's canonical JSONL datasets.
//!
//! Each converter reads from the extraction directory and writes every output file into a new
//! folder; nothing is installed here. See `jsonl` for the byte-level format.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::datasets::Converter;

pub mod imdb;
pub mod sst;
pub mod uci;

impl Converter {
    /// Whether an (already validated) archive entry is needed by this converter; other entries
    /// are checked and counted but not written to disk.
    pub fn wants(self, rel: &Path) -> bool {
        match self {
            Converter::Imdb => imdb::wants(rel),
            Converter::Sst => sst::wants(rel),
            Converter::Uci => uci::wants(rel),
        }
    }

    /// Converts the extracted archive under `extracted` into files under `out`.
    pub fn convert(self, extracted: &Path, out: &Path) -> Result<()> {
        match self {
            Converter::Imdb => imdb::convert(extracted, out),
            Converter::Sst => sst::convert(extracted, out),
            Converter::Uci => uci::convert(extracted, out),
        }
    }
}

/// Whether a path lies in a macOS resource-fork folder (`__MACOSX/`), which zips made on a Mac
/// carry next to the real files.
pub(crate) fn is_macos_junk(rel: &Path) -> bool {
    rel.components().any(|c| c.as_os_str() == "__MACOSX")
}

/// All regular files below `root`, as paths relative to it, sorted.
pub(crate) fn list_files(root: &Path) -> Result<Vec<PathBuf>> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let dir = root.join(rel);
        for entry in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let rel = rel.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(root, &rel, out)?;
            } else if kind.is_file() {
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out)?;
    out.sort();
    Ok(out)
}

/// Finds the single extracted file whose path ends with `suffix` (e.g. `trees/train.txt`),
/// ignoring `__MACOSX/`. Zero or several matches are errors that list what was found.
pub(crate) fn find_unique(files: &[PathBuf], suffix: &str) -> Result<PathBuf> {
    let matches: Vec<&PathBuf> = files
        .iter()
        .filter(|f| !is_macos_junk(f) && f.ends_with(suffix))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            let sample: Vec<String> = files
                .iter()
                .take(10)
                .map(|f| f.display().to_string())
                .collect();
            bail!(
                "the archive has no `{suffix}` (is it the right archive?); it contains {} files, \
                 e.g. [{}]",
                files.len(),
                sample.join(", ")
            )
        }
        many => {
            let all: Vec<String> = many.iter().map(|f| f.display().to_string()).collect();
            bail!("the archive has several `{suffix}`: {}", all.join(", "))
        }
    }
}

/// Reads a file that must be UTF-8.
pub(crate) fn read_utf8(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes).with_context(|| format!("{} is not valid UTF-8", path.display()))
}
