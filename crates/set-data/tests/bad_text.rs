//! Bad text data (the reliability suite, issue 7): invalid UTF-8, a BOM, CRLF line ends, empty
//! texts, unknown labels, NUL bytes and a 10 MB line, in files on disk. Every defect is an error
//! starting with `file:line`, or a documented skip counter; the odd-but-valid inputs load.

use set_data::{
    CsvOptions, EmptyTextPolicy, LabelMap, LoadOptions, Vocab, load_delimited, load_jsonl,
};
use std::path::{Path, PathBuf};

fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn jsonl(p: &Path, opts: &LoadOptions) -> Result<set_data::Loaded, String> {
    load_jsonl(p, &LabelMap::binary(), opts).map_err(|e| e.to_string())
}

fn csv(p: &Path, opts: &LoadOptions) -> Result<set_data::Loaded, String> {
    load_delimited(p, &LabelMap::binary(), &CsvOptions::csv_with_header(), opts)
        .map_err(|e| e.to_string())
}

#[track_caller]
fn starts(err: Result<set_data::Loaded, String>, prefix: &str) {
    match err {
        Err(e) => assert!(e.starts_with(prefix), "{e:?} should start with {prefix:?}"),
        Ok(l) => panic!(
            "accepted ({} records), expected {prefix:?}",
            l.stats.records
        ),
    }
}

const GOOD: &str = "{\"label\": 0, \"text\": \"dull\"}\n";

#[test]
fn jsonl_defects_are_file_line_errors_or_counted_skips() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let at = |name: &str, line: usize| format!("{}:{line}: ", d.join(name).display());
    let opts = LoadOptions::default();
    let bad: [(&str, &[u8], &str); 4] = [
        (
            "utf8.jsonl",
            b"{\"label\": 1, \"text\": \"caf\xe9\"}\n",
            "invalid UTF-8",
        ),
        (
            "label.jsonl",
            b"{\"label\": 2, \"text\": \"x\"}\n",
            "unknown label 2",
        ),
        (
            "empty.jsonl",
            b"{\"label\": 1, \"text\": \"\"}\n",
            "field `text` is empty",
        ),
        (
            "nul-json.jsonl",
            b"\0{\"label\": 1, \"text\": \"x\"}\n",
            "invalid JSON",
        ),
    ];
    for (name, line2, msg) in bad {
        let p = file(d, name, &[GOOD.as_bytes(), line2].concat());
        starts(jsonl(&p, &opts), &format!("{}{msg}", at(name, 2)));
    }
    // Empty texts can be skipped instead, and are counted.
    let p = file(
        d,
        "skip.jsonl",
        format!("{GOOD}{{\"label\": 1, \"text\": \" \"}}\n{GOOD}").as_bytes(),
    );
    let skip = LoadOptions {
        empty_text: EmptyTextPolicy::Skip,
        ..LoadOptions::default()
    };
    let l = jsonl(&p, &skip).unwrap();
    assert_eq!((l.stats.records, l.stats.skipped_empty), (2, 1));
    // A BOM, CRLF line ends and NUL bytes (raw or escaped) inside a text are data, not errors.
    let p = file(
        d,
        "odd.jsonl",
        b"\xEF\xBB\xBF{\"label\": 1, \"text\": \"a\x00b\"}\r\n{\"label\": 0, \"text\": \"c\\u0000d\"}\r\n",
    );
    let l = jsonl(&p, &opts).unwrap();
    assert_eq!(l.examples[0].text, "a\0b");
    assert_eq!(l.examples[1].text, "c\0d");
}

#[test]
fn a_ten_megabyte_line_loads_under_the_cap_and_is_a_file_line_error_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let big = "word ".repeat(2 << 20); // 10 MiB
    let p = file(
        d,
        "big.jsonl",
        format!("{GOOD}{{\"label\": 1, \"text\": \"{big}\"}}\n{GOOD}").as_bytes(),
    );
    // Under the default cap of 16 MiB: kept whole.
    let l = jsonl(&p, &LoadOptions::default()).unwrap();
    assert_eq!(l.examples[1].text.len(), big.len());
    // Over a smaller cap: an error naming the line, after reading at most the cap.
    let capped = LoadOptions {
        max_line_bytes: 1 << 20,
        ..LoadOptions::default()
    };
    starts(
        jsonl(&p, &capped),
        &format!(
            "{}:2: line is longer than the cap of 1048576 bytes",
            p.display()
        ),
    );
    let p = file(
        d,
        "big.csv",
        format!("label,text\n0,dull\n1,{big}\n").as_bytes(),
    );
    assert_eq!(
        csv(&p, &LoadOptions::default()).unwrap().examples[1]
            .text
            .len(),
        big.len()
    );
    starts(
        csv(&p, &capped),
        &format!(
            "{}:3: line is longer than the cap of 1048576 bytes",
            p.display()
        ),
    );
}

#[test]
fn csv_defects_are_file_line_errors_or_counted_skips() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let opts = LoadOptions::default();
    let bad: [(&str, &[u8], &str); 3] = [
        ("utf8.csv", b"1,caf\xe9\n", "invalid UTF-8"),
        ("label.csv", b"5,x\n", "unknown label 5"),
        ("empty.csv", b"1,\"  \"\n", "field `text` is empty"),
    ];
    for (name, line3, msg) in bad {
        let p = file(
            d,
            name,
            &[b"label,text\n0,dull\n".as_slice(), line3].concat(),
        );
        starts(csv(&p, &opts), &format!("{}:3: {msg}", p.display()));
    }
    let p = file(d, "skip.csv", b"label,text\n0,dull\n1,\n0,ok\n");
    let skip = LoadOptions {
        empty_text: EmptyTextPolicy::Skip,
        ..LoadOptions::default()
    };
    let l = csv(&p, &skip).unwrap();
    assert_eq!((l.stats.records, l.stats.skipped_empty), (2, 1));
    let p = file(
        d,
        "odd.csv",
        b"\xEF\xBB\xBFlabel,text\r\n1,a\x00b\r\n0,\"x\r\ny\"\r\n",
    );
    let l = csv(&p, &opts).unwrap();
    assert_eq!(l.examples[0].text, "a\0b");
    assert_eq!(l.examples[1].text, "x\r\ny");
}

#[test]
fn vocabulary_defects_are_file_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let head = "set-lstm-vocab v1\n<pad>\n<unk>\n";
    for (name, tail, msg) in [
        ("utf8.txt", b"ok\n\xff\n".as_slice(), ":5: invalid UTF-8"),
        (
            "dup.txt",
            b"ok\nok\n",
            ":5: vocabulary: duplicate token `ok`",
        ),
        ("empty.txt", b"ok\n\nx\n", ":5: vocabulary: empty token"),
    ] {
        let p = file(d, name, &[head.as_bytes(), tail].concat());
        let e = Vocab::load(&p).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}{msg}", p.display())),
            "{e:?} lacks {msg}"
        );
    }
    let p = file(
        d,
        "odd.txt",
        b"\xEF\xBB\xBFset-lstm-vocab v1\r\n<pad>\r\n<unk>\r\na\x00b\r\n",
    );
    assert_eq!(Vocab::load(&p).unwrap().token(2), Some("a\0b"));
}
