//! A run's data from memory instead of files: labelled texts (a Python list, a program's own
//! corpus) or token ids a caller encoded itself, split and encoded exactly as
//! [`RunData::load`] does for `--train`/`--test` files, so the same examples train the same
//! model whichever way they arrive.

use crate::data::{RunData, tokenizer};
use crate::error::TrainError;
use crate::rng::{Stream, stream_rng};
use crate::spec::MAX_CLASSES;
use set_data::{
    CacheStatus, DataError, DatasetSplits, EncodedExample, Example, SplitOrigin, Vocab,
    stratified_split, tokenize_examples,
};

/// Labelled examples held in memory, with the data settings that files would get from a
/// [`crate::DataConfig`].
///
/// ```
/// use set_train::set_data::Example;
/// use set_train::{InMemoryData, RunData};
/// let ex = |label: usize, text: &str| Example { label, text: text.into() };
/// let train: Vec<Example> = (0..20)
///     .map(|i| if i % 2 == 0 { ex(1, "a great film") } else { ex(0, "a dull film") })
///     .collect();
/// let data = InMemoryData::new(train, vec!["negative".into(), "positive".into()]);
/// let run = RunData::from_texts(data, 42, None).unwrap();
/// assert_eq!((run.splits.train.len(), run.splits.dev.len()), (18, 2));
/// assert_eq!(run.vocab.len(), 6); // <pad>, <unk>, a, film, great, dull
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct InMemoryData {
    /// Training examples (labels are class indices `0..class_names.len()`).
    pub train: Vec<Example>,
    /// Dev examples; without them dev is carved from train with `dev_fraction`.
    pub dev: Option<Vec<Example>>,
    /// One name per class.
    pub class_names: Vec<String>,
    /// Fraction of train carved out as dev when `dev` is `None` (the CLI's `--dev-fraction`).
    pub dev_fraction: f64,
    /// Largest vocabulary, including `<pad>` and `<unk>` (`--vocab-size`).
    pub vocab_size: usize,
    /// Fewest training occurrences for a token to enter the vocabulary (`--min-count`).
    pub min_count: usize,
}

impl InMemoryData {
    /// Training examples and class names, with the command line's defaults: dev carved from
    /// train (0.1), vocabulary of up to 20,000 tokens, min count 1.
    pub fn new(train: Vec<Example>, class_names: Vec<String>) -> Self {
        InMemoryData {
            train,
            dev: None,
            class_names,
            dev_fraction: 0.1,
            vocab_size: 20_000,
            min_count: 1,
        }
    }
}

fn invalid(what: &'static str, message: String) -> TrainError {
    TrainError::Data(DataError::InvalidArgument { what, message })
}

fn check_labels(
    what: &'static str,
    labels: impl Iterator<Item = usize>,
    classes: usize,
) -> Result<(), TrainError> {
    for (i, label) in labels.enumerate() {
        if label >= classes {
            return Err(invalid(
                what,
                format!("example {i} has label {label}, expected a class index in 0..{classes}"),
            ));
        }
    }
    Ok(())
}

fn check_classes(class_names: &[String]) -> Result<(), TrainError> {
    if !(2..=MAX_CLASSES).contains(&class_names.len()) {
        return Err(invalid(
            "classes",
            format!(
                "{} classes given, expected 2..={MAX_CLASSES}",
                class_names.len()
            ),
        ));
    }
    Ok(())
}

fn check_texts(what: &'static str, examples: &[Example]) -> Result<(), TrainError> {
    // The file loaders refuse empty texts by default; so does memory.
    if let Some(i) = examples.iter().position(|e| e.text.trim().is_empty()) {
        return Err(invalid(
            what,
            format!("text {i} is empty or whitespace only"),
        ));
    }
    Ok(())
}

/// Train and dev of one run, dev carved from train with the seed's split stream when absent
/// (exactly as the file loader does for `--train` without `--dev`).
fn split<T: set_data::Labeled>(
    train: Vec<T>,
    dev: Option<Vec<T>>,
    dev_fraction: f64,
    seed: u64,
) -> Result<(Vec<T>, Vec<T>, SplitOrigin), TrainError> {
    if !(dev_fraction.is_finite() && (0.0..1.0).contains(&dev_fraction)) {
        return Err(TrainError::Setting(crate::SettingError {
            key: "dev_fraction",
            value: dev_fraction.to_string(),
            expected: "a fraction in [0, 1)",
        }));
    }
    let (train, dev, origin) = match dev {
        Some(dev) => (train, dev, SplitOrigin::File),
        None => {
            let mut rng = stream_rng(seed, Stream::Split, 0);
            let (train, dev) = stratified_split(train, dev_fraction, &mut rng)?;
            (train, dev, SplitOrigin::CarvedFromTrain)
        }
    };
    if train.is_empty() {
        return Err(invalid("train", "the training split is empty".to_string()));
    }
    Ok((train, dev, origin))
}

fn splits(
    train: Vec<EncodedExample>,
    dev: Vec<EncodedExample>,
    dev_origin: SplitOrigin,
    class_names: Vec<String>,
) -> DatasetSplits<EncodedExample> {
    DatasetSplits {
        name: "memory".to_string(),
        train,
        dev,
        test: Vec::new(),
        num_classes: class_names.len(),
        class_names,
        source_files: Vec::new(),
        load_stats: Vec::new(),
        cache_status: Vec::<CacheStatus>::new(),
        dev_origin,
        test_origin: SplitOrigin::File,
    }
}

impl RunData {
    /// Tokenises (with [`tokenizer`]), splits (split stream of `seed`) and encodes examples held
    /// in memory, with `vocab` or a vocabulary built from the training split. There is no test
    /// split and no file digest.
    ///
    /// # Errors
    /// Fewer than 2 or more than [`MAX_CLASSES`] classes, a label out of range, an empty text,
    /// an empty training split, or a bad `dev_fraction` (all naming the example or setting).
    pub fn from_texts(
        data: InMemoryData,
        seed: u64,
        vocab: Option<Vocab>,
    ) -> Result<Self, TrainError> {
        check_classes(&data.class_names)?;
        let c = data.class_names.len();
        check_labels("train", data.train.iter().map(|e| e.label), c)?;
        check_texts("train", &data.train)?;
        if let Some(dev) = &data.dev {
            check_labels("dev", dev.iter().map(|e| e.label), c)?;
            check_texts("dev", dev)?;
        }
        let tok = tokenizer();
        let train = tokenize_examples(&data.train, &tok);
        let dev = data.dev.as_deref().map(|d| tokenize_examples(d, &tok));
        let (train, dev, origin) = split(train, dev, data.dev_fraction, seed)?;
        let vocab = vocab.unwrap_or_else(|| {
            Vocab::build(
                train.iter().map(|e| &e.tokens),
                data.vocab_size,
                data.min_count,
            )
        });
        let encode = |ex: &[set_data::TokenizedExample]| set_data::encode_examples(ex, &vocab);
        let (train, dev) = (encode(&train), encode(&dev));
        Ok(RunData {
            splits: splits(train, dev, origin, data.class_names),
            vocab,
            files: Vec::new(),
        })
    }

    /// Examples a caller encoded itself (ids into `vocab`), split like
    /// [`RunData::from_texts`].
    ///
    /// # Errors
    /// As [`RunData::from_texts`], or a token id outside `vocab`.
    pub fn from_encoded(
        train: Vec<EncodedExample>,
        dev: Option<Vec<EncodedExample>>,
        class_names: Vec<String>,
        dev_fraction: f64,
        seed: u64,
        vocab: Vocab,
    ) -> Result<Self, TrainError> {
        check_classes(&class_names)?;
        let c = class_names.len();
        let n = vocab.len();
        for (what, part) in [("train", Some(&train)), ("dev", dev.as_ref())] {
            let Some(part) = part else { continue };
            check_labels(what, part.iter().map(|e| e.label), c)?;
            for (i, e) in part.iter().enumerate() {
                if let Some(&bad) = e.ids.iter().find(|&&id| id as usize >= n) {
                    return Err(invalid(
                        what,
                        format!("example {i} has token id {bad}, expected ids in 0..{n}"),
                    ));
                }
            }
        }
        let (train, dev, origin) = split(train, dev, dev_fraction, seed)?;
        Ok(RunData {
            splits: splits(train, dev, origin, class_names),
            vocab,
            files: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataConfig;

    fn write_jsonl(path: &std::path::Path, examples: &[Example]) {
        let lines: Vec<String> = examples
            .iter()
            .map(|e| serde_json::json!({"label": e.label, "text": e.text}).to_string())
            .collect();
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn memory_and_files_give_the_same_splits_and_vocabulary() {
        let train: Vec<Example> = (0..50)
            .map(|i| Example {
                label: i % 2,
                text: format!(
                    "text number {i} is {}",
                    if i % 2 == 0 { "bad" } else { "good" }
                ),
            })
            .collect();
        let test = train[..4].to_vec();
        let dir = tempfile::tempdir().unwrap();
        let (tr, te) = (
            dir.path().join("train.jsonl"),
            dir.path().join("test.jsonl"),
        );
        write_jsonl(&tr, &train);
        write_jsonl(&te, &test);
        let cfg = DataConfig {
            source: crate::DataSource::Files {
                train: tr,
                dev: None,
                test: Some(te),
                classes: 2,
                labels: None,
                text_field: None,
                label_field: None,
                format: None,
            },
            ..DataConfig::registry("uci", "")
        };
        let files = RunData::load(&cfg, 7, None).unwrap();
        let names = vec!["negative".to_string(), "positive".to_string()];
        let mem = RunData::from_texts(InMemoryData::new(train, names.clone()), 7, None).unwrap();
        assert_eq!(mem.splits.train, files.splits.train);
        assert_eq!(mem.splits.dev, files.splits.dev);
        assert_eq!(mem.vocab.tokens(), files.vocab.tokens());
        let enc = RunData::from_encoded(
            files.splits.train.clone(),
            Some(files.splits.dev.clone()),
            names,
            0.1,
            7,
            files.vocab.clone(),
        )
        .unwrap();
        assert_eq!(enc.splits.train, files.splits.train);
    }

    #[test]
    fn bad_examples_are_errors() {
        let names = vec!["a".to_string(), "b".to_string()];
        let ex = |label, text: &str| Example {
            label,
            text: text.into(),
        };
        let err = |d: InMemoryData| RunData::from_texts(d, 1, None).unwrap_err().to_string();
        assert!(err(InMemoryData::new(vec![ex(2, "x")], names.clone())).contains("label 2"));
        assert!(err(InMemoryData::new(vec![ex(0, " ")], names.clone())).contains("empty"));
        assert!(err(InMemoryData::new(vec![], names.clone())).contains("empty"));
        assert!(err(InMemoryData::new(vec![ex(0, "x")], vec!["a".into()])).contains("classes"));
        let vocab = Vocab::from_tokens(vec!["<pad>".into(), "<unk>".into()]).unwrap();
        let bad = vec![EncodedExample {
            ids: vec![5],
            label: 0,
        }];
        let e = RunData::from_encoded(bad, None, names, 0.1, 1, vocab).unwrap_err();
        assert!(e.to_string().contains("token id 5"), "{e}");
    }
}
