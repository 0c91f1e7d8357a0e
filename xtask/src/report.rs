//! `cargo xtask report`: builds `docs/RESULTS.md` from run directories and benchmark JSON lines.
//!
//! A run directory is any folder holding `summary.json`, `config.toml` and `manifest.json`
//! (written by `set-lstm train`), found at any depth, e.g. the run directories of a
//! `set-lstm sweep` folder; folders without `summary.json` (unfinished runs) are skipped. Run
//! directories whose `config.toml` agree on every key except those in [`DUPLICATE_IGNORED`] are
//! the same experiment: only the first in path order is counted (see [`dedup`]) and the report
//! says how many were dropped.
//!
//! Runs are grouped by dataset, model (dense, or sparse with its policy, density setting and
//! new-weight initialisation) and size (a *base group*), and within those by every other
//! training setting whose value differs between the group's runs (zeta, epochs, dropout,
//! learning rate, ...: see [`VARIANT_IGNORED`] and [`variants`]), shown in a `settings` column;
//! each group reports the mean and sample standard deviation of test accuracy over its seeds.
//!
//! Where a base group has several variants, the one with the highest mean final-epoch dev
//! accuracy (`dev_accuracy` in `summary.json`) is chosen ([`chosen_variant`]); test accuracy
//! plays no part in the choice. The headline "Sparse vs dense" section compares, per dataset,
//! the chosen variant of SET-LSTM (policy `set`, default new-weight initialisation, default
//! density `eps=..`) with the chosen variant of the dense LSTM, at the final epoch and at each
//! run's best-dev epoch (test accuracy at the epoch of highest dev accuracy, read from
//! `metrics.csv`: [`test_at_best_dev`]).
//!
//! Benchmark files are JSON lines printed by `set-lstm bench` or `bench/pytorch_lstm.py`.
//! Nothing in the output is typed by hand.

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One finished training run.
#[derive(Debug, Clone)]
pub struct Run {
    /// Its directory.
    pub dir: PathBuf,
    /// Dataset name (or the train file).
    pub data: String,
    /// `dense`, or the evolution policy of a sparse model.
    pub model: String,
    /// Density setting: `eps=..`, `d=..` or `dense`.
    pub setting: String,
    /// `E/H`.
    pub size: String,
    /// Seed.
    pub seed: i64,
    /// Test accuracy (final epoch).
    pub test_accuracy: f64,
    /// Dev accuracy at the final epoch (`None` when the run has no dev split).
    pub dev_accuracy: Option<f64>,
    /// Test accuracy at the epoch of highest dev accuracy (earliest on ties), from
    /// `metrics.csv` (`None` without that file, without dev rows or without a test row there).
    pub test_at_best_dev: Option<f64>,
    /// Stored parameters.
    pub params: u64,
    /// Dense-equivalent parameters.
    pub dense_params: u64,
    /// Seconds of training per epoch.
    pub epoch_seconds: f64,
    /// Epochs.
    pub epochs: u64,
    /// Peak resident memory in bytes.
    pub peak_rss: u64,
    /// The command line that produced the run.
    pub command: String,
    /// Every `config.toml` key with its value as text (strings unquoted).
    pub config: BTreeMap<String, String>,
}

/// `config.toml` keys that never split a group into variants: the seed (aggregated over),
/// settings that do not change results or are machine-specific (`threads`, `data_dir`), and
/// those already in the group's dataset, model, setting and size columns.
pub const VARIANT_IGNORED: &[&str] = &[
    "seed",
    "threads",
    "data_dir",
    "data",
    "train",
    "dev",
    "test",
    "dense",
    "policy",
    "new_weight_std",
    "epsilon",
    "density",
    "embed_dim",
    "hidden",
];

/// `config.toml` keys that do not make two runs different experiments (see [`dedup`]).
pub const DUPLICATE_IGNORED: &[&str] = &["threads", "data_dir"];

impl Run {
    /// `params / dense_params`.
    pub fn density(&self) -> f64 {
        self.params as f64 / self.dense_params.max(1) as f64
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn num(v: &Value, key: &str, file: &Path) -> Result<f64> {
    v.get(key)
        .and_then(Value::as_f64)
        .with_context(|| format!("{}: missing number `{key}`", file.display()))
}

/// Test accuracy at the epoch of highest dev accuracy (the earliest such epoch on ties, as
/// `set-lstm train` records `best_dev_epoch`) from a `metrics.csv` with header
/// `epoch,split,loss,accuracy,...` and one row per epoch and split. `None` when the file does
/// not exist, has no dev rows, or has no test row at that epoch; rows of other splits are
/// ignored.
///
/// # Errors
/// An unreadable file, or a malformed header or row (wrong number of fields, an epoch or
/// accuracy that is not a number, a repeated epoch of a split), naming the file and line.
pub fn test_at_best_dev(path: &Path) -> Result<Option<f64>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        bail!("{}:1: empty, expected a header", path.display());
    };
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .with_context(|| format!("{}:1: header lacks `{name}`", path.display()))
    };
    let (epoch_col, split_col, acc_col) = (col("epoch")?, col("split")?, col("accuracy")?);
    let mut dev: BTreeMap<u64, f64> = BTreeMap::new();
    let mut test: BTreeMap<u64, f64> = BTreeMap::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != cols.len() {
            bail!("{}: {} fields, expected {}", at(), fields.len(), cols.len());
        }
        let epoch: u64 = fields[epoch_col]
            .parse()
            .with_context(|| format!("{}: epoch `{}` is not a number", at(), fields[epoch_col]))?;
        let acc: f64 = fields[acc_col]
            .parse()
            .with_context(|| format!("{}: accuracy `{}` is not a number", at(), fields[acc_col]))?;
        let split = match fields[split_col] {
            "dev" => &mut dev,
            "test" => &mut test,
            _ => continue,
        };
        if split.insert(epoch, acc).is_some() {
            bail!(
                "{}: repeats the {} row of epoch {epoch}",
                at(),
                fields[split_col]
            );
        }
    }
    let mut best: Option<(u64, f64)> = None;
    for (&epoch, &acc) in &dev {
        if !acc.is_nan() && best.is_none_or(|(_, b)| acc > b) {
            best = Some((epoch, acc));
        }
    }
    Ok(best.and_then(|(epoch, _)| test.get(&epoch).copied()))
}

/// Keeps the first run (in directory path order) of every distinct experiment: runs whose
/// `config.toml` agree on every key outside [`DUPLICATE_IGNORED`] (seed included) are the same
/// experiment. Returns the kept runs, sorted by directory, and `(dropped, kept)` directory
/// pairs for the repeats.
pub fn dedup(mut runs: Vec<Run>) -> (Vec<Run>, Vec<(PathBuf, PathBuf)>) {
    runs.sort_by(|a, b| a.dir.cmp(&b.dir));
    let mut first: BTreeMap<Vec<(String, String)>, PathBuf> = BTreeMap::new();
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for r in runs {
        let key: Vec<(String, String)> = r
            .config
            .iter()
            .filter(|(k, _)| !DUPLICATE_IGNORED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(dir) = first.get(&key) {
            dropped.push((r.dir.clone(), dir.clone()));
        } else {
            first.insert(key, r.dir.clone());
            kept.push(r);
        }
    }
    (kept, dropped)
}

/// Reads one run directory.
///
/// # Errors
/// A missing or malformed `summary.json`, `config.toml`, `manifest.json` or `metrics.csv`,
/// naming the file.
pub fn read_run(dir: &Path) -> Result<Run> {
    let summary_path = dir.join("summary.json");
    let summary = read_json(&summary_path)?;
    let manifest = read_json(&dir.join("manifest.json"))?;
    let config_path = dir.join("config.toml");
    let config: toml::Table = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?
        .parse()
        .with_context(|| format!("parsing {}", config_path.display()))?;
    let get = |k: &str| config.get(k);
    let dense = get("dense").and_then(toml::Value::as_bool).unwrap_or(false);
    let data = get("data")
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            get("train")
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "?".into());
    let policy = get("policy").and_then(toml::Value::as_str).unwrap_or("set");
    let init = get("new_weight_std")
        .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)));
    let model = if dense {
        "dense".to_string()
    } else {
        match init {
            Some(0.0) => format!("{policy} (new weights 0)"),
            Some(s) => format!("{policy} (new weights N(0, {s}))"),
            None => policy.to_string(),
        }
    };
    let setting = if dense {
        "dense".to_string()
    } else if let Some(d) = get("density").and_then(toml::Value::as_float) {
        format!("d={d}")
    } else if let Some(e) =
        get("epsilon").and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
    {
        format!("eps={e}")
    } else {
        "?".into()
    };
    let int = |k: &str| get(k).and_then(toml::Value::as_integer).unwrap_or(0);
    let config_text = config
        .iter()
        .map(|(k, v)| {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    let epochs = num(&summary, "epochs", &summary_path)? as u64;
    let command = manifest
        .get("command")
        .and_then(Value::as_array)
        .map(|a| {
            let mut args: Vec<String> = a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect();
            if let Some(first) = args.first_mut() {
                *first = "set-lstm".into();
            }
            args.join(" ")
        })
        .unwrap_or_default();
    Ok(Run {
        dir: dir.to_path_buf(),
        data,
        model,
        setting,
        size: format!("{}/{}", int("embed_dim"), int("hidden")),
        seed: int("seed"),
        test_accuracy: num(&summary, "test_accuracy", &summary_path)?,
        dev_accuracy: match summary.get("dev_accuracy") {
            None | Some(Value::Null) => None,
            Some(_) => Some(num(&summary, "dev_accuracy", &summary_path)?),
        },
        test_at_best_dev: test_at_best_dev(&dir.join("metrics.csv"))?,
        params: num(&summary, "params", &summary_path)? as u64,
        dense_params: num(&summary, "dense_params", &summary_path)? as u64,
        epoch_seconds: num(&summary, "train_seconds", &summary_path)? / epochs.max(1) as f64,
        epochs,
        peak_rss: summary
            .get("peak_rss_bytes")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        command,
        config: config_text,
    })
}

/// For each run, the settings (outside [`VARIANT_IGNORED`]) whose values differ between the
/// runs of its dataset/model/setting/size group, as `key=value` joined by `, ` (empty when the
/// group's runs agree on everything): runs of a sweep over zeta, epochs, dropout, ... land in
/// separate groups, while settings shared by a whole group are not repeated.
pub fn variants(runs: &[Run]) -> Vec<String> {
    let base = |r: &Run| {
        (
            r.data.clone(),
            r.model.clone(),
            r.setting.clone(),
            r.size.clone(),
        )
    };
    let mut groups: BTreeMap<_, Vec<usize>> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        groups.entry(base(r)).or_default().push(i);
    }
    let mut out = vec![String::new(); runs.len()];
    for members in groups.values() {
        let mut keys: Vec<&String> = members
            .iter()
            .flat_map(|&i| runs[i].config.keys())
            .filter(|k| !VARIANT_IGNORED.contains(&k.as_str()))
            .collect();
        keys.sort();
        keys.dedup();
        let value = |i: usize, k: &str| runs[i].config.get(k).map_or("–", String::as_str);
        let varying: Vec<&String> = keys
            .into_iter()
            .filter(|k| members.iter().any(|&i| value(i, k) != value(members[0], k)))
            .collect();
        for &i in members {
            out[i] = varying
                .iter()
                .map(|k| format!("{k}={}", value(i, k)))
                .collect::<Vec<_>>()
                .join(", ");
        }
    }
    out
}

/// Finds run directories under `paths` (each a run directory or a folder of them, recursively).
///
/// # Errors
/// A given path that does not exist (a typo would otherwise find no runs without a word), or an
/// unreadable folder.
pub fn find_runs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        bail!("{}: no such file or folder", missing.display());
    }
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        if p.join("summary.json").is_file() {
            found.push(p);
        } else if p.is_dir() {
            for e in std::fs::read_dir(&p).with_context(|| format!("listing {}", p.display()))? {
                let e = e?.path();
                if e.is_dir() {
                    stack.push(e);
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n.max(1.0);
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Dataset, model, density setting and size of a run: its base group.
pub type Base = (String, String, String, String);

/// Runs by base group and then by variant (see [`variants`]), both in sort order.
pub fn grouped(runs: &[Run]) -> BTreeMap<Base, BTreeMap<String, Vec<&Run>>> {
    let mut out: BTreeMap<Base, BTreeMap<String, Vec<&Run>>> = BTreeMap::new();
    for (r, variant) in runs.iter().zip(variants(runs)) {
        out.entry((
            r.data.clone(),
            r.model.clone(),
            r.setting.clone(),
            r.size.clone(),
        ))
        .or_default()
        .entry(variant)
        .or_default()
        .push(r);
    }
    out
}

/// Mean, sample std and count of the values `f` gives for `rs`, leaving out runs where it
/// gives `None`; `None` when it gives none.
fn stats(rs: &[&Run], f: impl Fn(&Run) -> Option<f64>) -> Option<(f64, f64, usize)> {
    let xs: Vec<f64> = rs.iter().filter_map(|r| f(r)).collect();
    if xs.is_empty() {
        return None;
    }
    let (m, s) = mean_std(&xs);
    Some((m, s, xs.len()))
}

/// The variant of a base group chosen on the dev split: the only one, or else the one with
/// the highest mean final-epoch dev accuracy over its seeds (ties: the first in sort order);
/// `None` when there are several and none has a dev accuracy. Test accuracy plays no part.
pub fn chosen_variant<'a>(variants: &'a BTreeMap<String, Vec<&Run>>) -> Option<&'a str> {
    if variants.len() == 1 {
        return variants.keys().next().map(String::as_str);
    }
    let mut best: Option<(&str, f64)> = None;
    for (variant, rs) in variants {
        if let Some((dev, _, _)) = stats(rs, |r| r.dev_accuracy)
            && best.is_none_or(|(_, b)| dev > b)
        {
            best = Some((variant, dev));
        }
    }
    best.map(|(v, _)| v)
}

/// The grid of settings a set of runs was trained over, restricted to `keys`: the distinct
/// `key=value` combinations.
fn grid(rs: &[&Run], keys: &BTreeSet<&str>) -> BTreeSet<Vec<String>> {
    rs.iter()
        .map(|r| {
            keys.iter()
                .map(|k| format!("{k}={}", r.config.get(*k).map_or("–", String::as_str)))
                .collect()
        })
        .collect()
}

/// Whether two sets of runs were trained over the same grid of settings: the same
/// combinations of values of every `config.toml` key outside [`VARIANT_IGNORED`] whose value
/// is not the same in all their runs.
fn same_grid(a: &[&Run], b: &[&Run]) -> bool {
    let all: Vec<&Run> = a.iter().chain(b).copied().collect();
    let keys: BTreeSet<&str> = all
        .iter()
        .flat_map(|r| r.config.keys())
        .map(String::as_str)
        .filter(|k| !VARIANT_IGNORED.contains(k))
        .filter(|k| {
            let value = |r: &Run| r.config.get(*k).cloned();
            all.iter().any(|r| value(r) != value(all[0]))
        })
        .collect();
    grid(a, &keys) == grid(b, &keys)
}

/// Whether two runs agree on every `config.toml` key outside [`VARIANT_IGNORED`].
fn same_settings(a: &Run, b: &Run) -> bool {
    a.config
        .keys()
        .chain(b.config.keys())
        .filter(|k| !VARIANT_IGNORED.contains(&k.as_str()))
        .all(|k| a.config.get(k) == b.config.get(k))
}

/// `mean ± std`, with the count when only `n` of `of` runs gave a value.
fn pm(stat: Option<(f64, f64, usize)>, of: usize) -> String {
    match stat {
        None => "–".into(),
        Some((m, s, n)) if n < of => format!("{m:.4} ± {s:.4} ({n} of {of} runs)"),
        Some((m, s, _)) => format!("{m:.4} ± {s:.4}"),
    }
}

fn seeds_word(n: usize) -> &'static str {
    if n == 1 { "seed" } else { "seeds" }
}

/// One benchmark line (`set-lstm bench` or `bench/pytorch_lstm.py`).
#[derive(Debug, Clone)]
pub struct BenchLine {
    /// Implementation label.
    pub label: String,
    /// The JSON object.
    pub value: Value,
}

fn read_bench(path: &Path) -> Result<Vec<BenchLine>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        if value.get("train_ms_per_step").is_none() {
            bail!(
                "{}:{}: not a benchmark line (no train_ms_per_step)",
                path.display(),
                i + 1
            );
        }
        let ours = matches!(
            value.get("impl").and_then(Value::as_str),
            None | Some("set-lstm")
        );
        let label = if !ours {
            value
                .get("impl")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        } else if value.get("dense").and_then(Value::as_bool) == Some(true) {
            "set-lstm dense".into()
        } else {
            format!(
                "set-lstm d={}",
                value
                    .get("density")
                    .map(Value::to_string)
                    .unwrap_or_default()
            )
        };
        out.push(BenchLine { label, value });
    }
    Ok(out)
}

fn field(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::Number(n)) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if x >= 1000.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.1}")
            }
        }
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => "–".into(),
    }
}

/// Renders the report; also writes `results_accuracy_vs_density.svg` next to `out` when a
/// dataset has runs at several densities. `runs` are distinct experiments (see [`dedup`]);
/// `duplicates` the `(dropped, kept)` run directories that repeated one of them.
///
/// # Errors
/// Unreadable inputs (named) or an unwritable plot.
pub fn render(
    runs: &[Run],
    duplicates: &[(PathBuf, PathBuf)],
    bench: &[BenchLine],
    invocation: &str,
    out: &Path,
) -> Result<String> {
    let mut md = String::new();
    writeln!(md, "# Results\n")?;
    let dirs = if duplicates.is_empty() {
        format!("{} run directories", runs.len())
    } else {
        format!(
            "{} run directories ({} distinct runs)",
            runs.len() + duplicates.len(),
            runs.len()
        )
    };
    writeln!(
        md,
        "Generated by `{invocation}` from {dirs} and {} benchmark lines. Do not edit by hand: re-run the command. `bash bench/results.sh` produces the run directories (each run's command is listed below); the benchmark lines come from `set-lstm bench` and `bench/pytorch_lstm.py` (commands in docs/PERFORMANCE.md).\n",
        bench.len()
    )?;
    if !duplicates.is_empty() {
        const SHOWN: usize = 3;
        let n = duplicates.len();
        let list: Vec<String> = duplicates
            .iter()
            .take(SHOWN)
            .map(|(d, k)| format!("`{}` (= `{}`)", d.display(), k.display()))
            .collect();
        let more = if n > SHOWN {
            format!(" and {} more", n - SHOWN)
        } else {
            String::new()
        };
        let (who, be) = if n == 1 {
            ("run directory repeats", "is")
        } else {
            ("run directories repeat", "are")
        };
        writeln!(
            md,
            "{n} {who} another run's configuration (every `config.toml` key but {}) and {be} counted once: {}{more}.\n",
            DUPLICATE_IGNORED
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(" and "),
            list.join(", ")
        )?;
    }
    let by_base = grouped(runs);
    type Key = (String, String, String, String, String);
    let mut groups: BTreeMap<Key, Vec<&Run>> = BTreeMap::new();
    for ((data, model, setting, size), vs) in &by_base {
        for (variant, rs) in vs {
            groups.insert(
                (
                    data.clone(),
                    model.clone(),
                    setting.clone(),
                    size.clone(),
                    variant.clone(),
                ),
                rs.clone(),
            );
        }
    }
    let pairs = sparse_dense_pairs(&by_base);
    sparse_vs_dense(&mut md, &pairs)?;
    dev_selection(&mut md, &by_base, &pairs)?;
    // The `settings` column only when some group has settings of its own.
    let any_variant = groups.keys().any(|k| !k.4.is_empty());
    let (settings_head, settings_rule) = if any_variant {
        (" settings |", "---|")
    } else {
        ("", "")
    };
    if !runs.is_empty() {
        writeln!(md, "## Accuracy, size, time and memory\n")?;
        writeln!(
            md,
            "Test accuracy is mean ± sample std over seeds. Parameters are stored values; density is parameters / dense-equivalent parameters. Time is training seconds per epoch (mean); RSS is the largest peak resident set of the group.\n"
        )?;
        writeln!(
            md,
            "| dataset | model | setting | E/H |{settings_head} seeds | test accuracy | params | density | s / epoch | peak RSS (MiB) |"
        )?;
        writeln!(
            md,
            "|---|---|---|---|{settings_rule}---:|---:|---:|---:|---:|---:|"
        )?;
        for ((data, model, setting, size, variant), rs) in &groups {
            let accs: Vec<f64> = rs.iter().map(|r| r.test_accuracy).collect();
            let (m, s) = mean_std(&accs);
            let secs = mean_std(&rs.iter().map(|r| r.epoch_seconds).collect::<Vec<_>>()).0;
            let rss = rs.iter().map(|r| r.peak_rss).max().unwrap_or(0) as f64 / (1 << 20) as f64;
            let settings = if any_variant {
                format!(" {} |", if variant.is_empty() { "–" } else { variant })
            } else {
                String::new()
            };
            writeln!(
                md,
                "| {data} | {model} | {setting} | {size} |{settings} {} | {m:.4} ± {s:.4} | {} | {:.2} % | {secs:.1} | {rss:.0} |",
                rs.len(),
                rs[0].params,
                100.0 * rs[0].density()
            )?;
        }
        writeln!(md, "\n### Commands\n")?;
        for ((data, model, setting, size, variant), rs) in &groups {
            let seeds: Vec<String> = rs.iter().map(|r| r.seed.to_string()).collect();
            let variant = if variant.is_empty() {
                String::new()
            } else {
                format!(", {variant}")
            };
            writeln!(
                md,
                "- {data}, {model}, {setting}, {size}{variant} (seeds {}): `{}`",
                seeds.join(", "),
                rs[0].command
            )?;
        }
        // Accuracy vs density per dataset, where there are several densities.
        let mut curves: BTreeMap<String, Vec<(f64, f64, f64)>> = BTreeMap::new();
        // The curve: sparse runs with an explicit uniform density (`--density`), plus the dense
        // runs trained with the same settings (whatever dense variants exist besides).
        // One curve per dataset and variant (e.g. `uci (zeta=0.5)`).
        let mut reference: BTreeMap<String, &Run> = BTreeMap::new();
        for ((data, _, setting, _, variant), rs) in &groups {
            if !setting.starts_with("d=") {
                continue;
            }
            let (m, s) = mean_std(&rs.iter().map(|r| r.test_accuracy).collect::<Vec<_>>());
            let curve = if variant.is_empty() {
                data.clone()
            } else {
                format!("{data} ({variant})")
            };
            reference.entry(curve.clone()).or_insert(rs[0]);
            curves
                .entry(curve)
                .or_default()
                .push((rs[0].density(), m, s));
        }
        for (curve, like) in &reference {
            let dense: Vec<f64> = runs
                .iter()
                .filter(|r| {
                    r.model == "dense"
                        && r.data == like.data
                        && r.size == like.size
                        && same_settings(r, like)
                })
                .map(|r| r.test_accuracy)
                .collect();
            if !dense.is_empty() {
                let (m, s) = mean_std(&dense);
                if let Some(pts) = curves.get_mut(curve) {
                    pts.push((1.0, m, s));
                }
            }
        }
        curves.retain(|_, pts| pts.len() >= 3);
        if !curves.is_empty() {
            let plot = out.with_file_name("results_accuracy_vs_density.svg");
            plot_curves(&curves, &plot)?;
            writeln!(md, "\n## Accuracy vs density\n")?;
            writeln!(
                md,
                "![accuracy vs density]({})\n",
                plot.file_name()
                    .and_then(|f| f.to_str())
                    .unwrap_or_default()
            )?;
            writeln!(
                md,
                "Sparse runs trained with `--density d` (uniform density for the embedding and LSTM matrices), and the dense model trained with the same settings.\n"
            )?;
            writeln!(md, "| dataset | density | test accuracy |")?;
            writeln!(md, "|---|---:|---:|")?;
            for (data, pts) in &mut curves {
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                for (d, m, s) in pts.iter() {
                    writeln!(md, "| {data} | {:.2} % | {m:.4} ± {s:.4} |", 100.0 * d)?;
                }
            }
        }
    }
    if !bench.is_empty() {
        writeln!(md, "\n## Training-step speed\n")?;
        writeln!(
            md,
            "Medians printed by `set-lstm bench` and `bench/pytorch_lstm.py` (same shapes, same machine).\n"
        )?;
        writeln!(
            md,
            "| implementation | threads | V | E | H | B | T | train ms/step | infer ms/batch | train tokens/s | params |"
        )?;
        writeln!(
            md,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        )?;
        for b in bench {
            let v = &b.value;
            writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                b.label,
                field(v, "threads"),
                field(v, "vocab_size"),
                field(v, "embed_dim"),
                field(v, "hidden"),
                field(v, "batch_size"),
                field(v, "seq_len"),
                field(v, "train_ms_per_step"),
                field(v, "infer_ms_per_batch"),
                field(v, "train_tokens_per_s"),
                field(v, "params")
            )?;
        }
    }
    Ok(md)
}

/// A SET-LSTM base group (policy `set`, default new-weight initialisation, default density
/// `eps=..`) and the dense base group of the same dataset and size.
struct Pair<'a> {
    data: &'a str,
    setting: &'a str,
    size: &'a str,
    sparse: &'a BTreeMap<String, Vec<&'a Run>>,
    dense: &'a BTreeMap<String, Vec<&'a Run>>,
}

fn sparse_dense_pairs<'a>(
    by_base: &'a BTreeMap<Base, BTreeMap<String, Vec<&'a Run>>>,
) -> Vec<Pair<'a>> {
    let mut pairs = Vec::new();
    for ((data, model, setting, size), sparse) in by_base {
        if model != "set" || !setting.starts_with("eps=") {
            continue;
        }
        let dense_key = (data.clone(), "dense".into(), "dense".into(), size.clone());
        if let Some(dense) = by_base.get(&dense_key) {
            pairs.push(Pair {
                data,
                setting,
                size,
                sparse,
                dense,
            });
        }
    }
    pairs
}

fn all_runs<'a>(variants: &BTreeMap<String, Vec<&'a Run>>) -> Vec<&'a Run> {
    variants.values().flatten().copied().collect()
}

/// `settings (best dev of n)` for a chosen variant.
fn chosen_cell(variant: &str, of: usize) -> String {
    let v = if variant.is_empty() { "–" } else { variant };
    if of == 1 {
        format!("{v} (only setting)")
    } else {
        format!("{v} (best dev of {of})")
    }
}

/// The headline "Sparse vs dense" section (nothing when no dataset has both models).
fn sparse_vs_dense(md: &mut String, pairs: &[Pair]) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let mut per_data: BTreeMap<&str, usize> = BTreeMap::new();
    for p in pairs {
        *per_data.entry(p.data).or_default() += 1;
    }
    let several = per_data.values().any(|&n| n > 1);
    writeln!(md, "## Sparse vs dense\n")?;
    let mut rows = String::new();
    writeln!(
        md,
        "SET-LSTM (policy `set`, default new-weight initialisation, density from the default ε) against the dense LSTM of the same size, on every dataset with both. Each model uses its setting chosen on the dev split (see \"Settings chosen on the dev split\"; the only one when it was trained with one). Test accuracy is mean ± sample std over seeds at the final epoch; \"at best-dev epoch\" is each run's test accuracy at its epoch of highest dev accuracy (from `metrics.csv`), averaged the same way. Δ is SET-LSTM − dense.\n"
    )?;
    writeln!(
        rows,
        "| dataset | SET-LSTM test accuracy | dense test accuracy | Δ | SET-LSTM at best-dev epoch | dense at best-dev epoch | Δ | SET-LSTM settings | dense settings |"
    )?;
    writeln!(rows, "|---|---:|---:|---:|---:|---:|---:|---|---|")?;
    let (mut n, mut k, mut n2, mut k2) = (0, 0, 0, 0);
    let mut unchosen = Vec::new();
    for p in pairs {
        let label = if per_data[p.data] > 1 {
            format!("{} ({}, {})", p.data, p.setting, p.size)
        } else {
            p.data.to_string()
        };
        let (Some(sv), Some(dv)) = (chosen_variant(p.sparse), chosen_variant(p.dense)) else {
            unchosen.push(label);
            continue;
        };
        let (srs, drs) = (&p.sparse[sv], &p.dense[dv]);
        let test = |rs: &[&Run]| stats(rs, |r| Some(r.test_accuracy));
        let best = |rs: &[&Run]| stats(rs, |r| r.test_at_best_dev);
        let (st, dt) = (test(srs), test(drs));
        let (sb, db) = (best(srs), best(drs));
        // Means of accuracies over the same test set can tie exactly; summation order must
        // not decide `≥`.
        let delta = |a: Option<(f64, f64, usize)>, b: Option<(f64, f64, usize)>| match (a, b) {
            (Some(a), Some(b)) if (a.0 - b.0).abs() < 1e-9 => Some(0.0),
            (Some(a), Some(b)) => Some(a.0 - b.0),
            _ => None,
        };
        let fmt_delta = |d: Option<f64>| d.map_or("–".into(), |d| format!("{d:+.4}"));
        let (d_final, d_best) = (delta(st, dt), delta(sb, db));
        if let Some(d) = d_final {
            n += 1;
            k += usize::from(d >= 0.0);
        }
        if let Some(d) = d_best {
            n2 += 1;
            k2 += usize::from(d >= 0.0);
        }
        writeln!(
            rows,
            "| {label} | {} ({} {}, {:.2} %) | {} ({} {}) | {} | {} | {} | {} | {} | {} |",
            pm(st, srs.len()),
            srs.len(),
            seeds_word(srs.len()),
            100.0 * srs[0].density(),
            pm(dt, drs.len()),
            drs.len(),
            seeds_word(drs.len()),
            fmt_delta(d_final),
            pm(sb, srs.len()),
            pm(db, drs.len()),
            fmt_delta(d_best),
            chosen_cell(sv, p.sparse.len()),
            chosen_cell(dv, p.dense.len()),
        )?;
    }
    if unchosen.len() < pairs.len() {
        let what = if several { "comparisons" } else { "datasets" };
        writeln!(
            md,
            "{rows}\nSET-LSTM ≥ dense on {k} of {n} {what} (final epoch); {k2} of {n2} at the best-dev epoch.\n"
        )?;
    }
    if !unchosen.is_empty() {
        writeln!(
            md,
            "Left out (several settings but no dev accuracy to choose with): {}.\n",
            unchosen.join(", ")
        )?;
    }
    Ok(())
}

/// The "Settings chosen on the dev split" section (nothing when no base group has several
/// variants).
fn dev_selection(
    md: &mut String,
    by_base: &BTreeMap<Base, BTreeMap<String, Vec<&Run>>>,
    pairs: &[Pair],
) -> Result<()> {
    if by_base.values().all(|vs| vs.len() < 2) {
        return Ok(());
    }
    writeln!(md, "## Settings chosen on the dev split\n")?;
    let (same, differ): (Vec<&Pair>, Vec<&Pair>) = pairs
        .iter()
        .partition(|p| same_grid(&all_runs(p.sparse), &all_runs(p.dense)));
    let name = |p: &Pair| {
        if pairs.iter().filter(|q| q.data == p.data).count() > 1 {
            format!("{} ({}, {})", p.data, p.setting, p.size)
        } else {
            p.data.to_string()
        }
    };
    let names = |ps: &[&Pair]| ps.iter().map(|p| name(p)).collect::<Vec<_>>().join(", ");
    let grid_clause = match (same.is_empty(), differ.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(
            ", and SET-LSTM and the dense LSTM are chosen from the same grid of settings on every dataset with both ({})",
            names(&same)
        ),
        _ => {
            let differ_list = differ
                .iter()
                .map(|p| {
                    format!(
                        "{}: SET-LSTM {} settings, dense {}",
                        name(p),
                        p.sparse.len(),
                        p.dense.len()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            if same.is_empty() {
                format!(
                    ", but SET-LSTM and the dense LSTM were not trained over the same grid of settings ({differ_list})"
                )
            } else {
                format!(
                    "; SET-LSTM and the dense LSTM are chosen from the same grid of settings on {}, but not on {differ_list}",
                    names(&same)
                )
            }
        }
    };
    writeln!(
        md,
        "For every model trained with several settings, the setting with the highest mean final-epoch dev accuracy over its seeds is chosen (✓; ties: the first row), so the choice uses only dev accuracy, never test accuracy{grid_clause}.\n"
    )?;
    for ((data, model, setting, size), vs) in by_base {
        if vs.len() < 2 {
            continue;
        }
        let chosen = chosen_variant(vs);
        writeln!(md, "### {data}, {model}, {setting}, {size}\n")?;
        writeln!(
            md,
            "| settings | seeds | dev accuracy (final epoch) | test accuracy | test at best-dev epoch | chosen |"
        )?;
        writeln!(md, "|---|---:|---:|---:|---:|:---:|")?;
        for (variant, rs) in vs {
            writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                if variant.is_empty() { "–" } else { variant },
                rs.len(),
                pm(stats(rs, |r| r.dev_accuracy), rs.len()),
                pm(stats(rs, |r| Some(r.test_accuracy)), rs.len()),
                pm(stats(rs, |r| r.test_at_best_dev), rs.len()),
                if chosen == Some(variant.as_str()) {
                    "✓"
                } else {
                    ""
                }
            )?;
        }
        writeln!(md)?;
    }
    Ok(())
}

fn plot_curves(curves: &BTreeMap<String, Vec<(f64, f64, f64)>>, path: &Path) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 420)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        let (lo, hi) = curves
            .values()
            .flatten()
            .fold((1.0f64, 0.0f64), |(lo, hi), p| {
                (lo.min(p.1 - p.2), hi.max(p.1 + p.2))
            });
        let mut chart = ChartBuilder::on(&root)
            .caption("test accuracy vs density", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(
                (0.005f64..1.0f64).log_scale(),
                (lo - 0.02)..(hi + 0.02).min(1.0),
            )
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        chart
            .configure_mesh()
            .x_desc("density (stored / dense parameters)")
            .y_desc("test accuracy")
            .draw()
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        for (i, (name, pts)) in curves.iter().enumerate() {
            let mut pts = pts.clone();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))
                .map_err(|e| anyhow::anyhow!("plot: {e}"))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p.0, p.1), 3, color.filled())),
                )
                .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    }
    std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))
}

/// Reads every run and benchmark file and writes the report to `out`.
///
/// # Errors
/// Unreadable or malformed inputs, named; nothing found at all.
pub fn generate(
    paths: &[PathBuf],
    bench_files: &[PathBuf],
    out: &Path,
    invocation: &str,
) -> Result<()> {
    let dirs = find_runs(paths)?;
    let runs: Vec<Run> = dirs.iter().map(|d| read_run(d)).collect::<Result<_>>()?;
    let (runs, duplicates) = dedup(runs);
    let mut bench = Vec::new();
    for f in bench_files {
        bench.extend(read_bench(f)?);
    }
    if runs.is_empty() && bench.is_empty() {
        bail!("no run directories (with summary.json) or benchmark lines found");
    }
    let mut md = render(&runs, &duplicates, &bench, invocation, out)?;
    // The paired-study section comes from the committed record, not from run directories:
    // keep it.
    if let Some(section) = std::fs::read_to_string(out)
        .ok()
        .as_deref()
        .and_then(|d| crate::study::SECTION.extract(d))
    {
        md = crate::study::SECTION.splice(&md, section)?;
    }
    std::fs::write(out, md).with_context(|| format!("writing {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_run(root: &Path, name: &str, seed: i64, acc: f64, dense: bool, eps: f64) -> PathBuf {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("summary.json"), format!(r#"{{"test_accuracy":{acc},"params":{},"dense_params":1000,"train_seconds":10.0,"epochs":5,"peak_rss_bytes":1048576}}"#, if dense { 1000 } else { 40 })).unwrap();
        std::fs::write(
            d.join("manifest.json"),
            r#"{"command":["target/release/set-lstm","train","--data","uci"]}"#,
        )
        .unwrap();
        std::fs::write(d.join("config.toml"), format!("data = \"uci\"\ndense = {dense}\npolicy = \"set\"\nepsilon = {eps:?}\nembed_dim = 8\nhidden = 8\nseed = {seed}\n")).unwrap();
        d
    }

    #[test]
    fn groups_seeds_and_reports_mean_and_std() {
        let tmp = tempfile::tempdir().unwrap();
        write_run(tmp.path(), "a", 1, 0.80, false, 5.0);
        write_run(tmp.path(), "b", 2, 0.84, false, 5.0);
        write_run(tmp.path(), "c", 1, 0.79, true, 5.0);
        let out = tmp.path().join("RESULTS.md");
        generate(
            &[tmp.path().to_path_buf()],
            &[],
            &out,
            "cargo xtask report test",
        )
        .unwrap();
        let md = std::fs::read_to_string(&out).unwrap();
        assert!(
            md.contains(
                "| uci | set | eps=5 | 8/8 | 2 | 0.8200 ± 0.0283 | 40 | 4.00 % | 2.0 | 1 |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| uci | dense | dense | 8/8 | 1 | 0.7900 ± 0.0000 | 1000 | 100.00 % |"),
            "{md}"
        );
        assert!(md.contains("`set-lstm train --data uci`"));
    }

    #[test]
    fn sweep_folders_are_found_and_settings_that_differ_split_groups() {
        let tmp = tempfile::tempdir().unwrap();
        // A `set-lstm sweep` folder: configs/, logs/ and runs.txt beside the run directories.
        let sweep = tmp.path().join("runs").join("sweep-g");
        std::fs::create_dir_all(sweep.join("configs")).unwrap();
        std::fs::create_dir_all(sweep.join("logs")).unwrap();
        std::fs::write(sweep.join("runs.txt"), "seed-1_zeta-0.3\n").unwrap();
        std::fs::write(sweep.join("configs/seed-1_zeta-0.3.toml"), "zeta = 0.3\n").unwrap();
        let add = |d: &Path, extra: &str| {
            let cfg = std::fs::read_to_string(d.join("config.toml")).unwrap();
            std::fs::write(d.join("config.toml"), format!("{cfg}{extra}")).unwrap();
        };
        for (zeta, seed, acc) in [
            (0.3, 1, 0.80),
            (0.3, 2, 0.82),
            (0.5, 1, 0.70),
            (0.5, 2, 0.74),
        ] {
            let d = write_run(
                &sweep,
                &format!("seed-{seed}_zeta-{zeta}"),
                seed,
                acc,
                false,
                5.0,
            );
            // threads and data_dir differ between runs too, but never split a group.
            add(
                &d,
                &format!("zeta = {zeta}\nepochs = 5\nthreads = {seed}\ndata_dir = \"/m{seed}\"\n"),
            );
        }
        // Another model group in which only epochs differ.
        for (seed, epochs) in [(1, 5), (2, 10)] {
            let d = write_run(&sweep, &format!("dense-{seed}"), seed, 0.9, true, 5.0);
            add(&d, &format!("zeta = 0.3\nepochs = {epochs}\n"));
        }
        assert_eq!(find_runs(&[tmp.path().join("runs")]).unwrap().len(), 6);
        let e = find_runs(&[tmp.path().join("runs"), tmp.path().join("nuns")]).unwrap_err();
        assert!(
            e.to_string().contains("nuns: no such file or folder"),
            "{e}"
        );
        let out = tmp.path().join("RESULTS.md");
        generate(&[tmp.path().join("runs")], &[], &out, "x").unwrap();
        let md = std::fs::read_to_string(&out).unwrap();
        for row in [
            "| dataset | model | setting | E/H | settings | seeds |",
            "| uci | set | eps=5 | 8/8 | zeta=0.3 | 2 | 0.8100 ± 0.0141 |",
            "| uci | set | eps=5 | 8/8 | zeta=0.5 | 2 | 0.7200 ± 0.0283 |",
            "| uci | dense | dense | 8/8 | epochs=10 | 1 | 0.9000 ± 0.0000 |",
            "| uci | dense | dense | 8/8 | epochs=5 | 1 | 0.9000 ± 0.0000 |",
            "- uci, set, eps=5, 8/8, zeta=0.5 (seeds 1, 2)",
        ] {
            assert!(md.contains(row), "report lacks {row:?}:\n{md}");
        }
        for absent in ["threads=", "data_dir=", "seed=", "epochs=5, zeta"] {
            assert!(!md.contains(absent), "report shows {absent:?}:\n{md}");
        }
    }

    #[test]
    fn malformed_inputs_are_named_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let d = write_run(tmp.path(), "a", 1, 0.8, false, 5.0);
        std::fs::write(d.join("summary.json"), "{").unwrap();
        let err = generate(
            &[tmp.path().to_path_buf()],
            &[],
            &tmp.path().join("R.md"),
            "x",
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("summary.json"), "{err:#}");
        let empty = tempfile::tempdir().unwrap();
        assert!(
            generate(
                &[empty.path().to_path_buf()],
                &[],
                &empty.path().join("R.md"),
                "x"
            )
            .is_err()
        );
        let bench = empty.path().join("b.jsonl");
        std::fs::write(&bench, "{\"x\":1}\n").unwrap();
        let err = generate(&[], &[bench], &empty.path().join("R.md"), "x").unwrap_err();
        assert!(format!("{err:#}").contains("b.jsonl:1"), "{err:#}");
    }

    #[test]
    fn bench_lines_are_labelled_and_rounded() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("b.jsonl");
        std::fs::write(&f, concat!(
            r#"{"impl":"set-lstm","threads":2,"embed_dim":8,"hidden":8,"density":0.04,"dense":false,"train_ms_per_step":12.345,"infer_ms_per_batch":1.0,"train_tokens_per_s":123456.7,"params":10}"#, "\n",
            r#"{"impl":"set-lstm","dense":true,"density":1.0,"train_ms_per_step":50.0}"#, "\n",
            r#"{"impl":"pytorch","train_ms_per_step":99.99}"#, "\n",
        )).unwrap();
        let out = tmp.path().join("R.md");
        generate(&[], &[f], &out, "x").unwrap();
        let md = std::fs::read_to_string(out).unwrap();
        assert!(
            md.contains("| set-lstm d=0.04 | 2 | – | 8 | 8 | – | – | 12.3 | 1.0 | 123457 | 10 |"),
            "{md}"
        );
        assert!(
            md.contains("| set-lstm dense |") && md.contains("| pytorch |"),
            "{md}"
        );
    }

    /// Appends `extra` to a run's `config.toml`.
    fn add_config(d: &Path, extra: &str) {
        let cfg = std::fs::read_to_string(d.join("config.toml")).unwrap();
        std::fs::write(d.join("config.toml"), format!("{cfg}{extra}")).unwrap();
    }

    /// Sets `dev_accuracy` in a run's `summary.json` (`None`: JSON null).
    fn set_dev(d: &Path, dev: Option<f64>) {
        let path = d.join("summary.json");
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        v["dev_accuracy"] = dev.map_or(Value::Null, Value::from);
        std::fs::write(path, v.to_string()).unwrap();
    }

    /// Writes `metrics.csv` with one train, dev and test row per `(dev, test)` epoch.
    fn write_metrics(d: &Path, epochs: &[(f64, f64)]) {
        let mut text = String::from("epoch,split,loss,accuracy,nnz,density,seconds\n");
        for (i, (dev, test)) in epochs.iter().enumerate() {
            let e = i + 1;
            text.push_str(&format!("{e},train,0.5,0.6,40,0.04,1.0\n"));
            text.push_str(&format!("{e},dev,0.5,{dev},40,0.04,1.0\n"));
            text.push_str(&format!("{e},test,0.5,{test},40,0.04,1.0\n"));
        }
        std::fs::write(d.join("metrics.csv"), text).unwrap();
    }

    #[test]
    fn repeated_configurations_are_counted_once() {
        let tmp = tempfile::tempdir().unwrap();
        let results = tmp.path().join("results");
        let select = tmp.path().join("select");
        let kept = write_run(&results, "uci-set-s1", 1, 0.80, false, 5.0);
        add_config(&kept, "lr = 0.01\nthreads = 1\ndata_dir = \"/a\"\n");
        // The same experiment run again elsewhere, with other threads and data_dir.
        let again = write_run(&select, "lr-0.01_seed-1", 1, 0.80, false, 5.0);
        add_config(&again, "lr = 0.01\nthreads = 2\ndata_dir = \"/b\"\n");
        // Other seed, other learning rate: other experiments.
        let seed2 = write_run(&select, "lr-0.01_seed-2", 2, 0.84, false, 5.0);
        add_config(&seed2, "lr = 0.01\nthreads = 1\ndata_dir = \"/a\"\n");
        let lr = write_run(&select, "lr-0.003_seed-1", 1, 0.70, false, 5.0);
        add_config(&lr, "lr = 0.003\nthreads = 1\ndata_dir = \"/a\"\n");
        // An unfinished run (no summary.json) is not a run.
        std::fs::create_dir_all(select.join("lr-0.003_seed-2")).unwrap();

        let dirs = find_runs(&[select.clone(), results.clone()]).unwrap();
        assert_eq!(dirs.len(), 4);
        // Reading order does not matter: the first by path is kept.
        let runs: Vec<Run> = dirs.iter().rev().map(|d| read_run(d).unwrap()).collect();
        let (runs, dropped) = dedup(runs);
        assert_eq!(dropped, vec![(again.clone(), kept.clone())]);
        let dirs: Vec<&Path> = runs.iter().map(|r| r.dir.as_path()).collect();
        assert_eq!(dirs, [kept.as_path(), lr.as_path(), seed2.as_path()]);

        let out = tmp.path().join("R.md");
        generate(&[results, select], &[], &out, "x").unwrap();
        let md = std::fs::read_to_string(&out).unwrap();
        for text in [
            "from 4 run directories (3 distinct runs)",
            &format!(
                "1 run directory repeats another run's configuration (every `config.toml` key but `threads` and `data_dir`) and is counted once: `{}` (= `{}`).",
                again.display(),
                kept.display()
            ),
            // Seeds 1 and 2 of lr=0.01, once each.
            "| uci | set | eps=5 | 8/8 | lr=0.01 | 2 | 0.8200 ± 0.0283 |",
        ] {
            assert!(md.contains(text), "report lacks {text:?}:\n{md}");
        }

        // Many repeats: the count and the first three.
        let many = tempfile::tempdir().unwrap();
        write_run(many.path(), "a", 1, 0.8, false, 5.0);
        for i in 0..5 {
            let d = write_run(many.path(), &format!("b{i}"), 1, 0.8, false, 5.0);
            add_config(&d, &format!("threads = {i}\n"));
        }
        let out = many.path().join("R.md");
        generate(&[many.path().to_path_buf()], &[], &out, "x").unwrap();
        let md = std::fs::read_to_string(&out).unwrap();
        assert!(
            md.contains("5 run directories repeat another run's configuration")
                && md.contains("b2` (= `")
                && !md.contains("b3` (= `")
                && md.contains(" and 2 more.\n"),
            "{md}"
        );
        assert!(
            md.contains("| uci | set | eps=5 | 8/8 | 1 | 0.8000 ± 0.0000 |"),
            "{md}"
        );
    }

    #[test]
    fn dev_accuracy_not_test_accuracy_chooses_the_setting() {
        let tmp = tempfile::tempdir().unwrap();
        // SET-LSTM: lr=0.01 has the better dev accuracy but the worse test accuracy.
        // (lr, seed, dev, test, per-epoch (dev, test))
        let sparse = [
            (0.01, 1, 0.90, 0.70, [(0.95, 0.91), (0.90, 0.70)]),
            (0.01, 2, 0.88, 0.72, [(0.95, 0.89), (0.88, 0.72)]),
            (0.003, 1, 0.80, 0.85, [(0.70, 0.60), (0.80, 0.85)]),
            (0.003, 2, 0.82, 0.87, [(0.70, 0.60), (0.82, 0.87)]),
        ];
        for (lr, seed, dev, test, epochs) in sparse {
            let d = write_run(
                tmp.path(),
                &format!("set-{lr}-{seed}"),
                seed,
                test,
                false,
                5.0,
            );
            add_config(&d, &format!("lr = {lr}\n"));
            set_dev(&d, Some(dev));
            write_metrics(&d, &epochs);
        }
        // Dense: the same grid; lr=0.003 wins on dev.
        let dense = [
            (0.01, 1, 0.85, 0.80, [(0.50, 0.50), (0.85, 0.80)]),
            (0.01, 2, 0.85, 0.80, [(0.50, 0.50), (0.85, 0.80)]),
            (0.003, 1, 0.86, 0.75, [(0.50, 0.50), (0.86, 0.75)]),
            (0.003, 2, 0.86, 0.75, [(0.50, 0.50), (0.86, 0.75)]),
        ];
        for (lr, seed, dev, test, epochs) in dense {
            let d = write_run(
                tmp.path(),
                &format!("dense-{lr}-{seed}"),
                seed,
                test,
                true,
                5.0,
            );
            add_config(&d, &format!("lr = {lr}\n"));
            set_dev(&d, Some(dev));
            write_metrics(&d, &epochs);
        }
        // Other sparse settings never enter the headline table.
        let d = write_run(tmp.path(), "set-d", 1, 0.99, false, 5.0);
        add_config(&d, "lr = 0.01\ndensity = 0.5\n");
        set_dev(&d, Some(0.99));

        let runs: Vec<Run> = find_runs(&[tmp.path().to_path_buf()])
            .unwrap()
            .iter()
            .map(|d| read_run(d).unwrap())
            .collect();
        let by_base = grouped(&runs);
        let base = |model: &str, setting: &str| {
            &by_base[&(
                "uci".to_string(),
                model.to_string(),
                setting.to_string(),
                "8/8".to_string(),
            )]
        };
        assert_eq!(chosen_variant(base("set", "eps=5")), Some("lr=0.01"));
        assert_eq!(chosen_variant(base("dense", "dense")), Some("lr=0.003"));
        assert_eq!(chosen_variant(base("set", "d=0.5")), Some(""));

        let out = tmp.path().join("R.md");
        generate(&[tmp.path().to_path_buf()], &[], &out, "x").unwrap();
        let md = std::fs::read_to_string(&out).unwrap();
        for text in [
            "| settings | seeds | dev accuracy (final epoch) | test accuracy | test at best-dev epoch | chosen |",
            "| lr=0.003 | 2 | 0.8100 ± 0.0141 | 0.8600 ± 0.0141 | 0.8600 ± 0.0141 |  |",
            "| lr=0.01 | 2 | 0.8900 ± 0.0141 | 0.7100 ± 0.0141 | 0.9000 ± 0.0141 | ✓ |",
            "| lr=0.003 | 2 | 0.8600 ± 0.0000 | 0.7500 ± 0.0000 | 0.7500 ± 0.0000 | ✓ |",
            "| lr=0.01 | 2 | 0.8500 ± 0.0000 | 0.8000 ± 0.0000 | 0.8000 ± 0.0000 |  |",
            "| uci | 0.7100 ± 0.0141 (2 seeds, 4.00 %) | 0.7500 ± 0.0000 (2 seeds) | -0.0400 | 0.9000 ± 0.0141 | 0.7500 ± 0.0000 | +0.1500 | lr=0.01 (best dev of 2) | lr=0.003 (best dev of 2) |",
            "SET-LSTM ≥ dense on 0 of 1 datasets (final epoch); 1 of 1 at the best-dev epoch.",
            "chosen from the same grid of settings on every dataset with both (uci)",
        ] {
            assert!(md.contains(text), "report lacks {text:?}:\n{md}");
        }
        let at = |s: &str| md.find(s).unwrap_or_else(|| panic!("no {s:?}:\n{md}"));
        assert!(at("## Sparse vs dense") < at("## Settings chosen on the dev split"));
        assert!(at("## Settings chosen on the dev split") < at("## Accuracy, size"));
        assert!(
            md[..at("## Sparse vs dense")].matches("## ").count() == 0,
            "{md}"
        );
        assert!(!md.contains("### uci, set, d=0.5"), "{md}");

        // A dense grid that differs from the sparse one is reported, not claimed equal.
        let d = write_run(tmp.path(), "dense-0.03-1", 1, 0.5, true, 5.0);
        add_config(&d, "lr = 0.03\n");
        set_dev(&d, Some(0.1));
        generate(&[tmp.path().to_path_buf()], &[], &out, "x").unwrap();
        let md = std::fs::read_to_string(&out).unwrap();
        assert!(
            md.contains("were not trained over the same grid of settings (uci: SET-LSTM 2 settings, dense 3)"),
            "{md}"
        );
    }

    #[test]
    fn test_at_best_dev_reads_metrics_csv() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("metrics.csv");
        let head = "epoch,split,loss,accuracy,nnz,density,seconds\n";
        let check = |body: &str| {
            std::fs::write(&path, format!("{head}{body}")).unwrap();
            test_at_best_dev(&path)
        };
        // The best dev accuracy first reached at epoch 2 (epoch 3 ties): test of epoch 2.
        let rows = "1,train,0.6,0.5,40,0.04,1.0\n1,dev,0.6,0.8,40,0.04,1.0\n1,test,0.6,0.1,40,0.04,1.0\n\
                    2,dev,0.6,0.9,40,0.04,1.0\n2,test,0.6,0.2,40,0.04,1.0\n\
                    3,dev,0.6,0.9,40,0.04,1.0\n3,test,0.6,0.3,40,0.04,1.0\n";
        assert_eq!(check(rows).unwrap(), Some(0.2));
        // No dev rows (no dev split), or no test row at the best-dev epoch.
        assert_eq!(
            check("1,train,0.6,0.5,40,0.04,1.0\n1,test,0.6,0.1,40,0.04,1.0\n").unwrap(),
            None
        );
        assert_eq!(
            check("1,dev,0.6,0.9,40,0.04,1.0\n2,test,0.6,0.1,40,0.04,1.0\n").unwrap(),
            None
        );
        assert_eq!(check("").unwrap(), None);
        assert_eq!(
            test_at_best_dev(&tmp.path().join("absent.csv")).unwrap(),
            None
        );
        // Malformed files name the file and line.
        for (body, line) in [
            ("1,dev,0.6,0.9,40,0.04,1.0\n1,test,0.6\n", ":3"),
            ("1,dev,0.6,high,40,0.04,1.0\n", ":2"),
            ("x,dev,0.6,0.9,40,0.04,1.0\n", ":2"),
            (
                "1,dev,0.6,0.9,40,0.04,1.0\n1,dev,0.6,0.8,40,0.04,1.0\n",
                ":3",
            ),
        ] {
            let err = format!("{:#}", check(body).unwrap_err());
            assert!(err.contains(&format!("metrics.csv{line}")), "{err}");
        }
        std::fs::write(&path, "epoch,split,loss\n").unwrap();
        let err = format!("{:#}", test_at_best_dev(&path).unwrap_err());
        assert!(
            err.contains("metrics.csv:1") && err.contains("accuracy"),
            "{err}"
        );
        std::fs::write(&path, "").unwrap();
        assert!(format!("{:#}", test_at_best_dev(&path).unwrap_err()).contains("metrics.csv:1"));

        // Through read_run: dev_accuracy null or absent is None; a bad metrics.csv is an error.
        let d = write_run(tmp.path(), "r", 1, 0.8, false, 5.0);
        let r = read_run(&d).unwrap();
        assert_eq!((r.dev_accuracy, r.test_at_best_dev), (None, None));
        set_dev(&d, None);
        assert_eq!(read_run(&d).unwrap().dev_accuracy, None);
        set_dev(&d, Some(0.75));
        write_metrics(&d, &[(0.7, 0.6), (0.75, 0.65)]);
        let r = read_run(&d).unwrap();
        assert_eq!(
            (r.dev_accuracy, r.test_at_best_dev),
            (Some(0.75), Some(0.65))
        );
        std::fs::write(d.join("metrics.csv"), format!("{head}1,dev\n")).unwrap();
        let err = generate(&[d], &[], &tmp.path().join("R.md"), "x").unwrap_err();
        assert!(format!("{err:#}").contains("metrics.csv:2"), "{err:#}");
    }

    #[test]
    fn density_curve_takes_the_dense_runs_with_the_same_settings() {
        let tmp = tempfile::tempdir().unwrap();
        for (density, acc) in [(0.1, 0.70), (0.5, 0.75)] {
            let d = write_run(tmp.path(), &format!("d{density}"), 1, acc, false, 5.0);
            add_config(&d, &format!("density = {density}\nlr = 0.01\n"));
        }
        // Two dense settings (e.g. from a selection sweep): only lr=0.01 matches the curve.
        for (lr, acc) in [(0.01, 0.80), (0.003, 0.60)] {
            let d = write_run(tmp.path(), &format!("dense-{lr}"), 1, acc, true, 5.0);
            add_config(&d, &format!("lr = {lr}\n"));
        }
        let out = tmp.path().join("R.md");
        generate(&[tmp.path().to_path_buf()], &[], &out, "x").unwrap();
        let md = std::fs::read_to_string(&out).unwrap();
        assert!(md.contains("| uci | 100.00 % | 0.8000 ± 0.0000 |"), "{md}");
        assert!(!md.contains("| uci | 100.00 % | 0.6000"), "{md}");
        assert!(tmp.path().join("results_accuracy_vs_density.svg").is_file());
    }

    #[test]
    fn mean_std_matches_hand_values() {
        assert_eq!(mean_std(&[1.0]), (1.0, 0.0));
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
    }
}
