//! `set-data`: text data for set-lstm (the documentation below is the crate README).
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aclimdb;
mod atomic;
pub mod batch;
pub mod bounded;
pub mod bundled;
pub mod cache;
pub mod datadir;
pub mod dataset;
pub mod delimited;
pub mod digest;
pub mod error;
pub mod example;
#[doc(hidden)]
pub mod fuzzing;
pub mod jsonl;
pub mod labeled;
mod reader;
pub mod registry;
pub mod split;
pub mod stats;
pub mod tokenizer;
pub mod vocab;

pub use aclimdb::load_aclimdb;
pub use atomic::{sync_dir, write_atomic};
pub use batch::{
    Batch, BatchConfig, EncodedExample, Truncation, encode_examples, eval_batches, make_batches,
};
pub use bounded::{open_regular, read_bounded, read_text_bounded};
pub use cache::{CacheStatus, CachedTokens, TokenCache};
pub use datadir::DataDir;
pub use dataset::{
    DatasetSplits, SplitConfig, SplitFiles, SplitOrigin, load_dataset, load_dataset_tokenized,
    load_files, load_files_tokenized,
};
pub use delimited::{ColumnRef, CsvOptions, load_delimited, read_delimited};
pub use digest::FileDigest;
pub use error::{DataError, Location, Result};
pub use example::{
    EmptyTextPolicy, Example, FileFormat, LabelLookup, LabelMap, Labeled, LoadOptions, LoadStats,
    Loaded, TokenizedExample, tokenize_examples,
};
pub use jsonl::{load_jsonl, read_jsonl};
pub use labeled::{discover_labels, load_labeled};
pub use registry::{DatasetName, Layout};
pub use split::stratified_split;
pub use stats::{LengthPercentiles, SplitStats, unk_rate};
pub use tokenizer::{Punctuation, Tokenizer, TokenizerConfig};
pub use vocab::Vocab;

/// Most distinct word labels a file may have (more means the label field is probably a text).
pub const MAX_DISCOVERED_LABELS: usize = 1_000;
