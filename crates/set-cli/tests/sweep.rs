//! End-to-end tests of `set-lstm sweep` on the shipped UCI data with a tiny model: bad grids,
//! a local sweep and its rerun, resuming / restarting / failing runs, Ctrl-C, the dry run, and
//! the Slurm script (checked by `bash -n` and run by hand as one array task).

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets")
        .canonicalize()
        .unwrap()
}

/// Writes `<dir>/<file>`: a tiny-model `[base]` on the shipped UCI data, then `rest`.
fn write_grid(dir: &Path, file: &str, epochs: usize, rest: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(
        &path,
        format!(
            "[base]\ndata = \"uci\"\ndata_dir = \"{}\"\nembed_dim = 8\nhidden = 8\nepochs = {epochs}\nbatch_size = 64\n\n{rest}",
            datasets().display()
        ),
    )
    .unwrap();
    path
}

fn lines(p: &Path) -> Vec<String> {
    String::from_utf8(read(p))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn steps_per_epoch_of(run: &Path) -> u64 {
    let m = json(&run.join("manifest.json"));
    m["splits"]["train"].as_u64().unwrap().div_ceil(64)
}

#[test]
fn sweep_rejects_bad_grids_as_usage_errors_naming_the_file_and_key_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cases: &[(&str, &[&str])] = &[
        ("[grid]\nseed = []\n", &["`seed`", "empty array"]),
        ("[grid]\nseed = 1\n", &["`seed`", "expected an array"]),
        (
            "[grid]\nepochs = [1, 2]\n",
            &["`epochs`", "both [base] and [grid]"],
        ),
        ("[grid]\nseed = [1, 1]\n", &["`seed`", "repeats"]),
        (
            "[grid]\ndensity = [0.04, 1.5]\n",
            &["density-1.5", "`density`", "(0, 1]"],
        ),
        ("[grid]\nzeta = [0.3, -0.1]\n", &["zeta--0.1", "`zeta`"]),
        (
            "[grid]\npolicy = [\"set\", \"prune\"]\n",
            &["`policy` value 2", "prune"],
        ),
        (
            "[grid]\nseed = [1]\nbogus = [1]\n",
            &["[grid] unknown key `bogus`"],
        ),
        (
            "bogus_key = 3\n[grid]\nseed = [1]\n",
            &["[base] unknown key `bogus_key`"],
        ),
        (
            "[grid]\nepsilon = [2]\ndensity = [0.1]\n",
            &["alternatives"],
        ),
        ("[grid]\nthreads = [1, 2]\n", &["same configuration"]),
        ("", &["[grid]"]),
    ];
    for (i, (rest, needles)) in cases.iter().enumerate() {
        let file = format!("grid{i}.toml");
        let grid = write_grid(tmp.path(), &file, 1, rest);
        let o = run(&["sweep", "--grid", s(&grid), "--out", s(&out)]);
        let err = fails(&o, 2, &file);
        for n in *needles {
            assert!(err.contains(n), "{rest:?}: stderr lacks {n:?}:\n{err}");
        }
        assert!(!out.exists(), "{rest:?} wrote {}", out.display());
    }
    let grid = write_grid(tmp.path(), "ok.toml", 1, "[grid]\nseed = [1]\n");
    let script = tmp.path().join("job.sh");
    fails(
        &run(&[
            "sweep",
            "--grid",
            s(&grid),
            "--slurm",
            s(&script),
            "--threads",
            "2",
        ]),
        2,
        "--threads",
    );
    fails(
        &run(&["sweep", "--grid", s(&grid), "--cpus-per-task", "4"]),
        2,
        "--slurm",
    );
    fails(
        &run(&["sweep", "--grid", s(&tmp.path().join("missing.toml"))]),
        2,
        "missing.toml",
    );
    assert!(!out.exists() && !script.exists());
}

#[test]
fn sweep_dry_run_lists_the_runs_in_order_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = write_grid(
        tmp.path(),
        "g.toml",
        1,
        "[grid]\nseed = [2, 1]\ndensity = [0.05, 0.1]\n",
    );
    let out = tmp.path().join("out");
    let stdout = ok(&run(&[
        "sweep",
        "--grid",
        s(&grid),
        "--out",
        s(&out),
        "--dry-run",
    ]));
    let names: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("   "))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "density-0.05_seed-2",
            "density-0.05_seed-1",
            "density-0.1_seed-2",
            "density-0.1_seed-1"
        ],
        "{stdout}"
    );
    assert!(stdout.contains("4 runs") && stdout.contains("nothing written"));
    assert!(!out.exists());
    // The default output folder is runs/sweep-<grid stem>, relative to the working directory.
    let o = wait_with_timeout(
        cmd(&["sweep", "--grid", s(&grid), "--dry-run"])
            .current_dir(tmp.path())
            .spawn()
            .unwrap(),
        "sweep --dry-run",
    );
    assert!(ok(&o).contains("runs/sweep-g"));
    assert!(!tmp.path().join("runs").exists());
    assert!(ok(&run(&["--help"])).contains("sweep"));
    let help = ok(&run(&["sweep", "--help"]));
    for flag in [
        "--grid",
        "--out",
        "--slurm",
        "--dry-run",
        "--threads",
        "--cpus-per-task",
        "--bin",
    ] {
        assert!(help.contains(flag), "sweep --help lacks {flag}");
    }
}

#[test]
fn sweep_local_two_by_two_trains_every_run_and_a_rerun_skips_them() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = write_grid(
        tmp.path(),
        "uci.toml",
        1,
        "[grid]\nseed = [1, 2]\ndensity = [0.05, 0.1]\n",
    );
    let out = tmp.path().join("sweep");
    let args = [
        "sweep",
        "--grid",
        s(&grid),
        "--out",
        s(&out),
        "--threads",
        "1",
    ];
    let stdout = ok(&run(&args));
    assert!(
        stdout.contains("sweep: 4 runs: 4 finished, 0 skipped, 0 failed"),
        "{stdout}"
    );
    let names = lines(&out.join("runs.txt"));
    assert_eq!(
        names,
        [
            "density-0.05_seed-1",
            "density-0.05_seed-2",
            "density-0.1_seed-1",
            "density-0.1_seed-2"
        ]
    );
    for (name, (density, seed)) in names.iter().zip([(0.05, 1), (0.05, 2), (0.1, 1), (0.1, 2)]) {
        let dir = out.join(name);
        let sm = json(&dir.join("summary.json"));
        assert_eq!(sm["epochs"], 1, "{name}");
        let cfg = String::from_utf8(read(&dir.join("config.toml"))).unwrap();
        assert!(cfg.contains(&format!("density = {density}\n")), "{cfg}");
        assert!(cfg.contains(&format!("seed = {seed}\n")), "{cfg}");
        assert!(cfg.contains("hidden = 8\n"), "{cfg}");
        assert_eq!(json(&dir.join("manifest.json"))["threads"], 1);
        assert!(out.join("configs").join(format!("{name}.toml")).is_file());
    }
    assert_eq!(read(&out.join("grid.toml")), read(&grid));
    let before = read(&out.join(&names[0]).join("summary.json"));
    let stdout = ok(&run(&args));
    assert!(
        stdout.contains("sweep: 4 runs: 0 finished, 4 skipped, 0 failed"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("skipped (summary.json exists)").count(),
        4,
        "{stdout}"
    );
    assert_eq!(read(&out.join(&names[0]).join("summary.json")), before);

    // A changed [base] must not reuse the finished run directories.
    let grid2 = write_grid(
        tmp.path(),
        "uci.toml",
        2,
        "[grid]\nseed = [1, 2]\ndensity = [0.05, 0.1]\n",
    );
    let err = fails(
        &run(&["sweep", "--grid", s(&grid2), "--out", s(&out)]),
        2,
        "another configuration",
    );
    assert!(err.contains("`epochs`"), "{err}");
}

#[test]
fn sweep_resumes_checkpointed_runs_restarts_empty_ones_and_survives_a_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = write_grid(tmp.path(), "g.toml", 2, "[grid]\nseed = [1, 2, 3]\n");
    let out = tmp.path().join("out");
    // --slurm writes the configs and runs.txt without training anything.
    let script = tmp.path().join("job.sh");
    ok(&run(&[
        "sweep",
        "--grid",
        s(&grid),
        "--out",
        s(&out),
        "--slurm",
        s(&script),
    ]));
    assert_eq!(lines(&out.join("runs.txt")), ["seed-1", "seed-2", "seed-3"]);
    let config = |n: &str| out.join("configs").join(format!("{n}.toml"));
    // seed-1: stopped mid-run with a checkpoint.
    let r1 = out.join("seed-1");
    ok(&run(&[
        "train",
        "--config",
        s(&config("seed-1")),
        "--out",
        s(&r1),
        "--max-steps",
        "5",
    ]));
    // seed-2: a folder that is not a run directory.
    std::fs::create_dir_all(out.join("seed-2")).unwrap();
    std::fs::write(out.join("seed-2/notes.txt"), "mine").unwrap();
    // seed-3: a run that died before its first checkpoint.
    let r3 = out.join("seed-3");
    ok(&run(&[
        "train",
        "--config",
        s(&config("seed-3")),
        "--out",
        s(&r3),
        "--max-steps",
        "5",
    ]));
    for f in std::fs::read_dir(r3.join("checkpoints")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }

    let args = ["sweep", "--grid", s(&grid), "--out", s(&out)];
    let o = run(&args);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("[1/3] seed-1: resuming from its checkpoint")
            && stdout.contains("resuming ")
            && stdout.contains("[2/3] seed-2: not a run directory")
            && stdout.contains("[3/3] seed-3: restarting (no checkpoint was written)")
            && stdout.contains("sweep: 3 runs: 2 finished, 0 skipped, 1 failed"),
        "{stdout}"
    );
    assert!(
        stderr.contains("run `seed-2` failed") && stderr.contains("not a run directory"),
        "{stderr}"
    );
    assert_eq!(read(&out.join("seed-2/notes.txt")), b"mine");
    for r in [&r1, &r3] {
        let sm = json(&r.join("summary.json"));
        assert_eq!(sm["global_steps"].as_u64(), Some(2 * steps_per_epoch_of(r)));
    }
    // The resumed run continued its metrics; the restarted one has two epochs, not more.
    assert_eq!(metrics_sans_time(&r1).len(), 1 + 2 * 3);
    assert_eq!(metrics_sans_time(&r3).len(), 1 + 2 * 3);

    std::fs::remove_dir_all(out.join("seed-2")).unwrap();
    let stdout = ok(&run(&args));
    assert!(
        stdout.contains("sweep: 3 runs: 1 finished, 2 skipped, 0 failed"),
        "{stdout}"
    );
    assert!(out.join("seed-2/summary.json").is_file());
}

#[test]
fn sweep_stops_on_sigint_after_the_current_runs_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = write_grid(tmp.path(), "g.toml", 2, "[grid]\nseed = [1, 2]\n");
    let out = tmp.path().join("out");
    let mut c = cmd(&[
        "sweep",
        "--grid",
        s(&grid),
        "--out",
        s(&out),
        "--threads",
        "1",
        "--step-delay-ms",
        "20",
    ]);
    let child = c.spawn().unwrap();
    let latest = out.join("seed-1/checkpoints/latest.safetensors");
    let start = std::time::Instant::now();
    while !latest.exists() {
        assert!(start.elapsed().as_secs() < 60, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    signal(&child, "INT");
    let o = wait_with_timeout(child, "sweep (SIGINT)");
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("0 finished, 0 skipped, 0 failed, 1 interrupted (`seed-1`, checkpoint written), 1 not started"),
        "{stdout}"
    );
    assert!(
        stderr.contains("run the same `set-lstm sweep` command again"),
        "{stderr}"
    );
    assert!(!out.join("seed-1/summary.json").exists());
    assert!(!out.join("seed-2").exists());
    let ck = read(&latest);
    let counters: serde_json::Value = serde_json::from_str(&metadata(&ck)["counters"]).unwrap();
    assert!(counters["global_step"].as_u64().unwrap() > 0, "{counters}");

    let stdout = ok(&run(&["sweep", "--grid", s(&grid), "--out", s(&out)]));
    assert!(
        stdout.contains("[1/2] seed-1: resuming")
            && stdout.contains("2 finished, 0 skipped, 0 failed"),
        "{stdout}"
    );
    let r1 = out.join("seed-1");
    assert_eq!(
        json(&r1.join("summary.json"))["global_steps"].as_u64(),
        Some(2 * steps_per_epoch_of(&r1))
    );
}

#[test]
fn sweep_slurm_script_is_valid_bash_and_one_task_run_by_hand_trains_its_run() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = write_grid(
        tmp.path(),
        "uci.toml",
        1,
        "[grid]\nseed = [1, 2]\ndensity = [0.05, 0.1]\n",
    );
    let out = tmp.path().join("out");
    let script = tmp.path().join("job.sh");
    let stdout = ok(&run(&[
        "sweep",
        "--grid",
        s(&grid),
        "--out",
        s(&out),
        "--slurm",
        s(&script),
        "--cpus-per-task",
        "3",
        "--sbatch-arg=--time=00:10:00",
    ]));
    assert!(
        stdout.contains(&format!("sbatch {}", s(&script))),
        "{stdout}"
    );
    let text = String::from_utf8(read(&script)).unwrap();
    for needle in [
        "#!/bin/bash\n",
        "#SBATCH --job-name=sweep-uci\n",
        "#SBATCH --array=0-3\n",
        "#SBATCH --cpus-per-task=3\n",
        "#SBATCH --time=00:10:00\n",
        &format!("#SBATCH --output={}/logs/%x-%A_%a.out\n", s(&out)),
        &format!("SET_LSTM='{BIN}'\n"),
        "export RAYON_NUM_THREADS=\"$SLURM_CPUS_PER_TASK\"\n",
        "sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\"",
        "resume \"$RUN\" --config \"$CONFIG\" --threads \"$SLURM_CPUS_PER_TASK\"",
        "train --config \"$CONFIG\" --out \"$RUN\" --threads \"$SLURM_CPUS_PER_TASK\"",
    ] {
        assert!(text.contains(needle), "script lacks {needle:?}:\n{text}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&script).unwrap().permissions().mode() & 0o111,
            0o111
        );
    }
    let syntax = std::process::Command::new("bash")
        .args(["-n", s(&script)])
        .output()
        .unwrap();
    assert!(syntax.status.success(), "bash -n: {syntax:?}");
    assert!(out.join("logs").is_dir());
    assert_eq!(lines(&out.join("runs.txt")).len(), 4);
    assert!(
        !out.join("density-0.05_seed-2").exists(),
        "--slurm trained a run"
    );

    let task = |id: &str| {
        let mut c = std::process::Command::new("bash");
        c.arg(&script)
            .env("SLURM_ARRAY_TASK_ID", id)
            .env("SLURM_CPUS_PER_TASK", "1")
            .env_remove("SET_LSTM_DATA")
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        wait_with_timeout(c.spawn().unwrap(), &format!("job.sh task {id}"))
    };
    // Task 1 is line 2 of runs.txt.
    let stdout = ok(&task("1"));
    assert!(
        stdout.contains("array task 1: run density-0.05_seed-2 on ")
            && stdout.contains("with 1 threads"),
        "{stdout}"
    );
    let run2 = out.join("density-0.05_seed-2");
    assert!(run2.join("summary.json").is_file());
    assert_eq!(json(&run2.join("manifest.json"))["threads"], 1);
    for other in [
        "density-0.05_seed-1",
        "density-0.1_seed-1",
        "density-0.1_seed-2",
    ] {
        assert!(!out.join(other).exists(), "task 1 touched {other}");
    }
    assert!(ok(&task("1")).contains("nothing to do"));
    // Task 0 after a stop with a checkpoint: the script resumes it.
    let run1 = out.join("density-0.05_seed-1");
    ok(&run(&[
        "train",
        "--config",
        s(&out.join("configs/density-0.05_seed-1.toml")),
        "--out",
        s(&run1),
        "--max-steps",
        "4",
    ]));
    let stdout = ok(&task("0"));
    assert!(
        stdout.contains(&format!("resuming {}", s(&run1))),
        "{stdout}"
    );
    assert!(run1.join("summary.json").is_file());
    // Past the end of runs.txt: an error, not a silent success.
    let o = task("4");
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}
