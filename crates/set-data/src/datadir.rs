//! The data directory, found by one rule that the command line, `cargo xtask fetch-data` and
//! library programs share: a `--data-dir` flag, else `$SET_LSTM_DATA`, else `./datasets` if it
//! exists, else the user's data directory (`~/.local/share/set-lstm` on Linux).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Location, Result};

/// The root folder holding the datasets (`imdb/`, `sst/`, `sanders_twitter/`, `uci_sentiment_sentences/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The environment variable read when no directory is passed explicitly.
    pub const ENV_VAR: &'static str = "SET_LSTM_DATA";

    /// The data directory from a command-line flag, else [`DataDir::default_root`], which must
    /// exist (an empty flag or variable counts as unset).
    pub fn resolve(flag: Option<PathBuf>) -> Result<Self> {
        match flag {
            Some(p) if !p.as_os_str().is_empty() => Self::resolve_from(Some(p), None),
            _ => Self::resolve_from(None, Some(Self::default_root().into_os_string())),
        }
    }

    /// Where datasets live when no directory is given: `$SET_LSTM_DATA` if set and non-empty,
    /// else `./datasets` if it exists, else the user's data directory
    /// (`~/.local/share/set-lstm` on Linux, from the `directories` crate), else `./datasets`.
    /// `set-lstm` reads there and `cargo xtask fetch-data` writes there.
    pub fn default_root() -> PathBuf {
        if let Some(v) = std::env::var_os(Self::ENV_VAR)
            && !v.is_empty()
        {
            return PathBuf::from(v);
        }
        let local = PathBuf::from("datasets");
        if local.is_dir() {
            return local;
        }
        directories::ProjectDirs::from("", "", "set-lstm")
            .map(|d| d.data_dir().to_path_buf())
            .unwrap_or(local)
    }

    /// [`DataDir::resolve`] with the environment value passed in (for tests and embedding).
    ///
    /// ```
    /// use set_data::DataDir;
    /// let tmp = std::env::temp_dir();
    /// assert_eq!(DataDir::resolve_from(None, Some(tmp.clone().into())).unwrap().root(), tmp);
    /// assert!(DataDir::resolve_from(None, None).unwrap_err().to_string().contains("--data-dir"));
    /// ```
    pub fn resolve_from(flag: Option<PathBuf>, env: Option<OsString>) -> Result<Self> {
        let (root, origin) = match (flag, env) {
            (Some(p), _) if !p.as_os_str().is_empty() => (p, "--data-dir"),
            (_, Some(v)) if !v.is_empty() => (PathBuf::from(v), Self::ENV_VAR),
            _ => return Err(DataError::NoDataDir),
        };
        if !root.is_dir() {
            return Err(DataError::DataDirMissing {
                at: Location::file(root),
                origin,
            });
        }
        Ok(Self { root })
    }

    /// A data directory at `root`, which must exist.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        Self::resolve_from(Some(root.into()), None)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_env_and_errors() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            DataDir::resolve_from(None, None),
            Err(DataError::NoDataDir)
        ));
        assert!(matches!(
            DataDir::resolve_from(Some(PathBuf::new()), Some("".into())),
            Err(DataError::NoDataDir)
        ));
        let e = DataDir::resolve_from(None, Some(d.path().join("missing").into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("(from SET_LSTM_DATA) does not exist"), "{e}");
        let e = DataDir::new(d.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("(from --data-dir) does not exist"), "{e}");
        let from_env = DataDir::resolve_from(None, Some(d.path().into())).unwrap();
        assert_eq!(from_env.root(), d.path());
        let flag_wins =
            DataDir::resolve_from(Some(d.path().into()), Some("/nonexistent".into())).unwrap();
        assert_eq!(flag_wins.root(), d.path());
    }
}
