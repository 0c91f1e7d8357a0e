//! Helpers shared by the integration tests: running `set-lstm` under a watchdog, a tiny
//! synthetic dataset with an uninterrupted reference run, and comparisons of run directories.
#![allow(dead_code)] // each test binary uses a different subset

use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_set-lstm");

/// Longest any single `set-lstm` invocation may take before the test calls it a hang.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// A `set-lstm` command with the test environment (no `SET_LSTM_DATA`, quiet logs).
pub fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("SET_LSTM_DATA")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs `set-lstm args` to completion under the [`TIMEOUT`] watchdog.
pub fn run(args: &[&str]) -> Output {
    let child = cmd(args).spawn().expect("spawn set-lstm");
    wait_with_timeout(child, &format!("set-lstm {}", args.join(" ")))
}

/// Sends `SIGname` (e.g. `TERM`, `INT`) to a child.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

/// Waits for a child whose stdout and stderr are piped, collecting both; kills it and fails the
/// test if it runs longer than [`TIMEOUT`], so a hang is a failure, not a stalled suite.
pub fn wait_with_timeout(mut child: Child, what: &str) -> Output {
    fn drain(r: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            v
        })
    }
    let (out, err) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for set-lstm") {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {TIMEOUT:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
pub fn ok(o: &Output) -> String {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    out
}

#[track_caller]
pub fn fails(o: &Output, code: i32, needle: &str) -> String {
    let (out, err) = text(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    err
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small synthetic sentiment task in JSONL: sentiment words decide the label.
pub fn write_data(dir: &Path) -> (PathBuf, PathBuf) {
    let pos = [
        "good",
        "great",
        "excellent",
        "love",
        "wonderful",
        "nice",
        "best",
        "fun",
    ];
    let neg = [
        "bad", "awful", "terrible", "hate", "worst", "poor", "boring", "ugly",
    ];
    let fill = [
        "the", "movie", "film", "was", "a", "plot", "it", "really", "very", "and", "acting",
        "story",
    ];
    let mut state = 12345u64;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % n as u64) as usize
    };
    let mut lines = |count: usize| {
        let mut out = String::new();
        for i in 0..count {
            let label = i % 2;
            let words = if label == 1 { &pos } else { &neg };
            let len = 3 + next(6);
            let mut toks: Vec<&str> = (0..len).map(|_| fill[next(fill.len())]).collect();
            for _ in 0..1 + next(2) {
                let at = next(toks.len() + 1);
                toks.insert(at, words[next(words.len())]);
            }
            out.push_str(&format!(
                "{{\"label\": {label}, \"text\": \"{}\"}}\n",
                toks.join(" ")
            ));
        }
        out
    };
    let (train, test) = (dir.join("train.jsonl"), dir.join("test.jsonl"));
    std::fs::write(&train, lines(160)).unwrap();
    std::fs::write(&test, lines(40)).unwrap();
    (train, test)
}

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub train: PathBuf,
    pub test: PathBuf,
    /// An uninterrupted reference run of [`tiny_args`].
    pub reference: PathBuf,
}

/// Tiny settings: 5 epochs (four evolution steps), SET, dropout on.
pub fn tiny_args<'a>(f: &'a Fixture, out: &'a Path) -> Vec<&'a str> {
    vec![
        "train",
        "--train",
        s(&f.train),
        "--test",
        s(&f.test),
        "--out",
        s(out),
        "--epochs",
        "5",
        "--batch-size",
        "16",
        "--embed-dim",
        "8",
        "--hidden",
        "8",
        "--epsilon",
        "2",
        "--zeta",
        "0.3",
        "--lr",
        "0.05",
        "--seed",
        "7",
        "--threads",
        "1",
    ]
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let (train, test) = write_data(&root);
        let mut f = Fixture {
            _dir: dir,
            root: root.clone(),
            train,
            test,
            reference: root.join("reference"),
        };
        let reference = f.reference.clone();
        f.reference = PathBuf::new();
        ok(&run(&tiny_args(&f, &reference)));
        f.reference = reference;
        f
    })
}

pub fn new_dir(name: &str) -> PathBuf {
    let p = fixture().root.join(name);
    assert!(!p.exists());
    p
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&read(p)).unwrap()
}

/// `metrics.csv` without the wall-time column.
pub fn metrics_sans_time(dir: &Path) -> Vec<String> {
    String::from_utf8(read(&dir.join("metrics.csv")))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

/// Tensor name -> (dtype, shape, bytes).
pub fn tensors(bytes: &[u8]) -> BTreeMap<String, (String, Vec<usize>, Vec<u8>)> {
    SafeTensors::deserialize(bytes)
        .unwrap()
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            (
                n,
                (
                    format!("{:?}", v.dtype()),
                    v.shape().to_vec(),
                    v.data().to_vec(),
                ),
            )
        })
        .collect()
}

pub fn metadata(bytes: &[u8]) -> BTreeMap<String, String> {
    let (_, m) = SafeTensors::read_metadata(bytes).unwrap();
    m.metadata().clone().unwrap().into_iter().collect()
}

#[track_caller]
pub fn assert_same_run(a: &Path, b: &Path) {
    assert!(
        read(&a.join("model.safetensors")) == read(&b.join("model.safetensors")),
        "model.safetensors of {} and {} differ",
        a.display(),
        b.display()
    );
    assert_eq!(metrics_sans_time(a), metrics_sans_time(b), "metrics differ");
    assert!(
        read(&a.join("events.jsonl")) == read(&b.join("events.jsonl")),
        "events.jsonl differ"
    );
    // Final checkpoints: identical weights, topology, optimizer state and tracker, same counters.
    let (ca, cb) = (
        read(&a.join("checkpoints/latest.safetensors")),
        read(&b.join("checkpoints/latest.safetensors")),
    );
    assert!(tensors(&ca) == tensors(&cb), "checkpoint tensors differ");
    let (ma, mb) = (metadata(&ca), metadata(&cb));
    for key in [
        "counters",
        "optimizer",
        "evolution",
        "spec",
        "trainer",
        "model",
        "vocab_sha256",
    ] {
        assert_eq!(ma[key], mb[key], "checkpoint metadata `{key}` differs");
    }
    let (sa, sb) = (json(&a.join("summary.json")), json(&b.join("summary.json")));
    for key in [
        "test_accuracy",
        "params",
        "dense_params",
        "density",
        "epochs",
        "global_steps",
        "evolution_steps",
        "best_dev_accuracy",
    ] {
        assert_eq!(sa[key], sb[key], "summary `{key}` differs");
    }
}

pub fn steps_per_epoch(dir: &Path) -> u64 {
    let m = json(&dir.join("manifest.json"));
    m["splits"]["train"].as_u64().unwrap().div_ceil(16)
}

/// A run stopped after `steps` steps, in a fresh directory.
pub fn stopped_run(name: &str, steps: u64) -> PathBuf {
    let f = fixture();
    let d = new_dir(name);
    let n = steps.to_string();
    let mut args = tiny_args(f, &d);
    args.extend(["--max-steps", &n]);
    ok(&run(&args));
    d
}

pub fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}
