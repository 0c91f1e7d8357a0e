//! The run directory: layout, lock file, atomic writes with fsync, append-only logs, orphaned
//! temporary files.

use crate::exit::Failure;
use anyhow::{Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// File names inside a run directory.
pub mod names {
    /// Resolved configuration.
    pub const CONFIG: &str = "config.toml";
    /// Provenance.
    pub const MANIFEST: &str = "manifest.json";
    /// Per-epoch metrics.
    pub const METRICS: &str = "metrics.csv";
    /// One evolution report per line.
    pub const EVENTS: &str = "events.jsonl";
    /// Checkpoint folder.
    pub const CHECKPOINTS: &str = "checkpoints";
    /// Newest checkpoint (inside [`CHECKPOINTS`]).
    pub const LATEST: &str = "latest.safetensors";
    /// The checkpoint before the newest one (inside [`CHECKPOINTS`]).
    pub const LAST_GOOD: &str = "last-good.safetensors";
    /// Final model.
    pub const MODEL: &str = "model.safetensors";
    /// The model of the best dev epoch (written when the dev accuracy improves).
    pub const BEST: &str = "best.safetensors";
    /// Vocabulary.
    pub const VOCAB: &str = "vocab.txt";
    /// Plots folder.
    pub const PLOTS: &str = "plots";
    /// Final summary.
    pub const SUMMARY: &str = "summary.json";
    /// Evaluation reports folder.
    pub const EVAL: &str = "eval";
    /// Lock file.
    pub const LOCK: &str = "lock";
}

/// Largest `manifest.json` read back from a run directory (the file is a few KiB; this bounds a
/// hostile or corrupted one).
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// Header of `metrics.csv`.
pub const METRICS_HEADER: &str = "epoch,split,loss,accuracy,nnz,density,seconds\n";

/// Syncs a directory so that renames and new entries in it survive a crash.
///
/// # Errors
/// I/O errors, naming the directory.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    Ok(set_data::sync_dir(dir)?)
}

/// Writes `bytes` to `path` atomically with `set_data::write_atomic`, the workspace's one
/// atomic write: a `*.tmp` file in the same directory, synced, renamed over `path` (never over
/// something that is not a regular file), then the directory synced.
///
/// # Errors
/// I/O errors, naming the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(set_data::write_atomic(path, bytes)?)
}

/// Appends `text` to `path` and syncs the data.
///
/// # Errors
/// I/O errors, naming the path.
pub fn append_synced(path: &Path, text: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_data())
        .with_context(|| format!("appending to {}", path.display()))
}

/// Length of a file, 0 if it does not exist.
pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

/// Truncates an append-only log back to `len` bytes (what a checkpoint recorded), so that rows
/// written after the checkpoint are not duplicated by a resumed run.
///
/// # Errors
/// If the file is shorter than `len` (it was edited), or on I/O errors.
pub fn truncate_to(path: &Path, len: u64) -> Result<()> {
    let have = file_len(path);
    if have < len {
        return Err(Failure::Refused(format!(
            "{} has {have} bytes but the checkpoint recorded {len}: the file was modified",
            path.display()
        ))
        .into());
    }
    if have > len {
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        f.set_len(len)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("truncating {}", path.display()))?;
    }
    Ok(())
}

/// Removes `*.tmp` files left by interrupted atomic writes in `dir` (not recursive).
///
/// # Errors
/// I/O errors listing the directory.
pub fn remove_orphaned_tmp(dir: &Path) -> Result<usize> {
    let mut n = 0;
    if !dir.is_dir() {
        return Ok(0);
    }
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".tmp") && entry.file_type()?.is_file() {
            fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
            tracing::info!("removed orphaned temporary file {}", entry.path().display());
            n += 1;
        }
    }
    Ok(n)
}

/// The run directory lock: `lock` created with `create_new`, holding the owner's pid; removed on
/// drop. A lock whose pid is no longer running (a killed run) is taken over with a warning.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

/// Whether `pid` is a live process that may hold a run lock: this process, or another
/// `set-lstm` (a recycled pid of an unrelated program does not block a run forever).
fn pid_alive(pid: &str) -> bool {
    let Ok(p) = pid.parse::<u32>() else {
        return false;
    };
    if p == std::process::id() {
        return true;
    }
    let comm = |dir: &Path| fs::read_to_string(dir.join("comm")).map(|c| c.trim().to_string());
    match comm(&Path::new("/proc").join(p.to_string())) {
        Ok(theirs) => {
            theirs == "set-lstm" || comm(Path::new("/proc/self")).is_ok_and(|ours| ours == theirs)
        }
        Err(_) => false,
    }
}

impl RunLock {
    /// Takes the lock of `dir`.
    ///
    /// # Errors
    /// [`Failure::Locked`] if a live process holds it; I/O errors otherwise.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(names::LOCK);
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id())
                        .and_then(|()| f.sync_all())
                        .with_context(|| format!("writing {}", path.display()))?;
                    fsync_dir(dir)?;
                    return Ok(RunLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = fs::read_to_string(&path)
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    if pid_alive(&pid) || pid.is_empty() {
                        return Err(Failure::Locked {
                            dir: dir.display().to_string(),
                            pid: if pid.is_empty() { "?".into() } else { pid },
                            lock: path.display().to_string(),
                        }
                        .into());
                    }
                    tracing::warn!(
                        "taking over stale lock {} (process {pid} is not a running set-lstm)",
                        path.display()
                    );
                    fs::remove_file(&path)
                        .with_context(|| format!("removing stale lock {}", path.display()))?;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("creating lock {}", path.display()));
                }
            }
        }
        Err(anyhow::anyhow!("could not take lock {}", path.display()))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Path helpers for one run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The directory.
    pub root: PathBuf,
}

impl RunDir {
    /// Wraps a path.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// A file in the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The checkpoint folder.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join(names::CHECKPOINTS)
    }

    /// The newest checkpoint.
    pub fn latest(&self) -> PathBuf {
        self.checkpoints().join(names::LATEST)
    }

    /// The previous checkpoint.
    pub fn last_good(&self) -> PathBuf {
        self.checkpoints().join(names::LAST_GOOD)
    }

    /// The plots folder.
    pub fn plots(&self) -> PathBuf {
        self.root.join(names::PLOTS)
    }

    /// Creates a new run directory: `dir` must not exist or be empty.
    ///
    /// # Errors
    /// A usage error if it holds files; I/O errors.
    pub fn create(dir: &Path) -> Result<Self> {
        if dir.exists() {
            let empty = dir.is_dir()
                && fs::read_dir(dir)
                    .with_context(|| format!("listing {}", dir.display()))?
                    .next()
                    .is_none();
            if !empty {
                return Err(crate::exit::usage(format!(
                    "--out {}: already exists and is not an empty directory (continue a run with `set-lstm resume {}`)",
                    dir.display(),
                    dir.display()
                )));
            }
        }
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let run = RunDir::new(dir);
        for sub in [run.checkpoints(), run.plots()] {
            fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsync_dir(parent)?;
        }
        fsync_dir(dir)?;
        Ok(run)
    }

    /// Writes a new checkpoint: the bytes go to a synced `*.tmp` file first; then, if
    /// `keep_previous` (the current `latest` is known to be valid), `last-good` is atomically
    /// replaced by a hard link to the current `latest`; then the temporary file is renamed over
    /// `latest`; the folder is synced. At every moment `latest` is a complete old or new
    /// checkpoint (on a filesystem without hard links, `latest` is renamed to `last-good`
    /// instead, and a crash between the two renames leaves only `last-good`, which `resume`
    /// then uses). A failed write (a full disk) removes its temporary file and leaves both
    /// checkpoints untouched.
    ///
    /// # Errors
    /// I/O errors, naming the checkpoint and the temporary file.
    pub fn rotate_and_write_checkpoint(&self, bytes: &[u8], keep_previous: bool) -> Result<()> {
        self.write_checkpoint_with(bytes, keep_previous, |f, b| f.write_all(b))
    }

    /// [`RunDir::rotate_and_write_checkpoint`] with the byte-writing step supplied by the
    /// caller: the seam through which tests inject write failures (a full disk).
    #[doc(hidden)]
    pub fn write_checkpoint_with(
        &self,
        bytes: &[u8],
        keep_previous: bool,
        write: impl FnOnce(&mut File, &[u8]) -> std::io::Result<()>,
    ) -> Result<()> {
        let (dir, latest, last_good) = (self.checkpoints(), self.latest(), self.last_good());
        let mut tmp = tempfile::Builder::new()
            .prefix(".checkpoint.")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        // On error `tmp` is dropped, which deletes the temporary file.
        write(tmp.as_file_mut(), bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .with_context(|| {
                format!(
                    "writing checkpoint {} (temporary file {})",
                    latest.display(),
                    tmp.path().display()
                )
            })?;
        if keep_previous && latest.is_file() {
            rotate_last_good(&dir, &latest, &last_good)?;
        }
        tmp.persist(&latest)
            .map_err(|e| e.error)
            .with_context(|| format!("renaming into {}", latest.display()))?;
        fsync_dir(&dir)
    }
}

/// Makes `last_good` the current `latest` without ever removing `latest`: a hard link under a
/// temporary name, renamed over `last_good`. Falls back to renaming `latest` itself where hard
/// links are not supported.
fn rotate_last_good(dir: &Path, latest: &Path, last_good: &Path) -> Result<()> {
    let link = dir.join(format!(".last-good.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&link);
    match fs::hard_link(latest, &link) {
        Ok(()) => {
            let renamed = fs::rename(&link, last_good);
            // Where `last_good` already is `latest` (a crash right after this rename, before
            // the new checkpoint replaced `latest`), rename() succeeds without removing `link`.
            let _ = fs::remove_file(&link);
            renamed
                .with_context(|| format!("renaming {} to {}", link.display(), last_good.display()))
        }
        Err(e) => {
            tracing::debug!(
                "no hard link {} -> {} ({e}); renaming instead",
                latest.display(),
                link.display()
            );
            fs::rename(latest, last_good).with_context(|| {
                format!("renaming {} to {}", latest.display(), last_good.display())
            })
        }
    }
}

/// `YYYYMMDD-HHMMSS` in UTC for `secs` since the Unix epoch.
pub fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Now as [`utc_stamp`].
pub fn now_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc_stamp(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000");
        assert_eq!(utc_stamp(1_700_000_000), "20231114-221320");
    }

    #[test]
    fn lock_is_exclusive_and_released() {
        let d = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(d.path()).unwrap();
        let e = RunLock::acquire(d.path()).unwrap_err();
        assert!(matches!(
            e.downcast_ref::<Failure>(),
            Some(Failure::Locked { .. })
        ));
        drop(lock);
        let _again = RunLock::acquire(d.path()).unwrap();
    }

    #[test]
    fn stale_lock_is_taken_over() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(names::LOCK), "4000000000\n").unwrap();
        RunLock::acquire(d.path()).unwrap();
    }

    #[test]
    fn atomic_write_and_tmp_cleanup() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        fs::write(d.path().join(".a.json.xyz.tmp"), b"partial").unwrap();
        assert_eq!(remove_orphaned_tmp(d.path()).unwrap(), 1);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    fn checkpoint_dir() -> (tempfile::TempDir, RunDir) {
        let d = tempfile::tempdir().unwrap();
        let run = RunDir::new(d.path());
        fs::create_dir_all(run.checkpoints()).unwrap();
        (d, run)
    }

    fn listing(run: &RunDir) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(run.checkpoints())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn checkpoints_rotate_and_a_failed_write_changes_nothing() {
        let (_d, run) = checkpoint_dir();
        run.rotate_and_write_checkpoint(b"one", false).unwrap();
        run.rotate_and_write_checkpoint(b"two", true).unwrap();
        assert_eq!(fs::read(run.latest()).unwrap(), b"two");
        assert_eq!(fs::read(run.last_good()).unwrap(), b"one");
        // A full disk part-way through the write: a clear error naming the checkpoint, both
        // checkpoints unchanged, the temporary file removed.
        let e = run
            .write_checkpoint_with(b"three", true, crate::testing::fail_after(2))
            .unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("No space left on device"), "{msg}");
        assert!(
            msg.contains(&format!("writing checkpoint {}", run.latest().display())),
            "{msg}"
        );
        assert_eq!(fs::read(run.latest()).unwrap(), b"two");
        assert_eq!(fs::read(run.last_good()).unwrap(), b"one");
        assert_eq!(
            listing(&run),
            ["last-good.safetensors", "latest.safetensors"]
        );
        run.rotate_and_write_checkpoint(b"three", true).unwrap();
        assert_eq!(fs::read(run.latest()).unwrap(), b"three");
        assert_eq!(fs::read(run.last_good()).unwrap(), b"two");
        assert_eq!(
            listing(&run),
            ["last-good.safetensors", "latest.safetensors"]
        );
    }

    #[test]
    fn rotation_after_a_crash_between_its_renames_leaves_no_stray_link() {
        // The state a crash leaves right after `last-good` became a link to `latest`, before the
        // new checkpoint replaced `latest`: both names are one file. rename() between two links
        // of one file does nothing, so the temporary link must be removed explicitly.
        let (_d, run) = checkpoint_dir();
        run.rotate_and_write_checkpoint(b"two", false).unwrap();
        fs::hard_link(run.latest(), run.last_good()).unwrap();
        run.rotate_and_write_checkpoint(b"three", true).unwrap();
        assert_eq!(fs::read(run.latest()).unwrap(), b"three");
        assert_eq!(fs::read(run.last_good()).unwrap(), b"two");
        assert_eq!(
            listing(&run),
            ["last-good.safetensors", "latest.safetensors"]
        );
    }

    #[test]
    fn truncation_refuses_shorter_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.csv");
        append_synced(&p, "abc\ndef\n").unwrap();
        truncate_to(&p, 4).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "abc\n");
        assert!(truncate_to(&p, 10).is_err());
    }
}
