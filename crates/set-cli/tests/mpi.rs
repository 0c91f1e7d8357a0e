//! Data-parallel training under `mpirun` (built only with `--features mpi`; needs OpenMPI's
//! `mpirun` on PATH). Every job runs under the common watchdog, so a hang fails the test.
#![cfg(feature = "mpi")]

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `mpirun -np N set-lstm args...`, one thread per rank, ranks not pinned to cores.
fn mpirun(ranks: usize, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new("mpirun");
    c.args([
        "-np",
        &ranks.to_string(),
        "--oversubscribe",
        "--bind-to",
        "none",
    ])
    .args(["-x", "RAYON_NUM_THREADS=1", "-x", "RUST_LOG"])
    .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
    .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
    .env("RUST_LOG", "warn")
    .env_remove("SET_LSTM_DATA")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        c.args(["-x", k]).env(k, v);
    }
    c.arg(BIN).args(args);
    wait_with_timeout(
        c.spawn().expect("spawn mpirun"),
        &format!("mpirun {}", args.join(" ")),
    )
}

/// The common tiny run ([`tiny_args`]) with a global batch of 64, `epochs` epochs, its own seed
/// and no dropout (dropout masks are drawn per rank); later flags override earlier ones.
fn args<'a>(f: &'a Fixture, out: &'a Path, epochs: &'a str) -> Vec<&'a str> {
    let mut a = vec!["--log", "info"];
    a.extend(tiny_args(f, out));
    a.extend([
        "--epochs",
        epochs,
        "--batch-size",
        "64",
        "--seed",
        "11",
        "--dropout-embed",
        "0",
        "--dropout-output",
        "0",
    ]);
    a
}

fn model_values(dir: &Path) -> Vec<(String, Vec<f32>)> {
    tensors(&read(&dir.join("model.safetensors")))
        .into_iter()
        .filter(|(_, (dtype, _, _))| dtype == "F32")
        .map(|(n, (_, _, b))| {
            let v = b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (n, v)
        })
        .collect()
}

/// The hashes the ranks logged, per rank, in order.
fn logged_hashes(stderr: &str, rank: usize) -> Vec<String> {
    let tag = format!("rank {rank} of 2: weights and topology hash ");
    stderr
        .lines()
        .filter_map(|l| l.split_once(&tag).map(|(_, h)| h.to_string()))
        .collect()
}

#[test]
fn two_ranks_of_32_train_the_model_one_rank_of_64_trains() {
    let f = fixture();
    let (one, two) = (new_dir("mpi-one"), new_dir("mpi-two"));
    ok(&mpirun(1, &args(f, &one, "3"), &[]));
    let out = mpirun(2, &args(f, &two, "3"), &[]);
    ok(&out);
    let (_, err) = text(&out);
    // Through two evolution steps: same topology, and the same weights up to float
    // summation order (each rank sums its shard; the allreduce adds the two halves).
    let (a, b) = (
        json(&one.join("summary.json")),
        json(&two.join("summary.json")),
    );
    assert_eq!(a["evolution_steps"], 2);
    assert_eq!(a["topology_sha256"], b["topology_sha256"]);
    assert_eq!(a["params"], b["params"]);
    let loss = |v: &serde_json::Value| v["test_loss"].as_f64().unwrap();
    // Evaluation is sharded over the ranks too: the same predictions, counted once.
    assert_eq!(a["test_accuracy"], b["test_accuracy"]);
    assert_eq!(a["dev_accuracy"], b["dev_accuracy"]);
    assert!(
        (loss(&a) - loss(&b)).abs() < 1e-5,
        "{} vs {}",
        loss(&a),
        loss(&b)
    );
    let (va, vb) = (model_values(&one), model_values(&two));
    assert_eq!(va.len(), vb.len());
    for ((na, xa), (nb, xb)) in va.iter().zip(&vb) {
        assert_eq!(na, nb);
        let worst = xa
            .iter()
            .zip(xb)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{na}: weights differ by {worst}");
    }
    // Every rank logged the same hash at the start and around each evolution step.
    let (h0, h1) = (logged_hashes(&err, 0), logged_hashes(&err, 1));
    assert_eq!(h0.len(), 1 + 2 * 2, "{err}");
    assert_eq!(h0, h1);
    // Only rank 0 wrote: one metrics header and 3 epochs x 3 splits, no stray files.
    let metrics = String::from_utf8(read(&two.join("metrics.csv"))).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 3 * 3, "{metrics}");
}

#[test]
fn a_panic_on_rank_1_ends_the_job_within_seconds() {
    let f = fixture();
    let d = new_dir("mpi-panic");
    let start = Instant::now();
    let out = mpirun(2, &args(f, &d, "3"), &[("SET_LSTM_TEST_PANIC", "1:2")]);
    let took = start.elapsed();
    let (_, err) = text(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("planted panic"), "{err}");
    assert!(
        took < Duration::from_secs(30),
        "the job took {took:?} to end"
    );
    assert!(!d.join("summary.json").exists());
}

#[test]
fn an_error_on_rank_0_before_the_handoff_ends_the_job() {
    let f = fixture();
    let d = new_dir("mpi-occupied");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("keep.txt"), "not a run").unwrap();
    let start = Instant::now();
    let out = mpirun(2, &args(f, &d, "2"), &[]);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("already exists"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(read(&d.join("keep.txt")), b"not a run");
}

#[test]
fn resume_under_mpi_continues_to_the_uninterrupted_result() {
    let f = fixture();
    let (whole, parts) = (new_dir("mpi-whole"), new_dir("mpi-parts"));
    ok(&mpirun(2, &args(f, &whole, "3"), &[]));
    // 160 examples less dev: 3 batches of 64 per epoch; stop mid-epoch 2, then resume.
    let mut a = args(f, &parts, "3");
    a.extend(["--max-steps", "4"]);
    let out = ok(&mpirun(2, &a, &[]));
    assert!(out.contains("stopped at step 4"), "{out}");
    let out = ok(&mpirun(2, &["resume", s(&parts)], &[]));
    assert!(out.contains("resuming"), "{out}");
    assert_eq!(
        metrics_sans_time(&whole),
        metrics_sans_time(&parts),
        "resumed run differs"
    );
    assert_eq!(model_values(&whole), model_values(&parts));
    let out = ok(&mpirun(2, &["resume", s(&parts)], &[]));
    assert!(out.contains("already finished"), "{out}");
}
