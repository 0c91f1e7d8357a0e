//! `--match-params-of RUN`: the small-dense baseline of a sparse run, a dense LSTM whose
//! embedding and hidden widths are chosen so that it stores as many parameters as RUN does.
//!
//! The width `k` (embedding = hidden = `k`) is the one whose dense parameter count
//! (embedding `V k`, LSTM `8 k^2 + 8 k`, output `k C + C`) is nearest to RUN's stored parameters
//! (ties: the smaller width), for RUN's vocabulary size `V` and classes `C`, read from its
//! `manifest.json`. With the same data and split seed the new run builds the same vocabulary,
//! so the counts match; the run's own `summary.json` reports what it stores.

use crate::exit::usage;
use anyhow::{Context, Result};
use std::path::Path;

/// The figures of a finished run that a matched baseline needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamTarget {
    /// Stored parameters of the run.
    pub params: usize,
    /// Its vocabulary size.
    pub vocab_size: usize,
    /// Its number of classes.
    pub classes: usize,
}

impl ParamTarget {
    /// Reads `params`, `vocab_size` and `class_names` from `run/manifest.json`.
    ///
    /// # Errors
    /// A missing or unreadable manifest, or one without those keys.
    pub fn of_run(run: &Path) -> Result<Self> {
        let path = run.join(crate::rundir::names::MANIFEST);
        let text = set_data::read_text_bounded(&path, crate::rundir::MAX_MANIFEST_BYTES)
            .map_err(|e| usage(format!("--match-params-of: {e}")))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("--match-params-of: parsing {}", path.display()))?;
        let get = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_u64)
                .map(|n| n as usize)
                .ok_or_else(|| {
                    usage(format!(
                        "--match-params-of: {} has no number `{k}`",
                        path.display()
                    ))
                })
        };
        let classes = v
            .get("class_names")
            .and_then(serde_json::Value::as_array)
            .map(Vec::len)
            .ok_or_else(|| {
                usage(format!(
                    "--match-params-of: {} has no `class_names`",
                    path.display()
                ))
            })?;
        Ok(ParamTarget {
            params: get("params")?,
            vocab_size: get("vocab_size")?,
            classes,
        })
    }
}

/// Parameters of the dense model with embedding and hidden width `k`.
///
/// ```
/// // 100 tokens, 2 classes, width 4: 400 + 8*16 + 8*4 + 4*2 + 2.
/// assert_eq!(set_cli::match_params::dense_params(100, 2, 4), 400 + 128 + 32 + 8 + 2);
/// ```
pub fn dense_params(vocab_size: usize, classes: usize, k: usize) -> usize {
    vocab_size * k + 8 * k * k + 8 * k + k * classes + classes
}

/// The width whose dense parameter count is nearest to `target.params` (ties: the smaller;
/// at least 1).
///
/// ```
/// use set_cli::match_params::{matching_width, dense_params, ParamTarget};
/// let t = ParamTarget { params: 30152, vocab_size: 4366, classes: 2 };
/// let k = matching_width(&t);
/// assert_eq!(k, 7);
/// assert!(dense_params(4366, 2, 7).abs_diff(30152) <= dense_params(4366, 2, 6).abs_diff(30152));
/// ```
pub fn matching_width(target: &ParamTarget) -> usize {
    let count = |k| dense_params(target.vocab_size, target.classes, k);
    let mut k = 1;
    while count(k + 1) <= target.params {
        k += 1;
    }
    // `count(k) <= params < count(k + 1)`, or `k = 1` when even width 1 is larger.
    if count(k) < target.params && count(k + 1).abs_diff(target.params) < target.params - count(k) {
        k + 1
    } else {
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_is_the_nearest_count() {
        for (params, vocab, classes) in [(30152, 4366, 2), (23592, 3000, 2), (10, 100, 2)] {
            let t = ParamTarget {
                params,
                vocab_size: vocab,
                classes,
            };
            let k = matching_width(&t);
            let d = |k| dense_params(vocab, classes, k).abs_diff(params);
            // No other width from 1 to 200 is nearer.
            for other in 1..200 {
                assert!(d(k) <= d(other), "k={k} other={other}");
            }
        }
    }

    #[test]
    fn count_is_the_models_own() {
        for (v, c, k) in [(100, 2, 4), (4366, 2, 7), (50, 5, 13)] {
            let cfg = set_train::ModelSpec::new(v, k, k, c)
                .dense()
                .classifier_config()
                .unwrap();
            let n: usize = cfg
                .param_specs()
                .unwrap()
                .iter()
                .map(|p| p.dense_len())
                .sum();
            assert_eq!(dense_params(v, c, k), n);
        }
    }

    #[test]
    fn manifest_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("manifest.json"),
            r#"{"params": 30152, "vocab_size": 4366, "class_names": ["negative", "positive"]}"#,
        )
        .unwrap();
        let t = ParamTarget::of_run(dir.path()).unwrap();
        assert_eq!(
            t,
            ParamTarget {
                params: 30152,
                vocab_size: 4366,
                classes: 2
            }
        );
        let e = ParamTarget::of_run(&dir.path().join("nope")).unwrap_err();
        assert!(e.to_string().contains("manifest.json"), "{e}");
    }
}
