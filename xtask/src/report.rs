//! `cargo xtask report`: builds `docs/RESULTS.md` from run directories and benchmark JSON lines.
//!
//! A run directory is any folder holding `summary.json`, `config.toml` and `manifest.json`
//! (written by `set-lstm train`), found at any depth, e.g. the run directories of a
//! `set-lstm sweep` folder. Runs are grouped by dataset, model (dense, or sparse with its
//! policy, density setting and new-weight initialisation) and size, and within those by every
//! other training setting whose value differs between the group's runs (zeta, epochs, dropout,
//! learning rate, ...: see [`VARIANT_IGNORED`]), shown in a `settings` column; each group reports
//! the mean and sample standard deviation of test accuracy over its seeds. Benchmark files are
//! JSON lines printed by `set-lstm bench` or `bench/pytorch_lstm.py`. Nothing in the output is
//! typed by hand.

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
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
    /// Test accuracy.
    pub test_accuracy: f64,
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

/// Reads one run directory.
///
/// # Errors
/// A missing or malformed `summary.json`, `config.toml` or `manifest.json`, naming the file.
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
pub fn find_runs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
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
/// dataset has runs at several densities.
///
/// # Errors
/// Unreadable inputs (named) or an unwritable plot.
pub fn render(runs: &[Run], bench: &[BenchLine], invocation: &str, out: &Path) -> Result<String> {
    let mut md = String::new();
    writeln!(md, "# Results\n")?;
    writeln!(
        md,
        "Generated by `{invocation}` from {} run directories and {} benchmark lines. Do not edit by hand: re-run the command. `bash bench/results.sh` produces the run directories (each run's command is listed below); the benchmark lines come from `set-lstm bench` and `bench/pytorch_lstm.py` (commands in docs/PERFORMANCE.md).\n",
        runs.len(),
        bench.len()
    )?;
    type Key = (String, String, String, String, String);
    let mut groups: BTreeMap<Key, Vec<&Run>> = BTreeMap::new();
    for (r, variant) in runs.iter().zip(variants(runs)) {
        groups
            .entry((
                r.data.clone(),
                r.model.clone(),
                r.setting.clone(),
                r.size.clone(),
                variant,
            ))
            .or_default()
            .push(r);
    }
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
        // The curve: sparse runs with an explicit uniform density (`--density`), plus dense.
        // One curve per dataset and variant (e.g. `uci (zeta=0.5)`).
        for ((data, model, setting, _, variant), rs) in &groups {
            if !(setting.starts_with("d=") || model == "dense") {
                continue;
            }
            let (m, s) = mean_std(&rs.iter().map(|r| r.test_accuracy).collect::<Vec<_>>());
            let curve = if variant.is_empty() {
                data.clone()
            } else {
                format!("{data} ({variant})")
            };
            curves
                .entry(curve)
                .or_default()
                .push((rs[0].density(), m, s));
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
                "Sparse runs trained with `--density d` (uniform density for the embedding and LSTM matrices), and the dense model.\n"
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
    let mut bench = Vec::new();
    for f in bench_files {
        bench.extend(read_bench(f)?);
    }
    if runs.is_empty() && bench.is_empty() {
        bail!("no run directories (with summary.json) or benchmark lines found");
    }
    let md = render(&runs, &bench, invocation, out)?;
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

    #[test]
    fn mean_std_matches_hand_values() {
        assert_eq!(mean_std(&[1.0]), (1.0, 0.0));
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
    }
}
