//! End-to-end tests of the `set-lstm` binary: every subcommand, bit-identical resume across an
//! evolution step (after `--max-steps` and after SIGTERM), export round trips, bad flags,
//! corrupt and truncated checkpoints, the lock file, and the NaN stop. The reliability suite
//! (issue 7) is in `reliability.rs`.

mod common;

use common::*;
use safetensors::SafeTensors;
use std::path::{Path, PathBuf};
use std::process::Stdio;

#[test]
fn help_documents_commands_flags_and_exit_codes() {
    let out = ok(&run(&["--help"]));
    for cmd in [
        "train",
        "resume",
        "eval",
        "predict",
        "info",
        "export",
        "bench",
        "Exit codes",
        "130",
    ] {
        assert!(out.contains(cmd), "--help lacks {cmd}:\n{out}");
    }
    // Every key of a resolved config.toml is also a train flag.
    let help = ok(&run(&["train", "--help"]));
    let cfg = String::from_utf8(read(&fixture().reference.join("config.toml"))).unwrap();
    for line in cfg.lines().filter(|l| l.contains(" = ")) {
        let key = line.split(" = ").next().unwrap();
        let flag = format!("--{}", key.replace('_', "-"));
        assert!(help.contains(&flag), "train --help lacks {flag}");
    }
}

#[test]
fn run_directory_layout_and_outputs() {
    let f = fixture();
    let d = &f.reference;
    for p in [
        "config.toml",
        "manifest.json",
        "metrics.csv",
        "events.jsonl",
        "checkpoints/latest.safetensors",
        "checkpoints/last-good.safetensors",
        "model.safetensors",
        "vocab.txt",
        "summary.json",
        "plots/learning_curves.svg",
        "plots/evolution.svg",
        "plots/topology.svg",
    ] {
        assert!(d.join(p).is_file(), "missing {p}");
    }
    assert!(!d.join("lock").exists(), "lock not released");
    let metrics = String::from_utf8(read(&d.join("metrics.csv"))).unwrap();
    assert!(metrics.starts_with("epoch,split,loss,accuracy,nnz,density,seconds\n"));
    assert_eq!(metrics.lines().count(), 1 + 5 * 3, "{metrics}");
    let events = String::from_utf8(read(&d.join("events.jsonl"))).unwrap();
    assert_eq!(events.lines().count(), 4);
    for l in events.lines() {
        let e: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(e["policy"], "set");
        assert_eq!(e["total_removed"], e["total_added"]);
        assert!(e["total_removed"].as_u64().unwrap() > 0);
    }
    let m = json(&d.join("manifest.json"));
    assert_eq!(m["seed"], 7);
    assert_eq!(m["threads"], 1);
    assert!(m["isa"]["arch"].is_string());
    assert!(m.get("git_revision").is_some());
    assert_eq!(m["datasets"].as_array().unwrap().len(), 2);
    assert_eq!(m["datasets"][0]["sha256"].as_str().unwrap().len(), 64);
    let sm = json(&d.join("summary.json"));
    for k in [
        "test_accuracy",
        "params",
        "dense_params",
        "density",
        "train_seconds",
        "epochs",
        "best_dev_accuracy",
        "peak_rss_bytes",
    ] {
        assert!(!sm[k].is_null(), "summary lacks {k}: {sm}");
    }
    assert!(sm["params"].as_u64().unwrap() < sm["dense_params"].as_u64().unwrap());
    assert!(
        sm["test_accuracy"].as_f64().unwrap() > 0.6,
        "tiny task not learned: {sm}"
    );
    let svg = String::from_utf8(read(&d.join("plots/learning_curves.svg"))).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Accuracy"));
    let vocab = String::from_utf8(read(&d.join("vocab.txt"))).unwrap();
    assert!(vocab.starts_with("set-lstm-vocab v1\n<pad>\n<unk>\n"));
    // config.toml is a valid --config for a new identical run.
    let cfg = TomlKeys::from(d.join("config.toml"));
    assert!(cfg.0.contains("epsilon") && cfg.0.contains("seed"));
}

struct TomlKeys(String);
impl From<PathBuf> for TomlKeys {
    fn from(p: PathBuf) -> Self {
        TomlKeys(String::from_utf8(read(&p)).unwrap())
    }
}

#[test]
fn config_file_reproduces_a_run_and_threads_do_not_matter() {
    let f = fixture();
    let out = new_dir("from-config");
    // The reference's resolved config as --config, with a different thread count.
    ok(&run(&[
        "train",
        "--config",
        s(&f.reference.join("config.toml")),
        "--out",
        s(&out),
        "--threads",
        "2",
    ]));
    let (a, b) = (
        read(&f.reference.join("model.safetensors")),
        read(&out.join("model.safetensors")),
    );
    assert_eq!(
        tensors(&a),
        tensors(&b),
        "weights depend on the thread count"
    );
    assert_eq!(metrics_sans_time(&f.reference), metrics_sans_time(&out));
}

#[test]
fn resume_after_max_steps_is_bit_identical_across_evolution() {
    let f = fixture();
    let spe = steps_per_epoch(&f.reference);
    // Stop after epoch 1 (a stop on an epoch's last step includes its evaluation and
    // evolution), then in the middle of epoch 2, then finish.
    let d = new_dir("resumed");
    let first = (spe).to_string();
    let mut args = tiny_args(f, &d);
    args.extend(["--max-steps", &first]);
    let out = ok(&run(&args));
    assert!(out.contains(&format!("stopped at step {spe}")), "{out}");
    assert!(!d.join("model.safetensors").exists());
    assert!(!d.join("lock").exists());
    assert_eq!(
        String::from_utf8(read(&d.join("events.jsonl")))
            .unwrap()
            .lines()
            .count(),
        1
    );
    let mid = (spe + spe / 2).to_string();
    let out = ok(&run(&[
        "resume",
        s(&d),
        "--max-steps",
        &mid,
        "--threads",
        "2",
    ]));
    assert!(out.contains("resuming"), "{out}");
    let ck = read(&d.join("checkpoints/latest.safetensors"));
    let counters: serde_json::Value = serde_json::from_str(&metadata(&ck)["counters"]).unwrap();
    assert_eq!(counters["epoch"], 1);
    assert_eq!(counters["evolution_steps"], 1);
    ok(&run(&["resume", s(&d)]));
    assert_same_run(&f.reference, &d);
    // Resuming a finished run does nothing.
    let out = ok(&run(&["resume", s(&d)]));
    assert!(out.contains("already finished"));
}

#[test]
fn sigterm_checkpoints_exits_130_and_resumes_identically() {
    let f = fixture();
    let d = new_dir("signalled");
    let mut args = tiny_args(f, &d);
    args.extend(["--step-delay-ms", "40"]);
    let child = cmd(&args).spawn().unwrap();
    // Wait for the initial checkpoint, then let a few steps run.
    let start = std::time::Instant::now();
    while !d.join("checkpoints/latest.safetensors").exists() {
        assert!(start.elapsed().as_secs() < 30, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    signal(&child, "TERM");
    let out = wait_with_timeout(child, "train (SIGTERM)");
    let err = fails(&out, 130, "interrupted");
    assert!(err.contains("resume"), "{err}");
    assert!(!d.join("lock").exists());
    assert!(
        !d.join("model.safetensors").exists(),
        "the run finished before the signal"
    );
    ok(&run(&["resume", s(&d)]));
    assert_same_run(&f.reference, &d);
}

/// The run is given the same way everywhere (`RUN`, or `--model RUN`); `predict --file`
/// reads one text per line and skips blank lines; `eval --json` and `eval --split dev`.
#[test]
fn run_given_positionally_predict_file_and_eval_json_and_split() {
    let f = fixture();
    let d = copy_run(&f.reference, "positional");
    let m = s(&d);
    // RUN and --model RUN give the same output; both at once is a usage error.
    for sub in [
        vec!["info"],
        vec!["info", "--json"],
        vec!["eval", "--test", s(&f.test)],
    ] {
        let mut a = sub.clone();
        a.push(m);
        let mut b = sub.clone();
        b.extend(["--model", m]);
        let mut c = sub.clone();
        c.extend(["-m", m]);
        let (x, y, z) = (ok(&run(&a)), ok(&run(&b)), ok(&run(&c)));
        assert_eq!(x, y);
        assert_eq!(x, z);
        let mut both = sub;
        both.extend([m, "--model", m]);
        fails(&run(&both), 2, "cannot be used with");
    }
    let out = f.root.join("positional.safetensors");
    ok(&run(&["export", m, "--out", s(&out)]));
    ok(&run(&["info", s(&out)]));
    fails(&run(&["info"]), 2, "RUN");
    fails(&run(&["predict"]), 2, "no run directory");

    // predict: RUN then texts, or --model RUN and texts: the same predictions.
    let a = ok(&run(&["predict", m, "a great film", "awful plot"]));
    let b = ok(&run(&["predict", "-m", m, "a great film", "awful plot"]));
    assert_eq!(a, b);
    assert_eq!(a.lines().count(), 2);
    // --file: blank lines are skipped and counted on stderr; `-` is stdin.
    let file = f.root.join("positional-texts.txt");
    std::fs::write(&file, "a great film\n\n   \nawful plot\r\n\n").unwrap();
    let o = run(&["predict", m, "--file", s(&file)]);
    assert_eq!(ok(&o), a);
    assert!(
        text(&o).1.contains("skipped 3 blank lines"),
        "{:?}",
        text(&o)
    );
    let mut child = cmd(&["predict", m, "--file", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"\na great film\nawful plot\n").unwrap();
    }
    let o = wait_with_timeout(child, "predict --file -");
    assert_eq!(ok(&o), a);
    assert!(
        text(&o).1.contains("skipped 1 blank line "),
        "{:?}",
        text(&o)
    );
    fails(
        &run(&["predict", m, "--file", s(&file), "more text"]),
        2,
        "--file and texts",
    );
    fails(
        &run(&["predict", m, "--file", "/dev/null"]),
        1,
        "not a regular file",
    );
    let bad = f.root.join("positional-bad.txt");
    std::fs::write(&bad, b"fine\n\nbad \xff\n").unwrap();
    let o = run(&["predict", m, "--file", s(&bad)]);
    fails(&o, 1, &format!("{}:3: invalid UTF-8", bad.display()));
    assert_eq!(ok_lines(&o), 1);

    // eval --json is the report on stdout; --split dev re-creates the run's dev split.
    let r: serde_json::Value = serde_json::from_str(&ok(&run(&["eval", m, "--json"]))).unwrap();
    assert_eq!(r["examples"], 40);
    assert!(r["data"].as_str().unwrap().starts_with("test split"), "{r}");
    let dev: serde_json::Value =
        serde_json::from_str(&ok(&run(&["eval", m, "--json", "--split", "dev"]))).unwrap();
    assert!(
        dev["data"].as_str().unwrap().starts_with("dev split"),
        "{dev}"
    );
    let manifest = json(&d.join("manifest.json"));
    assert_eq!(dev["examples"], manifest["splits"]["dev"]);
    fails(
        &run(&["eval", m, "--split", "dev", "--test", s(&f.test)]),
        2,
        "cannot be used with",
    );
}

fn ok_lines(o: &std::process::Output) -> usize {
    text(o).0.lines().count()
}

fn copy_run(from: &Path, name: &str) -> PathBuf {
    let d = new_dir(name);
    let status = std::process::Command::new("cp")
        .args(["-r", s(from), s(&d)])
        .status()
        .unwrap();
    assert!(status.success());
    d
}

#[test]
fn eval_predict_info_export_and_round_trips() {
    let f = fixture();
    let d = &f.reference;
    let out = ok(&run(&["eval", "--model", s(d)]));
    for k in [
        "accuracy",
        "macro F1",
        "precision",
        "recall",
        "confusion matrix",
        "negative",
        "positive",
    ] {
        assert!(out.contains(k), "eval lacks {k}:\n{out}");
    }
    let r = json(&d.join("eval/report.json"));
    assert_eq!(r["examples"], 40);
    let summary = json(&d.join("summary.json"));
    assert_eq!(r["accuracy"], summary["test_accuracy"]);
    assert_eq!(r["confusion"].as_array().unwrap().len(), 2);
    let out = ok(&run(&["eval", "--model", s(d), "--test", s(&f.train)]));
    assert!(out.contains("160 examples"), "{out}");

    let out = ok(&run(&[
        "predict",
        "--model",
        s(d),
        "a great and wonderful film",
        "awful boring plot",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("positive\t"), "{out}");
    assert!(lines[1].starts_with("negative\t"), "{out}");
    let json_out = ok(&run(&[
        "predict",
        "--model",
        s(d),
        "--json",
        "a great and wonderful film",
        "",
    ]));
    let mut preds = Vec::new();
    for l in json_out.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        for k in ["text", "token_ids", "logits", "probabilities", "label"] {
            assert!(v.get(k).is_some(), "{l} lacks {k}");
        }
        let p: f64 = v["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .sum();
        assert!((p - 1.0).abs() < 1e-9);
        preds.push(v);
    }
    assert_eq!(preds.len(), 2);
    assert_eq!(preds[1]["token_ids"], serde_json::json!([1]));
    // stdin, one text per line.
    let mut child = cmd(&["predict", "--model", s(d)])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"great fun\nterrible\n")
        .unwrap();
    let o = wait_with_timeout(child, "predict (stdin)");
    assert_eq!(ok(&o).lines().count(), 2);

    let out = ok(&run(&["info", "--model", s(d)]));
    for k in [
        "embedding.weight",
        "lstm.weight_ih_l0",
        "lstm.weight_hh_l0",
        "fc.weight",
        "csr",
        "total",
        "dense",
    ] {
        assert!(out.contains(k), "info lacks {k}:\n{out}");
    }
    let info: serde_json::Value =
        serde_json::from_str(&ok(&run(&["info", "--model", s(d), "--json"]))).unwrap();
    assert_eq!(info["total_params"], summary["params"]);

    // Sparse export: the same bytes as model.safetensors, and identical logits when loaded back.
    let sparse = f.root.join("export-sparse.safetensors");
    ok(&run(&["export", "--model", s(d), "--out", s(&sparse)]));
    assert_eq!(read(&sparse), read(&d.join("model.safetensors")));
    let again = ok(&run(&[
        "predict",
        "--model",
        s(&sparse),
        "--json",
        "a great and wonderful film",
        "",
    ]));
    assert_eq!(again, json_out, "sparse export gives other logits");
    fails(
        &run(&["export", "--model", s(d), "--out", s(&sparse)]),
        2,
        "--force",
    );

    // Dense export: PyTorch names and layouts; loads back with (nearly) identical logits.
    let dense = f.root.join("export-dense.safetensors");
    ok(&run(&[
        "export",
        "--model",
        s(d),
        "--out",
        s(&dense),
        "--dense",
    ]));
    let t = tensors(&read(&dense));
    let cfg = json(&d.join("manifest.json"));
    let v = cfg["vocab_size"].as_u64().unwrap() as usize;
    let expect: [(&str, Vec<usize>); 7] = [
        ("embedding.weight", vec![v, 8]),
        ("lstm.weight_ih_l0", vec![32, 8]),
        ("lstm.weight_hh_l0", vec![32, 8]),
        ("lstm.bias_ih_l0", vec![32]),
        ("lstm.bias_hh_l0", vec![32]),
        ("fc.weight", vec![2, 8]),
        ("fc.bias", vec![2]),
    ];
    assert_eq!(t.len(), 7, "{:?}", t.keys());
    for (name, shape) in expect {
        assert_eq!(t[name].0, "F32", "{name}");
        assert_eq!(t[name].1, shape, "{name}");
    }
    let dense_pred = ok(&run(&[
        "predict",
        "--model",
        s(&dense),
        "--json",
        "a great and wonderful film",
        "",
    ]));
    for (a, b) in dense_pred.lines().zip(json_out.lines()) {
        let (a, b): (serde_json::Value, serde_json::Value) = (
            serde_json::from_str(a).unwrap(),
            serde_json::from_str(b).unwrap(),
        );
        assert_eq!(a["label"], b["label"]);
        for (x, y) in a["logits"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["logits"].as_array().unwrap())
        {
            assert!(
                (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-4,
                "{a} vs {b}"
            );
        }
    }
    let out = ok(&run(&["info", "--model", s(&dense)]));
    assert!(out.contains("100.000%"), "{out}");
}

#[test]
fn bench_prints_one_json_line() {
    let out = ok(&run(&[
        "bench",
        "--vocab-size",
        "500",
        "--embed-dim",
        "16",
        "--hidden",
        "16",
        "--batch-size",
        "4",
        "--seq-len",
        "8",
        "--density",
        "0.2",
        "--steps",
        "3",
        "--warmup",
        "1",
        "--threads",
        "1",
    ]));
    assert_eq!(out.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for k in [
        "train_ms_per_step",
        "infer_ms_per_batch",
        "train_tokens_per_s",
        "infer_tokens_per_s",
        "params",
        "dense_params",
        "peak_rss_bytes",
    ] {
        assert!(v.get(k).is_some(), "{out} lacks {k}");
    }
    assert!(v["params"].as_u64().unwrap() < v["dense_params"].as_u64().unwrap());
    let dense = ok(&run(&[
        "bench",
        "--vocab-size",
        "100",
        "--embed-dim",
        "4",
        "--hidden",
        "4",
        "--batch-size",
        "2",
        "--seq-len",
        "3",
        "--dense",
        "--steps",
        "2",
    ]));
    let v: serde_json::Value = serde_json::from_str(&dense).unwrap();
    assert_eq!(v["params"], v["dense_params"]);
    fails(&run(&["bench", "--embed-dim", "4"]), 2, "--density");
    fails(&run(&["bench", "--density", "1.5"]), 2, "--density");
}

#[test]
fn bad_flags_are_usage_errors_and_write_nothing() {
    let f = fixture();
    let out = f.root.join("never-created");
    let base = [
        "train",
        "--train",
        s(&f.train),
        "--test",
        s(&f.test),
        "--out",
        s(&out),
    ];
    let cases: &[(&[&str], &str)] = &[
        (&["--lr", "-1"], "--lr"),
        (&["--epochs", "0"], "--epochs"),
        (&["--zeta", "1.5"], "--zeta"),
        (&["--density", "0"], "--density"),
        (&["--epsilon", "1", "--density", "0.1"], "alternatives"),
        (&["--dense", "--epsilon", "1"], "--dense"),
        (&["--dropout-embed", "1"], "--dropout-embed"),
        (&["--hidden", "0"], "--hidden"),
        (&["--threads", "5000"], "--threads"),
        (&["--max-steps", "0"], "--max-steps"),
        (&["--policy", "bogus"], "--policy"),
        (&["--epochs", "many"], "--epochs"),
        (&["--no-such-flag"], "--no-such-flag"),
    ];
    for (extra, needle) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        fails(&run(&args), 2, needle);
        assert!(!out.exists(), "{extra:?} created the run directory");
    }
    fails(
        &run(&["train", "--data", "mnist", "--out", s(&out)]),
        2,
        "unknown dataset",
    );
    fails(
        &run(&[
            "train",
            "--data",
            "uci",
            "--data-dir",
            s(&f.root),
            "--out",
            s(&out),
        ]),
        2,
        "not found in data directory",
    );
    fails(
        &run(&[
            "train",
            "--train",
            s(&f.train),
            "--dev",
            s(&f.test),
            "--out",
            s(&out),
        ]),
        2,
        "--dev needs --test",
    );
    fails(
        &run(&[
            "train",
            "--train",
            s(&f.root.join("missing.jsonl")),
            "--test",
            s(&f.test),
            "--out",
            s(&out),
        ]),
        2,
        "no such file",
    );
    let cfg = f.root.join("bad.toml");
    std::fs::write(&cfg, "lr = 0.1\nlearning_rate = 3\n").unwrap();
    fails(
        &run(&["train", "--config", s(&cfg), "--out", s(&out)]),
        2,
        "learning_rate",
    );
    std::fs::write(&cfg, "epochs = \"three\"\n").unwrap();
    fails(
        &run(&["train", "--config", s(&cfg), "--out", s(&out)]),
        2,
        "epochs",
    );
    assert!(!out.exists());
    // An existing run directory is not overwritten.
    fails(&run(&tiny_args(f, &f.reference)), 2, "resume");
    fails(&run(&["resume", s(&f.root)]), 2, "not a run directory");
}

#[test]
fn resume_refuses_mismatches_before_writing() {
    let d = stopped_run("mismatch", 3);
    let snapshot = |d: &Path| {
        let mut files: Vec<(PathBuf, Vec<u8>)> =
            walk(d).into_iter().map(|p| (p.clone(), read(&p))).collect();
        files.sort();
        files
    };
    let before = snapshot(&d);
    let cfg = d.join("config.toml");
    let original = String::from_utf8(read(&cfg)).unwrap();
    std::fs::write(&cfg, original.replace("lr = 0.05", "lr = 0.02")).unwrap();
    fails(&run(&["resume", s(&d)]), 4, "`lr`");
    std::fs::write(&cfg, &original).unwrap();
    let vocab = d.join("vocab.txt");
    let v = read(&vocab);
    std::fs::write(&vocab, [v.as_slice(), b"extra\n"].concat()).unwrap();
    fails(&run(&["resume", s(&d)]), 4, "vocab.txt");
    std::fs::write(&vocab, &v).unwrap();
    let other = fixture().root.join("other.toml");
    std::fs::write(&other, original.replace("seed = 7", "seed = 8")).unwrap();
    fails(&run(&["resume", s(&d), "--config", s(&other)]), 4, "`seed`");
    assert_eq!(
        snapshot(&d),
        before,
        "a refused resume changed the run directory"
    );
    // The matching config is accepted.
    let same = fixture().root.join("same.toml");
    std::fs::write(&same, &original).unwrap();
    ok(&run(&[
        "resume",
        s(&d),
        "--config",
        s(&same),
        "--max-steps",
        "4",
    ]));
}

#[test]
fn lock_file_blocks_a_second_run() {
    let d = stopped_run("locked", 2);
    // A live set-lstm (a `predict` waiting on its stdin) holds the lock.
    let mut live = cmd(&["predict", "--model", s(&fixture().reference)])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    std::fs::write(d.join("lock"), format!("{}\n", live.id())).unwrap();
    fails(&run(&["resume", s(&d)]), 5, "locked by process");
    live.kill().unwrap();
    live.wait().unwrap();
    // A live process that is not set-lstm (a recycled pid) does not block the run forever.
    let mut other = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    std::fs::write(d.join("lock"), format!("{}\n", other.id())).unwrap();
    ok(&run(&["resume", s(&d), "--max-steps", "3"]));
    other.kill().unwrap();
    other.wait().unwrap();
    // A lock left by a dead process is taken over.
    std::fs::write(d.join("lock"), "4000000000\n").unwrap();
    ok(&run(&["resume", s(&d), "--max-steps", "4"]));
    assert!(!d.join("lock").exists());
}

#[test]
fn corrupt_and_truncated_checkpoints_are_rejected() {
    let d = stopped_run("corrupt", 2);
    let latest = d.join("checkpoints/latest.safetensors");
    let good = read(&latest);
    let len = good.len();
    for n in [0, 7, 8, 9, 100, len / 2, len - 1] {
        std::fs::write(&latest, &good[..n]).unwrap();
        let err = fails(&run(&["resume", s(&d)]), 4, "checkpoint");
        assert!(err.contains("latest.safetensors"), "{err}");
    }
    // A stored weight becomes NaN.
    let mut flipped = good.clone();
    let (n, meta) = SafeTensors::read_metadata(&good).unwrap();
    let start = 8 + n + meta.info("fc.bias").unwrap().data_offsets.0;
    flipped[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&latest, &flipped).unwrap();
    fails(&run(&["resume", s(&d)]), 4, "non-finite");
    let mut header = good.clone();
    header[20] = b'#';
    std::fs::write(&latest, &header).unwrap();
    fails(&run(&["resume", s(&d)]), 4, "safetensors");
    // The previous checkpoint still works, and the corrupt one never becomes `last-good`.
    let last_good = read(&d.join("checkpoints/last-good.safetensors"));
    ok(&run(&[
        "resume",
        s(&d),
        "--from",
        "last-good",
        "--max-steps",
        "3",
    ]));
    assert_eq!(
        read(&d.join("checkpoints/last-good.safetensors")),
        last_good
    );
    ok(&run(&["resume", s(&d), "--max-steps", "4"]));
    // A corrupt model file is a typed error too.
    let model = fixture().root.join("corrupt-model.safetensors");
    let m = read(&fixture().reference.join("model.safetensors"));
    std::fs::write(&model, &m[..m.len() - 1]).unwrap();
    fails(&run(&["info", "--model", s(&model)]), 4, "safetensors");
    std::fs::write(&model, &good).unwrap();
    fails(&run(&["info", "--model", s(&model)]), 4, "format");
}

#[test]
fn non_finite_training_stops_naming_step_and_tensor() {
    let f = fixture();
    let d = new_dir("nan");
    let mut args = tiny_args(f, &d);
    args.extend([
        "--optimizer",
        "sgd",
        "--lr",
        "1e30",
        "--clip",
        "0",
        "--max-steps",
        "1",
    ]);
    ok(&run(&args));
    let latest = d.join("checkpoints/latest.safetensors");
    let before = read(&latest);
    let err = fails(&run(&["resume", s(&d)]), 3, "at step 2");
    assert!(
        err.contains("non-finite") && err.contains("tensor `"),
        "{err}"
    );
    assert_eq!(read(&latest), before, "the last good checkpoint changed");
    assert!(!d.join("lock").exists());
    assert!(!d.join("model.safetensors").exists());
}

#[test]
fn default_train_uses_the_shipped_uci_data_and_reaches_70_percent() {
    let cwd = new_dir("default-cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    // No arguments at all: data from the compiled-in datasets/ (no ./datasets, no SET_LSTM_DATA),
    // run directory under ./runs/.
    let o = wait_with_timeout(
        cmd(&["train"]).current_dir(&cwd).spawn().unwrap(),
        "train (defaults)",
    );
    let out = ok(&o);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("epoch ")).count(),
        10,
        "{out}"
    );
    let runs: Vec<PathBuf> = std::fs::read_dir(cwd.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1);
    let name = runs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("uci-set-42-"), "{name}");
    let sm = json(&runs[0].join("summary.json"));
    let acc = sm["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.70, "test accuracy {acc}");
    assert!(sm["density"].as_f64().unwrap() <= 0.05, "{sm}");
    assert!(
        out.contains("test accuracy") && out.contains("dense ("),
        "{out}"
    );
}

#[test]
fn rigl_and_snfs_resume_bit_identically_mid_epoch() {
    let f = fixture();
    for policy in ["rigl", "snfs"] {
        let (a, b) = (
            new_dir(&format!("{policy}-a")),
            new_dir(&format!("{policy}-b")),
        );
        let mut args = tiny_args(f, &a);
        args.extend(["--policy", policy, "--optimizer", "sgd", "--lr", "0.1"]);
        ok(&run(&args));
        let mut args = tiny_args(f, &b);
        let stop = (steps_per_epoch(&a) * 2 + 3).to_string();
        args.extend([
            "--policy",
            policy,
            "--optimizer",
            "sgd",
            "--lr",
            "0.1",
            "--max-steps",
            &stop,
        ]);
        ok(&run(&args));
        ok(&run(&["resume", s(&b), "--checkpoint-every", "2"]));
        assert_same_run(&a, &b);
        let events = String::from_utf8(read(&a.join("events.jsonl"))).unwrap();
        assert!(
            events
                .lines()
                .all(|l| l.contains(&format!("\"policy\":\"{policy}\"")))
        );
    }
}

#[test]
fn a_closed_stdout_ends_the_process_quietly() {
    use std::os::unix::process::ExitStatusExt;
    // `set-lstm predict` with many lines of output into a pipe whose reader is already gone.
    let f = fixture();
    let mut child = cmd(&["predict", "--model", s(&f.reference)])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        for _ in 0..20_000 {
            if stdin.write_all(b"a good film\n").is_err() {
                break;
            }
        }
    });
    let out = wait_with_timeout(child, "predict into a closed pipe");
    writer.join().unwrap();
    let (_, err) = text(&out);
    const SIGPIPE: i32 = 13; // Linux
    assert_eq!(
        out.status.signal(),
        Some(SIGPIPE),
        "{:?}\n{err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// The command line is only a front end: a program that trains through `set-train` with the
/// settings of `tiny_args` gets bit for bit the model of `set-lstm train`.
#[test]
fn the_library_trains_exactly_what_the_cli_trains() {
    use set_train::{
        DataConfig, DataSource, Epsilon, ModelSpec, RunData, Sparsity, Trainer, TrainerConfig, Zeta,
    };
    let f = fixture();
    let data_cfg = DataConfig {
        source: DataSource::Files {
            train: std::fs::canonicalize(&f.train).unwrap(),
            dev: None,
            test: Some(std::fs::canonicalize(&f.test).unwrap()),
            classes: 2,
            labels: None,
            text_field: None,
            label_field: None,
            format: None,
        },
        ..DataConfig::registry("unused", "unused")
    };
    // The CLI splits with its split seed (default), not with the model seed 7.
    let data = RunData::load(&data_cfg, set_cli::config::DEFAULT_SPLIT_SEED, None).unwrap();
    let spec = ModelSpec::new(data.vocab.len(), 8, 8, data.num_classes()).with_sparsity(
        Sparsity::ErdosRenyi {
            epsilon: Epsilon::new(2.0).unwrap(),
        },
    );
    let cfg = TrainerConfig {
        epochs: 5,
        batch_size: 16,
        lr: 0.05,
        seed: 7,
        zeta: Zeta::new(0.3).unwrap(),
        ..TrainerConfig::default()
    };
    let mut trainer = Trainer::new(spec, cfg, &data).unwrap().with_threads(1);
    assert_eq!(
        trainer.fit(&data, &mut ()).unwrap(),
        set_train::Outcome::Finished
    );
    let cli = set_train::ModelBundle::load(f.reference.join("model.safetensors")).unwrap();
    let flat = |m: &set_nn::Classifier<f32>| -> Vec<(String, Vec<u32>)> {
        m.params()
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.values().iter().map(|v| v.to_bits()).collect(),
                )
            })
            .collect()
    };
    assert_eq!(flat(trainer.model()), flat(&cli.model));
    assert_eq!(
        set_train::topology_sha256(trainer.model()),
        set_train::topology_sha256(&cli.model)
    );
    assert_eq!(trainer.bundle(&data.vocab).spec, cli.spec);
}

/// Library features reachable from the command line: ERK allocation, a sparse output layer, a
/// cosine prune schedule, SET without regrowth into just-pruned positions, zero-initialised new
/// weights.
#[test]
fn erk_sparse_output_cosine_schedule_and_regrowth_flags_train() {
    let f = fixture();
    let d = new_dir("library-flags");
    let mut args = tiny_args(f, &d);
    let eps = args.iter().position(|a| *a == "--epsilon").unwrap();
    args.drain(eps..eps + 2);
    args.extend([
        "--erk",
        "0.3",
        "--sparse-output",
        "--prune-schedule",
        "cosine",
        "--no-regrow-into-removed",
        "--new-weight-std",
        "0",
    ]);
    ok(&run(&args));
    let m = set_train::ModelBundle::load(d.join("model.safetensors")).unwrap();
    assert!(
        m.model.out_weight.value.as_sparse().is_some(),
        "fc.weight is sparse"
    );
    assert!(
        matches!(m.spec.sparsity, set_train::Sparsity::Erk { density } if density.get() == 0.3)
    );
    // The cosine schedule prunes less at every step; the last step prunes least.
    let events = String::from_utf8(read(&d.join("events.jsonl"))).unwrap();
    let zetas: Vec<f64> = events
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["zeta"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(zetas.len(), 4);
    assert_eq!(zetas[0], 0.3);
    assert!(zetas.windows(2).all(|w| w[1] < w[0]), "{zetas:?}");
    let cfg = String::from_utf8(read(&d.join("config.toml"))).unwrap();
    for key in [
        "erk = 0.3",
        "sparse_output = true",
        "prune_schedule = \"cosine\"",
        "regrow_into_removed = false",
    ] {
        assert!(cfg.contains(key), "{key} missing from\n{cfg}");
    }
}

/// Boolean settings are switches as in every subcommand: `--X` turns one on, `--no-X` off over a
/// config file's `X = true`, the last of the two wins; the old `--X BOOL` spelling is a usage
/// error naming the new one.
#[test]
fn boolean_settings_are_switches_with_no_forms() {
    let f = fixture();
    for (args, needle) in [
        (&["train", "--dense", "true"][..], "write `--dense`"),
        (
            &["train", "--regrow-into-removed", "false"][..],
            "write `--no-regrow-into-removed`",
        ),
        (
            &["train", "--sparse-output=true"][..],
            "write `--sparse-output`",
        ),
        (&["bench", "--dense", "false"][..], "leave `--dense` out"),
        (
            &["train", "--dense=false"][..],
            "write `--no-dense` (train)",
        ),
    ] {
        fails(&run(args), 2, needle);
    }
    let config_of = |name: &str, file: &str, extra: &[&str]| {
        let cfg = f.root.join(format!("{name}.toml"));
        std::fs::write(&cfg, file).unwrap();
        let d = new_dir(name);
        let mut args = tiny_args(f, &d);
        let eps = args.iter().position(|a| *a == "--epsilon").unwrap();
        args.drain(eps..eps + 2);
        args.extend(["--config", s(&cfg), "--max-steps", "1"]);
        args.extend(extra);
        ok(&run(&args));
        String::from_utf8(read(&d.join("config.toml"))).unwrap()
    };
    let sparse = "sparse_output = true\nregrow_into_removed = false\n";
    // The file alone turns them its way.
    let file_only = config_of("switches-file", sparse, &[]);
    for key in ["sparse_output = true", "regrow_into_removed = false"] {
        assert!(file_only.contains(key), "{key} missing from\n{file_only}");
    }
    assert!(config_of("switches-dense", "dense = true\n", &[]).contains("dense = true"));
    // Flags win over the file, the last of `--X` / `--no-X` winning.
    let flipped = config_of(
        "switches-flipped",
        sparse,
        &["--no-sparse-output", "--regrow-into-removed"],
    );
    assert!(!flipped.contains("sparse_output"), "{flipped}");
    assert!(!flipped.contains("regrow_into_removed"), "{flipped}");
    let undense = config_of(
        "switches-undense",
        "dense = true\n",
        &["--no-dense", "--dense", "--no-dense"],
    );
    assert!(undense.contains("dense = false"), "{undense}");
}

/// A learning-rate schedule with warm-up is part of the run: a run stopped mid-way and resumed
/// ends bit for bit as an uninterrupted one, and the schedule changes the result.
#[test]
fn lr_schedule_with_warmup_resumes_bit_identically() {
    let f = fixture();
    let (a, b) = (new_dir("lr-cosine-a"), new_dir("lr-cosine-b"));
    let schedule = ["--lr-schedule", "cosine", "--warmup-steps", "3"];
    let mut args = tiny_args(f, &a);
    args.extend(schedule);
    ok(&run(&args));
    let mut args = tiny_args(f, &b);
    args.extend(schedule);
    args.extend(["--max-steps", "7"]);
    ok(&run(&args));
    ok(&run(&["resume", s(&b)]));
    assert_same_run(&a, &b);
    assert!(
        read(&a.join("model.safetensors")) != read(&f.reference.join("model.safetensors")),
        "the schedule changed nothing"
    );
}

/// A finished run has plots a researcher would publish and a `report.html` that renders in a
/// browser from disk: integer epoch ticks, a title naming dataset, policy, density and seed, the
/// best dev epoch marked, legends below the data, and evolution panels. With Chromium installed
/// (`.ci/run` installs it and sets `SET_LSTM_REQUIRE_CHROMIUM=1`), headless Chromium renders the
/// page and its DOM holds the summary, the three plots and the configuration.
#[test]
fn plots_and_report_html_render() {
    let f = fixture();
    let d = &f.reference;
    // Text nodes span lines in plotters' SVG: compare with the line breaks removed.
    let curves = String::from_utf8(read(&d.join("plots/learning_curves.svg")))
        .unwrap()
        .replace('\n', "");
    assert!(curves.contains("files | set | density") && curves.contains("seed 7"));
    assert!(curves.contains("best dev"));
    assert!(curves.contains(">1</text>") && curves.contains(">5</text>"));
    assert!(!curves.contains(">1.0</text>") && !curves.contains(">0.999"));
    let evolution = String::from_utf8(read(&d.join("plots/evolution.svg"))).unwrap();
    assert!(evolution.contains("non-zeros per gate") && evolution.contains("ITOP"));
    let html = String::from_utf8(read(&d.join("report.html"))).unwrap();
    assert_eq!(html.matches("<svg").count(), 3, "three inline plots");
    for part in [
        "<h2>Summary</h2>",
        "test_accuracy",
        "<h2>Configuration</h2>",
        "epochs = 5",
    ] {
        assert!(html.contains(part), "{part}");
    }
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("SET_LSTM_REQUIRE_CHROMIUM").is_none(),
            "SET_LSTM_REQUIRE_CHROMIUM is set but no chromium is installed"
        );
        eprintln!("chromium not installed: the rendering half of this test did not run");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", d.join("report.html").display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(dom.matches("<svg").count(), 3, "{dom}");
    assert!(dom.contains("test_accuracy") && dom.contains("epochs = 5"));
}

/// Conventions users know: completion scripts for the common shells, `-q` (no per-epoch lines),
/// and short flags that mean exactly their long forms.
#[test]
fn completions_quiet_and_short_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = ok(&run(&["completions", shell]));
        assert!(
            script.contains("train") && script.contains("epochs") && script.len() > 1000,
            "{shell}"
        );
    }
    fails(&run(&["completions", "tcsh"]), 2, "tcsh");
    let f = fixture();
    let d = new_dir("short-quiet");
    let args = tiny_args(f, &d);
    let short: Vec<&str> = args
        .iter()
        .map(|a| match *a {
            "--out" => "-o",
            "--epochs" => "-e",
            "--batch-size" => "-b",
            "--seed" => "-s",
            "--threads" => "-j",
            other => other,
        })
        .collect();
    let mut quiet = vec!["-q"];
    quiet.extend(short);
    let out = ok(&run(&quiet));
    assert!(!out.contains("epoch 1/"), "{out}");
    assert!(out.contains("test accuracy"), "{out}");
    assert_same_run(&f.reference, &d);
}

/// A run's `config.toml` carries to another machine: the data directory and the thread count
/// are recorded only when given explicitly.
#[test]
fn config_records_data_dir_and_threads_only_when_given() {
    let d = new_dir("portable");
    ok(&run(&["train", "--epochs", "1", "--out", s(&d)]));
    let text = String::from_utf8(read(&d.join("config.toml"))).unwrap();
    assert!(
        !text.contains("data_dir") && !text.contains("threads"),
        "{text}"
    );
    assert!(text.contains("data = \"uci\""), "{text}");
    let e = new_dir("explicit");
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets");
    ok(&run(&[
        "train",
        "--epochs",
        "1",
        "--out",
        s(&e),
        "--threads",
        "2",
        "--data-dir",
        s(&data),
    ]));
    let text = String::from_utf8(read(&e.join("config.toml"))).unwrap();
    assert!(
        text.contains("data_dir = ") && text.contains("threads = 2"),
        "{text}"
    );
    // Same training either way.
    assert_eq!(metrics_sans_time(&d), metrics_sans_time(&e));
}

/// Own data in the formats people have: a CSV with `sentence,label` columns and word labels
/// trains with no flag but the files (classes: the sorted labels); a TSV with other column names
/// and `--labels` fixing the class order; gzip either way; errors name file, line and field.
#[test]
fn csv_and_tsv_files_with_word_labels_train() {
    let f = fixture();
    let dir = new_dir("own-formats");
    std::fs::create_dir_all(&dir).unwrap();
    // The fixture's JSONL rewritten as CSV (sentence,label with neg/pos) and TSV (review, stars).
    let rows = |p: &Path| -> Vec<(String, i64)> {
        String::from_utf8(read(p))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["text"].as_str().unwrap().to_string(),
                    v["label"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let name = |l: i64| if l == 1 { "pos" } else { "neg" };
    let write = |file: &str, rows: &[(String, i64)], tsv: bool| {
        let mut text = String::from(if tsv {
            "stars\treview\n"
        } else {
            "sentence,label\n"
        });
        for (t, l) in rows {
            if tsv {
                text.push_str(&format!(
                    "{}\t{}\n",
                    if *l == 1 { "good" } else { "bad" },
                    t.replace('\t', " ")
                ));
            } else {
                text.push_str(&format!("\"{}\",{}\n", t.replace('"', "\"\""), name(*l)));
            }
        }
        let p = dir.join(file);
        std::fs::write(&p, text).unwrap();
        p
    };
    let (train, test) = (rows(&f.train), rows(&f.test));
    let (csv_train, csv_test) = (
        write("train.csv", &train, false),
        write("test.csv", &test, false),
    );
    let d = dir.join("csv-run");
    ok(&run(&[
        "train",
        "--train",
        s(&csv_train),
        "--test",
        s(&csv_test),
        "--out",
        s(&d),
        "--epochs",
        "2",
        "--threads",
        "1",
    ]));
    let m = set_train::ModelBundle::load(d.join("model.safetensors")).unwrap();
    assert_eq!(m.class_names, ["neg", "pos"]);
    // One file and one flag: test (20 %) and dev are carved from it, and eval finds the same
    // test split again.
    let one = dir.join("one-file-run");
    let out = ok(&run(&[
        "train",
        "--train",
        s(&csv_train),
        "--out",
        s(&one),
        "--epochs",
        "1",
    ]));
    let n = train.len();
    let test_n = (n as f64 * 0.2).round() as usize;
    assert!(
        out.contains(&format!("/ {test_n} test examples"))
            || out.contains(&format!("{test_n} test examples")),
        "{n} rows, expected about {test_n} test examples: {out}"
    );
    let report = ok(&run(&["eval", s(&one), "--json"]));
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    let support: u64 = v["classes"]
        .as_array()
        .map(|c| c.iter().map(|k| k["support"].as_u64().unwrap()).sum())
        .unwrap_or_default();
    assert_eq!(support as usize, test_n, "{report}");
    fails(
        &run(&[
            "train",
            "--train",
            s(&csv_train),
            "--dev",
            s(&csv_test),
            "--out",
            s(&dir.join("x")),
        ]),
        2,
        "--dev needs --test",
    );
    let out = ok(&run(&["predict", "--model", s(&d), "a fine film"]));
    assert!(
        out.starts_with("neg\t") || out.starts_with("pos\t"),
        "{out}"
    );
    // TSV, other column names, and the class order given.
    let (tsv_train, tsv_test) = (
        write("train.tsv", &train, true),
        write("test.tsv", &test, true),
    );
    let t = dir.join("tsv-run");
    ok(&run(&[
        "train",
        "--train",
        s(&tsv_train),
        "--test",
        s(&tsv_test),
        "--out",
        s(&t),
        "--epochs",
        "1",
        "--text-field",
        "review",
        "--label-field",
        "stars",
        "--labels",
        "bad,good",
        "--threads",
        "1",
    ]));
    let m = set_train::ModelBundle::load(t.join("model.safetensors")).unwrap();
    assert_eq!(m.class_names, ["bad", "good"]);
    // Errors name the file, line and field; nothing is written.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "sentence,label\nok,pos\nfine,maybe\n").unwrap();
    let e = dir.join("bad-run");
    let err = fails(
        &run(&[
            "train",
            "--train",
            s(&bad),
            "--test",
            s(&csv_test),
            "--out",
            s(&e),
            "--labels",
            "neg,pos",
        ]),
        1,
        "bad.csv:3",
    );
    assert!(err.contains("\"maybe\""), "{err}");
    fails(
        &run(&["train", "--text-field", "review", "--out", s(&e)]),
        2,
        "--train/--test files",
    );
}

/// `set-lstm data`: `fetch NAME --from DIR` checks and installs a dataset's files where `train`
/// reads ($SET_LSTM_DATA here), `list` shows it present, and `train --data NAME` then needs no
/// flag about paths; a wrong folder is an error naming the missing file.
#[test]
fn data_fetch_list_and_train_without_path_flags() {
    let root = new_dir("data-dir");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/uci_sentiment_sentences");
    let with_env = |args: &[&str]| {
        wait_with_timeout(
            cmd(args).env("SET_LSTM_DATA", &root).spawn().unwrap(),
            "set-lstm data",
        )
    };
    let out = ok(&with_env(&[
        "data",
        "fetch",
        "uci-yelp",
        "--from",
        s(&shipped),
    ]));
    assert!(out.contains("yelp.jsonl.gz (1000 examples)"), "{out}");
    let list = ok(&with_env(&["data", "list"]));
    let line = |name: &str| {
        list.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap()
            .to_string()
    };
    assert!(line("uci-yelp").contains("present"), "{list}");
    assert!(
        line("uci").contains("partial") && line("imdb").contains("missing"),
        "{list}"
    );
    let run_dir = root.join("run");
    let out = ok(&with_env(&[
        "train",
        "--data",
        "uci-yelp",
        "-e",
        "1",
        "-o",
        s(&run_dir),
    ]));
    assert!(out.contains("test accuracy"), "{out}");
    let o = with_env(&["data", "fetch", "imdb", "--from", s(&shipped)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no train.jsonl.gz"));
}

/// Early stopping: a run whose dev accuracy stops improving ends after `--early-stopping`
/// epochs without improvement, finished (resume says so); `best.safetensors` holds the best dev
/// epoch's model and the summary reports both the final and the best-dev test accuracy. Test
/// accuracy is printed per epoch only with `--show-test`.
#[test]
fn early_stopping_keeps_the_best_dev_model() {
    let f = fixture();
    let d = new_dir("early-stop");
    let mut args = tiny_args(f, &d);
    // A learning rate too small to change any prediction: dev accuracy never improves again.
    let lr = args.iter().position(|a| *a == "--lr").unwrap();
    args[lr + 1] = "1e-9";
    args.extend(["--epochs", "8", "--early-stopping", "2"]);
    let out = ok(&run(&args));
    assert!(!out.contains("test loss"), "{out}");
    assert!(out.contains("stopped early"), "{out}");
    let summary = json(&d.join("summary.json"));
    assert_eq!(summary["early_stopped"], true);
    assert_eq!(summary["best_dev_epoch"], 1);
    assert!(summary["best_dev_test_accuracy"].as_f64().is_some());
    assert_eq!(
        metrics_sans_time(&d)
            .iter()
            .filter(|l| l.contains(",dev,"))
            .count(),
        3
    );
    let best = set_train::ModelBundle::load(d.join("best.safetensors")).unwrap();
    assert_eq!(best.class_names.len(), 2);
    assert!(ok(&run(&["resume", s(&d)])).contains("already finished"));
    // --show-test prints the test split every epoch.
    let e = new_dir("show-test");
    let mut args = tiny_args(f, &e);
    args.extend(["--epochs", "1", "--show-test"]);
    assert!(ok(&run(&args)).contains("test loss"));
}

/// A moved data directory does not strand a run: `resume` refuses (the files are gone) until
/// `--data-dir` names the new place, whose files must be the recorded ones (same names and
/// SHA-256); the resumed run ends as an uninterrupted one.
#[test]
fn resume_data_dir_follows_moved_data() {
    let root = new_dir("moved-data");
    let (a, b) = (root.join("a"), root.join("b"));
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/uci_sentiment_sentences");
    std::fs::create_dir_all(a.join("uci_sentiment_sentences")).unwrap();
    std::fs::copy(
        shipped.join("yelp.jsonl.gz"),
        a.join("uci_sentiment_sentences/yelp.jsonl.gz"),
    )
    .unwrap();
    let args = |out: &Path| {
        vec![
            "train".to_string(),
            "--data".into(),
            "uci-yelp".into(),
            "--data-dir".into(),
            a.display().to_string(),
            "-e".into(),
            "2".into(),
            "-j".into(),
            "1".into(),
            "-o".into(),
            out.display().to_string(),
        ]
    };
    fn strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let whole = root.join("whole");
    ok(&run(&strs(&args(&whole))));
    let moved = root.join("moved");
    let mut stopped = args(&moved);
    stopped.extend(["--max-steps".into(), "3".into()]);
    ok(&run(&strs(&stopped)));
    std::fs::rename(&a, &b).unwrap();
    assert_ne!(run(&["resume", s(&moved)]).status.code(), Some(0));
    // Different bytes under the same name are refused.
    let c = root.join("c");
    std::fs::create_dir_all(c.join("uci_sentiment_sentences")).unwrap();
    std::fs::copy(
        shipped.join("imdb.jsonl.gz"),
        c.join("uci_sentiment_sentences/yelp.jsonl.gz"),
    )
    .unwrap();
    fails(
        &run(&["resume", s(&moved), "--data-dir", s(&c)]),
        4,
        "changed",
    );
    ok(&run(&["resume", s(&moved), "--data-dir", s(&b)]));
    assert_eq!(metrics_sans_time(&whole), metrics_sans_time(&moved));
    assert!(read(&whole.join("model.safetensors")) == read(&moved.join("model.safetensors")));
}

/// An installed binary away from the checkout (the compiled-in `datasets/` path turned off, an
/// empty data directory, a working directory without `datasets/`): `train` names the command
/// that installs the UCI sentences, `data fetch uci` installs them from the copy inside the
/// binary (no `--from`), and `train` then finds them; a dataset that is not bundled still needs
/// `--from`.
#[test]
fn installed_binary_fetches_uci_without_the_checkout() {
    let root = tempfile::tempdir().unwrap();
    let (work, data) = (root.path().join("work"), root.path().join("data"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let away = |args: &[&str]| {
        let mut c = cmd(args);
        c.current_dir(&work)
            .env("SET_LSTM_DATA", &data)
            .env("HOME", root.path())
            .env_remove("XDG_DATA_HOME")
            .env("SET_LSTM_TEST_NO_CHECKOUT", "1");
        wait_with_timeout(c.spawn().unwrap(), &args.join(" "))
    };
    let short = ["train", "--epochs", "1", "--max-steps", "2", "--out", "run"];
    let err = fails(&away(&short), 2, "set-lstm data fetch uci");
    assert!(err.contains("carries a copy"), "{err}");
    let listed = ok(&away(&["data", "list"]));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("uci ") && l.contains("missing")),
        "{listed}"
    );
    let fetched = ok(&away(&["data", "fetch", "uci"]));
    assert!(fetched.contains("dataset uci installed"), "{fetched}");
    for f in ["amazon_cells", "imdb", "yelp"] {
        let p = data.join(format!("uci_sentiment_sentences/{f}.jsonl.gz"));
        assert!(p.is_file(), "{} missing", p.display());
    }
    let trained = ok(&away(&short));
    assert!(
        trained.contains("2160 train / 240 dev / 600 test"),
        "{trained}"
    );
    fails(&away(&["data", "fetch", "sst2"]), 2, "give --from DIR");
}

/// Trains the tiny run with `extra` arguments, then the same run stopped half-way through its
/// second epoch (after an evolution step) and resumed, and checks that both end identical;
/// returns the uninterrupted run's directory.
fn resumes_bit_identically(f: &Fixture, name: &str, extra: &[&str]) -> PathBuf {
    let reference = new_dir(&format!("{name}-reference"));
    let mut args = tiny_args(f, &reference);
    args.extend(extra);
    ok(&run(&args));
    let spe = steps_per_epoch(&reference);
    let d = new_dir(&format!("{name}-resumed"));
    let mut args = tiny_args(f, &d);
    args.extend(extra);
    let first = (spe + spe / 2).to_string();
    args.extend(["--max-steps", &first]);
    ok(&run(&args));
    ok(&run(&["resume", s(&d)]));
    assert_same_run(&reference, &d);
    reference
}

/// A two-layer bidirectional GRU: trains, resumes bit-identically across an evolution step,
/// `info` shows the architecture and `export --dense` writes PyTorch's state-dict names with the
/// architecture in the metadata.
#[test]
fn stacked_bidirectional_gru_resumes_bit_identically_and_exports_torch_names() {
    let f = fixture();
    let arch = [
        "--cell",
        "gru",
        "--layers",
        "2",
        "--bidirectional",
        "--dropout-between",
        "0.2",
    ];
    let reference = resumes_bit_identically(f, "gru", &arch);

    let info = ok(&run(&["info", "--model", s(&reference)]));
    assert!(info.contains("layers    2 x gru | bidirectional"), "{info}");
    assert!(info.contains("gru.weight_ih_l1_reverse"), "{info}");
    let dense = f.root.join("gru-dense.safetensors");
    ok(&run(&[
        "export",
        "--model",
        s(&reference),
        "--dense",
        "--out",
        s(&dense),
    ]));
    let bytes = read(&dense);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(
        st.tensor("gru.weight_ih_l1_reverse").unwrap().shape(),
        &[24, 16]
    );
    assert_eq!(st.tensor("gru.bias_hh_l0").unwrap().shape(), &[24]);
    assert_eq!(st.tensor("fc.weight").unwrap().shape(), &[2, 16]);
    let model_meta: serde_json::Value = serde_json::from_str(&metadata(&bytes)["model"]).unwrap();
    assert_eq!(model_meta["rnn"]["cell"], "gru");
    assert_eq!(model_meta["rnn"]["layers"], 2);
    assert_eq!(model_meta["rnn"]["bidirectional"], true);
}

/// Per-weight Adam bias correction: its two extra state buffers go into checkpoints and move
/// with their weights at each evolution step, so a run resumed across an evolution step ends
/// bit-identical; the setting changes the trained weights; with SGD it is a usage error.
#[test]
fn per_weight_adam_resumes_bit_identically_and_changes_the_weights() {
    let f = fixture();
    let reference = resumes_bit_identically(f, "pw", &["--adam-per-weight-steps"]);
    let global = new_dir("pw-global");
    ok(&run(&tiny_args(f, &global)));
    assert_ne!(
        read(&global.join("model.safetensors")),
        read(&reference.join("model.safetensors"))
    );
    let sgd = new_dir("pw-sgd");
    let mut args = tiny_args(f, &sgd);
    args.extend(["--adam-per-weight-steps", "--optimizer", "sgd"]);
    fails(&run(&args), 2, "adam_per_weight_steps");
}

/// The events of a run's `events.jsonl`, one JSON value per evolution step.
fn events(dir: &Path) -> Vec<serde_json::Value> {
    String::from_utf8(read(&dir.join("events.jsonl")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// RigL's own schedule: an evolution step every N optimizer steps until 75 % of the run, with
/// the prune fraction decaying to 0 (cosine); a run resumed mid-epoch ends bit-identical.
#[test]
fn step_evolution_follows_rigls_schedule_and_resumes_bit_identically() {
    let f = fixture();
    let extra = [
        "--policy",
        "rigl",
        "--evolve-every",
        "3",
        "--prune-schedule",
        "cosine",
    ];
    let reference = resumes_bit_identically(f, "steps", &extra);
    let ev = events(&reference);
    let total = steps_per_epoch(&reference) * 5;
    assert_eq!(
        ev.len() as u64,
        (total * 3 / 4) / 3,
        "one step every 3 until 75 %"
    );
    let zetas: Vec<f64> = ev.iter().map(|e| e["zeta"].as_f64().unwrap()).collect();
    assert_eq!(zetas[0], 0.3);
    assert!(zetas.windows(2).all(|w| w[1] < w[0]), "{zetas:?}");
    let summary = json(&reference.join("summary.json"));
    assert_eq!(
        summary["evolution_steps"].as_u64().unwrap(),
        ev.len() as u64
    );
}

/// Gradual magnitude pruning starts from every connection and ends at exactly the sparse
/// model's size (as SET's), adding nothing; resumed across a pruning step it ends bit-identical;
/// with `--dense` it is a usage error.
#[test]
fn gmp_prunes_to_the_sparse_size_and_resumes_bit_identically() {
    let f = fixture();
    let reference = resumes_bit_identically(f, "gmp", &["--policy", "gmp", "--evolve-every", "2"]);
    let (gmp, set) = (
        json(&reference.join("summary.json")),
        json(&f.reference.join("summary.json")),
    );
    assert_eq!(gmp["params"], set["params"]);
    let ev = events(&reference);
    assert!(ev.len() >= 2);
    let nnz: Vec<u64> = ev
        .iter()
        .map(|e| e["total_nnz_after"].as_u64().unwrap())
        .collect();
    assert!(nnz.windows(2).all(|w| w[1] <= w[0]), "{nnz:?}");
    assert!(ev.iter().all(|e| e["total_added"] == 0));
    // Before the first step every position is stored (the embedding's padding row aside).
    for m in ev[0]["matrices"].as_array().unwrap() {
        let (rows, cols) = (m["rows"].as_u64().unwrap(), m["cols"].as_u64().unwrap());
        let pad = if m["name"] == "embedding.weight" {
            cols
        } else {
            0
        };
        assert_eq!(
            m["nnz_before"].as_u64().unwrap(),
            rows * cols - pad,
            "{}",
            m["name"]
        );
    }
    let d = new_dir("gmp-dense");
    let out = run(&[
        "train",
        "--train",
        s(&f.train),
        "--out",
        s(&d),
        "--policy",
        "gmp",
        "--dense",
    ]);
    fails(&out, 2, "--policy gmp with --dense");
}

/// The best-dev epoch of `summary.json` is the first epoch of highest dev accuracy in
/// `metrics.csv` among those from `first` on.
fn assert_best_dev_is_the_argmax(dir: &Path, first: u64) {
    let metrics = String::from_utf8(read(&dir.join("metrics.csv"))).unwrap();
    let mut best: Option<(u64, f64)> = None;
    for line in metrics.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (epoch, acc): (u64, f64) = (f[0].parse().unwrap(), f[3].parse().unwrap());
        if f[1] == "dev" && epoch >= first && best.is_none_or(|(_, b)| acc > b) {
            best = Some((epoch, acc));
        }
    }
    let summary = json(&dir.join("summary.json"));
    assert_eq!(
        summary["best_dev_epoch"].as_u64(),
        best.map(|b| b.0),
        "{}",
        dir.display()
    );
}

/// Sparse momentum moves connections between matrices; every epoch is still a best-dev
/// candidate. GMP's epochs before its last pruning step are not.
#[test]
fn best_dev_epochs_are_chosen_over_the_right_epochs() {
    let f = fixture();
    let snfs = new_dir("best-snfs");
    let mut args = tiny_args(f, &snfs);
    args.extend(["--policy", "snfs", "--zeta", "0.5"]);
    ok(&run(&args));
    let ev = events(&snfs);
    assert!(
        ev.iter()
            .any(|e| e["matrices"][0]["nnz_after"] != e["matrices"][0]["nnz_before"]),
        "sparse momentum moved no connection"
    );
    assert_best_dev_is_the_argmax(&snfs, 1);
    let gmp = new_dir("best-gmp");
    let mut args = tiny_args(f, &gmp);
    args.extend(["--policy", "gmp"]);
    ok(&run(&args));
    // Epoch mode: the last pruning step follows epoch 4 of 5.
    assert_best_dev_is_the_argmax(&gmp, 5);
    assert_best_dev_is_the_argmax(&f.reference, 1);
}
