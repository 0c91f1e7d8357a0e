//! The estimator's settings: the `set-lstm train` settings that are not about where data come
//! from, with the command line's names and defaults, read from a Python dict and checked with
//! `set-train`'s own checks (an out-of-range value is a `ValueError` naming the setting).

use pyo3::conversion::FromPyObjectOwned;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use set_train::set_nn::Pooling;
use set_train::{
    DataConfig, Density, DropoutRate, Epsilon, LrScheduleName, ModelSpec, OptimizerName,
    PolicyName, ScheduleName, SettingError, Sparsity, TrainerConfig, Zeta,
};

/// Every setting name, in the order of `set-lstm train --help`.
pub const NAMES: &[&str] = &[
    "dev_fraction",
    "epochs",
    "batch_size",
    "max_len",
    "vocab_size",
    "min_count",
    "embed_dim",
    "hidden",
    "pooling",
    "dropout_embed",
    "dropout_output",
    "cell",
    "layers",
    "bidirectional",
    "dropout_between",
    "epsilon",
    "density",
    "erk",
    "dense",
    "sparse_output",
    "policy",
    "zeta",
    "prune_schedule",
    "evolve_every",
    "regrow_into_removed",
    "new_weight_std",
    "new_weight_matched",
    "optimizer",
    "adam_per_weight_steps",
    "lr",
    "lr_schedule",
    "warmup_steps",
    "momentum",
    "weight_decay",
    "clip",
    "early_stopping",
    "seed",
    "split_seed",
    "threads",
];

/// Resolved and checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Fraction of train carved out as dev when no dev set is given.
    pub dev_fraction: f64,
    /// Largest vocabulary.
    pub vocab_size: usize,
    /// Fewest occurrences for a token to enter the vocabulary.
    pub min_count: usize,
    /// The model, with placeholder vocabulary size and classes (set by [`Settings::spec`]).
    spec: ModelSpec,
    /// Training settings.
    pub trainer: TrainerConfig,
    /// Worker threads (0 = one per core).
    pub threads: usize,
    /// Seed of the dev split carved from train; `None`: the model seed.
    pub split_seed: Option<u64>,
}

fn bad(key: &'static str, value: impl ToString, expected: &'static str) -> PyErr {
    PyValueError::new_err(
        SettingError {
            key,
            value: value.to_string(),
            expected,
        }
        .to_string(),
    )
}

fn setting(e: SettingError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

struct Reader<'a, 'py> {
    dict: &'a Bound<'py, PyDict>,
}

impl<'py> Reader<'_, 'py> {
    fn get<T: FromPyObjectOwned<'py>>(&self, key: &str) -> PyResult<Option<T>> {
        match self.dict.get_item(key)? {
            None => Ok(None),
            Some(v) if v.is_none() => Ok(None),
            Some(v) => v.extract::<T>().map(Some).map_err(|_| {
                if v.is_instance_of::<pyo3::types::PyInt>() {
                    return PyValueError::new_err(format!(
                        "invalid value {v} for `{key}`: expected a non-negative integer"
                    ));
                }
                let got = v.get_type().name().map_or("?".into(), |n| n.to_string());
                PyTypeError::new_err(format!("setting `{key}` has the wrong type: {}", got))
            }),
        }
    }

    fn named<T: std::str::FromStr<Err = String>>(&self, key: &'static str) -> PyResult<Option<T>> {
        self.get::<String>(key)?
            .map(|s| {
                s.parse::<T>()
                    .map_err(|e| PyValueError::new_err(format!("invalid value for `{key}`: {e}")))
            })
            .transpose()
    }
}

impl Settings {
    /// Reads `dict` (missing or `None` entries take the command line's defaults).
    ///
    /// # Errors
    /// `ValueError` for an unknown name or a value out of range, `TypeError` for a value of the
    /// wrong type; both name the setting.
    pub fn from_dict(dict: &Bound<'_, PyDict>) -> PyResult<Self> {
        for (k, _) in dict.iter() {
            let k: String = k.extract()?;
            if !NAMES.contains(&k.as_str()) {
                return Err(PyValueError::new_err(format!(
                    "unknown setting `{k}` (settings: {})",
                    NAMES.join(", ")
                )));
            }
        }
        let r = Reader { dict };
        let defaults = TrainerConfig::default();
        let data = DataConfig::registry("", "");
        let dev_fraction = r.get::<f64>("dev_fraction")?.unwrap_or(data.dev_fraction);
        if !(dev_fraction.is_finite() && (0.0..1.0).contains(&dev_fraction)) {
            return Err(bad("dev_fraction", dev_fraction, "a fraction in [0, 1)"));
        }
        let vocab_size = r.get::<usize>("vocab_size")?.unwrap_or(data.vocab_size);
        let min_count = r.get::<usize>("min_count")?.unwrap_or(data.min_count);
        if min_count < 1 {
            return Err(bad("min_count", min_count, "an integer >= 1"));
        }
        let threads = r.get::<usize>("threads")?.unwrap_or(0);
        if threads > 1024 {
            return Err(bad(
                "threads",
                threads,
                "an integer in 0..=1024 (0 = one per core)",
            ));
        }
        let dense = r.get::<bool>("dense")?.unwrap_or(false);
        let epsilon = r.get::<f64>("epsilon")?;
        let density = r.get::<f64>("density")?;
        let erk = r.get::<f64>("erk")?;
        let given = [epsilon.is_some(), density.is_some(), erk.is_some()]
            .iter()
            .filter(|&&g| g)
            .count();
        if dense && given > 0 {
            return Err(PyValueError::new_err(
                "`dense` cannot be combined with `epsilon`, `density` or `erk`",
            ));
        }
        if given > 1 {
            return Err(PyValueError::new_err(
                "`epsilon`, `density` and `erk` are alternatives: give one",
            ));
        }
        let sparsity = match (dense, epsilon, density, erk) {
            (true, ..) => Sparsity::Dense,
            (_, _, Some(d), _) => Sparsity::Uniform {
                density: Density::new(d).map_err(setting)?,
            },
            (_, _, _, Some(d)) => Sparsity::Erk {
                density: Density::new(d).map_err(|e| setting(e.for_key("erk")))?,
            },
            (_, e, ..) => Sparsity::ErdosRenyi {
                epsilon: Epsilon::new(e.unwrap_or(Epsilon::DEFAULT.get())).map_err(setting)?,
            },
        };
        let base = ModelSpec::new(vocab_size, 128, 128, 2);
        let dropout = |key: &'static str| -> PyResult<DropoutRate> {
            DropoutRate::new(r.get::<f64>(key)?.unwrap_or(DropoutRate::DEFAULT.get()))
                .map_err(|e| setting(e.for_key(key)))
        };
        let pooling = match r.get::<String>("pooling")?.as_deref() {
            None | Some("mean") => Pooling::Mean,
            Some("last") => Pooling::Last,
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "invalid value for `pooling`: `{other}` is not one of last, mean"
                )));
            }
        };
        let spec = ModelSpec::new(
            vocab_size,
            r.get("embed_dim")?.unwrap_or(base.embed_dim),
            r.get("hidden")?.unwrap_or(base.hidden),
            2,
        )
        .with_max_len(r.get("max_len")?.unwrap_or(base.max_len))
        .with_sparsity(sparsity)
        .with_sparse_output(r.get("sparse_output")?.unwrap_or(false))
        .with_pooling(pooling)
        .with_dropout(dropout("dropout_embed")?, dropout("dropout_output")?)
        .with_rnn(
            r.named::<set_train::set_nn::CellKind>("cell")?
                .unwrap_or_default(),
            r.get("layers")?.unwrap_or(base.layers),
            r.get("bidirectional")?.unwrap_or(base.bidirectional),
            DropoutRate::new(r.get::<f64>("dropout_between")?.unwrap_or(0.0))
                .map_err(|e| setting(e.for_key("dropout_between")))?,
        );
        spec.validate().map_err(setting)?;
        let trainer = TrainerConfig {
            epochs: r.get("epochs")?.unwrap_or(defaults.epochs),
            batch_size: r.get("batch_size")?.unwrap_or(defaults.batch_size),
            optimizer: r.named::<OptimizerName>("optimizer")?.unwrap_or_default(),
            lr: r.get("lr")?.unwrap_or(defaults.lr),
            momentum: r.get("momentum")?.unwrap_or(defaults.momentum),
            weight_decay: r.get("weight_decay")?.unwrap_or(defaults.weight_decay),
            clip: r.get("clip")?.unwrap_or(defaults.clip),
            seed: r.get("seed")?.unwrap_or(defaults.seed),
            policy: r.named::<PolicyName>("policy")?.unwrap_or_default(),
            zeta: Zeta::new(r.get("zeta")?.unwrap_or(Zeta::DEFAULT.get())).map_err(setting)?,
            prune_schedule: r
                .named::<ScheduleName>("prune_schedule")?
                .unwrap_or_default(),
            evolve_every: r.get("evolve_every")?.unwrap_or(0),
            new_weight_std: r.get("new_weight_std")?,
            new_weight_matched: r.get("new_weight_matched")?,
            regrow_into_removed: r.get("regrow_into_removed")?.unwrap_or(true),
            lr_schedule: r
                .named::<LrScheduleName>("lr_schedule")?
                .unwrap_or_default(),
            warmup_steps: r.get("warmup_steps")?.unwrap_or(0),
            early_stopping: r.get("early_stopping")?,
            adam_per_weight_steps: r.get("adam_per_weight_steps")?.unwrap_or(false),
        };
        trainer.validate().map_err(setting)?;
        if dense && trainer.policy != PolicyName::Set {
            return Err(PyValueError::new_err(format!(
                "`policy` {} with `dense`: a dense model has no topology to evolve",
                trainer.policy.as_str()
            )));
        }
        Ok(Settings {
            dev_fraction,
            vocab_size,
            min_count,
            spec,
            trainer,
            threads,
            split_seed: r.get("split_seed")?,
        })
    }

    /// The model for a vocabulary of `vocab_size` ids and `classes` classes.
    pub fn spec(&self, vocab_size: usize, classes: usize) -> ModelSpec {
        ModelSpec {
            vocab_size,
            classes,
            ..self.spec.clone()
        }
    }
}

/// Checks a dict of settings; raises `ValueError` or `TypeError` naming the first bad one.
#[pyfunction]
pub fn check_settings(settings: &Bound<'_, PyDict>) -> PyResult<()> {
    Settings::from_dict(settings).map(|_| ())
}

/// The default of every setting (`None`: unset, as on the command line), from `set-train`'s
/// own defaults; the estimator's keyword defaults are tested against these and against
/// `set-lstm train --help`.
#[pyfunction]
pub fn default_settings(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let t = TrainerConfig::default();
    let s = ModelSpec::new(0, 128, 128, 2);
    let data = DataConfig::registry("", "");
    let d = PyDict::new(py);
    d.set_item("dev_fraction", data.dev_fraction)?;
    d.set_item("epochs", t.epochs)?;
    d.set_item("batch_size", t.batch_size)?;
    d.set_item("max_len", s.max_len)?;
    d.set_item("vocab_size", data.vocab_size)?;
    d.set_item("min_count", data.min_count)?;
    d.set_item("embed_dim", s.embed_dim)?;
    d.set_item("hidden", s.hidden)?;
    d.set_item("pooling", "mean")?;
    d.set_item("dropout_embed", s.dropout_embed.get())?;
    d.set_item("dropout_output", s.dropout_output.get())?;
    d.set_item("cell", s.cell.to_string())?;
    d.set_item("layers", s.layers)?;
    d.set_item("bidirectional", s.bidirectional)?;
    d.set_item("dropout_between", s.dropout_between.get())?;
    d.set_item("epsilon", py.None())?;
    d.set_item("density", py.None())?;
    d.set_item("erk", py.None())?;
    d.set_item("dense", false)?;
    d.set_item("sparse_output", s.sparse_output)?;
    d.set_item("policy", t.policy.as_str())?;
    d.set_item("zeta", t.zeta.get())?;
    d.set_item("prune_schedule", t.prune_schedule.as_str())?;
    d.set_item("evolve_every", t.evolve_every)?;
    d.set_item("regrow_into_removed", t.regrow_into_removed)?;
    d.set_item("new_weight_std", py.None())?;
    d.set_item("new_weight_matched", py.None())?;
    d.set_item("optimizer", t.optimizer.as_str())?;
    d.set_item("adam_per_weight_steps", t.adam_per_weight_steps)?;
    d.set_item("lr", t.lr)?;
    d.set_item("lr_schedule", t.lr_schedule.as_str())?;
    d.set_item("warmup_steps", t.warmup_steps)?;
    d.set_item("momentum", t.momentum)?;
    d.set_item("weight_decay", t.weight_decay)?;
    d.set_item("clip", t.clip)?;
    d.set_item("early_stopping", py.None())?;
    d.set_item("seed", t.seed)?;
    d.set_item("split_seed", py.None())?;
    d.set_item("threads", 0)?;
    Ok(d)
}
