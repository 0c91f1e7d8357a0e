//! Reproduction checks: archives rebuilt from the project's reference copies must convert to
//! exactly the files (content sha256) listed in the built-in dataset table.
//!
//! `uci_repo_copy_round_trips` always runs (it uses the repository's
//! `datasets/uci_sentiment_sentences/`). The others need the shared reference folder and run only
//! when `XTASK_REFERENCE_DATASETS` points to it (e.g. `/work/shared/datasets`); otherwise they
//! print why they did nothing.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use common::*;
use xtask::datasets::{self, DatasetSpec};

fn gunzip_bytes(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Rebuilds a UCI original (`sentence TAB score\n` per line) from its JSONL.
fn uci_original_from_jsonl(jsonl: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, line) in std::str::from_utf8(jsonl).unwrap().lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["line"].as_u64(), Some(i as u64));
        out.extend_from_slice(v["text"].as_str().unwrap().as_bytes());
        out.extend_from_slice(format!("\t{}\n", v["label"].as_i64().unwrap()).as_bytes());
    }
    out
}

/// Converts `archive` with `spec` (whose output checks do the comparison) into a scratch dir.
fn convert_and_check(spec: &DatasetSpec, archive_name: &str, bytes: &[u8]) -> Scratch {
    let s = Scratch::new();
    let archive = s.archive(archive_name, bytes);
    let report = fetch_ok(spec, &s.import(&archive));
    assert!(report.outputs_verified);
    s
}

#[test]
fn uci_repo_copy_round_trips() {
    let repo = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../datasets/uci_sentiment_sentences"
    ));
    assert!(
        repo.is_dir(),
        "{} is missing: this test rebuilds the UCI originals from it",
        repo.display()
    );
    let mut files = Vec::new();
    for (source, stem) in xtask::convert::uci::SOURCES {
        let jsonl = gunzip_bytes(&repo.join(format!("{stem}.jsonl.gz")));
        files.push((
            format!("sentiment labelled sentences/{source}"),
            uci_original_from_jsonl(&jsonl),
        ));
    }
    files.push((
        "sentiment labelled sentences/readme.txt".to_owned(),
        b"placeholder readme (not in the repository copy)\n".to_vec(),
    ));
    let entries: Vec<ZipEntry<'_>> = files
        .iter()
        .map(|(name, data)| ZipEntry::File(name, data))
        .collect();
    let bytes = zip(&entries);
    let builtin = datasets::find("uci").unwrap();
    let outputs: Vec<_> = builtin
        .outputs
        .iter()
        .filter(|o| o.path != "original/readme.txt")
        .copied()
        .collect();
    assert_eq!(outputs.len(), builtin.outputs.len() - 1);
    let spec = DatasetSpec {
        outputs: outputs.leak(),
        ..builtin.clone()
    };
    let s = convert_and_check(&spec, "uci.zip", &bytes);
    // And byte for byte against the repository's JSONL (decompressed).
    for (_, stem) in xtask::convert::uci::SOURCES {
        let name = format!("{stem}.jsonl.gz");
        assert_eq!(
            gunzip_bytes(&s.data().join("uci_sentiment_sentences").join(&name)),
            gunzip_bytes(&repo.join(&name)),
            "{name}"
        );
    }
}

fn reference_dir() -> Option<PathBuf> {
    match std::env::var_os("XTASK_REFERENCE_DATASETS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!(
                "XTASK_REFERENCE_DATASETS is not set: reference reproduction not run \
                 (set it to the shared datasets folder to run it)"
            );
            None
        }
    }
}

/// The built-in spec without the archive checksum (a rebuilt archive cannot match it).
fn without_archive_check(name: &str) -> DatasetSpec {
    DatasetSpec {
        archive_size: None,
        archive_sha256: None,
        ..datasets::find(name).unwrap().clone()
    }
}

#[test]
fn uci_reference_originals_reproduce_the_manifest() {
    let Some(root) = reference_dir() else { return };
    let dir = root.join("uci_sentiment_sentences/original");
    let mut files = Vec::new();
    for (source, _) in xtask::convert::uci::SOURCES {
        files.push((
            format!("sentiment labelled sentences/{source}"),
            gunzip_bytes(&dir.join(format!("{source}.gz"))),
        ));
    }
    files.push((
        "sentiment labelled sentences/readme.txt".to_owned(),
        fs::read(dir.join("readme.txt")).unwrap(),
    ));
    files.push((
        "__MACOSX/sentiment labelled sentences/._readme.txt".to_owned(),
        b"\0\x05\x16\x07".to_vec(),
    ));
    let entries: Vec<ZipEntry<'_>> = files
        .iter()
        .map(|(name, data)| ZipEntry::File(name, data))
        .collect();
    // The real UCI spec: it has no archive checksum anyway.
    let spec = datasets::find("uci").unwrap();
    convert_and_check(spec, "uci.zip", &zip(&entries));
}

#[test]
fn sst_reference_trees_reproduce_the_manifest() {
    let Some(root) = reference_dir() else { return };
    let trees: Vec<(String, Vec<u8>)> = ["train", "dev", "test"]
        .iter()
        .map(|split| {
            let path = root.join(format!("sst/trees/{split}.txt.gz"));
            (format!("trees/{split}.txt"), gunzip_bytes(&path))
        })
        .collect();
    let mut entries = vec![ZipEntry::Dir("trees/")];
    entries.extend(trees.iter().map(|(name, data)| ZipEntry::File(name, data)));
    convert_and_check(&without_archive_check("sst"), "sst.zip", &zip(&entries));
}

#[test]
fn imdb_reference_jsonl_round_trips() {
    let Some(root) = reference_dir() else { return };
    let mut files: Vec<(String, Vec<u8>)> = vec![(
        "aclImdb/README".to_owned(),
        fs::read(root.join("imdb/README.original.txt")).unwrap(),
    )];
    for split in ["train", "test"] {
        let jsonl = gunzip_bytes(&root.join(format!("imdb/{split}.jsonl.gz")));
        for line in std::str::from_utf8(&jsonl).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let class = if v["label"].as_i64() == Some(0) {
                "neg"
            } else {
                "pos"
            };
            let name = format!(
                "aclImdb/{split}/{class}/{}_{}.txt",
                v["id"].as_u64().unwrap(),
                v["rating"].as_u64().unwrap()
            );
            files.push((name, v["text"].as_str().unwrap().as_bytes().to_vec()));
        }
    }
    // Reverse the order so that the converter's sorting is exercised.
    files[1..].reverse();
    let entries: Vec<TarEntry<'_>> = files
        .iter()
        .map(|(name, data)| TarEntry::File(name, data))
        .collect();
    convert_and_check(
        &without_archive_check("imdb"),
        "imdb.tar.gz",
        &tar_gz(&entries),
    );
}
