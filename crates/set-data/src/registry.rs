//! The dataset registry: names, file layouts and label maps.
//!
//! | name | files (under the data directory) | classes | splits |
//! |---|---|---|---|
//! | `imdb` | `imdb/{train,test}.jsonl.gz` | 2 | official train/test; dev carved from train |
//! | `sst2` | `sst/sst2_{train,dev,test}.jsonl.gz` | 2 | official |
//! | `sst5` | `sst/{train,dev,test}.jsonl.gz` | 5 | official |
//! | `sanders` | `sanders_twitter/all.jsonl.gz` | 2 (labels 0, 1; 2 and 3 filtered out) | seeded test, then dev from train |
//! | `sanders4` | `sanders_twitter/all.jsonl.gz` | 4 | seeded test, then dev from train |
//! | `uci` | `uci_sentiment_sentences/{amazon_cells,imdb,yelp}.jsonl.gz`, concatenated | 2 | seeded test, then dev from train |
//! | `uci-amazon`, `uci-imdb`, `uci-yelp` | one of the three UCI files | 2 | seeded test, then dev from train |
//!
//! Loading and splitting are in [`crate::dataset`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::example::LabelMap;

/// The datasets the registry knows; see the [module docs](self) for files and splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DatasetName {
    /// IMDB Large Movie Review (25k/25k).
    #[serde(rename = "imdb")]
    Imdb,
    /// SST-2, sentence level.
    #[serde(rename = "sst2")]
    Sst2,
    /// SST-5, sentence level.
    #[serde(rename = "sst5")]
    Sst5,
    /// Sanders tweets, positive vs negative.
    #[serde(rename = "sanders")]
    Sanders,
    /// Sanders tweets, all four classes.
    #[serde(rename = "sanders4")]
    Sanders4,
    /// UCI sentences, all three sources.
    #[serde(rename = "uci")]
    Uci,
    /// UCI sentences, Amazon only.
    #[serde(rename = "uci-amazon")]
    UciAmazon,
    /// UCI sentences, IMDb only.
    #[serde(rename = "uci-imdb")]
    UciImdb,
    /// UCI sentences, Yelp only.
    #[serde(rename = "uci-yelp")]
    UciYelp,
}

/// Where a dataset's files are and how its splits are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Official split files (relative to the data directory); a missing dev is carved from train.
    Official {
        /// Training file.
        train: &'static str,
        /// Dev file, if the dataset has one.
        dev: Option<&'static str>,
        /// Test file.
        test: &'static str,
    },
    /// Files concatenated in order, then split with the rng.
    Pooled {
        /// The files.
        files: &'static [&'static str],
    },
}

impl Layout {
    /// All files, relative to the data directory.
    pub fn files(&self) -> Vec<&'static str> {
        match *self {
            Layout::Official { train, dev, test } => [Some(train), dev, Some(test)]
                .into_iter()
                .flatten()
                .collect(),
            Layout::Pooled { files } => files.to_vec(),
        }
    }
}

const UCI_ALL: &[&str] = &[
    "uci_sentiment_sentences/amazon_cells.jsonl.gz",
    "uci_sentiment_sentences/imdb.jsonl.gz",
    "uci_sentiment_sentences/yelp.jsonl.gz",
];

impl DatasetName {
    /// Every dataset, in display order.
    pub const ALL: [DatasetName; 9] = [
        Self::Imdb,
        Self::Sst2,
        Self::Sst5,
        Self::Sanders,
        Self::Sanders4,
        Self::Uci,
        Self::UciAmazon,
        Self::UciImdb,
        Self::UciYelp,
    ];

    /// The command-line name, e.g. `"uci-yelp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Imdb => "imdb",
            Self::Sst2 => "sst2",
            Self::Sst5 => "sst5",
            Self::Sanders => "sanders",
            Self::Sanders4 => "sanders4",
            Self::Uci => "uci",
            Self::UciAmazon => "uci-amazon",
            Self::UciImdb => "uci-imdb",
            Self::UciYelp => "uci-yelp",
        }
    }

    /// Files and split scheme.
    pub fn layout(self) -> Layout {
        match self {
            Self::Imdb => Layout::Official {
                train: "imdb/train.jsonl.gz",
                dev: None,
                test: "imdb/test.jsonl.gz",
            },
            Self::Sst2 => Layout::Official {
                train: "sst/sst2_train.jsonl.gz",
                dev: Some("sst/sst2_dev.jsonl.gz"),
                test: "sst/sst2_test.jsonl.gz",
            },
            Self::Sst5 => Layout::Official {
                train: "sst/train.jsonl.gz",
                dev: Some("sst/dev.jsonl.gz"),
                test: "sst/test.jsonl.gz",
            },
            Self::Sanders | Self::Sanders4 => Layout::Pooled {
                files: &["sanders_twitter/all.jsonl.gz"],
            },
            Self::Uci => Layout::Pooled { files: UCI_ALL },
            Self::UciAmazon => Layout::Pooled {
                files: &UCI_ALL[0..1],
            },
            Self::UciImdb => Layout::Pooled {
                files: &UCI_ALL[1..2],
            },
            Self::UciYelp => Layout::Pooled {
                files: &UCI_ALL[2..3],
            },
        }
    }

    /// How raw labels map to classes.
    pub fn labels(self) -> LabelMap {
        let build = |pairs: &[(i64, usize)], filtered: &[i64], names: &[&str]| {
            LabelMap::new(
                pairs.iter().copied(),
                filtered.iter().copied(),
                names.iter().copied(),
            )
            .unwrap_or_else(|_| unreachable!("built-in label maps are valid"))
        };
        match self {
            Self::Sst5 => build(
                &[(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)],
                &[],
                &[
                    "very negative",
                    "negative",
                    "neutral",
                    "positive",
                    "very positive",
                ],
            ),
            Self::Sanders => build(&[(0, 0), (1, 1)], &[2, 3], &["negative", "positive"]),
            Self::Sanders4 => build(
                &[(0, 0), (1, 1), (2, 2), (3, 3)],
                &[],
                &["negative", "positive", "neutral", "irrelevant"],
            ),
            _ => LabelMap::binary(),
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetName {
    type Err = DataError;

    /// Parses a dataset name (case-insensitive).
    ///
    /// ```
    /// use set_data::DatasetName;
    /// assert_eq!("SST2".parse::<DatasetName>().unwrap(), DatasetName::Sst2);
    /// assert!("mnist".parse::<DatasetName>().unwrap_err().to_string().contains("known: imdb, sst2"));
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == lower)
            .ok_or_else(|| DataError::UnknownDataset {
                name: s.to_owned(),
                known: Self::ALL.map(Self::as_str).join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DatasetName::ALL {
            assert_eq!(d.as_str().parse::<DatasetName>().unwrap(), d);
            assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{d}\""));
            assert!(!d.layout().files().is_empty());
            assert!(d.labels().num_classes() >= 2);
        }
    }
}
