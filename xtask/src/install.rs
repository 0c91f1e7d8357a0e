//! Atomic installation of a finished dataset folder, and the fsync helpers it relies on.
//!
//! A new folder is built completely inside a temporary directory next to its destination (same
//! file system), fsync'd, and then renamed into place. An existing folder is only replaced with
//! `force`: it is first renamed into the temporary directory (`aside`), the new folder is
//! renamed in, the parent directory is fsync'd, and the old copy is deleted together with the
//! temporary directory. If the second rename fails, the old folder is renamed back. Between the
//! two renames the destination briefly does not exist; it never holds a partial dataset.

use std::fs::{self, File};
use std::path::Path;

use anyhow::{Context, Result, bail};

/// fsyncs a directory, making renames and creations inside it durable.
pub fn sync_dir(path: &Path) -> Result<()> {
    let dir = File::open(path)
        .with_context(|| format!("cannot open directory {} to fsync it", path.display()))?;
    dir.sync_all()
        .with_context(|| format!("cannot fsync directory {}", path.display()))
}

/// fsyncs every directory of the tree rooted at `root` (files are fsync'd when written).
pub fn sync_tree_dirs(root: &Path) -> Result<()> {
    for entry in fs::read_dir(root).with_context(|| format!("cannot list {}", root.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", root.display()))?;
        if entry.file_type()?.is_dir() {
            sync_tree_dirs(&entry.path())?;
        }
    }
    sync_dir(root)
}

/// Fails if `dest` exists and may not be replaced (or is not a plain directory).
pub fn check_destination(dest: &Path, force: bool) -> Result<()> {
    match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot inspect {}", dest.display())),
        Ok(meta) if !meta.file_type().is_dir() => bail!(
            "{} exists and is not a directory (a symlink or file?); refusing to replace it",
            dest.display()
        ),
        Ok(_) if force => Ok(()),
        Ok(_) => bail!(
            "{} already exists; pass --force to replace it (the old copy is swapped out \
             atomically and deleted only after the new one is in place)",
            dest.display()
        ),
    }
}

/// Moves the finished folder `new` to `dest`, replacing an existing `dest` only with `force`.
///
/// `aside` is a free path in the same temporary directory as `new`; an old `dest` ends up
/// there and is removed by the caller together with that temporary directory. Returns whether
/// an existing folder was replaced.
pub fn install(new: &Path, dest: &Path, aside: &Path, force: bool) -> Result<bool> {
    check_destination(dest, force)?;
    let parent = dest
        .parent()
        .with_context(|| format!("{} has no parent directory", dest.display()))?;
    sync_tree_dirs(new)?;
    let replaced = dest.exists();
    if replaced {
        fs::rename(dest, aside).with_context(|| {
            format!(
                "cannot move the old {} aside to {}",
                dest.display(),
                aside.display()
            )
        })?;
    }
    if let Err(e) = fs::rename(new, dest) {
        if replaced {
            // Put the old copy back; report the original error either way.
            let _ = fs::rename(aside, dest);
        }
        return Err(e).with_context(|| {
            format!(
                "cannot move {} into place at {}",
                new.display(),
                dest.display()
            )
        });
    }
    sync_dir(parent)?;
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_with(root: &Path, name: &str, content: &str) -> std::path::PathBuf {
        let dir = root.join(name);
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/file.txt"), content).unwrap();
        dir
    }

    #[test]
    fn installs_refuses_and_replaces() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("data");
        let new = folder_with(root.path(), "new1", "one");
        assert!(!install(&new, &dest, &root.path().join("old1"), false).unwrap());
        assert_eq!(
            fs::read_to_string(dest.join("sub/file.txt")).unwrap(),
            "one"
        );

        let new = folder_with(root.path(), "new2", "two");
        let err = install(&new, &dest, &root.path().join("old2"), false).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(
            fs::read_to_string(dest.join("sub/file.txt")).unwrap(),
            "one"
        );

        assert!(install(&new, &dest, &root.path().join("old2"), true).unwrap());
        assert_eq!(
            fs::read_to_string(dest.join("sub/file.txt")).unwrap(),
            "two"
        );
        let old = root.path().join("old2/sub/file.txt");
        assert_eq!(fs::read_to_string(old).unwrap(), "one");
    }

    #[test]
    fn refuses_to_replace_a_file() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("data");
        fs::write(&dest, "x").unwrap();
        let err = check_destination(&dest, true).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
