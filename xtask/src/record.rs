//! `cargo xtask collect-results RUNS...`: the compact, committed record of finished runs
//! (`results/runs.jsonl`), one JSON object per run directory, sorted by `run`.
//!
//! Each line holds what the results report needs and what traces a number back to its run:
//! the resolved configuration (`config.toml` as JSON), the model and split seeds, the dev and
//! test accuracy of every epoch (`metrics.csv`), the final and best-dev figures
//! (`summary.json`), the parameter counts, the regrowth survival rate when recorded, and the
//! SHA-256 of every data file with the git revision (`manifest.json`), and for sparse runs the
//! per-epoch topology (`events.jsonl`, [`crate::trace`]). Collecting a run again
//! replaces its line, so the command can be re-run as runs finish.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Dev and test figures of one epoch (1-based).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch, 1-based.
    pub epoch: u64,
    /// Dev accuracy after the epoch.
    pub dev_accuracy: Option<f64>,
    /// Test accuracy after the epoch (recorded for the record, never used to choose).
    pub test_accuracy: Option<f64>,
}

/// One finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run directory, as given to `collect-results` (its key in the record).
    pub run: String,
    /// Dataset name (`files` for file data).
    pub data: String,
    /// `dense`, or the evolution policy of a sparse model.
    pub model: String,
    /// Embedding and hidden widths, `E/H`.
    pub size: String,
    /// Model seed.
    pub seed: u64,
    /// Split seed (`None`: a run from before split seeds, split with `seed`).
    pub split_seed: Option<u64>,
    /// Every epoch's dev and test accuracy.
    pub epochs: Vec<EpochRecord>,
    /// Dev accuracy of the final model.
    pub final_dev_accuracy: Option<f64>,
    /// Test accuracy of the final model.
    pub final_test_accuracy: Option<f64>,
    /// Epoch (1-based) of the highest dev accuracy.
    pub best_dev_epoch: Option<u64>,
    /// The highest dev accuracy.
    pub best_dev_accuracy: Option<f64>,
    /// Test accuracy of the best dev epoch's model.
    pub best_dev_test_accuracy: Option<f64>,
    /// Stored parameters.
    pub params: u64,
    /// Parameters of the dense model of the same shapes.
    pub dense_params: u64,
    /// Share of regrown connections still present at the next evolution step, over the run
    /// (sparse runs that record it).
    pub regrowth_survival: Option<f64>,
    /// Training seconds.
    pub train_seconds: f64,
    /// The resolved configuration (`config.toml`).
    pub config: Value,
    /// Data files with size and SHA-256 (`manifest.json`).
    pub datasets: Value,
    /// Git revision of the binary that trained the run.
    pub git_revision: Option<String>,
    /// Per-epoch topology of a sparse run (`events.jsonl`; absent for dense runs and in lines
    /// collected before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<crate::trace::TopologyTrace>,
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Reads per-epoch dev and test accuracy from a `metrics.csv`
/// (`epoch,split,loss,accuracy,...`), in epoch order.
///
/// # Errors
/// A malformed header or row, naming the file and line.
pub fn read_epochs(path: &Path) -> Result<Vec<EpochRecord>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        bail!("{}:1: empty, expected a header", path.display());
    };
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .with_context(|| format!("{}:1: header lacks `{name}`", path.display()))
    };
    let (e_col, s_col, a_col) = (col("epoch")?, col("split")?, col("accuracy")?);
    let mut by_epoch: BTreeMap<u64, EpochRecord> = BTreeMap::new();
    for (i, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != cols.len() {
            bail!(
                "{}:{}: {} fields, expected {}",
                path.display(),
                i + 1,
                f.len(),
                cols.len()
            );
        }
        let epoch: u64 = f[e_col]
            .parse()
            .with_context(|| format!("{}:{}: bad epoch", path.display(), i + 1))?;
        let acc: f64 = f[a_col]
            .parse()
            .with_context(|| format!("{}:{}: bad accuracy", path.display(), i + 1))?;
        let e = by_epoch.entry(epoch).or_insert(EpochRecord {
            epoch,
            dev_accuracy: None,
            test_accuracy: None,
        });
        match f[s_col] {
            "dev" => e.dev_accuracy = Some(acc),
            "test" => e.test_accuracy = Some(acc),
            _ => {}
        }
    }
    Ok(by_epoch.into_values().collect())
}

/// Reads one run directory (`config.toml`, `summary.json`, `manifest.json`, `metrics.csv`, and
/// `events.jsonl` when present);
/// `key` is what the record calls it.
///
/// # Errors
/// A missing or malformed file, naming it.
pub fn read_record(dir: &Path, key: &str) -> Result<RunRecord> {
    let cfg_path = dir.join("config.toml");
    let cfg_text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("reading {}", cfg_path.display()))?;
    let cfg: toml::Table =
        toml::from_str(&cfg_text).with_context(|| format!("parsing {}", cfg_path.display()))?;
    let config = serde_json::to_value(&cfg)?;
    let summary = read_json(&dir.join("summary.json"))?;
    let manifest = read_json(&dir.join("manifest.json"))?;
    let f = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64);
    let u = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64);
    let dense = cfg.get("dense").and_then(toml::Value::as_bool) == Some(true);
    let model = if dense {
        "dense".to_string()
    } else {
        cfg.get("policy")
            .and_then(toml::Value::as_str)
            .unwrap_or("set")
            .to_string()
    };
    let int = |k: &str| cfg.get(k).and_then(toml::Value::as_integer);
    let seed = int("seed").with_context(|| format!("{}: no `seed`", cfg_path.display()))?;
    Ok(RunRecord {
        run: key.to_string(),
        data: cfg
            .get("data")
            .and_then(toml::Value::as_str)
            .unwrap_or("files")
            .to_string(),
        model,
        size: format!(
            "{}/{}",
            int("embed_dim").unwrap_or(0),
            int("hidden").unwrap_or(0)
        ),
        seed: seed as u64,
        split_seed: int("split_seed").map(|s| s as u64),
        epochs: read_epochs(&dir.join("metrics.csv"))?,
        final_dev_accuracy: f(&summary, "dev_accuracy"),
        final_test_accuracy: f(&summary, "test_accuracy"),
        best_dev_epoch: u(&summary, "best_dev_epoch"),
        best_dev_accuracy: f(&summary, "best_dev_accuracy"),
        best_dev_test_accuracy: f(&summary, "best_dev_test_accuracy"),
        params: u(&summary, "params").context("summary.json: no `params`")?,
        dense_params: u(&summary, "dense_params").context("summary.json: no `dense_params`")?,
        regrowth_survival: f(&summary, "regrowth_survival"),
        train_seconds: f(&summary, "train_seconds").unwrap_or(0.0),
        config,
        datasets: manifest.get("datasets").cloned().unwrap_or(Value::Null),
        git_revision: manifest
            .get("git_revision")
            .and_then(Value::as_str)
            .map(str::to_string),
        topology: crate::trace::read(&dir.join("events.jsonl"))?,
    })
}

/// Reads a record file (one [`RunRecord`] per line); an absent file is an empty record.
///
/// # Errors
/// A line that does not parse, naming it.
pub fn read_records(path: &Path) -> Result<Vec<RunRecord>> {
    read_json_lines(path)
}

/// Reads a file of one JSON object per line (blank lines skipped); an absent file is empty.
///
/// # Errors
/// An unreadable file, or a line that does not parse, naming it (`path:line`).
pub fn read_json_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), i + 1))
        })
        .collect()
}

/// The record file's text: one line per record, sorted by `run`.
pub fn render_records(records: &[RunRecord]) -> Result<String> {
    let mut sorted: Vec<&RunRecord> = records.iter().collect();
    sorted.sort_by(|a, b| a.run.cmp(&b.run));
    let mut out = String::new();
    for r in sorted {
        out.push_str(&serde_json::to_string(r)?);
        out.push('\n');
    }
    Ok(out)
}

/// Adds the finished runs under `paths` (run directories or folders of them) to the record
/// at `out`, replacing lines of the same run; returns how many runs were read.
///
/// # Errors
/// An unreadable run or record.
pub fn collect(paths: &[PathBuf], out: &Path) -> Result<usize> {
    let runs = read_runs(paths)?;
    let n = runs.len();
    let mut by_run: BTreeMap<String, RunRecord> = read_records(out)?
        .into_iter()
        .map(|r| (r.run.clone(), r))
        .collect();
    for r in runs {
        by_run.insert(r.run.clone(), r);
    }
    let records: Vec<RunRecord> = by_run.into_values().collect();
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, render_records(&records)?)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(n)
}

/// Reads the finished runs under `paths` (run directories or folders of them), each keyed by
/// its directory as given.
///
/// # Errors
/// An unreadable run, naming it.
pub fn read_runs(paths: &[PathBuf]) -> Result<Vec<RunRecord>> {
    crate::report::find_runs(paths)?
        .iter()
        .map(|d| {
            let key = d.to_string_lossy().trim_end_matches('/').to_string();
            read_record(d, &key).with_context(|| format!("run {}", d.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run directory as `set-lstm train` writes it (only the files the record reads).
    pub(crate) fn write_run(root: &Path, name: &str, seed: u64, dense: bool, accs: &[(f64, f64)]) {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("config.toml"),
            format!("data = \"uci\"\ndense = {dense}\npolicy = \"set\"\nembed_dim = 8\nhidden = 8\nlr = 0.01\nseed = {seed}\nsplit_seed = 42\n"),
        )
        .unwrap();
        let mut csv = String::from("epoch,split,loss,accuracy,nnz,density,seconds\n");
        for (i, (dev, test)) in accs.iter().enumerate() {
            csv.push_str(&format!("{},train,0.5,0.7,10,0.1,1.0\n", i + 1));
            csv.push_str(&format!("{},dev,0.5,{dev},10,0.1,1.0\n", i + 1));
            csv.push_str(&format!("{},test,0.5,{test},10,0.1,1.0\n", i + 1));
        }
        std::fs::write(d.join("metrics.csv"), csv).unwrap();
        let (best, _) =
            accs.iter().enumerate().fold(
                (0, f64::MIN),
                |(bi, b), (i, (dv, _))| if *dv > b { (i, *dv) } else { (bi, b) },
            );
        let last = accs.last().unwrap();
        std::fs::write(
            d.join("summary.json"),
            serde_json::json!({
                "test_accuracy": last.1, "dev_accuracy": last.0,
                "best_dev_epoch": best + 1, "best_dev_accuracy": accs[best].0,
                "best_dev_test_accuracy": accs[best].1,
                "params": if dense { 1000 } else { 50 }, "dense_params": 1000,
                "train_seconds": 2.0
            })
            .to_string(),
        )
        .unwrap();
        std::fs::write(
            d.join("manifest.json"),
            r#"{"git_revision":"abc","datasets":[{"path":"/d/uci/a.txt","bytes":3,"sha256":"00ff"}]}"#,
        )
        .unwrap();
    }

    #[test]
    fn collects_sorted_and_replaces_a_run_collected_again() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("runs");
        write_run(&root, "b", 2, false, &[(0.7, 0.6), (0.8, 0.75)]);
        write_run(&root, "a", 1, true, &[(0.9, 0.8), (0.85, 0.82)]);
        let out = tmp.path().join("results").join("runs.jsonl");
        assert_eq!(collect(std::slice::from_ref(&root), &out).unwrap(), 2);
        let recs = read_records(&out).unwrap();
        assert_eq!(recs.len(), 2);
        let a = &recs[0];
        assert!(a.run.ends_with("runs/a"), "{}", a.run);
        assert_eq!(
            (a.model.as_str(), a.size.as_str(), a.seed),
            ("dense", "8/8", 1)
        );
        assert_eq!(a.split_seed, Some(42));
        assert_eq!(a.best_dev_epoch, Some(1));
        assert_eq!(a.best_dev_test_accuracy, Some(0.8));
        assert_eq!(a.final_test_accuracy, Some(0.82));
        assert_eq!(a.epochs[1].dev_accuracy, Some(0.85));
        assert_eq!(a.datasets[0]["sha256"], "00ff");
        assert_eq!(recs[1].model, "set");
        // Collected again after the run changed: one line, the new figures.
        write_run(&root, "b", 2, false, &[(0.7, 0.6), (0.8, 0.7)]);
        collect(&[root.join("b")], &out).unwrap();
        let again = read_records(&out).unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(again[1].final_test_accuracy, Some(0.7));
        // The text round-trips byte for byte.
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(render_records(&again).unwrap(), text);
        // Lines already in the record keep their exact figures when another run is collected
        // (80 / 88 reads back one ulp off without serde_json's `float_roundtrip`).
        write_run(&root, "c", 3, false, &[(80.0 / 88.0, 0.5)]);
        collect(&[root.join("c")], &out).unwrap();
        write_run(&root, "d", 4, false, &[(0.5, 0.5)]);
        collect(&[root.join("d")], &out).unwrap();
        let c = read_records(&out)
            .unwrap()
            .into_iter()
            .find(|r| r.run.ends_with("runs/c"));
        assert_eq!(c.unwrap().best_dev_accuracy, Some(80.0 / 88.0));
    }
}
