//! The hostile-input classes of issue 14 (docs/RELIABILITY.md, "Hostile input, round 2"), one
//! test per class, end to end through the `set-lstm` binary: each feeds the class's probes and
//! requires a typed error with the documented exit code (never a panic or backtrace), or the
//! documented recovery.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// No panic and no backtrace ever reaches the user.
#[track_caller]
fn no_panic(o: &std::process::Output) {
    let (_, err) = text(o);
    assert!(
        !err.contains("panicked")
            && !err.contains("stack backtrace")
            && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

fn finished_copy(name: &str) -> PathBuf {
    let d = new_dir(name);
    let status = std::process::Command::new("cp")
        .args(["-r", s(&fixture().reference), s(&d)])
        .status()
        .unwrap();
    assert!(status.success());
    d
}

fn rewrite_checkpoint(path: &Path, edit: impl FnOnce(&mut set_train::TrainingState)) {
    let mut st = set_train::decode_checkpoint(&read(path)).unwrap();
    edit(&mut st);
    std::fs::write(path, set_train::encode_checkpoint(&st).unwrap()).unwrap();
}

/// Class 1: non-finite results are errors naming the file (exit 4), never outputs; senseless
/// settings are usage errors; a negative second moment is refused at load.
#[test]
fn class1_non_finite_results_are_errors_not_outputs() {
    let f = fixture();
    let model = f.reference.join("model.safetensors");
    let mut b = set_train::ModelBundle::load(&model).unwrap();
    for p in b.model.params_mut() {
        p.values_mut().iter_mut().for_each(|v| *v = 3e38);
    }
    let huge = f.root.join("huge.safetensors");
    b.save(&huge).unwrap();
    for args in [
        vec!["predict", "--model", s(&huge), "a good film"],
        vec!["predict", "--model", s(&huge), "--json", "a good film"],
        vec!["eval", "--model", s(&huge), "--test", s(&f.test)],
    ] {
        let o = run(&args);
        no_panic(&o);
        let err = fails(&o, 4, "non-finite");
        assert!(err.contains(s(&huge)), "{err}");
        assert!(
            o.stdout.is_empty() || !text(&o).0.contains("null"),
            "{:?}",
            text(&o)
        );
        assert!(!text(&o).0.contains("accuracy"), "{:?}", text(&o));
    }
    // Settings bounded where a value cannot make sense.
    let d = new_dir("wd");
    let mut args = tiny_args(f, &d);
    args.extend(["--weight-decay", "1e30"]);
    fails(&run(&args), 2, "weight-decay");
    assert!(!d.exists());
    // A checkpoint with a negative second moment is refused at load, naming the tensor.
    let d = stopped_run("negative-moment", 3);
    rewrite_checkpoint(&d.join("checkpoints/latest.safetensors"), |st| {
        st.optimizer.state[0][1][0] = -1.0;
    });
    fails(&run(&["resume", s(&d)]), 4, "negative second moment");
}

/// Class 2: edited counters and settings in a checkpoint are refused by `resume` (exit 4) before
/// anything is written; the property test over every counter is
/// `set_train::codec::tests_counters`.
#[test]
fn class2_edited_checkpoint_metadata_is_refused() {
    type Edit = Box<dyn Fn(&mut set_train::TrainingState)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "global step and optimizer together",
            Box::new(|st| {
                st.counters.global_step += 1;
                st.optimizer.steps += 1;
            }),
        ),
        (
            "correct > examples",
            Box::new(|st| st.progress.correct = st.progress.examples + 1),
        ),
        (
            "evolution steps",
            Box::new(|st| st.counters.evolution_steps += 1),
        ),
        (
            "best dev epoch in the future",
            Box::new(|st| st.progress.best_dev_epoch = Some(st.counters.epoch + 1)),
        ),
        ("trainer lr", Box::new(|st| st.config.lr *= 2.0)),
        ("epochs", Box::new(|st| st.config.epochs += 1)),
    ];
    for (i, (what, edit)) in edits.into_iter().enumerate() {
        // Mid-epoch 2 (the tiny run has 9 steps per epoch).
        let d = stopped_run(&format!("edited-{i}"), 12);
        let latest = d.join("checkpoints/latest.safetensors");
        rewrite_checkpoint(&latest, |st| {
            // Keep the optimizer's own copy of the settings in step with an edited `trainer`.
            edit(st);
            st.optimizer.config = st.config.optimizer_config();
        });
        let before = read(&latest);
        let o = run(&["resume", s(&d)]);
        no_panic(&o);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(4), "{what}: {err}");
        assert_eq!(read(&latest), before, "{what}: the checkpoint changed");
        assert!(!d.join("lock").exists(), "{what}");
    }
}

/// Class 3: one memory estimate of every large buffer, checked before anything is allocated,
/// by train, bench (exit 2 with the estimate and the limit).
#[test]
fn class3_memory_estimates_refuse_before_allocating() {
    let f = fixture();
    let d = new_dir("huge-batch");
    let mut args = tiny_args(f, &d);
    args.extend(["--batch-size", "65536", "--max-len", "1048576"]);
    let o = run(&args);
    no_panic(&o);
    let err = fails(&o, 2, "not enough memory");
    assert!(
        err.contains("activations") && err.contains("available"),
        "{err}"
    );
    assert!(!d.exists(), "a run directory was created");
    let o = run(&[
        "bench",
        "--dense",
        "--hidden",
        "4096",
        "--batch-size",
        "65536",
        "--seq-len",
        "65536",
        "--steps",
        "1",
    ]);
    no_panic(&o);
    fails(&o, 2, "not enough memory");
}

/// Class 4: every input stream is bounded; devices and FIFOs are not files.
#[test]
fn class4_inputs_are_bounded_and_must_be_files() {
    let f = fixture();
    let d = new_dir("devices");
    for (flag, code) in [("--config", 2), ("--train", 2)] {
        let mut args = tiny_args(f, &d);
        args.extend([flag, "/dev/zero"]);
        let o = run(&args);
        no_panic(&o);
        fails(&o, code, "not a regular file");
        assert!(!d.exists());
    }
    let fifo = f.root.join("fifo.jsonl");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let mut args = tiny_args(f, &d);
    args.extend(["--test", s(&fifo)]);
    fails(&run(&args), 2, "not a regular file");
    fails(
        &run(&["sweep", "--grid", "/dev/zero", "--dry-run"]),
        2,
        "not a regular file",
    );
    // A line over the stdin cap is an error naming the line; the lines before it are answered.
    let mut child = cmd(&["predict", "--model", s(&f.reference)])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let mut input = b"a good film\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 << 20));
        let _ = stdin.write_all(&input);
    }
    let o = wait_with_timeout(child, "predict");
    let err = fails(&o, 1, "stdin:2");
    assert!(err.contains("longer than"), "{err}");
    assert_eq!(text(&o).0.lines().count(), 1);
}

/// Class 5: an atomic rename never replaces something that is not a regular file.
#[test]
fn class5_outputs_never_replace_non_files() {
    let f = fixture();
    let dir = f.root.join("an-export-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let o = run(&[
        "export",
        "--model",
        s(&f.reference),
        "--out",
        s(&dir),
        "--force",
    ]);
    no_panic(&o);
    let (_, err) = text(&o);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    assert!(dir.is_dir());
}

/// Runs `set-lstm args` with stdout on `/dev/full`: every write to it fails with ENOSPC.
fn run_to_dev_full(args: &[&str]) -> std::process::Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let child = cmd(args).stdout(full).spawn().unwrap();
    wait_with_timeout(child, &format!("set-lstm {} > /dev/full", args.join(" ")))
}

/// Class 5: a stdout that cannot be written (a full disk) is an error naming stdout (exit 1),
/// never a panic, for every subcommand that prints results; a training run that loses its
/// stdout says so once and still finishes and writes its run directory.
#[test]
fn class5_stdout_write_errors_are_errors_not_panics() {
    let f = fixture();
    let d = finished_copy("class5-stdout");
    let out = f.root.join("class5-export.safetensors");
    for args in [
        vec!["info", s(&f.reference)],
        vec!["info", "--json", s(&f.reference)],
        vec!["eval", s(&d)],
        vec!["eval", s(&d), "--json"],
        vec!["eval", s(&d), "--test", s(&f.test)],
        vec!["predict", s(&f.reference), "a good film"],
        vec!["predict", "--json", s(&f.reference), "a good film"],
        vec!["export", s(&f.reference), "--out", s(&out)],
        vec!["completions", "bash"],
    ] {
        let o = run_to_dev_full(&args);
        no_panic(&o);
        let err = fails(&o, 1, "writing to stdout");
        assert!(err.contains("No space left on device"), "{args:?}: {err}");
    }
    // Training keeps going without its stdout and writes everything.
    let t = new_dir("class5-train");
    let o = run_to_dev_full(&tiny_args(f, &t));
    no_panic(&o);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(err.matches("writing to stdout").count(), 1, "{err}");
    assert!(err.contains("training continues"), "{err}");
    for file in ["model.safetensors", "summary.json", "report.html"] {
        assert!(t.join(file).is_file(), "{file} missing");
    }
    assert_eq!(
        json(&t.join("summary.json"))["topology_sha256"],
        json(&f.reference.join("summary.json"))["topology_sha256"]
    );
}

/// Class 6: `eval` re-creates a run's split only from the very data the run recorded
/// (`manifest.json` digests): changed data are refused (exit 4) or, with
/// `--allow-changed-data`, evaluated with a loud warning.
#[test]
fn class6_eval_compares_the_data_digests() {
    let f = fixture();
    let data = new_dir("class6-data");
    std::fs::create_dir_all(&data).unwrap();
    let (train, test) = (data.join("train.jsonl"), data.join("test.jsonl"));
    std::fs::copy(&f.train, &train).unwrap();
    std::fs::copy(&f.test, &test).unwrap();
    let d = data.join("run");
    let mut args = tiny_args(f, &d);
    args[2] = s(&train);
    args[4] = s(&test);
    args.extend(["--epochs", "1"]);
    ok(&run(&args));
    let before = ok(&run(&["eval", s(&d)]));
    assert!(before.contains("test split"), "{before}");

    // One more line in the test file: the split would be another one.
    let mut text_now = std::fs::read_to_string(&test).unwrap();
    text_now.push_str("{\"text\": \"an extra good line\", \"label\": 1}\n");
    std::fs::write(&test, text_now).unwrap();
    let report = d.join("eval/report.json");
    let kept = read(&report);
    let o = run(&["eval", s(&d)]);
    no_panic(&o);
    let err = fails(&o, 4, "differ from those the run recorded");
    assert!(
        err.contains(s(&test)) && err.contains("--allow-changed-data"),
        "{err}"
    );
    assert_eq!(read(&report), kept, "a refused eval wrote its report");
    for split in ["test", "dev"] {
        let o = run(&["eval", s(&d), "--split", split, "--allow-changed-data"]);
        no_panic(&o);
        let out = ok(&o);
        assert!(out.contains(&format!("{split} split")), "{out}");
        assert!(text(&o).1.contains("WARNING"), "{:?}", text(&o));
    }
    // A file given with --test is the user's choice: not compared.
    ok(&run(&["eval", s(&d), "--test", s(&test)]));
}

/// Class 9: padding is outside the topology, so the dense export's `<pad>` row is zero, for
/// every policy (regrowth never reaches it; `set-nn` `the_padding_row_never_holds_entries`
/// checks the topology itself over many steps).
#[test]
fn class9_the_dense_export_pad_row_is_zero() {
    let f = fixture();
    for policy in ["set", "rigl", "snfs"] {
        let d = new_dir(&format!("class9-{policy}"));
        let mut args = tiny_args(f, &d);
        args.extend(["--policy", policy, "--zeta", "0.6"]);
        ok(&run(&args));
        let out = f.root.join(format!("class9-{policy}.safetensors"));
        let o = run(&["export", s(&d), "--out", s(&out), "--dense"]);
        no_panic(&o);
        ok(&o);
        let t = tensors(&read(&out));
        let (_, shape, bytes) = &t["embedding.weight"];
        let row0 = &bytes[..shape[1] * 4];
        assert!(row0.iter().all(|&b| b == 0), "{policy}: <pad> row {row0:?}");
        assert!(bytes[shape[1] * 4..].iter().any(|&b| b != 0));
    }
}

/// Class 8 leftovers: `--dense` with an evolution policy is a usage error (a dense model has
/// nothing to evolve); SIGINT while the data load exits at once (130) without a run directory.
#[test]
fn class8_dense_policies_and_a_signal_while_loading() {
    let f = fixture();
    for policy in ["rigl", "snfs", "static"] {
        let d = new_dir(&format!("class8-dense-{policy}"));
        let mut args = tiny_args(f, &d);
        args.retain(|a| *a != "--epsilon" && *a != "2");
        args.extend(["--dense", "--policy", policy]);
        let o = run(&args);
        no_panic(&o);
        fails(&o, 2, "a dense model has no topology to evolve");
        assert!(!d.exists());
    }

    // A large training file, so that loading takes long enough to be interrupted.
    let big = f.root.join("class8-big.jsonl");
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        for i in 0..1_500_000u32 {
            writeln!(
                w,
                "{{\"text\": \"a film number {i} that was good or bad w{}\", \"label\": {}}}",
                i % 5000,
                i % 2
            )
            .unwrap();
        }
    }
    let d = new_dir("class8-sigint-loading");
    let mut args = tiny_args(f, &d);
    args[2] = s(&big);
    let child = cmd(&args).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    signal(&child, "INT");
    let o = wait_with_timeout(child, "train (SIGINT while loading)");
    no_panic(&o);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("nothing written"), "{err}");
    assert!(!d.exists(), "a run directory was created");
}

/// Class 7: sweep grids whose run count overflows or exceeds the cap are usage errors that
/// write nothing (the property test over sizes is `sweep::grid::tests`).
#[test]
fn class7_grid_sizes_are_checked() {
    let f = fixture();
    for (axes, n) in [(4usize, 100usize), (8, 256)] {
        let mut text = String::from("[grid]\n");
        let keys = [
            "batch_size",
            "embed_dim",
            "epochs",
            "hidden",
            "max_len",
            "min_count",
            "seed",
            "vocab_size",
        ];
        for k in keys.iter().take(axes) {
            let vals: Vec<String> = (1..=n).map(|v| v.to_string()).collect();
            text.push_str(&format!("{k} = [{}]\n", vals.join(",")));
        }
        let grid = f.root.join(format!("grid-{axes}x{n}.toml"));
        std::fs::write(&grid, text).unwrap();
        let out = f.root.join(format!("sweep-{axes}x{n}"));
        let script = f.root.join(format!("array-{axes}x{n}.sh"));
        for extra in [vec!["--dry-run"], vec!["--slurm", s(&script)]] {
            let mut args = vec!["sweep", "--grid", s(&grid), "--out", s(&out)];
            args.extend(extra);
            let o = run(&args);
            no_panic(&o);
            fails(&o, 2, "more than the accepted 100000");
        }
        assert!(!out.exists() && !script.exists());
    }
}

/// Class 8: no dead ends. A run killed before its first checkpoint is restarted by `resume`; a
/// run killed while writing its final files is completed by `resume` (stale temporaries and
/// lock cleared); `--model` at an ordinary directory says so; invalid UTF-8 on stdin names the
/// line after answering the lines before it; meaningless data are refused or warned about.
#[test]
fn class8_no_dead_ends_and_clear_messages() {
    let f = fixture();
    // Killed before the first checkpoint: only config.toml and the early files exist.
    let d = finished_copy("unstarted");
    for sub in ["checkpoints", "plots"] {
        std::fs::remove_dir_all(d.join(sub)).unwrap();
    }
    for name in [
        "model.safetensors",
        "summary.json",
        "report.html",
        "best.safetensors",
    ] {
        std::fs::remove_file(d.join(name)).unwrap();
    }
    std::fs::write(
        d.join("metrics.csv"),
        "epoch,split,loss,accuracy,nnz,density,seconds\n",
    )
    .unwrap();
    std::fs::write(d.join("lock"), "4000000000\n").unwrap();
    let o = run(&["resume", s(&d)]);
    no_panic(&o);
    ok(&o);
    assert_same_run(&f.reference, &d);

    // Killed while writing the final files.
    let d = finished_copy("final-files");
    std::fs::remove_file(d.join("summary.json")).unwrap();
    std::fs::remove_file(d.join("plots/topology.svg")).unwrap();
    std::fs::write(d.join(".summary.json.1.2.3.tmp"), "partial").unwrap();
    std::fs::write(d.join("lock"), "4000000000\n").unwrap();
    let out = ok(&run(&["resume", s(&d)]));
    assert!(!out.contains("already finished"), "{out}");
    assert!(d.join("summary.json").is_file() && d.join("plots/topology.svg").is_file());
    assert!(!d.join(".summary.json.1.2.3.tmp").exists() && !d.join("lock").exists());
    assert_eq!(
        json(&d.join("summary.json"))["topology_sha256"],
        json(&f.reference.join("summary.json"))["topology_sha256"]
    );
    assert!(ok(&run(&["resume", s(&d)])).contains("already finished"));

    // An ordinary directory is not a run directory.
    let plain = f.root.join("plain-dir");
    std::fs::create_dir_all(&plain).unwrap();
    for sub in ["predict", "info", "eval"] {
        fails(&run(&[sub, "--model", s(&plain)]), 2, "not a run directory");
    }

    // Invalid UTF-8 on stdin: the valid lines before it are answered, the bad line is named.
    let mut child = cmd(&["predict", "--model", s(&f.reference)])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"a good film\nbad \xff bytes\nnever read\n")
            .unwrap();
    }
    let o = wait_with_timeout(child, "predict");
    fails(&o, 1, "stdin:2: invalid UTF-8");
    assert_eq!(text(&o).0.lines().count(), 1, "{:?}", text(&o));

    // Meaningless settings: a vocabulary of only <pad>/<unk>, one class, a class never seen.
    let d = new_dir("meaningless");
    let mut args = tiny_args(f, &d);
    args.extend(["--min-count", "1000000"]);
    fails(&run(&args), 2, "only <pad> and <unk>");
    let one = f.root.join("one-class.jsonl");
    std::fs::write(
        &one,
        "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": 0}\n",
    )
    .unwrap();
    let mut args = tiny_args(f, &d);
    args.extend(["--train", s(&one), "--test", s(&one)]);
    fails(&run(&args), 2, "class(es) only");
    assert!(!d.exists());
    let mut args = tiny_args(f, &d);
    args.extend(["--classes", "3", "--epochs", "1"]);
    let o = run(&args);
    no_panic(&o);
    let (_, err) = text(&o);
    assert!(
        err.contains("class 2") && err.contains("no training examples"),
        "{err}"
    );
}
