//! End-to-end imports of tiny archives (`--from`), replacement policy and the CLI front end.

mod common;

use std::fs;
use std::process::Command;

use common::*;
use xtask::datasets::{self, OutputCheck};
use xtask::verify::sha256_hex;

const LONG_NAME: &str = "aclImdb/train/unsup/a-very-long-file-name-that-does-not-fit-into-the-hundred-bytes-of-a-plain-ustar-header.txt";

/// A tiny aclImdb tree: ids out of order, unicode, C1 controls, quotes, skipped extras.
fn tiny_imdb() -> Vec<u8> {
    tar_gz(&[
        TarEntry::Dir("aclImdb/"),
        TarEntry::File("aclImdb/README", b"Large Movie Review Dataset v1.0\n"),
        TarEntry::File("aclImdb/imdb.vocab", b"the\nand\n"),
        TarEntry::File("aclImdb/train/labeledBow.feat", b"0 0:9\n"),
        TarEntry::File(
            "aclImdb/train/neg/10_2.txt",
            b"Bad.<br /><br />Really \"bad\".",
        ),
        TarEntry::File(
            "aclImdb/train/neg/2_1.txt",
            "Awful \u{96} dull\u{85}".as_bytes(),
        ),
        TarEntry::File(
            "aclImdb/train/pos/0_9.txt",
            "Caf\u{e9} \u{2028} great\n".as_bytes(),
        ),
        TarEntry::File("aclImdb/train/unsup/0_0.txt", b"unlabelled"),
        // A name longer than 100 bytes (GNU long-name extension), skipped by the converter.
        TarEntry::File(LONG_NAME, b"long"),
        TarEntry::File("aclImdb/test/neg/1_4.txt", b"meh\ttab"),
        TarEntry::File("aclImdb/test/pos/3_10.txt", b"back\\slash"),
    ])
}

#[test]
fn imdb_tarball_is_converted() {
    let s = Scratch::new();
    let bytes = tiny_imdb();
    let archive = s.archive("aclImdb_v1.tar.gz", &bytes);
    let report = fetch_ok(&spec_for("imdb", &bytes), &s.import(&archive));
    let dir = s.data().join("imdb");
    assert_eq!(report.dest, dir);
    assert!(!report.replaced);
    assert_eq!(
        gunzip(&dir.join("train.jsonl.gz")),
        concat!(
            r#"{"label":0,"text":"Awful \u0096 dull\u0085","id":2,"rating":1}"#,
            "\n",
            r#"{"label":0,"text":"Bad.<br /><br />Really \"bad\".","id":10,"rating":2}"#,
            "\n",
            "{\"label\":1,\"text\":\"Caf\u{e9} \\u2028 great\\n\",\"id\":0,\"rating\":9}\n",
        )
    );
    assert_eq!(
        gunzip(&dir.join("test.jsonl.gz")),
        concat!(
            r#"{"label":0,"text":"meh\ttab","id":1,"rating":4}"#,
            "\n",
            r#"{"label":1,"text":"back\\slash","id":3,"rating":10}"#,
            "\n",
        )
    );
    assert_eq!(
        fs::read(dir.join("README.original.txt")).unwrap(),
        b"Large Movie Review Dataset v1.0\n"
    );
    let mut names: Vec<_> = report.files.iter().map(|(p, _)| p.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["README.original.txt", "test.jsonl.gz", "train.jsonl.gz"]
    );
    // Only the labelled reviews and the README were written; the rest was checked and skipped.
    assert_eq!(report.extracted.files_written, 6);
    assert_eq!(report.extracted.entries, 11);
    assert_eq!(s.data_entries(), ["imdb"], "temporary directory removed");
    // The archive was verified as imported.
    assert_eq!(report.archive.sha256, sha256_hex(&bytes));
}

#[test]
fn imdb_rejects_unexpected_review_names() {
    let s = Scratch::new();
    let bytes = tar_gz(&[
        TarEntry::File("aclImdb/README", b"r"),
        TarEntry::File("aclImdb/train/neg/.DS_Store", b"x"),
    ]);
    let archive = s.archive("a.tar.gz", &bytes);
    let err = fetch_err(&spec_for("imdb", &bytes), &s.import(&archive));
    assert!(
        err.contains("unexpected review file name \".DS_Store\""),
        "{err}"
    );
    s.assert_clean();
}

const UCI_AMAZON: &str = "Good case, Excellent value.\t1\nSo \"bad\"  \t0\n";
const UCI_IMDB: &str = "It's \u{96} a true \"masterpiece.  \t1\n\" The end\u{85}.  \t0\n";
const UCI_YELP: &str = "Wow... Loved this place.\t1\n";

fn tiny_uci() -> Vec<u8> {
    zip(&[
        ZipEntry::Dir("sentiment labelled sentences/"),
        ZipEntry::File(
            "sentiment labelled sentences/amazon_cells_labelled.txt",
            UCI_AMAZON.as_bytes(),
        ),
        ZipEntry::File(
            "sentiment labelled sentences/imdb_labelled.txt",
            UCI_IMDB.as_bytes(),
        ),
        ZipEntry::File(
            "sentiment labelled sentences/yelp_labelled.txt",
            UCI_YELP.as_bytes(),
        ),
        ZipEntry::File("sentiment labelled sentences/readme.txt", b"cite us\n"),
        ZipEntry::File(
            "__MACOSX/sentiment labelled sentences/._imdb_labelled.txt",
            b"\0\x05\x16\x07",
        ),
    ])
}

#[test]
fn uci_zip_is_converted() {
    let s = Scratch::new();
    let bytes = tiny_uci();
    let archive = s.archive("uci.zip", &bytes);
    fetch_ok(&spec_for("uci", &bytes), &s.import(&archive));
    let dir = s.data().join("uci_sentiment_sentences");
    assert_eq!(
        gunzip(&dir.join("amazon_cells.jsonl.gz")),
        concat!(
            r#"{"label":1,"text":"Good case, Excellent value.","line":0}"#,
            "\n",
            r#"{"label":0,"text":"So \"bad\"  ","line":1}"#,
            "\n",
        )
    );
    assert_eq!(
        gunzip(&dir.join("imdb.jsonl.gz")),
        concat!(
            r#"{"label":1,"text":"It's \u0096 a true \"masterpiece.  ","line":0}"#,
            "\n",
            r#"{"label":0,"text":"\" The end\u0085.  ","line":1}"#,
            "\n",
        )
    );
    assert_eq!(
        gunzip(&dir.join("yelp.jsonl.gz")),
        "{\"label\":1,\"text\":\"Wow... Loved this place.\",\"line\":0}\n"
    );
    assert_eq!(
        gunzip(&dir.join("original/imdb_labelled.txt.gz")),
        UCI_IMDB,
        "original kept byte for byte"
    );
    assert_eq!(
        fs::read(dir.join("original/readme.txt")).unwrap(),
        b"cite us\n"
    );
    assert!(!dir.join("__MACOSX").exists());
}

#[test]
fn uci_reports_a_missing_file() {
    let s = Scratch::new();
    let bytes = zip(&[ZipEntry::File("x/amazon_cells_labelled.txt", b"a\t1\n")]);
    let archive = s.archive("uci.zip", &bytes);
    let err = fetch_err(&spec_for("uci", &bytes), &s.import(&archive));
    assert!(err.contains("has no `imdb_labelled.txt`"), "{err}");
    s.assert_clean();
}

const TREES_TRAIN: &str = "(3 (2 It) (4 (2 's) (3 (3 lovely) (2 .))))\n(2 (2 Meh) (2 .))\n(0 (1 Awful) (2 8\u{a0}1\\/2))\n";
const TREES_DEV: &str = "(4 (4 Superb) (2 -RRB-))\n";
const TREES_TEST: &str = "(1 (1 Dull) (2 .))\n(2 (2 Fine) (2 .))\n";

fn tiny_sst() -> Vec<u8> {
    zip(&[
        ZipEntry::Dir("trees/"),
        ZipEntry::File("trees/train.txt", TREES_TRAIN.as_bytes()),
        ZipEntry::File("trees/dev.txt", TREES_DEV.as_bytes()),
        ZipEntry::File("trees/test.txt", TREES_TEST.as_bytes()),
    ])
}

#[test]
fn sst_zip_is_converted() {
    let s = Scratch::new();
    let bytes = tiny_sst();
    let archive = s.archive("trainDevTestTrees_PTB.zip", &bytes);
    fetch_ok(&spec_for("sst", &bytes), &s.import(&archive));
    let dir = s.data().join("sst");
    assert_eq!(
        gunzip(&dir.join("train.jsonl.gz")),
        concat!(
            r#"{"label":3,"text":"It 's lovely .","idx":0}"#,
            "\n",
            r#"{"label":2,"text":"Meh .","idx":1}"#,
            "\n",
            "{\"label\":0,\"text\":\"Awful 8\u{a0}1\\\\/2\",\"idx\":2}\n",
        )
    );
    assert_eq!(
        gunzip(&dir.join("sst2_train.jsonl.gz")),
        concat!(
            r#"{"label":1,"text":"It 's lovely .","idx":0}"#,
            "\n",
            "{\"label\":0,\"text\":\"Awful 8\u{a0}1\\\\/2\",\"idx\":2}\n",
        )
    );
    assert_eq!(
        gunzip(&dir.join("dev.jsonl.gz")),
        "{\"label\":4,\"text\":\"Superb -RRB-\",\"idx\":0}\n"
    );
    assert_eq!(
        gunzip(&dir.join("sst2_test.jsonl.gz")),
        "{\"label\":0,\"text\":\"Dull .\",\"idx\":0}\n"
    );
    assert_eq!(gunzip(&dir.join("trees/train.txt.gz")), TREES_TRAIN);
}

#[test]
fn sst_parse_errors_name_file_and_line() {
    let s = Scratch::new();
    let bytes = zip(&[
        ZipEntry::File("trees/train.txt", b"(3 (2 ok))\n(3 (2 broken)\n"),
        ZipEntry::File("trees/dev.txt", b"(3 (2 ok))\n"),
        ZipEntry::File("trees/test.txt", b"(3 (2 ok))\n"),
    ]);
    let archive = s.archive("t.zip", &bytes);
    let err = fetch_err(&spec_for("sst", &bytes), &s.import(&archive));
    assert!(err.contains("train.txt line 2"), "{err}");
    s.assert_clean();
}

#[test]
fn archive_checksum_mismatch_is_refused_before_extraction() {
    let s = Scratch::new();
    let bytes = tiny_uci();
    let archive = s.archive("uci.zip", &bytes);
    let wrong = "0".repeat(64);
    let spec = xtask::datasets::DatasetSpec {
        archive_sha256: Some(leak(wrong.clone())),
        ..spec_for("uci", &bytes)
    };
    let err = fetch_err(&spec, &s.import(&archive));
    assert!(err.contains("sha256 mismatch"), "{err}");
    assert!(err.contains(&format!("expected {wrong}")), "{err}");
    assert!(
        err.contains(&format!("found {}", sha256_hex(&bytes))),
        "{err}"
    );
    s.assert_clean();
    assert!(
        !s.root.path().join("data").exists(),
        "created data dir removed again"
    );
}

#[test]
fn archive_size_mismatch_is_refused() {
    let s = Scratch::new();
    let bytes = tiny_uci();
    let archive = s.archive("uci.zip", &bytes);
    let spec = xtask::datasets::DatasetSpec {
        archive_size: Some(bytes.len() as u64 - 1),
        ..spec_for("uci", &bytes)
    };
    let err = fetch_err(&spec, &s.import(&archive));
    assert!(err.contains("more than the"), "{err}");
    let spec = xtask::datasets::DatasetSpec {
        archive_size: Some(bytes.len() as u64 + 1000),
        ..spec_for("uci", &bytes)
    };
    let err = fetch_err(&spec, &s.import(&archive));
    assert!(err.contains("size mismatch"), "{err}");
    assert!(err.contains("expected"), "{err}");
    s.assert_clean();
}

#[test]
fn produced_files_are_checked_against_the_reference() {
    let s = Scratch::new();
    let bytes = tiny_uci();
    let archive = s.archive("uci.zip", &bytes);
    let yelp = "{\"label\":1,\"text\":\"Wow... Loved this place.\",\"line\":0}\n";
    let good = OutputCheck {
        path: "yelp.jsonl.gz",
        lines: 1,
        bytes: yelp.len() as u64,
        sha256: leak(sha256_hex(yelp.as_bytes())),
    };
    // Matching reference: accepted.
    let spec = spec_with_outputs("uci", &bytes, vec![good]);
    let report = fetch_ok(&spec, &s.import(&archive));
    assert!(report.outputs_verified);
    fs::remove_dir_all(s.data()).unwrap();
    // Differing reference: refused, with expected and found values, nothing installed.
    let bad = OutputCheck {
        sha256: leak("1".repeat(64)),
        ..good
    };
    let missing = OutputCheck {
        path: "nope.jsonl.gz",
        ..good
    };
    let spec = spec_with_outputs("uci", &bytes, vec![bad, missing]);
    let err = fetch_err(&spec, &s.import(&archive));
    assert!(err.contains("differ from the reference"), "{err}");
    assert!(err.contains(&"1".repeat(64)), "{err}");
    assert!(err.contains(&good.sha256.to_string()), "{err}");
    assert!(err.contains("nope.jsonl.gz: not produced"), "{err}");
    s.assert_clean();
}

#[test]
fn existing_dataset_needs_force_and_is_replaced_atomically() {
    let s = Scratch::new();
    let bytes = tiny_sst();
    let archive = s.archive("t.zip", &bytes);
    let spec = spec_for("sst", &bytes);
    let dest = s.data().join("sst");
    fs::create_dir_all(&dest).unwrap();
    fs::write(dest.join("stale.txt"), "old").unwrap();

    let err = fetch_err(&spec, &s.import(&archive));
    assert!(err.contains("already exists; pass --force"), "{err}");
    assert_eq!(fs::read_to_string(dest.join("stale.txt")).unwrap(), "old");
    assert_eq!(s.data_entries(), ["sst"]);

    let mut opts = s.import(&archive);
    opts.force = true;
    let report = fetch_ok(&spec, &opts);
    assert!(report.replaced);
    assert!(!dest.join("stale.txt").exists(), "old copy gone");
    assert!(dest.join("train.jsonl.gz").is_file());
    assert_eq!(s.data_entries(), ["sst"], "no temporary or old folder left");
}

#[test]
fn failed_force_keeps_the_old_copy() {
    let s = Scratch::new();
    let bytes = tiny_sst();
    let archive = s.archive("t.zip", &bytes);
    let spec = xtask::datasets::DatasetSpec {
        archive_sha256: Some(leak("2".repeat(64))),
        ..spec_for("sst", &bytes)
    };
    let dest = s.data().join("sst");
    fs::create_dir_all(&dest).unwrap();
    fs::write(dest.join("keep.txt"), "old").unwrap();
    let mut opts = s.import(&archive);
    opts.force = true;
    let err = fetch_err(&spec, &opts);
    assert!(err.contains("sha256 mismatch"), "{err}");
    assert_eq!(fs::read_to_string(dest.join("keep.txt")).unwrap(), "old");
    assert_eq!(s.data_entries(), ["sst"]);
}

#[test]
fn sanders_is_reported_as_unavailable() {
    let s = Scratch::new();
    let archive = s.archive("sanders.zip", b"whatever");
    let spec = datasets::find("sanders").unwrap();
    let err = fetch_err(spec, &s.import(&archive));
    assert!(err.contains("cannot be fetched"), "{err}");
    assert!(err.contains("Twitter API"), "{err}");
    s.assert_clean();
}

#[test]
fn missing_import_file_is_a_clear_error() {
    let s = Scratch::new();
    let spec = spec_for("uci", b"x");
    let err = fetch_err(&spec, &s.import(&s.root.path().join("in/nope.zip")));
    assert!(err.contains("nope.zip"), "{err}");
    s.assert_clean();
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env_remove("SET_LSTM_DATA")
        .output()
        .unwrap()
}

#[test]
fn cli_lists_datasets_and_rejects_bad_names() {
    let out = cli(&["fetch-data", "--list"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    for d in datasets::DATASETS {
        assert!(stdout.contains(d.url), "{stdout}");
        if let Some(sha) = d.archive_sha256 {
            assert!(stdout.contains(sha), "{stdout}");
        }
    }

    let out = cli(&["fetch-data", "nope"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("unknown dataset `nope`"), "{stderr}");
    assert!(stderr.contains("imdb, sst, uci, sanders"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let out = cli(&[
        "fetch-data",
        "sanders",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("cannot be fetched"), "{stderr}");
    assert!(!data.exists());

    let out = cli(&["fetch-data", "uci", "--from", "a.zip", "--url", "http://x"]);
    assert!(!out.status.success(), "--from and --url conflict");
}

#[test]
fn cli_import_checks_the_official_checksum() {
    // The real SST spec: a tiny zip cannot match the published checksum.
    let s = Scratch::new();
    let archive = s.archive("trainDevTestTrees_PTB.zip", &tiny_sst());
    let data = s.data();
    let out = cli(&[
        "fetch-data",
        "sst",
        "--data-dir",
        data.to_str().unwrap(),
        "--from",
        archive.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("size mismatch"), "{stderr}");
    assert!(stderr.contains("789,539"), "{stderr}");
    s.assert_clean();
}

#[test]
fn cli_download_checks_the_official_size() {
    let server = Server::start(vec![Reply::ok(&tiny_sst())]);
    let s = Scratch::new();
    let url = server.url("/trainDevTestTrees_PTB.zip");
    let data = s.data();
    let out = cli(&[
        "fetch-data",
        "sst",
        "--url",
        &url,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("size mismatch for {url}: expected 789,539 bytes")),
        "{stderr}"
    );
    s.assert_clean();
    assert_eq!(server.finish().len(), 1);
}
