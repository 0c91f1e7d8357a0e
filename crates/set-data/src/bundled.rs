//! The small UCI sentiment sentences compiled into the library, so that an installed binary
//! (`cargo install`) can install them into the data directory without a source checkout
//! (`set-lstm data fetch uci`). The bytes are the repository's
//! `datasets/uci_sentiment_sentences/*.jsonl.gz` (a test checks that they are identical); the
//! larger datasets are never bundled.

use crate::registry::DatasetName;
use crate::{DataError, write_atomic};
use std::path::{Path, PathBuf};

/// The bundled files: registry path (relative to a data directory) and gzip bytes.
const UCI: [(&str, &[u8]); 3] = [
    (
        "uci_sentiment_sentences/amazon_cells.jsonl.gz",
        include_bytes!("../bundled/uci_sentiment_sentences/amazon_cells.jsonl.gz"),
    ),
    (
        "uci_sentiment_sentences/imdb.jsonl.gz",
        include_bytes!("../bundled/uci_sentiment_sentences/imdb.jsonl.gz"),
    ),
    (
        "uci_sentiment_sentences/yelp.jsonl.gz",
        include_bytes!("../bundled/uci_sentiment_sentences/yelp.jsonl.gz"),
    ),
];

/// The bundled files of `name` (registry path and bytes), or `None` when it is not bundled
/// (only `uci` and its three parts are).
///
/// ```
/// use set_data::{DatasetName, bundled};
/// let files = bundled::files(DatasetName::Uci).unwrap();
/// assert_eq!(files.len(), 3);
/// assert!(bundled::files(DatasetName::Imdb).is_none());
/// ```
pub fn files(name: DatasetName) -> Option<Vec<(&'static str, &'static [u8])>> {
    let wanted = name.layout().files();
    let found: Vec<_> = UCI
        .iter()
        .filter(|(p, _)| wanted.contains(p))
        .copied()
        .collect();
    (!found.is_empty() && found.len() == wanted.len()).then_some(found)
}

/// Writes the bundled files of `name` into data directory `dir` (atomically, creating folders)
/// and returns the paths written.
///
/// # Errors
/// [`DataError::InvalidArgument`] when `name` is not bundled; I/O errors naming the path.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let written = set_data::bundled::install(set_data::DatasetName::UciYelp, dir.path()).unwrap();
/// assert_eq!(written, vec![dir.path().join("uci_sentiment_sentences/yelp.jsonl.gz")]);
/// ```
pub fn install(name: DatasetName, dir: &Path) -> crate::Result<Vec<PathBuf>> {
    let files = files(name).ok_or_else(|| {
        DataError::invalid(
            "dataset",
            format!(
                "{} is not bundled with set-lstm (only uci, uci-amazon, uci-imdb, uci-yelp are)",
                name.as_str()
            ),
        )
    })?;
    let mut written = Vec::with_capacity(files.len());
    for (rel, bytes) in files {
        let dest = dir.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, "creating", e))?;
        }
        write_atomic(&dest, bytes)?;
        written.push(dest);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn bundled_bytes_are_the_repository_datasets() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets");
        for (rel, bytes) in UCI {
            let on_disk = std::fs::read(repo.join(rel)).unwrap();
            assert!(on_disk == bytes, "{rel} differs from the repository's copy");
        }
    }

    #[test]
    fn every_uci_name_is_bundled_and_nothing_else() {
        for d in DatasetName::ALL {
            let uci = d.as_str().starts_with("uci");
            assert_eq!(files(d).is_some(), uci, "{}", d.as_str());
        }
    }

    #[test]
    fn installed_files_load() {
        let dir = tempfile::tempdir().unwrap();
        install(DatasetName::Uci, dir.path()).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let dd = crate::DataDir::new(dir.path()).unwrap();
        let ds = crate::load_dataset("uci", &dd, &mut rng, &crate::SplitConfig::default());
        let ds = ds.unwrap();
        assert_eq!(ds.train.len() + ds.dev.len() + ds.test.len(), 3000);
        let err = install(DatasetName::Sst2, dir.path()).unwrap_err();
        assert!(err.to_string().contains("not bundled"), "{err}");
    }
}
