//! Hostile archives, size caps and the download path against a loopback HTTP server.

mod common;

use common::*;
use tar::EntryType;
use xtask::datasets::{DatasetSpec, Limits};
use xtask::verify::sha256_hex;

/// Imports a hostile tarball as "imdb" and returns the error; asserts nothing was left behind.
fn tar_error(entries: Vec<TarEntry<'_>>) -> String {
    let s = Scratch::new();
    let mut all = vec![TarEntry::File("aclImdb/README", b"readme")];
    all.extend(entries);
    all.push(TarEntry::File("aclImdb/train/neg/0_1.txt", b"after"));
    let bytes = tar_gz(&all);
    let archive = s.archive("evil.tar.gz", &bytes);
    let err = fetch_err(&spec_for("imdb", &bytes), &s.import(&archive));
    s.assert_clean();
    err
}

fn raw<'a>(name: &'a [u8], kind: EntryType, link: Option<&'a str>) -> TarEntry<'a> {
    TarEntry::Raw {
        name,
        kind,
        link,
        data: b"",
    }
}

#[test]
fn tar_parent_dir_entry_is_an_error() {
    let err = tar_error(vec![TarEntry::Raw {
        name: b"../x",
        kind: EntryType::Regular,
        link: None,
        data: b"escaped",
    }]);
    assert!(err.contains("archive entry `../x` contains `..`"), "{err}");
    let err = tar_error(vec![TarEntry::Raw {
        name: b"aclImdb/../../x",
        kind: EntryType::Regular,
        link: None,
        data: b"escaped",
    }]);
    assert!(err.contains("contains `..`"), "{err}");
}

#[test]
fn tar_absolute_entry_is_an_error() {
    let err = tar_error(vec![TarEntry::Raw {
        name: b"/tmp/evil",
        kind: EntryType::Regular,
        link: None,
        data: b"escaped",
    }]);
    assert!(
        err.contains("archive entry `/tmp/evil` has an absolute path"),
        "{err}"
    );
}

#[test]
fn tar_symlink_entry_is_an_error() {
    let err = tar_error(vec![raw(
        b"aclImdb/train",
        EntryType::Symlink,
        Some("/etc"),
    )]);
    assert!(err.contains("is a symbolic link (to `/etc`)"), "{err}");
}

#[test]
fn tar_hard_link_entry_is_an_error() {
    let err = tar_error(vec![raw(
        b"aclImdb/train/neg/1_1.txt",
        EntryType::Link,
        Some("aclImdb/README"),
    )]);
    assert!(err.contains("is a hard link"), "{err}");
}

#[test]
fn tar_device_and_fifo_entries_are_errors() {
    let err = tar_error(vec![raw(b"aclImdb/null", EntryType::Char, None)]);
    assert!(
        err.contains("`aclImdb/null` is a character device"),
        "{err}"
    );
    let err = tar_error(vec![raw(b"aclImdb/sda", EntryType::Block, None)]);
    assert!(err.contains("is a block device"), "{err}");
    let err = tar_error(vec![raw(b"aclImdb/pipe", EntryType::Fifo, None)]);
    assert!(err.contains("is a FIFO"), "{err}");
    let err = tar_error(vec![raw(b"aclImdb/odd", EntryType::new(b'Z'), None)]);
    assert!(err.contains("unsupported type"), "{err}");
}

#[test]
fn hostile_entries_are_errors_even_where_nothing_would_be_written() {
    // unsup/ is skipped by the IMDB converter, but its entries are still checked.
    let err = tar_error(vec![raw(
        b"aclImdb/train/unsup/x",
        EntryType::Symlink,
        Some("/"),
    )]);
    assert!(err.contains("symbolic link"), "{err}");
}

#[test]
fn truncated_gzip_is_an_error() {
    let s = Scratch::new();
    let full = tar_gz(&[
        TarEntry::File("aclImdb/README", b"readme"),
        TarEntry::File("aclImdb/train/neg/0_1.txt", &[b'x'; 5000]),
    ]);
    for cut in [full.len() / 2, full.len() - 4] {
        let bytes = &full[..cut];
        let archive = s.archive("cut.tar.gz", bytes);
        let err = fetch_err(&spec_for("imdb", bytes), &s.import(&archive));
        assert!(
            err.contains("corrupt or truncated archive"),
            "cut at {cut}: {err}"
        );
        s.assert_clean();
    }
}

#[test]
fn truncated_zip_is_an_error() {
    let s = Scratch::new();
    let full = zip(&[ZipEntry::File("trees/train.txt", b"(3 (2 a))\n")]);
    let bytes = &full[..full.len() - 10];
    let archive = s.archive("cut.zip", bytes);
    let err = fetch_err(&spec_for("sst", bytes), &s.import(&archive));
    assert!(err.contains("corrupt or truncated zip"), "{err}");
    s.assert_clean();
}

#[test]
fn zip_hostile_entries_are_errors() {
    let cases: [(ZipEntry<'_>, &str); 3] = [
        (ZipEntry::File("../x", b"escaped"), "contains `..`"),
        (ZipEntry::File("/tmp/evil", b"escaped"), "absolute path"),
        (ZipEntry::Symlink("trees", "/etc"), "is a symbolic link"),
    ];
    for (entry, expected) in cases {
        let s = Scratch::new();
        let bytes = zip(&[entry, ZipEntry::File("trees/train.txt", b"(3 (2 a))\n")]);
        let archive = s.archive("evil.zip", &bytes);
        let err = fetch_err(&spec_for("sst", &bytes), &s.import(&archive));
        assert!(err.contains(expected), "{expected}: {err}");
        s.assert_clean();
    }
}

fn with_limits(spec: DatasetSpec, limits: Limits) -> DatasetSpec {
    DatasetSpec { limits, ..spec }
}

#[test]
fn extraction_size_and_entry_count_are_capped() {
    let s = Scratch::new();
    let big = vec![b'a'; 100_000];
    let bytes = zip(&[ZipEntry::File("trees/train.txt", &big)]);
    let archive = s.archive("bomb.zip", &bytes);
    let limits = Limits {
        max_archive_bytes: 1 << 20,
        max_extracted_bytes: 10_000,
        max_entries: 10,
    };
    let err = fetch_err(
        &with_limits(spec_for("sst", &bytes), limits),
        &s.import(&archive),
    );
    assert!(err.contains("expands to more than 10,000 bytes"), "{err}");
    s.assert_clean();

    let bytes = tar_gz(&[TarEntry::File("aclImdb/train/unsup/0_0.txt", &big)]);
    let archive = s.archive("bomb.tar.gz", &bytes);
    let err = fetch_err(
        &with_limits(spec_for("imdb", &bytes), limits),
        &s.import(&archive),
    );
    assert!(
        err.contains("expands to more than"),
        "skipped entries count too: {err}"
    );
    s.assert_clean();

    let many: Vec<String> = (0..20).map(|i| format!("x/{i}.txt")).collect();
    let entries: Vec<ZipEntry<'_>> = many.iter().map(|n| ZipEntry::File(n, b"1")).collect();
    let bytes = zip(&entries);
    let archive = s.archive("many.zip", &bytes);
    let err = fetch_err(
        &with_limits(spec_for("uci", &bytes), limits),
        &s.import(&archive),
    );
    assert!(err.contains("more than 10 entries"), "{err}");
    s.assert_clean();
}

#[test]
fn zip_with_a_lying_size_header_is_an_error() {
    // Patch the uncompressed size (central directory and local header) to claim 1 byte.
    let s = Scratch::new();
    let mut bytes = zip(&[ZipEntry::File("trees/train.txt", &[b'a'; 5000])]);
    let size = 5000u32.to_le_bytes();
    let mut patched = 0;
    for i in 0..bytes.len() - 4 {
        if bytes[i..i + 4] == size {
            bytes[i..i + 4].copy_from_slice(&1u32.to_le_bytes());
            patched += 1;
        }
    }
    assert!(patched >= 1);
    let archive = s.archive("liar.zip", &bytes);
    let err = fetch_err(&spec_for("sst", &bytes), &s.import(&archive));
    assert!(err.contains("trees/train.txt"), "{err}");
    s.assert_clean();
}

fn tiny_uci_zip() -> Vec<u8> {
    zip(&[
        ZipEntry::File("s/amazon_cells_labelled.txt", b"good\t1\n"),
        ZipEntry::File("s/imdb_labelled.txt", b"bad\t0\n"),
        ZipEntry::File("s/yelp_labelled.txt", b"ok\t1\n"),
        ZipEntry::File("s/readme.txt", b"readme\n"),
    ])
}

#[test]
fn download_succeeds_and_is_verified() {
    let bytes = tiny_uci_zip();
    let server = Server::start(vec![Reply::ok(&bytes)]);
    let s = Scratch::new();
    let report = fetch_ok(
        &spec_for("uci", &bytes),
        &s.download(&server.url("/uci.zip")),
    );
    assert_eq!(report.archive.sha256, sha256_hex(&bytes));
    assert_eq!(report.archive.bytes, bytes.len() as u64);
    assert_eq!(
        gunzip(&s.data().join("uci_sentiment_sentences/yelp.jsonl.gz")),
        "{\"label\":1,\"text\":\"ok\",\"line\":0}\n"
    );
    assert_eq!(s.data_entries(), ["uci_sentiment_sentences"]);
    let requests = server.finish();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].starts_with("GET /uci.zip HTTP/1.1\r\n"),
        "{}",
        requests[0]
    );
    let lower = requests[0].to_ascii_lowercase();
    assert!(
        lower.contains("accept-encoding: identity"),
        "{}",
        requests[0]
    );
}

#[test]
fn download_without_published_checksum_is_accepted_up_to_the_cap() {
    let bytes = tiny_uci_zip();
    let server = Server::start(vec![Reply::ok(&bytes)]);
    let s = Scratch::new();
    let spec = DatasetSpec {
        archive_size: None,
        archive_sha256: None,
        ..spec_for("uci", &bytes)
    };
    fetch_ok(&spec, &s.download(&server.url("/x.zip")));
    server.finish();

    // Above the cap: refused from the Content-Length alone.
    let server = Server::start(vec![Reply::ok(&bytes)]);
    let s = Scratch::new();
    let spec = DatasetSpec {
        limits: Limits {
            max_archive_bytes: 100,
            ..spec.limits
        },
        ..spec
    };
    let err = fetch_err(&spec, &s.download(&server.url("/x.zip")));
    assert!(err.contains("more than the limit of 100 bytes"), "{err}");
    s.assert_clean();
    server.finish();
}

#[test]
fn download_checksum_mismatch_leaves_nothing() {
    let bytes = tiny_uci_zip();
    let server = Server::start(vec![Reply::ok(&bytes)]);
    let s = Scratch::new();
    let expected = "a".repeat(64);
    let spec = DatasetSpec {
        archive_sha256: Some(leak(expected.clone())),
        ..spec_for("uci", &bytes)
    };
    let url = server.url("/uci.zip");
    let err = fetch_err(&spec, &s.download(&url));
    assert!(err.contains(&format!("sha256 mismatch for {url}")), "{err}");
    assert!(err.contains(&format!("expected {expected}")), "{err}");
    assert!(
        err.contains(&format!("found {}", sha256_hex(&bytes))),
        "{err}"
    );
    s.assert_clean();
    server.finish();
}

#[test]
fn truncated_download_is_an_error() {
    let bytes = tiny_uci_zip();
    let server = Server::start(vec![Reply {
        content_length: Some(bytes.len() + 1000),
        ..Reply::ok(&bytes)
    }]);
    let s = Scratch::new();
    // Size unknown (like UCI), so only the Content-Length can reveal the truncation.
    let spec = DatasetSpec {
        archive_size: None,
        archive_sha256: None,
        ..spec_for("uci", &bytes)
    };
    let url = server.url("/uci.zip");
    let err = fetch_err(&spec, &s.download(&url));
    assert!(err.contains(&format!("download of {url}")), "{err}");
    assert!(
        err.contains("interrupted") || err.contains("truncated"),
        "{err}"
    );
    s.assert_clean();
    server.finish();
}

#[test]
fn announced_size_mismatch_is_refused_before_the_body() {
    let bytes = tiny_uci_zip();
    let server = Server::start(vec![Reply {
        content_length: Some(bytes.len() + 1000),
        ..Reply::ok(&bytes)
    }]);
    let s = Scratch::new();
    let err = fetch_err(
        &spec_for("uci", &bytes),
        &s.download(&server.url("/uci.zip")),
    );
    assert!(err.contains("size mismatch"), "{err}");
    assert!(err.contains("server announces"), "{err}");
    s.assert_clean();
    server.finish();
}

#[test]
fn http_404_is_an_error() {
    let server = Server::start(vec![Reply {
        status: "404 Not Found",
        ..Reply::ok(b"no such file")
    }]);
    let s = Scratch::new();
    let url = server.url("/missing.zip");
    let err = fetch_err(&spec_for("uci", b"x"), &s.download(&url));
    assert!(err.contains(&format!("download of {url} failed")), "{err}");
    assert!(err.contains("404"), "{err}");
    s.assert_clean();
    server.finish();
}

#[test]
fn unreachable_server_is_an_error() {
    // Bind and drop a listener to get a port that (almost certainly) refuses connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = Scratch::new();
    let url = format!("http://127.0.0.1:{port}/x.zip");
    let err = fetch_err(&spec_for("uci", b"x"), &s.download(&url));
    assert!(err.contains(&format!("request to {url} failed")), "{err}");
    s.assert_clean();
}
