//! The table of known datasets: official URLs, archive checksums and the files fetch-data produces.
//!
//! This table and `datasets/SOURCES.md` must agree; a unit test parses the markdown and compares.
//! Archive checksums come from widely used dataset loaders (HF datasets, torchtext). The checksums
//! of the produced files are those of the reference copies described in each dataset's
//! `MANIFEST.md` (sha256 of the *decompressed* content, so they do not depend on the gzip
//! implementation).

use std::fmt::Write as _;

/// Container format of a dataset archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// gzip-compressed tar (`.tar.gz`).
    TarGz,
    /// zip with stored or deflated entries.
    Zip,
}

impl ArchiveFormat {
    /// File-name extension used for the downloaded copy.
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::TarGz => "tar.gz",
            ArchiveFormat::Zip => "zip",
        }
    }
}

/// Which conversion turns the extracted archive into canonical JSONL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Converter {
    /// `aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt` → `imdb/{train,test}.jsonl.gz`.
    Imdb,
    /// `trees/{train,dev,test}.txt` (PTB trees) → SST-5 and SST-2 JSONL.
    Sst,
    /// `*_labelled.txt` (sentence TAB score) → one JSONL file per source site.
    Uci,
}

/// How a dataset can be obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// An archive can be downloaded (or imported with `--from`) and converted.
    Archive {
        /// Container format of the archive.
        format: ArchiveFormat,
        /// Conversion to apply after extraction.
        converter: Converter,
    },
    /// The dataset can no longer be obtained from its source; the string says why.
    Unavailable(&'static str),
}

/// Expected properties of one produced file, compared after conversion and before installing.
///
/// For `.gz` files the numbers describe the decompressed content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputCheck {
    /// Path relative to the dataset folder, with `/` separators.
    pub path: &'static str,
    /// Number of `\n` bytes (records, for JSONL).
    pub lines: u64,
    /// Size of the (decompressed) content in bytes.
    pub bytes: u64,
    /// Lower-case hex sha256 of the (decompressed) content.
    pub sha256: &'static str,
}

/// Caps that protect against oversized downloads and zip/tar bombs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest archive accepted when its size is not known in advance.
    pub max_archive_bytes: u64,
    /// Largest total size of all entries in the archive (extracted or skipped).
    pub max_extracted_bytes: u64,
    /// Largest number of entries in the archive.
    pub max_entries: u64,
}

/// Everything fetch-data needs to know about one dataset.
///
/// Tests build their own specs (e.g. with the checksum of a tiny archive) with struct-update
/// syntax from a built-in one: `DatasetSpec { archive_sha256: Some(..), ..find("uci").unwrap().clone() }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Name used on the command line.
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// Folder created inside the data directory.
    pub folder: &'static str,
    /// Human-readable title.
    pub title: &'static str,
    /// Official download URL (for unavailable datasets: the historical one).
    pub url: &'static str,
    /// Exact archive size in bytes, if published.
    pub archive_size: Option<u64>,
    /// Lower-case hex sha256 of the archive, if published.
    pub archive_sha256: Option<&'static str>,
    /// Where the archive checksum comes from (or why there is none).
    pub checksum_source: &'static str,
    /// Whether and how the dataset can be fetched.
    pub availability: Availability,
    /// Size caps.
    pub limits: Limits,
    /// Files produced, with their expected content. Empty means "not checked".
    pub outputs: &'static [OutputCheck],
}

const MIB: u64 = 1024 * 1024;

/// All known datasets, in `--list` order.
pub static DATASETS: &[DatasetSpec] = &[
    DatasetSpec {
        name: "imdb",
        aliases: &["aclimdb"],
        folder: "imdb",
        title: "IMDB Large Movie Review Dataset v1.0 (Maas et al. 2011)",
        url: "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
        archive_size: Some(84_125_825),
        archive_sha256: Some("c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"),
        checksum_source: "HF datasets / TFDS; md5 7c2ac02c03563afcf9b574c7e56c153a in torchtext",
        availability: Availability::Archive {
            format: ArchiveFormat::TarGz,
            converter: Converter::Imdb,
        },
        limits: Limits {
            max_archive_bytes: 100 * MIB,
            max_extracted_bytes: 1024 * MIB,
            max_entries: 250_000,
        },
        outputs: &[
            OutputCheck {
                path: "README.original.txt",
                lines: 92,
                bytes: 4_038,
                sha256: "53daaefbef0d46b6da0386ac3811960cc10f42d59ceac9cecbb543f5b30c657a",
            },
            OutputCheck {
                path: "train.jsonl.gz",
                lines: 25_000,
                bytes: 34_291_246,
                sha256: "10ff15aaec3babfacd92e9432c2e4f5ecacc46757646597ed25123e8d203b982",
            },
            OutputCheck {
                path: "test.jsonl.gz",
                lines: 25_000,
                bytes: 33_508_845,
                sha256: "315856b4b8a9f12379c71a0ff73b360784b0f8c5747b145e3db6be2ef861d4fc",
            },
        ],
    },
    DatasetSpec {
        name: "sst",
        aliases: &["sst5", "sst2"],
        folder: "sst",
        title: "Stanford Sentiment Treebank, PTB trees (SST-5 and SST-2, sentence level)",
        url: "https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip",
        archive_size: Some(789_539),
        archive_sha256: Some("5c613a4f673fc74097d523a2c83f38e0cc462984d847b82c7aaf36b01cbbbfcc"),
        checksum_source: "HF datasets",
        availability: Availability::Archive {
            format: ArchiveFormat::Zip,
            converter: Converter::Sst,
        },
        limits: Limits {
            max_archive_bytes: 8 * MIB,
            max_extracted_bytes: 64 * MIB,
            max_entries: 1_000,
        },
        outputs: &[
            OutputCheck {
                path: "trees/train.txt.gz",
                lines: 8_544,
                bytes: 2_160_058,
                sha256: "e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7",
            },
            OutputCheck {
                path: "trees/dev.txt.gz",
                lines: 1_101,
                bytes: 280_825,
                sha256: "0e9336aed6e4730e19f58d00a77b3f0297efdb755f7b5e598c98a05e3f97ea40",
            },
            OutputCheck {
                path: "trees/test.txt.gz",
                lines: 2_210,
                bytes: 559_614,
                sha256: "6e54806dee95cf80cd918e7dfb3f6770f6df24bf826f289a4d1f709e1c8f6761",
            },
            OutputCheck {
                path: "train.jsonl.gz",
                lines: 8_544,
                bytes: 1_158_128,
                sha256: "aea06c941e273e8b13fe7fd5586dc890e04ddbdc6e15d7c2aabca6d23d64932c",
            },
            OutputCheck {
                path: "dev.jsonl.gz",
                lines: 1_101,
                bytes: 149_175,
                sha256: "70de7a5140ca8aafa589f583ea4f1ec972b66c6ddc9b8f90c77017c21b29b7b2",
            },
            OutputCheck {
                path: "test.jsonl.gz",
                lines: 2_210,
                bytes: 298_844,
                sha256: "30855a5fd6bf4293c8abcad5d92c026fab50432fe05e2716884f8dcb99ac8970",
            },
            OutputCheck {
                path: "sst2_train.jsonl.gz",
                lines: 6_920,
                bytes: 945_584,
                sha256: "ad6c059ebc7f1c4659eab6a29ef65de698357f83bb3ec70c32238eedd978d2bb",
            },
            OutputCheck {
                path: "sst2_dev.jsonl.gz",
                lines: 872,
                bytes: 119_687,
                sha256: "6902304a83388a481131cb744f460c738c0b0187bd4ea8adfeb989080800feb7",
            },
            OutputCheck {
                path: "sst2_test.jsonl.gz",
                lines: 1_821,
                bytes: 247_261,
                sha256: "d3cc22a6f227779885f9d41f0bff2fef79ceb3466dd1a81f81fc005158c70afe",
            },
        ],
    },
    DatasetSpec {
        name: "uci",
        aliases: &[
            "uci_sentiment_sentences",
            "uci-amazon",
            "uci-imdb",
            "uci-yelp",
        ],
        folder: "uci_sentiment_sentences",
        title: "UCI Sentiment Labelled Sentences (Kotzias et al. 2015)",
        url: "https://archive.ics.uci.edu/static/public/331/sentiment+labelled+sentences.zip",
        archive_size: None,
        archive_sha256: None,
        checksum_source: "none published: the extracted originals and the produced files are checked instead",
        availability: Availability::Archive {
            format: ArchiveFormat::Zip,
            converter: Converter::Uci,
        },
        limits: Limits {
            max_archive_bytes: 16 * MIB,
            max_extracted_bytes: 64 * MIB,
            max_entries: 1_000,
        },
        outputs: &[
            OutputCheck {
                path: "original/amazon_cells_labelled.txt.gz",
                lines: 1_000,
                bytes: 58_226,
                sha256: "47003fc0a0d4840b00e96e715b6189bad09e7443a3da41c4cbe12ffc79f86ae3",
            },
            OutputCheck {
                path: "original/imdb_labelled.txt.gz",
                lines: 1_000,
                bytes: 85_285,
                sha256: "aef2e49e3da25714d61175e3a6e68eeef74a20a2f914318dc3be9947ea86512d",
            },
            OutputCheck {
                path: "original/yelp_labelled.txt.gz",
                lines: 1_000,
                bytes: 61_320,
                sha256: "c76468b7b5c6e56a0804d728345c5f84aa2142ddb214420f61cc9cfd4c00d2ea",
            },
            OutputCheck {
                path: "original/readme.txt",
                lines: 31,
                bytes: 1_070,
                sha256: "736c26aa54e3614459e50314ece0698051f0923d108ed53938dcb1aa0483bfd4",
            },
            OutputCheck {
                path: "amazon_cells.jsonl.gz",
                lines: 1_000,
                bytes: 88_135,
                sha256: "99a0328b955f7789a29f742d339c9abfbece4b8f74298d3d04bf4fb7b922d766",
            },
            OutputCheck {
                path: "imdb.jsonl.gz",
                lines: 1_000,
                bytes: 115_291,
                sha256: "a703cf97305e0b8793679ed69f04c64804b4ac52500399c39f2701fda8edbc86",
            },
            OutputCheck {
                path: "yelp.jsonl.gz",
                lines: 1_000,
                bytes: 91_237,
                sha256: "b8d5dd764949599bb03d3f2a7bd11f0ca5f35fa96e507cff6c206a223696197e",
            },
        ],
    },
    DatasetSpec {
        name: "sanders",
        aliases: &["sanders_twitter", "sanders4"],
        folder: "sanders_twitter",
        title: "Sanders Twitter Sentiment Corpus v0.2",
        url: "http://www.sananalytics.com/lab/twitter-sentiment/sanders-twitter-0.2.zip",
        archive_size: None,
        archive_sha256: None,
        checksum_source: "none published",
        availability: Availability::Unavailable(
            "the Sanders Analytics site is defunct, and the archive only ever held tweet ids and \
             labels: the texts had to be fetched from the Twitter API, which is no longer possible. \
             Use the copy crawled in 2012 that the project keeps in its shared datasets folder \
             (sanders_twitter/, see its MANIFEST.md)",
        ),
        limits: Limits {
            max_archive_bytes: 0,
            max_extracted_bytes: 0,
            max_entries: 0,
        },
        outputs: &[],
    },
];

/// Looks a dataset up by name or alias (case-insensitive).
pub fn find(name: &str) -> Option<&'static DatasetSpec> {
    let name = name.trim().to_ascii_lowercase();
    DATASETS
        .iter()
        .find(|d| d.name == name || d.folder == name || d.aliases.contains(&name.as_str()))
}

/// Comma-separated list of the accepted dataset names, for error messages.
pub fn known_names() -> String {
    DATASETS
        .iter()
        .map(|d| d.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Formats a byte count with thousands separators (`84,125,825`).
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Human-readable listing of all datasets, printed by `fetch-data --list`.
pub fn render_list() -> String {
    let mut out = String::new();
    for d in DATASETS {
        let _ = writeln!(out, "{} -> <data-dir>/{}/", d.name, d.folder);
        let _ = writeln!(out, "  {}", d.title);
        let _ = writeln!(out, "  url:    {}", d.url);
        if let Availability::Unavailable(reason) = d.availability {
            let _ = writeln!(out, "  status: NOT DOWNLOADABLE: {reason}");
            out.push('\n');
            continue;
        }
        let size = d.archive_size.map_or_else(
            || "unknown".to_owned(),
            |s| format!("{} bytes", group_digits(s)),
        );
        let _ = writeln!(out, "  size:   {size}");
        let _ = writeln!(
            out,
            "  sha256: {} ({})",
            d.archive_sha256.unwrap_or("unknown"),
            d.checksum_source
        );
        let _ = writeln!(out, "  produces (sha256 of the decompressed content):");
        for o in d.outputs {
            let _ = writeln!(
                out,
                "    {:<40} {:>7} lines  {}",
                o.path,
                group_digits(o.lines),
                o.sha256
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn sources_md() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/SOURCES.md");
        std::fs::read_to_string(path).expect("datasets/SOURCES.md is readable")
    }

    /// Rows of the first markdown table that follows `heading`, cells trimmed and unquoted.
    fn table_after(md: &str, heading: &str) -> Vec<Vec<String>> {
        let start = md
            .find(heading)
            .unwrap_or_else(|| panic!("heading {heading:?} missing"));
        md[start..]
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2) // header and separator
            .map(|l| {
                l.trim()
                    .trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().trim_matches('`').to_owned())
                    .collect()
            })
            .collect()
    }

    fn parse_num(cell: &str) -> Option<u64> {
        let digits: String = cell.chars().filter(|c| *c != ',').collect();
        digits.parse().ok()
    }

    #[test]
    fn sources_md_archive_table_matches_code() {
        let md = sources_md();
        let rows = table_after(&md, "## Archives");
        assert_eq!(rows.len(), DATASETS.len(), "one row per dataset");
        for (row, spec) in rows.iter().zip(DATASETS) {
            assert_eq!(row[0], spec.name);
            assert_eq!(row[1], format!("{}/", spec.folder));
            assert_eq!(row[2], spec.url, "url of {}", spec.name);
            assert_eq!(
                parse_num(&row[3]),
                spec.archive_size,
                "size of {}",
                spec.name
            );
            let sha = (row[4] != "unknown").then_some(row[4].as_str());
            assert_eq!(sha, spec.archive_sha256, "sha256 of {}", spec.name);
        }
    }

    #[test]
    fn sources_md_output_table_matches_code() {
        let md = sources_md();
        let rows = table_after(&md, "## Produced files");
        let mut from_md: BTreeMap<(String, String), (u64, u64, String)> = BTreeMap::new();
        for row in rows {
            let key = (row[0].clone(), row[1].clone());
            let value = (
                parse_num(&row[2]).expect("lines"),
                parse_num(&row[3]).expect("bytes"),
                row[4].clone(),
            );
            assert!(from_md.insert(key, value).is_none(), "duplicate row");
        }
        let mut from_code = BTreeMap::new();
        for d in DATASETS {
            for o in d.outputs {
                let key = (d.name.to_owned(), o.path.to_owned());
                from_code.insert(key, (o.lines, o.bytes, o.sha256.to_owned()));
            }
        }
        assert_eq!(from_md, from_code);
    }

    #[test]
    fn table_is_well_formed() {
        for d in DATASETS {
            for sha in d
                .archive_sha256
                .iter()
                .chain(d.outputs.iter().map(|o| &o.sha256))
            {
                assert_eq!(sha.len(), 64, "{}: {sha}", d.name);
                assert!(
                    sha.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                );
            }
            assert!(std::ptr::eq(find(d.name).unwrap(), d));
            for a in d.aliases {
                assert!(std::ptr::eq(find(a).unwrap(), d));
            }
        }
        assert_eq!(find("UCI").unwrap().folder, "uci_sentiment_sentences");
        assert!(find("nope").is_none());
    }

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1_000), "1,000");
        assert_eq!(group_digits(84_125_825), "84,125,825");
    }

    #[test]
    fn list_mentions_every_dataset() {
        let list = render_list();
        for d in DATASETS {
            assert!(list.contains(d.url));
        }
        assert!(list.contains("NOT DOWNLOADABLE"));
        assert!(list.contains("84,125,825 bytes"));
    }
}
