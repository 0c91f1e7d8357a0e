//! Model files (`model.safetensors`, exports): a trained model with its spec, vocabulary and
//! class names; [`ModelBundle::save`] and [`ModelBundle::load`] are one call each, and
//! [`ModelBundle::predict`] classifies raw texts.

use super::params::{check_model_config, param_tensors, read_params};
use super::tensors::{TensorFile, encode_safetensors, first_non_finite, read_bytes};
use super::{CResult, CheckpointError, MODEL_FORMAT, VERSION, bad_meta, json};
use crate::spec::{ModelSpec, Sparsity};
use set_data::{EncodedExample, Vocab};
use set_nn::{Classifier, ClassifierConfig, Storage};
use std::collections::BTreeMap;
use std::path::Path;

/// A trained model with everything needed to use it.
#[derive(Debug, Clone)]
pub struct ModelBundle {
    /// What the model is.
    pub spec: ModelSpec,
    /// The model (its `config` is the model configuration of `spec`).
    pub model: Classifier<f32>,
    /// Vocabulary, in id order.
    pub vocab: Vocab,
    /// Class names, one per class.
    pub class_names: Vec<String>,
    /// The front end's own settings, kept verbatim as provenance (the command line records its
    /// whole configuration here); `None` when none were given.
    pub front_end: Option<serde_json::Value>,
}

/// The prediction for one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Index of the predicted class (the largest logit; the first on ties).
    pub class: usize,
    /// Logits `[classes]`.
    pub logits: Vec<f32>,
    /// Softmax of the logits, in `f64`.
    pub probabilities: Vec<f64>,
    /// The token ids fed to the model (after truncation to the last `max_len`).
    pub token_ids: Vec<u32>,
}

impl ModelBundle {
    /// Writes the model file atomically (a temporary file, synced, renamed, directory synced).
    ///
    /// # Errors
    /// A non-finite weight (nothing is written), or an I/O error naming the path.
    pub fn save(&self, path: impl AsRef<Path>) -> CResult<()> {
        let path = path.as_ref();
        let bytes = encode_model(self)?;
        set_data::write_atomic(path, &bytes).map_err(|e| CheckpointError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })
    }

    /// Reads and validates a model file.
    ///
    /// # Errors
    /// Any problem with the file, typed.
    pub fn load(path: impl AsRef<Path>) -> CResult<Self> {
        decode_model(&read_bytes(path.as_ref())?)
    }

    /// The token ids the model sees for `text`: tokenised with the tokenizer of training,
    /// mapped with the vocabulary, and cut to the last `max_len` tokens.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = self.vocab.encode(&crate::data::tokenizer().tokenize(text));
        let max = self.spec.max_len;
        if ids.len() > max {
            ids.drain(..ids.len() - max);
        }
        ids
    }

    /// Classifies `texts` in batches of `batch_size` (on the current rayon pool).
    ///
    /// # Errors
    /// A non-finite logit (the model's weights overflow on this input): an error naming the
    /// text's index, never a prediction.
    pub fn predict<S: AsRef<str>>(
        &self,
        texts: &[S],
        batch_size: usize,
    ) -> Result<Vec<Prediction>, crate::TrainError> {
        let examples: Vec<EncodedExample> = texts
            .iter()
            .map(|t| EncodedExample {
                ids: self.encode(t.as_ref()),
                label: 0,
            })
            .collect();
        let cfg = set_data::BatchConfig {
            batch_size: batch_size.max(1),
            max_len: self.spec.max_len,
            ..set_data::BatchConfig::default()
        };
        let logits = crate::eval::logits_all(&self.model, &examples, &cfg)?;
        examples
            .into_iter()
            .zip(logits)
            .enumerate()
            .map(|(i, (ex, logits))| {
                if let Some(bad) = logits.iter().find(|x| !x.is_finite()) {
                    return Err(crate::TrainError::NonFinite {
                        what: "logit".into(),
                        tensor: format!("output for text {i} ({bad})"),
                        step: 0,
                    });
                }
                let token_ids = if ex.ids.is_empty() {
                    vec![Vocab::UNK]
                } else {
                    ex.ids
                };
                Ok(Prediction {
                    class: crate::eval::argmax(&logits),
                    probabilities: crate::eval::softmax(&logits),
                    logits,
                    token_ids,
                })
            })
            .collect()
    }

    /// The same model with every matrix dense (see [`crate::densify`]).
    ///
    /// # Errors
    /// Never for a valid model.
    pub fn densified(&self) -> Result<ModelBundle, crate::TrainError> {
        Ok(ModelBundle {
            spec: self.spec.clone().dense(),
            model: crate::analytics::densify(&self.model)?,
            ..self.clone()
        })
    }
}

/// Serialises a model file.
///
/// # Errors
/// [`CheckpointError::NonFinite`] for a NaN or infinite weight.
pub fn encode_model(b: &ModelBundle) -> CResult<Vec<u8>> {
    let mut tensors = Vec::new();
    let mut shapes = BTreeMap::new();
    for p in b.model.params() {
        first_non_finite(&p.name, p.values())?;
        param_tensors(p, &mut tensors, &mut shapes);
    }
    let layout = if shapes.is_empty() { "dense" } else { "sparse" };
    let mut meta = BTreeMap::from([
        ("format".to_string(), MODEL_FORMAT.to_string()),
        ("version".to_string(), VERSION.to_string()),
        ("layout".to_string(), layout.to_string()),
        ("spec".to_string(), json(&b.spec)),
        ("model".to_string(), json(&b.model.config)),
        ("class_names".to_string(), json(&b.class_names)),
        ("vocab".to_string(), json(&b.vocab.tokens())),
        ("vocab_sha256".to_string(), b.vocab.sha256()),
        ("sparse_shapes".to_string(), json(&shapes)),
    ]);
    if let Some(f) = &b.front_end {
        meta.insert("front_end".to_string(), json(f));
    }
    Ok(encode_safetensors(tensors, &meta))
}

/// Class names: one per class, unique, non-empty, without control characters.
pub(crate) fn check_class_names(names: &[String], classes: usize) -> CResult<()> {
    if names.len() != classes {
        return Err(bad_meta(
            "class_names",
            format!("{} names for {classes} classes", names.len()),
        ));
    }
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() || n.len() > 256 || n.chars().any(char::is_control) {
            return Err(bad_meta(
                "class_names",
                format!("name {i} is empty, longer than 256 bytes or has control characters"),
            ));
        }
        if names[..i].contains(n) {
            return Err(bad_meta("class_names", format!("`{n}` appears twice")));
        }
    }
    Ok(())
}

/// The spec, front-end settings, model configuration and class names every model file and
/// checkpoint carries, each validated. Format 1 recorded the front end's configuration as
/// `config`; the spec is read out of it and the model configuration.
pub(crate) fn read_common(
    f: &TensorFile<'_>,
) -> CResult<(
    ModelSpec,
    Option<serde_json::Value>,
    ClassifierConfig,
    Vec<String>,
)> {
    let mcfg: ClassifierConfig = f.meta_json("model")?;
    check_model_config(&mcfg)?;
    let (spec, front_end, key) = if f.version() == 1 {
        let config: serde_json::Value = f.meta_json("config")?;
        (spec_from_v1(&config, &mcfg)?, Some(config), "config")
    } else {
        let spec: ModelSpec = f.meta_json("spec")?;
        let front_end = f
            .meta_opt("front_end")
            .map(|s| serde_json::from_str(s).map_err(|e| bad_meta("front_end", e.to_string())))
            .transpose()?;
        (spec, front_end, "spec")
    };
    // The spec must imply exactly the model configuration the tensors are read against.
    let expected = spec
        .classifier_config()
        .map_err(|e| bad_meta(key, e.to_string()))?;
    if expected != mcfg {
        return Err(bad_meta(
            key,
            "does not describe the model configuration `model`",
        ));
    }
    let class_names: Vec<String> = f.meta_json("class_names")?;
    check_class_names(&class_names, mcfg.classes)?;
    Ok((spec, front_end, mcfg, class_names))
}

/// The spec of a format-1 file: sizes, pooling, dropout and activation from the model
/// configuration; sparsity and `max_len` from the command line's configuration.
fn spec_from_v1(config: &serde_json::Value, mcfg: &ClassifierConfig) -> CResult<ModelSpec> {
    let num = |k: &str| config.get(k).and_then(serde_json::Value::as_f64);
    let bad = |m: &str| bad_meta("config", m);
    let all_dense = [mcfg.embedding, mcfg.lstm_ih, mcfg.lstm_hh, mcfg.output]
        .iter()
        .all(|s| *s == Storage::Dense);
    let sparsity = if all_dense {
        Sparsity::Dense
    } else if let Some(d) = num("density") {
        Sparsity::Uniform {
            density: crate::Density::new(d).map_err(|e| bad(&e.to_string()))?,
        }
    } else if let Some(e) = num("epsilon") {
        Sparsity::ErdosRenyi {
            epsilon: crate::Epsilon::new(e).map_err(|e| bad(&e.to_string()))?,
        }
    } else {
        return Err(bad("a sparse model without `density` or `epsilon`"));
    };
    let max_len = config
        .get("max_len")
        .and_then(serde_json::Value::as_u64)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| bad("`max_len` is missing or not an integer"))?;
    let rate = |v: f64, key| {
        crate::DropoutRate::new(v).map_err(|e| bad_meta("model", e.for_key(key).to_string()))
    };
    let spec = ModelSpec {
        vocab_size: mcfg.vocab_size,
        embed_dim: mcfg.embed_dim,
        hidden: mcfg.hidden,
        classes: mcfg.classes,
        max_len,
        sparsity,
        sparse_output: matches!(mcfg.output, Storage::Sparse { .. }),
        pooling: mcfg.pooling,
        dropout_embed: rate(mcfg.dropout_embed, "dropout_embed")?,
        dropout_output: rate(mcfg.dropout_output, "dropout_output")?,
        activation: mcfg.activation,
        cell: set_nn::CellKind::Lstm,
        layers: 1,
        bidirectional: false,
        dropout_between: crate::DropoutRate::new(0.0).expect("0 is a valid rate"),
    };
    spec.validate().map_err(|e| bad(&e.to_string()))?;
    Ok(spec)
}

/// Parses and validates a model file.
///
/// # Errors
/// Any problem, typed.
pub fn decode_model(bytes: &[u8]) -> CResult<ModelBundle> {
    let f = TensorFile::parse(bytes, MODEL_FORMAT)?;
    let (spec, front_end, mcfg, class_names) = read_common(&f)?;
    let tokens: Vec<String> = f.meta_json("vocab")?;
    let vocab = Vocab::from_tokens(tokens).map_err(|e| bad_meta("vocab", e.to_string()))?;
    if vocab.len() != mcfg.vocab_size {
        return Err(bad_meta(
            "vocab",
            format!("{} tokens for vocab_size {}", vocab.len(), mcfg.vocab_size),
        ));
    }
    if vocab.sha256() != f.meta("vocab_sha256")? {
        return Err(bad_meta("vocab_sha256", "does not match the vocabulary"));
    }
    let params = read_params(&f, &mcfg)?;
    let layout = f.meta("layout")?;
    let sparse = params.iter().any(|p| p.value.as_sparse().is_some());
    let expected = if sparse { "sparse" } else { "dense" };
    if layout != expected {
        return Err(bad_meta(
            "layout",
            format!("`{layout}`, but the tensors are {expected}"),
        ));
    }
    f.finish()?;
    let model =
        Classifier::from_params(mcfg, params).map_err(|e| CheckpointError::Model(Box::new(e)))?;
    Ok(ModelBundle {
        spec,
        model,
        vocab,
        class_names,
        front_end,
    })
}
