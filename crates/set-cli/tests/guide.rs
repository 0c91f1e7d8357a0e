//! docs/USER-GUIDE.md runs as written: every ```` ```console ```` command (`$ ...` lines) and
//! every ```` ```sh ```` block of the guide is run with bash, in order, in a fresh directory, with
//! the built `set-lstm` first on `PATH`, `$SET_LSTM_DATA` an empty directory and the binary's
//! compiled-in checkout path turned off (as an installed binary away from the checkout). A block
//! right after the comment `<!-- guide-test: skip: REASON -->` is not run (installing, the
//! IMDB download and training, the PyTorch check).
//!
//! A command passes when it exits with 0, or, when the guide shows `error: ...` lines after it,
//! when it fails and each of those lines is a line of its stderr.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One thing the guide asks the reader to run.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    /// 1-based line of the guide where it starts.
    line: usize,
    /// The bash source.
    script: String,
    /// `error: ...` lines the guide shows after it (then it must fail with them).
    errors: Vec<String>,
}

/// What the guide holds: the steps to run and the skipped blocks (line, reason).
#[derive(Debug, Default)]
struct Guide {
    steps: Vec<Step>,
    skipped: Vec<(usize, String)>,
}

const SKIP: &str = "<!-- guide-test: skip:";

/// Extracts the steps of a Markdown guide.
fn extract(markdown: &str) -> Guide {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut guide = Guide::default();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_end();
        let kind = match fence {
            "```console" => Some(true),
            "```sh" => Some(false),
            _ => None,
        };
        if fence.starts_with("```") && fence.len() > 3 && kind.is_none() {
            // Another language (python, json, toml): skip to its closing fence.
            i += 1;
            while i < lines.len() && lines[i].trim_end() != "```" {
                i += 1;
            }
            i += 1;
            continue;
        }
        let Some(console) = kind else {
            i += 1;
            continue;
        };
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && lines[end].trim_end() != "```" {
            end += 1;
        }
        let body = &lines[start..end];
        let marker = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().strip_prefix(SKIP))
            .map(|r| r.trim_end_matches("-->").trim().to_string());
        if let Some(reason) = marker {
            guide.skipped.push((start, reason));
        } else if console {
            guide.steps.extend(console_steps(body, start + 1));
        } else {
            guide.steps.push(Step {
                line: start + 1,
                script: body.join("\n"),
                errors: Vec::new(),
            });
        }
        i = end + 1;
    }
    guide
}

/// The `$ ` commands of a console block (a line ending in `\` continues on the next) and the
/// `error:` lines of their shown output.
fn console_steps(body: &[&str], first_line: usize) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut k = 0;
    while k < body.len() {
        if let Some(cmd) = body[k].strip_prefix("$ ") {
            let line = first_line + k;
            let mut script = cmd.to_string();
            while script.ends_with('\\') && k + 1 < body.len() {
                k += 1;
                script.push('\n');
                script.push_str(body[k]);
            }
            steps.push(Step {
                line,
                script,
                errors: Vec::new(),
            });
        } else if body[k].starts_with("error: ")
            && let Some(last) = steps.last_mut()
        {
            last.errors.push(body[k].to_string());
        }
        k += 1;
    }
    steps
}

/// Runs one step in `cwd` with `env`; `Err` says why it does not work as written.
fn run_step(step: &Step, cwd: &Path, env: &[(&str, String)]) -> Result<(), String> {
    let mut c = Command::new("bash");
    c.args(["-o", "pipefail", "-e", "-c", &step.script])
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("XDG_DATA_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let child = c.spawn().map_err(|e| format!("spawn bash: {e}"))?;
    let out = common::wait_with_timeout(child, &format!("guide line {}", step.line));
    let (stdout, stderr) = common::text(&out);
    let shown = || format!("\n--- stdout\n{stdout}--- stderr\n{stderr}");
    if step.errors.is_empty() {
        if !out.status.success() {
            return Err(format!(
                "line {}: `{}` failed ({}){}",
                step.line,
                step.script,
                out.status,
                shown()
            ));
        }
        return Ok(());
    }
    if out.status.success() {
        return Err(format!(
            "line {}: `{}` succeeded, but the guide shows it failing{}",
            step.line,
            step.script,
            shown()
        ));
    }
    for e in &step.errors {
        if !stderr.lines().any(|l| l == e) {
            return Err(format!(
                "line {}: `{}`: the guide's line\n{e}\nis not in its stderr{}",
                step.line,
                step.script,
                shown()
            ));
        }
    }
    Ok(())
}

/// A fresh user's environment in `root`: the built binary first on `PATH`, `HOME` and
/// `$SET_LSTM_DATA` empty folders, the checkout's `datasets/` out of reach. Returns the work
/// directory and the environment.
fn fresh_user(root: &Path) -> (PathBuf, Vec<(&'static str, String)>) {
    let (work, home, data) = (root.join("work"), root.join("home"), root.join("data"));
    for d in [&work, &home, &data] {
        std::fs::create_dir_all(d).unwrap();
    }
    let bin_dir = Path::new(common::BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = vec![
        ("PATH", path),
        ("HOME", home.display().to_string()),
        ("SET_LSTM_DATA", data.display().to_string()),
        ("SET_LSTM_TEST_NO_CHECKOUT", "1".to_string()),
        ("NO_COLOR", "1".to_string()),
    ];
    (work, env)
}

fn run_all(guide: &Guide, root: &Path) -> Result<usize, String> {
    let (work, env) = fresh_user(root);
    for step in &guide.steps {
        run_step(step, &work, &env)?;
    }
    Ok(guide.steps.len())
}

#[test]
fn user_guide_runs_as_written() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/USER-GUIDE.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let guide = extract(&text);
    // The walk the guide promises: install, IMDB, own CSV, all of it present.
    for heading in ["## Install", "## IMDB", "## Your own data"] {
        assert!(
            text.contains(heading),
            "the guide lost its `{heading}` section"
        );
    }
    assert!(
        guide.steps.len() >= 25,
        "only {} steps found: is the extractor still reading the guide?",
        guide.steps.len()
    );
    assert!(
        guide.skipped.len() <= 6,
        "{} skipped blocks: {:?}",
        guide.skipped.len(),
        guide.skipped
    );
    let root = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    if let Err(e) = run_all(&guide, root.path()) {
        panic!("docs/USER-GUIDE.md does not run as written: {e}");
    }
    eprintln!(
        "{} guide steps ran in {:.1}s ({} blocks skipped)",
        guide.steps.len(),
        start.elapsed().as_secs_f64(),
        guide.skipped.len()
    );
}

#[test]
fn extractor_reads_console_sh_and_skip_markers() {
    let md = "text\n\
              ```console\n\
              $ set-lstm info runs/a\n\
              model runs/a\n\
              $ set-lstm train --lr=-1\n\
              error: invalid value\n\
              ```\n\
              <!-- guide-test: skip: long -->\n\
              ```console\n\
              $ set-lstm train --data imdb\n\
              ```\n\
              ```sh\n\
              printf 'a\\n' > x.txt\n\
              wc -l x.txt\n\
              ```\n\
              ```python\n\
              $ not a command\n\
              ```\n\
              ```console\n\
              $ echo a \\\n\
              b\n\
              ```\n";
    let g = extract(md);
    let scripts: Vec<&str> = g.steps.iter().map(|s| s.script.as_str()).collect();
    assert_eq!(
        scripts,
        [
            "set-lstm info runs/a",
            "set-lstm train --lr=-1",
            "printf 'a\\n' > x.txt\nwc -l x.txt",
            "echo a \\\nb",
        ]
    );
    assert_eq!(g.steps[0].line, 3);
    assert!(g.steps[0].errors.is_empty());
    assert_eq!(g.steps[1].errors, ["error: invalid value"]);
    assert_eq!(g.skipped, [(9, "long".to_string())]);
}

/// The check can fail: a broken command, a command that succeeds where the guide shows an
/// error, and an error message other than the one shown are each reported with their line.
#[test]
fn broken_guide_commands_fail_the_check() {
    let root = tempfile::tempdir().unwrap();
    let (work, env) = fresh_user(root.path());
    let cases = [
        (
            "```console\n$ set-lstm train --no-such-flag\n```\n",
            "failed",
        ),
        (
            "```console\n$ set-lstm --version\nerror: something\n```\n",
            "succeeded, but the guide shows it failing",
        ),
        (
            "```console\n$ set-lstm data fetch nosuch\nerror: a message set-lstm never prints\n```\n",
            "is not in its stderr",
        ),
        ("```sh\nset-lstm --version\nfalse\n```\n", "failed"),
    ];
    for (md, why) in cases {
        let g = extract(md);
        assert_eq!(g.steps.len(), 1, "{md}");
        let err = run_step(&g.steps[0], &work, &env).expect_err(md);
        assert!(
            err.contains(why) && err.starts_with("line 2:"),
            "{md}: {err}"
        );
    }
    // And the same checks pass a command that works as shown.
    let ok = extract(
        "```console\n$ set-lstm data fetch nosuch\nerror: data fetch nosuch: unknown dataset `nosuch` (known: imdb, sst2, sst5, sanders, sanders4, uci, uci-amazon, uci-imdb, uci-yelp)\n```\n",
    );
    run_step(&ok.steps[0], &work, &env).unwrap();
}
