//! `cargo xtask embedding-degree RUNS...`: does a sparse embedding give frequent words more
//! connections? Per run, the degree (stored entries) of every embedding row of the final model
//! (`model.safetensors`) against the frequency of its token, recorded in
//! `results/embedding-degree.jsonl`.
//!
//! Frequencies: the vocabulary (`vocab.txt`) lists tokens by training count, most frequent first
//! (ties by token), so a token's id is its frequency rank; that order gives one Spearman
//! correlation (ties in count broken by the token string). The counts themselves are recounted
//! with set-data's loader and the tokenizer every run uses: from the training file where the
//! dataset ships official train, dev and test files (exact: the vocabulary is rebuilt from them
//! and must match `vocab.txt`), otherwise from all of the dataset's files (the split is carved
//! at random by the trainer and not reproduced here; dev and test are then counted too). The
//! specials `<pad>` and `<unk>` are left out.

use crate::record::read_record;
use anyhow::{Context, Result, bail};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Largest model file read.
const MAX_MODEL_BYTES: u64 = 1 << 30;

/// The embedding matrix's name in a model file.
const EMBEDDING: &str = "embedding.weight";

/// Frequency deciles recorded.
pub const DECILES: usize = 10;

/// One run's degree-against-frequency figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingDegree {
    /// The run (as given).
    pub run: String,
    /// Dataset.
    pub data: String,
    /// The run's group (as the paired study labels it).
    pub group: String,
    /// Model seed.
    pub seed: u64,
    /// Tokens compared (the vocabulary without `<pad>` and `<unk>`).
    pub tokens: u64,
    /// Mean stored entries per embedding row over those tokens.
    pub mean_degree: f64,
    /// Spearman correlation of degree with frequency by vocabulary order (rank), ties in count
    /// broken by the token string.
    pub spearman_rank: f64,
    /// Spearman correlation of degree with the recounted frequency (average ranks for ties).
    pub spearman_count: f64,
    /// What was counted: `training file` or `all files`.
    pub counted: String,
    /// Whether the vocabulary rebuilt from the counts equals `vocab.txt` (checked only when
    /// the training file was counted).
    pub vocab_reproduced: Option<bool>,
    /// Mean degree of each frequency decile by vocabulary order, most frequent first.
    pub decile_mean_degree: Vec<f64>,
}

/// Stored entries of every row of the sparse matrix `name` in a model file.
///
/// # Errors
/// An unreadable, oversized or malformed file, naming it and the tensor.
pub fn row_degrees(model: &Path, name: &str) -> Result<Vec<u64>> {
    let len = std::fs::metadata(model)
        .with_context(|| format!("reading {}", model.display()))?
        .len();
    if len > MAX_MODEL_BYTES {
        bail!(
            "{}: {len} bytes, more than the {MAX_MODEL_BYTES} read",
            model.display()
        );
    }
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let st = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a safetensors file", model.display()))?;
    let ptr = st
        .tensor(&format!("{name}.indptr"))
        .with_context(|| format!("{}: no sparse `{name}`", model.display()))?;
    if ptr.dtype() != Dtype::I64 {
        bail!("{}: {name}.indptr is not int64", model.display());
    }
    let ptr: Vec<i64> = ptr
        .data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    if ptr.first() != Some(&0) {
        bail!("{}: {name}.indptr does not start at 0", model.display());
    }
    ptr.windows(2)
        .enumerate()
        .map(|(r, w)| {
            u64::try_from(w[1] - w[0]).with_context(|| {
                format!("{}: {name}: row {r} has a negative length", model.display())
            })
        })
        .collect()
}

/// Reads `vocab.txt` (header line, then one token per line in id order).
///
/// # Errors
/// An unreadable file or a wrong header.
pub fn read_vocab(path: &Path) -> Result<Vec<String>> {
    let v = set_data::Vocab::load(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(v.tokens().to_vec())
}

/// Ranks of `xs` (1-based), ties given their average rank.
fn average_ranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut ranks = vec![0.0; xs.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && xs[idx[j + 1]] == xs[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (crate::stats::mean(a), crate::stats::mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa == 0.0 || sbb == 0.0 {
        return 0.0;
    }
    sab / (saa * sbb).sqrt()
}

/// Spearman's rank correlation (average ranks for ties; 0 when either side is constant).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&average_ranks(a), &average_ranks(b))
}

/// Mean of each of `k` consecutive, nearly equal parts of `xs` (in order).
pub fn part_means(xs: &[f64], k: usize) -> Vec<f64> {
    (0..k)
        .map(|i| {
            let (a, b) = (i * xs.len() / k, (i + 1) * xs.len() / k);
            if a == b {
                f64::NAN
            } else {
                crate::stats::mean(&xs[a..b])
            }
        })
        .filter(|m| !m.is_nan())
        .collect()
}

/// Token counts of a dataset: `(counts, what was counted, whether it is the training split)`.
fn count_tokens(
    cfg: &toml::Table,
    cfg_path: &Path,
) -> Result<(HashMap<String, usize>, String, bool)> {
    let s = |k: &str| {
        cfg.get(k)
            .and_then(toml::Value::as_str)
            .with_context(|| format!("{}: no `{k}`", cfg_path.display()))
    };
    let name: set_data::DatasetName = s("data")?
        .parse()
        .with_context(|| format!("{}: `data`", cfg_path.display()))?;
    let dir = PathBuf::from(s("data_dir")?);
    let (files, training) = match name.layout() {
        set_data::Layout::Official {
            train,
            dev: Some(_),
            ..
        } => (vec![train], true),
        l => (l.files(), false),
    };
    let labels = name.labels();
    let tok = set_data::Tokenizer::default();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for f in files {
        let p = dir.join(f);
        let loaded = set_data::load_labeled(&p, &labels, &set_data::LoadOptions::default())
            .with_context(|| format!("counting tokens of {}", p.display()))?;
        for e in &loaded.examples {
            for t in tok.tokenize(&e.text) {
                *counts.entry(t).or_insert(0) += 1;
            }
        }
    }
    let what = if training {
        "training file"
    } else {
        "all files"
    };
    Ok((counts, what.to_string(), training))
}

type Counted = (HashMap<String, usize>, String, bool);

/// The figures of one run directory; `counts` caches token counts by dataset and directory.
fn measure(
    dir: &Path,
    key: &str,
    counts: &mut BTreeMap<(String, String), Counted>,
) -> Result<EmbeddingDegree> {
    let r = read_record(dir, key)?;
    let cfg_path = dir.join("config.toml");
    let cfg: toml::Table = toml::from_str(
        &std::fs::read_to_string(&cfg_path)
            .with_context(|| format!("reading {}", cfg_path.display()))?,
    )
    .with_context(|| format!("parsing {}", cfg_path.display()))?;
    let vocab = read_vocab(&dir.join("vocab.txt"))?;
    let degrees = row_degrees(&dir.join("model.safetensors"), EMBEDDING)?;
    if degrees.len() != vocab.len() {
        bail!(
            "{}: {} embedding rows for {} vocabulary tokens",
            dir.display(),
            degrees.len(),
            vocab.len()
        );
    }
    if vocab.len() < 3 {
        bail!(
            "{}: the vocabulary has no token besides the specials",
            dir.display()
        );
    }
    let data_dir = cfg
        .get("data_dir")
        .and_then(toml::Value::as_str)
        .unwrap_or("")
        .to_string();
    let cache_key = (r.data.clone(), data_dir);
    if !counts.contains_key(&cache_key) {
        let c = count_tokens(&cfg, &cfg_path)?;
        counts.insert(cache_key.clone(), c);
    }
    let (count, what, training) = &counts[&cache_key];
    let vocab_reproduced = training.then(|| {
        let int = |k: &str| cfg.get(k).and_then(toml::Value::as_integer).unwrap_or(0) as usize;
        let rebuilt = set_data::Vocab::build_from_counts(
            count.iter().map(|(t, &c)| (t.as_str(), c)),
            int("vocab_size"),
            int("min_count"),
        );
        rebuilt.tokens() == vocab.as_slice()
    });
    let deg: Vec<f64> = degrees[2..].iter().map(|&d| d as f64).collect();
    let rank: Vec<f64> = (2..vocab.len()).map(|i| -(i as f64)).collect();
    let freq: Vec<f64> = vocab[2..]
        .iter()
        .map(|t| count.get(t).copied().unwrap_or(0) as f64)
        .collect();
    Ok(EmbeddingDegree {
        run: key.to_string(),
        data: r.data.clone(),
        group: crate::study::group_label(&r),
        seed: r.seed,
        tokens: deg.len() as u64,
        mean_degree: crate::stats::mean(&deg),
        spearman_rank: spearman(&rank, &deg),
        spearman_count: spearman(&freq, &deg),
        counted: what.clone(),
        vocab_reproduced,
        decile_mean_degree: part_means(&deg, DECILES),
    })
}

/// Measures the sparse runs under `paths` and replaces their lines in `out`; returns how many
/// runs were measured.
///
/// # Errors
/// An unreadable run, model, vocabulary or data file, naming it.
pub fn collect(paths: &[PathBuf], out: &Path) -> Result<usize> {
    let dirs = crate::report::find_runs(paths)?;
    let mut by_run: BTreeMap<String, EmbeddingDegree> =
        read(out)?.into_iter().map(|e| (e.run.clone(), e)).collect();
    let mut counts = BTreeMap::new();
    let mut n = 0;
    for d in &dirs {
        let key = d.to_string_lossy().trim_end_matches('/').to_string();
        let r = read_record(d, &key).with_context(|| format!("run {}", d.display()))?;
        if r.model == "dense" {
            continue;
        }
        let e = measure(d, &key, &mut counts).with_context(|| format!("run {}", d.display()))?;
        by_run.insert(key, e);
        n += 1;
    }
    let mut text = String::new();
    for e in by_run.values() {
        text.push_str(&serde_json::to_string(e)?);
        text.push('\n');
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    Ok(n)
}

/// The records in `path` (none when it does not exist).
///
/// # Errors
/// An unreadable file or a malformed line (named by its number).
pub fn read(path: &Path) -> Result<Vec<EmbeddingDegree>> {
    crate::record::read_json_lines(path)
}

/// The embedding-degree record beside a run record (`embedding-degree.jsonl` in its folder).
pub fn record_path(record: &Path) -> PathBuf {
    record.with_file_name("embedding-degree.jsonl")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_with_ties_and_deciles() {
        // Perfectly monotone, and reversed.
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 25.0, 40.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // Ties get average ranks: x ranks 1.5 1.5 3 4, y ranks 1 2 3 4.
        assert_eq!(average_ranks(&[5.0, 5.0, 7.0, 9.0]), [1.5, 1.5, 3.0, 4.0]);
        let r = spearman(&[5.0, 5.0, 7.0, 9.0], &[1.0, 2.0, 3.0, 4.0]);
        let want = pearson(&[1.5, 1.5, 3.0, 4.0], &[1.0, 2.0, 3.0, 4.0]);
        assert!((r - want).abs() < 1e-12 && r < 1.0 && r > 0.9, "{r}");
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
        // 25 values into 10 parts: sizes 2 or 3, in order.
        let xs: Vec<f64> = (0..25).map(f64::from).collect();
        let m = part_means(&xs, 10);
        assert_eq!(m.len(), 10);
        assert_eq!(m[0], 0.5);
        assert_eq!(m[9], 23.0);
        assert_eq!(part_means(&[1.0, 3.0], 10), [1.0, 3.0]);
    }

    #[test]
    fn degrees_come_from_the_row_pointers_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let ptr: Vec<u8> = [0i64, 2, 2, 5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let view = safetensors::tensor::TensorView::new(Dtype::I64, vec![4], &ptr).unwrap();
        let bytes = safetensors::serialize([("embedding.weight.indptr", view)], None).unwrap();
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(row_degrees(&p, EMBEDDING).unwrap(), [2, 0, 3]);
        let e = format!("{:#}", row_degrees(&p, "other").unwrap_err());
        assert!(e.contains("no sparse `other`"), "{e}");
        let bad: Vec<u8> = [0i64, 3, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = safetensors::tensor::TensorView::new(Dtype::I64, vec![3], &bad).unwrap();
        let bytes = safetensors::serialize([("embedding.weight.indptr", view)], None).unwrap();
        std::fs::write(&p, bytes).unwrap();
        let e = format!("{:#}", row_degrees(&p, EMBEDDING).unwrap_err());
        assert!(e.contains("row 1 has a negative length"), "{e}");
        std::fs::write(&p, b"not a model").unwrap();
        assert!(row_degrees(&p, EMBEDDING).is_err());
    }
}
