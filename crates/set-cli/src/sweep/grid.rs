//! The grid file of `set-lstm sweep`: a `[base]` table of train settings and a `[grid]` table
//! whose keys are train settings with arrays of values, expanded into one settings set per run.
//!
//! Expansion order: the grid keys sorted by name, the first key varying slowest, each key's
//! values in the order written. A run's name lists every grid key with its value,
//! `key-value` pairs joined by `_` in the same key order (`density-0.04_policy-set_seed-1`);
//! characters of a value other than ASCII letters, digits, `.`, `+` and `-` become `-`.
//! Names therefore do not change when the file's keys are reordered.
//!
//! A grid key that is not a train setting ties settings together: each of its values is an
//! inline table of settings that change as one (`dropout = [{ dropout_embed = 0.0,
//! dropout_output = 0.0 }, { dropout_embed = 0.5, dropout_output = 0.5 }]`); its label in run
//! names is the table's values joined by `-` (`dropout-0.5-0.5`).

use crate::config::Settings;
use crate::exit::usage;
use anyhow::Result;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Longest run name in bytes (a directory name and a config file name `<name>.toml`).
pub const MAX_NAME_BYTES: usize = 200;
/// Most runs a grid may expand to (the product is computed with checked arithmetic first).
pub const MAX_RUNS: usize = 100_000;

/// One grid key and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The settings key (snake_case, as in a `--config` file).
    pub key: String,
    /// Its values, in the order written.
    pub values: Vec<toml::Value>,
}

/// A parsed, checked grid file.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    /// The `[base]` table: settings shared by every run.
    pub base: toml::Table,
    /// The `[grid]` keys, sorted by name.
    pub axes: Vec<Axis>,
}

/// One expanded run: its name, the grid values that made it, and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Directory-safe, unique name built from the grid values.
    pub name: String,
    /// `(key, value)` of every grid key, in name order (values as written, unsanitised).
    pub values: Vec<(String, String)>,
    /// `[base]` plus this point's grid values.
    pub settings: Settings,
}

/// Every settings key a `--config` file accepts (the `train` flags, snake_case).
pub fn setting_keys() -> Vec<String> {
    let cmd = <Settings as clap::Args>::augment_args(clap::Command::new("settings"));
    cmd.get_arguments()
        .map(|a| a.get_id().as_str().to_string())
        .collect()
}

/// A grid value as text: strings without quotes, numbers in their shortest form; a tied
/// value (an inline table) as its values joined by `-`.
pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => t.values().map(value_text).collect::<Vec<_>>().join("-"),
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// `value_text` reduced to characters safe in a directory name.
pub fn value_label(v: &toml::Value) -> String {
    value_text(v)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Deserialises `{key = value}` as settings: checks the value's type for that key.
fn single(key: &str, value: &toml::Value) -> std::result::Result<Settings, toml::de::Error> {
    let mut t = toml::Table::new();
    t.insert(key.to_string(), value.clone());
    toml::Value::Table(t).try_into()
}

/// Checks value `i` of the tied grid key `key`: a non-empty inline table of settings, none of
/// them in `[base]`, each of the right type.
fn check_tied(
    file: &std::path::Display<'_>,
    key: &str,
    i: usize,
    v: &toml::Value,
    base: &toml::Table,
    known: &[String],
    owner: &mut std::collections::HashMap<String, String>,
) -> Result<()> {
    let at = format!("{file}: [grid] `{key}` value {} ({v})", i + 1);
    let Some(t) = v.as_table().filter(|t| !t.is_empty()) else {
        return Err(usage(format!(
            "{file}: [grid] unknown key `{key}`: not a train setting (the keys are the `set-lstm train` flags in snake_case, e.g. `batch_size`); a grid key that is not a setting must have inline tables of settings that change together as values, e.g. {key} = [{{ dropout_embed = 0.0, dropout_output = 0.0 }}] (value {} is {v})",
            i + 1
        )));
    };
    for (k, x) in t {
        if !known.contains(k) {
            return Err(usage(format!(
                "{at}: unknown key `{k}`: not a train setting (the keys are the `set-lstm train` flags in snake_case)"
            )));
        }
        if owner.entry(k.clone()).or_insert_with(|| key.to_string()) != key {
            return Err(usage(format!(
                "{at}: `{k}` is also set by the grid key `{}`: a setting may vary in one grid key only",
                owner[k]
            )));
        }
        if base.contains_key(k) {
            return Err(usage(format!(
                "{at}: `{k}` is also in [base]: keep it in one of them"
            )));
        }
        single(k, x).map_err(|e| usage(format!("{at}: `{k}` = {x}: {}", e.message())))?;
    }
    Ok(())
}

impl Grid {
    /// Reads and checks a grid file.
    ///
    /// # Errors
    /// A usage error naming the file (and the table and key where there is one).
    pub fn read(path: &Path) -> Result<Grid> {
        let text = set_data::read_text_bounded(path, set_data::bounded::MAX_SETTINGS_BYTES)
            .map_err(|e| usage(format!("--grid: {e}")))?;
        Grid::parse(&text, path)
    }

    /// Parses and checks grid file text; `path` is only used in messages.
    ///
    /// # Errors
    /// A usage error naming the file and the table and key: TOML syntax, a top-level key other
    /// than `base` and `grid`, an unknown settings key, a value of the wrong type, a grid value
    /// that is not a non-empty array, a key in both tables, a missing or empty `[grid]`, or two
    /// values of one key with the same name label.
    pub fn parse(text: &str, path: &Path) -> Result<Grid> {
        let file = path.display();
        let doc: toml::Table = toml::from_str(text).map_err(|e| usage(format!("{file}: {e}")))?;
        let known = setting_keys();
        let check_key = |table: &str, key: &str| {
            if known.iter().any(|k| k == key) {
                Ok(())
            } else {
                Err(usage(format!(
                    "{file}: [{table}] unknown key `{key}`: not a train setting (the keys are the `set-lstm train` flags in snake_case, e.g. `batch_size`)"
                )))
            }
        };
        let mut base = toml::Table::new();
        let mut grid = None;
        for (key, value) in doc {
            match (key.as_str(), value) {
                ("base", toml::Value::Table(t)) => base = t,
                ("grid", toml::Value::Table(t)) => grid = Some(t),
                ("base" | "grid", _) => {
                    return Err(usage(format!("{file}: `{key}` must be a table ([{key}])")));
                }
                _ => {
                    return Err(usage(format!(
                        "{file}: unknown top-level key `{key}`: a grid file has only the tables [base] and [grid]"
                    )));
                }
            }
        }
        for (key, value) in &base {
            check_key("base", key)?;
            single(key, value)
                .map_err(|e| usage(format!("{file}: [base] `{key}` = {value}: {}", e.message())))?;
        }
        let grid = grid.filter(|g| !g.is_empty()).ok_or_else(|| {
            usage(format!(
                "{file}: no [grid] table with at least one key: nothing to sweep (e.g. [grid] seed = [1, 2, 3])"
            ))
        })?;
        let mut axes = Vec::new();
        let tied_keys: HashSet<String> = grid
            .iter()
            .filter(|(k, _)| !known.contains(k))
            .filter_map(|(_, v)| v.as_array())
            .flatten()
            .filter_map(|v| v.as_table())
            .flat_map(|t| t.keys().cloned())
            .collect();
        let mut owner = std::collections::HashMap::new();
        for (key, value) in grid {
            let tied = !known.contains(&key);
            if !tied {
                check_key("grid", &key)?;
            }
            if !tied && tied_keys.contains(&key) {
                return Err(usage(format!(
                    "{file}: [grid] `{key}` also varies inside a tied grid key: a setting may vary in one grid key only"
                )));
            }
            if base.contains_key(&key) {
                return Err(usage(format!(
                    "{file}: `{key}` is in both [base] and [grid]: keep it in one of them"
                )));
            }
            let toml::Value::Array(values) = value else {
                return Err(usage(format!(
                    "{file}: [grid] `{key}` = {value}: expected an array of values, e.g. {key} = [{value}]"
                )));
            };
            if values.is_empty() {
                return Err(usage(format!(
                    "{file}: [grid] `{key}` is an empty array: give at least one value"
                )));
            }
            let mut labels = HashSet::new();
            for (i, v) in values.iter().enumerate() {
                if tied {
                    check_tied(&file, &key, i, v, &base, &known, &mut owner)?;
                    if !labels.insert(value_label(v)) {
                        return Err(usage(format!(
                            "{file}: [grid] `{key}`: value {} ({v}) gives the same run name `{key}-{}` as an earlier value",
                            i + 1,
                            value_label(v)
                        )));
                    }
                    continue;
                }
                single(&key, v).map_err(|e| {
                    usage(format!(
                        "{file}: [grid] `{key}` value {} ({v}): {}",
                        i + 1,
                        e.message()
                    ))
                })?;
                if !labels.insert(value_label(v)) {
                    return Err(usage(format!(
                        "{file}: [grid] `{key}`: value {} ({v}) repeats an earlier value (or gives the same run name `{key}-{}`)",
                        i + 1,
                        value_label(v)
                    )));
                }
            }
            axes.push(Axis { key, values });
        }
        axes.sort_by(|a, b| a.key.cmp(&b.key));
        let runs = axes
            .iter()
            .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
            .filter(|&n| n <= MAX_RUNS);
        if runs.is_none() {
            let sizes: Vec<String> = axes.iter().map(|a| a.values.len().to_string()).collect();
            return Err(usage(format!(
                "{file}: the grid expands to {} runs, more than the accepted {MAX_RUNS}: split it into several grids",
                sizes.join(" x ")
            )));
        }
        Ok(Grid {
            path: path.to_path_buf(),
            base,
            axes,
        })
    }

    /// Number of runs (the product of the grid's array lengths).
    pub fn len(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product()
    }

    /// Whether the grid expands to no run (never, for a checked grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cartesian product in order: first key (by name) slowest, values as written.
    ///
    /// # Errors
    /// A usage error naming the file for an over-long or duplicate name, or settings that do
    /// not deserialise together.
    pub fn expand(&self) -> Result<Vec<Point>> {
        let file = self.path.display();
        let mut points = Vec::with_capacity(self.len());
        let mut index = vec![0usize; self.axes.len()];
        let mut seen = HashSet::new();
        for _ in 0..self.len() {
            let mut table = self.base.clone();
            let mut values = Vec::with_capacity(self.axes.len());
            let mut parts = Vec::with_capacity(self.axes.len());
            for (axis, &i) in self.axes.iter().zip(&index) {
                let v = &axis.values[i];
                match v {
                    toml::Value::Table(tied) => table.extend(tied.clone()),
                    _ => {
                        table.insert(axis.key.clone(), v.clone());
                    }
                }
                values.push((axis.key.clone(), value_text(v)));
                parts.push(format!("{}-{}", axis.key, value_label(v)));
            }
            let name = parts.join("_");
            if name.len() > MAX_NAME_BYTES {
                return Err(usage(format!(
                    "{file}: run name `{name}` is longer than {MAX_NAME_BYTES} bytes: vary fewer keys or use shorter values"
                )));
            }
            if !seen.insert(name.clone()) {
                return Err(usage(format!("{file}: two runs are named `{name}`")));
            }
            let settings: Settings =
                toml::Value::Table(table)
                    .try_into()
                    .map_err(|e: toml::de::Error| {
                        usage(format!("{file}: run `{name}`: {}", e.message()))
                    })?;
            points.push(Point {
                name,
                values,
                settings,
            });
            // Odometer: the last key varies fastest.
            for k in (0..index.len()).rev() {
                index[k] += 1;
                if index[k] < self.axes[k].values.len() {
                    break;
                }
                index[k] = 0;
            }
        }
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use set_train::PolicyName;

    fn parse(text: &str) -> Result<Grid> {
        Grid::parse(text, Path::new("g.toml"))
    }

    fn err(text: &str) -> String {
        let e = parse(text).and_then(|g| g.expand()).unwrap_err();
        assert_eq!(crate::exit::exit_code(&e), crate::exit::USAGE, "{e:#}");
        format!("{e:#}")
    }

    #[test]
    fn keys_are_the_settings_fields() {
        let keys = setting_keys();
        for k in [
            "data", "data_dir", "seed", "density", "epsilon", "zeta", "policy",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
        }
        // Every key of a resolved config.toml is a settings key, and no clap extras sneak in.
        let c = crate::config::TrainConfig::resolve(Settings {
            data_dir: Some(crate::config::compiled_data_dir()),
            ..Settings::default()
        })
        .unwrap();
        let table = toml::Table::try_from(&c).unwrap();
        for k in table.keys() {
            assert!(keys.contains(k), "config key {k} is not a settings key");
        }
        assert!(!keys.iter().any(|k| k == "help" || k == "config"));
    }

    #[test]
    fn expansion_order_and_names_are_deterministic() {
        // Written out of order: expansion sorts keys by name; values keep their order.
        let g = parse(
            r#"
            [base]
            epochs = 1
            [grid]
            seed = [2, 1]
            policy = ["set", "static"]
            density = [0.04, 0.1]
            "#,
        )
        .unwrap();
        assert_eq!(g.len(), 8);
        let points = g.expand().unwrap();
        let names: Vec<&str> = points.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "density-0.04_policy-set_seed-2",
                "density-0.04_policy-set_seed-1",
                "density-0.04_policy-static_seed-2",
                "density-0.04_policy-static_seed-1",
                "density-0.1_policy-set_seed-2",
                "density-0.1_policy-set_seed-1",
                "density-0.1_policy-static_seed-2",
                "density-0.1_policy-static_seed-1",
            ]
        );
        let p = &points[2];
        assert_eq!(p.settings.density, Some(0.04));
        assert_eq!(p.settings.policy, Some(PolicyName::Static));
        assert_eq!(p.settings.seed, Some(2));
        assert_eq!(p.settings.epochs, Some(1));
        assert_eq!(
            p.values,
            [
                ("density".to_string(), "0.04".to_string()),
                ("policy".into(), "static".into()),
                ("seed".into(), "2".into())
            ]
        );
        // Reordering the file changes nothing.
        let g2 = parse(
            "[grid]\ndensity = [0.04, 0.1]\npolicy = [\"set\", \"static\"]\nseed = [2, 1]\n[base]\nepochs = 1\n",
        )
        .unwrap();
        assert_eq!(g2.expand().unwrap(), points);
    }

    #[test]
    fn a_tied_key_changes_several_settings_together() {
        let g = parse(
            r#"
            [grid]
            seed = [1]
            dropout = [{ dropout_embed = 0.0, dropout_output = 0.0 }, { dropout_embed = 0.5, dropout_output = 0.25 }]
            "#,
        )
        .unwrap();
        let points = g.expand().unwrap();
        let names: Vec<&str> = points.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["dropout-0-0_seed-1", "dropout-0.5-0.25_seed-1"]);
        assert_eq!(points[1].settings.dropout_embed, Some(0.5));
        assert_eq!(points[1].settings.dropout_output, Some(0.25));
        assert_eq!(points[0].settings.dropout_output, Some(0.0));
        assert_eq!(points[1].values[0], ("dropout".into(), "0.5-0.25".into()));
        // Every way a tied key can be wrong is a usage error naming the file, key and value.
        for (grid, expected) in [
            (
                "[grid]\nd = [0.1]",
                "g.toml: [grid] unknown key `d`: not a train setting",
            ),
            ("[grid]\nd = [{}]", "must have inline tables"),
            (
                "[grid]\nd = [{ nope = 1 }]",
                "g.toml: [grid] `d` value 1 ({ nope = 1 }): unknown key `nope`",
            ),
            ("[grid]\nd = [{ lr = \"x\" }]", "`d` value 1"),
            (
                "[base]\nlr = 0.1\n[grid]\nd = [{ lr = 0.2 }]",
                "`lr` is also in [base]",
            ),
            (
                "[grid]\nlr = [0.1]\nd = [{ lr = 0.2 }]",
                "`lr` also varies inside a tied grid key",
            ),
            (
                "[grid]\nd = [{ lr = 0.2 }]\ne = [{ lr = 0.3 }]",
                "also set by the grid key `d`",
            ),
            (
                "[grid]\nd = [{ lr = 0.2 }, { lr = 0.2 }]",
                "same run name `d-0.2`",
            ),
        ] {
            let e = err(grid);
            assert!(e.contains(expected), "{grid}: {e}");
        }
    }

    #[test]
    fn any_settings_key_can_vary_and_values_are_sanitised() {
        let g = parse(
            r#"
            [grid]
            data = ["uci-imdb"]
            data_dir = ["/tmp/my data"]
            dropout_embed = [0.0, 0.25]
            dense = [false]
            lr = [1e-3]
            "#,
        )
        .unwrap();
        let names: Vec<String> = g.expand().unwrap().into_iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "data-uci-imdb_data_dir--tmp-my-data_dense-false_dropout_embed-0_lr-0.001",
                "data-uci-imdb_data_dir--tmp-my-data_dense-false_dropout_embed-0.25_lr-0.001",
            ]
        );
    }

    #[test]
    fn bad_grids_name_the_file_and_key() {
        let cases: &[(&str, &[&str])] = &[
            ("[grid]\nseed = []\n", &["g.toml", "`seed`", "empty"]),
            ("[grid]\nseed = 1\n", &["g.toml", "`seed`", "array"]),
            (
                "[base]\nseed = 1\n[grid]\nseed = [1, 2]\n",
                &["g.toml", "`seed`", "both"],
            ),
            (
                "[base]\nbogus = 1\n[grid]\nseed = [1]\n",
                &["g.toml", "[base]", "`bogus`"],
            ),
            (
                "[grid]\nzeta_max = [1]\n",
                &["g.toml", "[grid]", "`zeta_max`"],
            ),
            ("[grid]\nseed = [1, \"x\"]\n", &["g.toml", "`seed` value 2"]),
            (
                "[grid]\npolicy = [\"set\", \"prune\"]\n",
                &["g.toml", "`policy` value 2"],
            ),
            (
                "[base]\nepochs = \"x\"\n[grid]\nseed = [1]\n",
                &["g.toml", "`epochs`"],
            ),
            ("[grid]\nseed = [1, 1]\n", &["g.toml", "`seed`", "repeats"]),
            (
                "[grid]\ndensity = [0.1, 0.10]\n",
                &["g.toml", "`density`", "repeats"],
            ),
            (
                "[grid]\ndata_dir = [\"a b\", \"a/b\"]\n",
                &["g.toml", "`data_dir`", "a-b"],
            ),
            ("[base]\nseed = 1\n", &["g.toml", "[grid]"]),
            ("[grid]\n", &["g.toml", "[grid]"]),
            ("grid = [1]\n", &["g.toml", "`grid`", "table"]),
            ("[runs]\nseed = [1]\n", &["g.toml", "`runs`"]),
            ("[grid\nseed = [1]\n", &["g.toml"]),
        ];
        for (text, needles) in cases {
            let e = err(text);
            for n in *needles {
                assert!(e.contains(n), "{text:?}: {e:?} lacks {n:?}");
            }
        }
        let long = format!("[grid]\ndata_dir = [\"{}\"]\n", "x".repeat(300));
        assert!(err(&long).contains("longer than"));
    }

    /// Class 7 of RELIABILITY.md: run counts are computed with checked arithmetic and capped;
    /// any grid either expands to exactly the product of its array lengths (at most
    /// `MAX_RUNS`) or is a usage error naming the sizes, never an overflow or a huge allocation.
    #[test]
    fn grid_sizes_are_checked_and_capped() {
        use proptest::prelude::*;
        const KEYS: [&str; 8] = [
            "batch_size",
            "embed_dim",
            "epochs",
            "hidden",
            "max_len",
            "min_count",
            "seed",
            "vocab_size",
        ];
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
        runner
            .run(&proptest::collection::vec(1usize..=300, 1..=8), |lens| {
                let mut text = String::from("[grid]\n");
                for (k, n) in KEYS.iter().zip(&lens) {
                    let vals: Vec<String> = (1..=*n).map(|v| v.to_string()).collect();
                    text.push_str(&format!("{k} = [{}]\n", vals.join(",")));
                }
                let product = lens.iter().try_fold(1usize, |a, &n| a.checked_mul(n));
                match parse(&text) {
                    Ok(g) => {
                        prop_assert!(product.is_some_and(|p| p <= MAX_RUNS));
                        prop_assert_eq!(Some(g.len()), product);
                    }
                    Err(e) => {
                        prop_assert!(product.is_none_or(|p| p > MAX_RUNS), "{:#}", e);
                        let msg = format!("{e:#}");
                        prop_assert!(msg.contains("more than the accepted"), "{}", msg);
                        prop_assert_eq!(crate::exit::exit_code(&e), crate::exit::USAGE);
                    }
                }
                Ok(())
            })
            .unwrap();
        // The issue's examples: 4 x 100 values, 18 x 10, 8 x 256.
        for (axes, n) in [(4, 100), (8, 10), (8, 256)] {
            let mut text = String::from("[grid]\n");
            for k in KEYS.iter().take(axes) {
                let vals: Vec<String> = (1..=n).map(|v| v.to_string()).collect();
                text.push_str(&format!("{k} = [{}]\n", vals.join(",")));
            }
            assert!(parse(&text).is_err());
        }
    }
}
