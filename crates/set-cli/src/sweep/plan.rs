//! A sweep's plan: every run resolved and validated, the output folder's layout, and the files
//! written before any run starts (`configs/<name>.toml`, `runs.txt`, a copy of the grid).
//!
//! Layout of the output folder:
//!
//! ```text
//! <out>/grid.toml             the grid file as given
//! <out>/runs.txt              run names, one per line, in expansion order
//! <out>/configs/<name>.toml   each run's complete settings (a `set-lstm train --config` file)
//! <out>/<name>/               each run's directory (written by train)
//! <out>/logs/                 Slurm output files (with --slurm)
//! ```

use super::grid::{Grid, Point};
use crate::config::TrainConfig;
use crate::exit::usage;
use crate::rundir::{RunDir, names, write_atomic};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// File listing the run names.
pub const RUNS_TXT: &str = "runs.txt";
/// Folder of the per-run settings files.
pub const CONFIGS: &str = "configs";
/// Copy of the grid file.
pub const GRID_COPY: &str = "grid.toml";
/// Folder of the Slurm output files.
pub const LOGS: &str = "logs";

/// One run of the sweep, resolved.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// The expanded grid point (name, grid values, settings).
    pub point: Point,
    /// The resolved and validated configuration.
    pub config: TrainConfig,
}

/// What a run's directory holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// No directory, or an empty one: train from scratch.
    New,
    /// `summary.json` exists: nothing to do.
    Finished,
    /// A checkpoint exists but no `summary.json`: resume.
    Resumable,
    /// `config.toml` or a `checkpoints/` folder but no checkpoint file: train stopped before
    /// its first checkpoint (nothing to resume, nothing lost): start again.
    Incomplete,
    /// Files, but neither `config.toml` nor `checkpoints/`: not a run directory; left alone.
    Foreign,
}

impl RunState {
    /// A short word for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::New => "new",
            RunState::Finished => "finished",
            RunState::Resumable => "resumable",
            RunState::Incomplete => "incomplete",
            RunState::Foreign => "not a run directory",
        }
    }
}

/// Classifies a run directory.
pub fn run_state(dir: &Path) -> RunState {
    let run = RunDir::new(dir);
    if run.file(names::SUMMARY).is_file() {
        RunState::Finished
    } else if run.latest().is_file() || run.last_good().is_file() {
        RunState::Resumable
    } else if run.file(names::CONFIG).is_file() || run.checkpoints().is_dir() {
        RunState::Incomplete
    } else if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) || dir.is_file() {
        RunState::Foreign
    } else {
        RunState::New
    }
}

/// The resolved sweep.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The grid file.
    pub grid_path: PathBuf,
    /// The output folder (absolute).
    pub out: PathBuf,
    /// The runs in expansion order.
    pub runs: Vec<PlannedRun>,
}

/// The default output folder: `runs/sweep-<grid file stem>`.
pub fn default_out(grid_path: &Path) -> PathBuf {
    let stem = grid_path
        .file_stem()
        .map_or("grid".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from("runs").join(format!("sweep-{stem}"))
}

impl Plan {
    /// Resolves every grid point with [`TrainConfig::resolve`] (the checks of `train`), and
    /// refuses two runs with the same configuration. Nothing is written.
    ///
    /// # Errors
    /// A usage error naming the grid file and the run (the resolve error names the key).
    pub fn new(grid: &Grid, out: &Path) -> Result<Plan> {
        let file = grid.path.display();
        let out = std::path::absolute(out)
            .with_context(|| format!("resolving --out {}", out.display()))?;
        if out.exists() && !out.is_dir() {
            return Err(usage(format!(
                "--out {}: exists and is not a directory",
                out.display()
            )));
        }
        let mut runs = Vec::new();
        let mut by_config: HashMap<String, String> = HashMap::new();
        for point in grid.expand()? {
            let config = TrainConfig::resolve(point.settings.clone())
                .with_context(|| format!("{file}: run `{}`", point.name))?;
            let mut key = config.clone();
            key.threads = 0;
            let text = toml::to_string(&key).context("serialising a configuration")?;
            if let Some(other) = by_config.insert(text, point.name.clone()) {
                return Err(usage(format!(
                    "{file}: runs `{other}` and `{}` have the same configuration",
                    point.name
                )));
            }
            runs.push(PlannedRun { point, config });
        }
        Ok(Plan {
            grid_path: grid.path.clone(),
            out,
            runs,
        })
    }

    /// `<out>/<name>`.
    pub fn run_dir(&self, run: &PlannedRun) -> PathBuf {
        self.out.join(&run.point.name)
    }

    /// `<out>/configs/<name>.toml`.
    pub fn config_path(&self, run: &PlannedRun) -> PathBuf {
        self.out
            .join(CONFIGS)
            .join(format!("{}.toml", run.point.name))
    }

    /// The text of `configs/<name>.toml`: the fully resolved configuration (data paths
    /// absolute), with `threads` as given in the grid (0 = one per core when unset), so the
    /// machine that runs it decides.
    ///
    /// # Errors
    /// If serialisation fails (it does not for valid configs).
    pub fn config_text(&self, run: &PlannedRun) -> Result<String> {
        let mut c = run.config.clone();
        c.threads = run.point.settings.threads.unwrap_or(0);
        let body = toml::to_string(&c).context("serialising the configuration")?;
        Ok(format!(
            "# set-lstm sweep run `{}` of {} (complete settings; usable as `set-lstm train --config`)\n{body}",
            run.point.name,
            self.grid_path.display()
        ))
    }

    /// Refuses to reuse a run directory that was trained with another configuration (e.g. the
    /// grid's `[base]` changed since the last sweep into the same `--out`).
    ///
    /// # Errors
    /// A usage error naming the run directory and the first differing key.
    pub fn check_existing(&self) -> Result<()> {
        for run in &self.runs {
            let path = self.run_dir(run).join(names::CONFIG);
            if !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let have = TrainConfig::from_toml(&text).map_err(|e| {
                usage(format!(
                    "{}: not a valid run configuration ({e:#}): remove its run directory or choose another --out",
                    path.display()
                ))
            })?;
            if !have.same_training(&run.config) {
                return Err(usage(format!(
                    "{} was trained with another configuration than the grid's run `{}` ({}): choose another --out or remove that run directory",
                    self.run_dir(run).display(),
                    run.point.name,
                    have.first_difference(&run.config).unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// Writes `grid.toml`, `configs/<name>.toml` and `runs.txt` (atomically; files of an
    /// earlier sweep into the same folder are replaced).
    ///
    /// # Errors
    /// I/O errors, naming the file.
    pub fn write(&self) -> Result<()> {
        let configs = self.out.join(CONFIGS);
        std::fs::create_dir_all(&configs)
            .with_context(|| format!("creating {}", configs.display()))?;
        let grid = std::fs::read(&self.grid_path)
            .with_context(|| format!("reading {}", self.grid_path.display()))?;
        write_atomic(&self.out.join(GRID_COPY), &grid)?;
        for run in &self.runs {
            write_atomic(&self.config_path(run), self.config_text(run)?.as_bytes())?;
        }
        let list: String = self
            .runs
            .iter()
            .map(|r| format!("{}\n", r.point.name))
            .collect();
        write_atomic(&self.out.join(RUNS_TXT), list.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{compiled_data_dir, read_settings_file};

    fn grid(text: &str) -> Grid {
        let data = compiled_data_dir();
        let text = format!(
            "[base]\ndata_dir = {:?}\nepochs = 1\n{text}",
            data.to_str().unwrap()
        );
        Grid::parse(&text, Path::new("sweep.toml")).unwrap()
    }

    #[test]
    fn configs_are_complete_train_config_files() {
        let tmp = tempfile::tempdir().unwrap();
        let g = grid("[grid]\nseed = [1, 2]\nzeta = [0.1, 0.5]\n");
        let grid_file = tmp.path().join("sweep.toml");
        std::fs::write(&grid_file, "# copy\n").unwrap();
        let plan = Plan::new(
            &Grid {
                path: grid_file,
                ..g
            },
            &tmp.path().join("out"),
        )
        .unwrap();
        assert!(plan.out.is_absolute());
        plan.check_existing().unwrap();
        plan.write().unwrap();
        let list = std::fs::read_to_string(plan.out.join(RUNS_TXT)).unwrap();
        assert_eq!(
            list,
            "seed-1_zeta-0.1\nseed-1_zeta-0.5\nseed-2_zeta-0.1\nseed-2_zeta-0.5\n"
        );
        for run in &plan.runs {
            let text = std::fs::read_to_string(plan.config_path(run)).unwrap();
            // One per core unless the grid sets threads: not written, so it carries anywhere.
            assert!(!text.contains("threads"), "{text}");
            assert!(text.contains("policy = \"set\""), "{text}");
            let back =
                TrainConfig::resolve(read_settings_file(&plan.config_path(run)).unwrap()).unwrap();
            assert!(back.same_training(&run.config), "{text}");
        }
        assert_eq!(plan.runs[1].config.zeta, 0.5);
        assert_eq!(plan.runs[2].config.seed, 2);
        assert_eq!(
            std::fs::read_to_string(plan.out.join(GRID_COPY)).unwrap(),
            "# copy\n"
        );
    }

    #[test]
    fn invalid_values_and_duplicate_configs_are_usage_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let err = |g: Grid| {
            let e = Plan::new(&g, tmp.path()).unwrap_err();
            assert_eq!(crate::exit::exit_code(&e), crate::exit::USAGE, "{e:#}");
            format!("{e:#}")
        };
        let e = err(grid("[grid]\ndensity = [0.04, 1.5]\n"));
        assert!(
            e.contains("sweep.toml") && e.contains("density-1.5") && e.contains("`density`"),
            "{e}"
        );
        let e = err(grid("[grid]\nepsilon = [1, 2]\ndensity = [0.1]\n"));
        assert!(
            e.contains("sweep.toml") && e.contains("alternatives"),
            "{e}"
        );
        let e = err(grid("[grid]\nthreads = [1, 2]\n"));
        assert!(e.contains("same configuration"), "{e}");
        // Nothing was written.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_run_directory_with_another_configuration_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = Plan::new(&grid("[grid]\nseed = [1]\n"), tmp.path()).unwrap();
        let dir = plan.run_dir(&plan.runs[0]);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(run_state(&dir), RunState::New);
        let mut other = plan.runs[0].config.clone();
        other.threads = 3;
        std::fs::write(dir.join("config.toml"), other.to_toml().unwrap()).unwrap();
        plan.check_existing().unwrap();
        assert_eq!(run_state(&dir), RunState::Incomplete);
        other.zeta = 0.9;
        std::fs::write(dir.join("config.toml"), other.to_toml().unwrap()).unwrap();
        let e = format!("{:#}", plan.check_existing().unwrap_err());
        assert!(e.contains("`zeta`") && e.contains("seed-1"), "{e}");
        std::fs::remove_file(dir.join("config.toml")).unwrap();
        std::fs::write(dir.join("notes.txt"), "x").unwrap();
        assert_eq!(run_state(&dir), RunState::Foreign);
    }
}
