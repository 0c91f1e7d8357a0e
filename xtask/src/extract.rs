//! Safe extraction of `.tar.gz` and `.zip` archives: no escapes, no links or devices, capped size.
//!
//! Every entry is inspected before anything is written: its path must be relative and made of
//! plain components only (`.` is ignored; `..`, absolute paths, drive prefixes and backslashes
//! are errors), and it must be a regular file or a directory. Symbolic links, hard links,
//! character/block devices, FIFOs, sparse files and any other type are errors, never skips. The
//! total size of all entries and the number of entries are capped, and the bytes actually
//! decompressed are counted (zip headers can lie). Files are created with `create_new`, so a
//! duplicate entry is an error, and file permissions from the archive are ignored.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};

use crate::datasets::{ArchiveFormat, Limits, group_digits};

/// Decides which (already validated) file entries are written to disk; the others are only
/// read through (and counted). Receives the entry's normalised relative path.
pub type KeepFn<'a> = &'a dyn Fn(&Path) -> bool;

/// What an extraction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// Number of entries in the archive (files, directories, metadata headers).
    pub entries: u64,
    /// Files written to disk.
    pub files_written: u64,
    /// Bytes written to disk.
    pub bytes_written: u64,
    /// Bytes of all file entries, written or skipped.
    pub bytes_total: u64,
}

/// Extracts `archive` into the existing, empty directory `dest`.
///
/// On error, `dest` may hold partial output: the caller owns it (a temporary directory) and
/// removes it. Errors name the offending entry but not the archive, which the caller names
/// (by its URL or original path rather than the temporary copy).
pub fn extract(
    format: ArchiveFormat,
    archive: &Path,
    dest: &Path,
    limits: &Limits,
    keep: KeepFn<'_>,
) -> Result<ExtractStats> {
    let mut ex = Extractor {
        dest,
        limits,
        keep,
        stats: ExtractStats::default(),
    };
    match format {
        ArchiveFormat::TarGz => ex.tar_gz(archive)?,
        ArchiveFormat::Zip => ex.zip(archive)?,
    }
    Ok(ex.stats)
}

/// Validates an archive entry name and returns it as a normalised relative path.
///
/// `None` means the name is empty or only `.` (e.g. the `./` entry of a tarball).
pub fn safe_relative_path(name: &Path) -> Result<Option<PathBuf>> {
    let shown = name.display();
    if name.as_os_str().as_encoded_bytes().contains(&b'\\') {
        bail!("archive entry `{shown}` contains a backslash; refusing non-portable paths");
    }
    let mut out = PathBuf::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                bail!("archive entry `{shown}` contains `..` and could escape the destination")
            }
            Component::RootDir | Component::Prefix(_) => {
                bail!("archive entry `{shown}` has an absolute path")
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

struct Extractor<'a> {
    dest: &'a Path,
    limits: &'a Limits,
    keep: KeepFn<'a>,
    stats: ExtractStats,
}

impl Extractor<'_> {
    fn count_entry(&mut self) -> Result<()> {
        self.stats.entries += 1;
        ensure!(
            self.stats.entries <= self.limits.max_entries,
            "archive has more than {} entries; refusing it (limit for this dataset)",
            group_digits(self.limits.max_entries)
        );
        Ok(())
    }

    /// Bytes this entry may still use before the total cap is exceeded.
    fn budget(&self) -> u64 {
        self.limits
            .max_extracted_bytes
            .saturating_sub(self.stats.bytes_total)
    }

    fn too_big(&self) -> anyhow::Error {
        anyhow!(
            "archive expands to more than {} bytes; refusing it (limit for this dataset; \
             zip/tar bomb?)",
            group_digits(self.limits.max_extracted_bytes)
        )
    }

    fn make_dir(&self, rel: &Path) -> Result<()> {
        let path = self.dest.join(rel);
        fs::create_dir_all(&path)
            .with_context(|| format!("cannot create directory {}", path.display()))
    }

    /// Copies one file entry (at most `budget() + 1` bytes are read) to disk or to nowhere.
    fn file(&mut self, rel: &Path, reader: &mut dyn Read) -> Result<u64> {
        let budget = self.budget();
        let mut limited = reader.take(budget.saturating_add(1));
        let copied = if (self.keep)(rel) {
            let path = self.dest.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create directory {}", parent.display()))?;
            }
            let file = File::create_new(&path).with_context(|| {
                format!(
                    "cannot create {} (duplicate archive entry `{}`?)",
                    path.display(),
                    rel.display()
                )
            })?;
            let mut out = BufWriter::new(file);
            let n = io::copy(&mut limited, &mut out)
                .with_context(|| format!("cannot extract `{}`", rel.display()))?;
            out.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
            self.stats.files_written += 1;
            self.stats.bytes_written += n;
            n
        } else {
            io::copy(&mut limited, &mut io::sink())
                .with_context(|| format!("cannot read `{}`", rel.display()))?
        };
        if copied > budget {
            return Err(self.too_big());
        }
        self.stats.bytes_total += copied;
        Ok(copied)
    }

    fn tar_gz(&mut self, archive: &Path) -> Result<()> {
        let file =
            File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
        let gz = flate2::read::GzDecoder::new(BufReader::new(file));
        let mut tar = tar::Archive::new(gz);
        let entries = tar.entries().context("cannot read the tar stream")?;
        for entry in entries {
            let mut entry = entry.context("corrupt or truncated archive (tar/gzip stream)")?;
            self.count_entry()?;
            let name = entry
                .path()
                .context("archive entry with an unreadable path")?
                .into_owned();
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() {
                // Archive-wide metadata (e.g. from `git archive`): nothing to extract.
                continue;
            }
            let rel = safe_relative_path(&name)?;
            let shown = name.display();
            if kind.is_dir() {
                if let Some(rel) = rel {
                    self.make_dir(&rel)?;
                }
            } else if kind.is_file() || kind.is_contiguous() {
                let rel = rel.ok_or_else(|| anyhow!("archive has a file entry without a name"))?;
                let declared = entry.size();
                if declared > self.budget() {
                    return Err(self.too_big());
                }
                let copied = self.file(&rel, &mut entry)?;
                ensure!(
                    copied == declared,
                    "archive entry `{shown}` is truncated: {copied} of {declared} bytes"
                );
            } else {
                let what = if kind.is_symlink() {
                    "a symbolic link"
                } else if kind.is_hard_link() {
                    "a hard link"
                } else if kind.is_character_special() {
                    "a character device"
                } else if kind.is_block_special() {
                    "a block device"
                } else if kind.is_fifo() {
                    "a FIFO"
                } else if kind.is_gnu_sparse() {
                    "a sparse file"
                } else {
                    "of an unsupported type"
                };
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|t| format!(" (to `{}`)", t.display()))
                    .unwrap_or_default();
                bail!(
                    "archive entry `{shown}` is {what}{target} (type byte {:?}); only regular \
                     files and directories are allowed",
                    char::from(kind.as_byte())
                );
            }
        }
        // Read the rest of the gzip stream so that its CRC and length trailer are checked,
        // and refuse a large tail (tar pads with at most a few KiB of zeros).
        let mut tail = tar.into_inner().take(1024 * 1024 + 1);
        let n = io::copy(&mut tail, &mut io::sink())
            .context("corrupt or truncated archive (gzip stream)")?;
        ensure!(
            n <= 1024 * 1024,
            "more than 1 MiB of data after the end of the tar archive"
        );
        Ok(())
    }

    fn zip(&mut self, archive: &Path) -> Result<()> {
        let file =
            File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
        let mut zip = zip::ZipArchive::new(BufReader::new(file))
            .context("corrupt or truncated zip archive")?;
        for index in 0..zip.len() {
            self.count_entry()?;
            let mut entry = zip
                .by_index(index)
                .with_context(|| format!("cannot read zip entry #{index}"))?;
            let name = PathBuf::from(
                entry
                    .name()
                    .with_context(|| format!("zip entry #{index} has an undecodable name"))?
                    .into_owned(),
            );
            let shown = name.display();
            let rel = safe_relative_path(&name)?;
            ensure!(!entry.encrypted(), "archive entry `{shown}` is encrypted");
            // Unix file type bits, when the creator recorded them.
            let file_type = entry.unix_mode().map_or(0, |m| m & 0o170_000);
            let type_name = match file_type {
                0 | 0o100_000 | 0o040_000 => None,
                0o120_000 => Some("a symbolic link"),
                0o020_000 => Some("a character device"),
                0o060_000 => Some("a block device"),
                0o010_000 => Some("a FIFO"),
                0o140_000 => Some("a socket"),
                _ => Some("of an unsupported type"),
            };
            if let Some(what) = type_name.or(entry.is_symlink().then_some("a symbolic link")) {
                bail!(
                    "archive entry `{shown}` is {what}; only regular files and directories \
                     are allowed"
                );
            }
            if entry.is_dir() || file_type == 0o040_000 {
                if let Some(rel) = rel {
                    self.make_dir(&rel)?;
                }
                continue;
            }
            let rel = rel.ok_or_else(|| anyhow!("archive has a file entry without a name"))?;
            if entry.size() > self.budget() {
                return Err(self.too_big());
            }
            let declared = entry.size();
            let copied = self.file(&rel, &mut entry)?;
            ensure!(
                copied == declared,
                "archive entry `{shown}` has {copied} bytes but its header says {declared}"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_normalised() {
        let p = |s: &str| safe_relative_path(Path::new(s)).unwrap();
        assert_eq!(p("a/b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(p("./a//b/"), Some(PathBuf::from("a/b")));
        assert_eq!(p("./"), None);
        assert_eq!(p(""), None);
    }

    #[test]
    fn escaping_paths_are_errors() {
        let e = |s: &str| safe_relative_path(Path::new(s)).unwrap_err().to_string();
        assert!(e("../x").contains("contains `..`"));
        assert!(e("a/../../x").contains("contains `..`"));
        assert!(e("/tmp/evil").contains("absolute path"));
        assert!(e("..\\x").contains("backslash"));
    }
}
