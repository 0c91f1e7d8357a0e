//! The Slurm batch script of `set-lstm sweep --slurm FILE`: one array task per run. Task `i`
//! reads line `i + 1` of `runs.txt`, skips a finished run, resumes one with a checkpoint, and
//! otherwise trains `configs/<name>.toml` into `<out>/<name>` with `--threads
//! $SLURM_CPUS_PER_TASK`. Resubmitting the same script after a failure, a time limit or a
//! preemption is safe.

use super::plan::{LOGS, Plan, RUNS_TXT};
use crate::exit::usage;
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;

/// What the script needs besides the plan.
#[derive(Debug, Clone)]
pub struct ScriptOptions {
    /// The `set-lstm` executable the tasks run (absolute).
    pub bin: std::path::PathBuf,
    /// `#SBATCH --cpus-per-task` (and the default of `$SLURM_CPUS_PER_TASK` when run by hand).
    pub cpus_per_task: usize,
    /// `#SBATCH --job-name`.
    pub job_name: String,
    /// Extra `#SBATCH` lines, e.g. `--time=02:00:00` or `--partition=short`.
    pub extra: Vec<String>,
}

/// Quotes a string for bash (single quotes; `'` written as `'\''`).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn utf8<'a>(p: &'a Path, what: &str) -> Result<&'a str> {
    p.to_str()
        .ok_or_else(|| usage(format!("{what} {}: not valid UTF-8", p.display())))
}

/// The job name for a grid file: `sweep-<stem>`, reduced to safe characters.
pub fn job_name(grid_path: &Path) -> String {
    let stem = grid_path
        .file_stem()
        .map_or("grid".into(), |s| s.to_string_lossy().into_owned());
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("sweep-{safe}")
}

/// The batch script.
///
/// # Errors
/// A usage error if the output folder's path cannot appear in an `#SBATCH --output` line
/// (whitespace, quotes, `%`, `\`), a path is not UTF-8, or an extra line is not an option.
pub fn script(plan: &Plan, opts: &ScriptOptions) -> Result<String> {
    let out = utf8(&plan.out, "--out")?;
    if out
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '%' | '"' | '\'' | '\\'))
    {
        return Err(usage(format!(
            "--out {out}: with --slurm the output folder's path must not contain whitespace, quotes, `%` or `\\` (it appears in an #SBATCH line)"
        )));
    }
    for e in &opts.extra {
        if !e.starts_with('-') || e.contains('\n') {
            return Err(usage(format!(
                "--sbatch-arg {e:?}: expected one sbatch option such as --time=01:00:00"
            )));
        }
    }
    let bin = utf8(&opts.bin, "--bin")?;
    let grid = plan.grid_path.display();
    let n = plan.runs.len();
    let cpus = opts.cpus_per_task;
    let mut s = String::new();
    writeln!(s, "#!/bin/bash")?;
    writeln!(
        s,
        "# Slurm array job: the set-lstm sweep of {grid}, {n} runs, one array task per run."
    )?;
    writeln!(
        s,
        "# Written by `set-lstm sweep --slurm`; submit with `sbatch <this file>`. Resubmitting is safe:"
    )?;
    writeln!(
        s,
        "# finished runs are skipped and interrupted ones resume from their checkpoint."
    )?;
    writeln!(s, "#SBATCH --job-name={}", opts.job_name)?;
    writeln!(s, "#SBATCH --array=0-{}", n - 1)?;
    writeln!(s, "#SBATCH --ntasks=1")?;
    writeln!(s, "#SBATCH --cpus-per-task={cpus}")?;
    writeln!(s, "#SBATCH --output={out}/{LOGS}/%x-%A_%a.out")?;
    for e in &opts.extra {
        writeln!(s, "#SBATCH {e}")?;
    }
    let body = r#"set -euo pipefail

SET_LSTM=@BIN@
OUT=@OUT@
: "${SLURM_ARRAY_TASK_ID:?is not set: submit this script with sbatch (or set it by hand)}"
: "${SLURM_CPUS_PER_TASK:=@CPUS@}"
export RAYON_NUM_THREADS="$SLURM_CPUS_PER_TASK"

NAME="$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$OUT/@RUNS@")"
if [ -z "$NAME" ]; then
  echo "array task $SLURM_ARRAY_TASK_ID: no such line in $OUT/@RUNS@" >&2
  exit 2
fi
RUN="$OUT/$NAME"
CONFIG="$OUT/configs/$NAME.toml"
echo "array task $SLURM_ARRAY_TASK_ID: run $NAME on $(hostname) with $SLURM_CPUS_PER_TASK threads"

if [ -f "$RUN/summary.json" ]; then
  echo "$NAME has finished ($RUN/summary.json exists): nothing to do"
  exit 0
fi
if [ -f "$RUN/checkpoints/latest.safetensors" ] || [ -f "$RUN/checkpoints/last-good.safetensors" ]; then
  exec "$SET_LSTM" resume "$RUN" --config "$CONFIG" --threads "$SLURM_CPUS_PER_TASK"
fi
if [ -e "$RUN" ]; then
  if [ -f "$RUN/config.toml" ] || [ -d "$RUN/checkpoints" ]; then
    # Stopped before its first checkpoint: nothing to resume, nothing lost; start again.
    echo "$NAME has no checkpoint: removing $RUN and starting again"
    rm -rf -- "$RUN"
  else
    echo "$RUN exists but is not a run directory: move it away" >&2
    exit 2
  fi
fi
exec "$SET_LSTM" train --config "$CONFIG" --out "$RUN" --threads "$SLURM_CPUS_PER_TASK"
"#;
    s.push('\n');
    s.push_str(
        &body
            .replace("@BIN@", &shell_quote(bin))
            .replace("@OUT@", &shell_quote(out))
            .replace("@CPUS@", &cpus.to_string())
            .replace("@RUNS@", RUNS_TXT),
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::grid::Grid;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn script_has_the_array_threads_and_resume_branch() {
        let data = crate::config::compiled_data_dir();
        let text = format!(
            "[base]\ndata_dir = {:?}\n[grid]\nseed = [1, 2, 3]\n",
            data.to_str().unwrap()
        );
        let grid = Grid::parse(&text, Path::new("/x/my grid.toml")).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let plan = Plan::new(&grid, &tmp.path().join("out")).unwrap();
        let opts = ScriptOptions {
            bin: "/opt/set lstm/set-lstm".into(),
            cpus_per_task: 4,
            job_name: job_name(&grid.path),
            extra: vec!["--time=01:00:00".into()],
        };
        let s = script(&plan, &opts).unwrap();
        for line in [
            "#SBATCH --job-name=sweep-my-grid\n",
            "#SBATCH --array=0-2\n",
            "#SBATCH --cpus-per-task=4\n",
            "#SBATCH --time=01:00:00\n",
            "SET_LSTM='/opt/set lstm/set-lstm'\n",
            ": \"${SLURM_CPUS_PER_TASK:=4}\"\n",
            "export RAYON_NUM_THREADS=\"$SLURM_CPUS_PER_TASK\"\n",
            "exec \"$SET_LSTM\" resume \"$RUN\" --config \"$CONFIG\" --threads \"$SLURM_CPUS_PER_TASK\"\n",
            "exec \"$SET_LSTM\" train --config \"$CONFIG\" --out \"$RUN\" --threads \"$SLURM_CPUS_PER_TASK\"\n",
        ] {
            assert!(s.contains(line), "script lacks {line:?}:\n{s}");
        }
        assert!(s.contains(&format!(
            "#SBATCH --output={}/logs/%x-%A_%a.out\n",
            plan.out.display()
        )));
        // Every #SBATCH line comes before the first command (sbatch stops reading there).
        let first_cmd = s.find("set -euo").unwrap();
        assert!(s.rfind("#SBATCH").unwrap() < first_cmd);

        let bad = Plan::new(&grid, &tmp.path().join("with space")).unwrap();
        let e = format!("{:#}", script(&bad, &opts).unwrap_err());
        assert!(e.contains("--out") && e.contains("whitespace"), "{e}");
        let e = script(
            &plan,
            &ScriptOptions {
                extra: vec!["time=1".into()],
                ..opts
            },
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("--sbatch-arg"));
    }
}
