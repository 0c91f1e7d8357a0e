//! `fetch-data`: download or import an archive, verify it, extract, convert and install a dataset.
//!
//! Order of operations (each step only runs if all earlier ones succeeded):
//! 1. refuse early if the destination exists and `force` is not set;
//! 2. create a temporary directory `.fetch-<folder>-XXXX` inside the data directory (same file
//!    system as the destination);
//! 3. download the archive into it (or copy the `--from` file into it), hashing while writing;
//!    what is verified is exactly what is extracted;
//! 4. verify size and sha256 against the published values, *before* opening the archive;
//! 5. extract safely (see `extract`), convert into `<tmp>/new`, fsync every file;
//! 6. check the produced files against the reference checksums (the only content check for
//!    sources without a published archive checksum);
//! 7. fsync the directories and rename `<tmp>/new` into place (see `install`).
//!
//! On any error the temporary directory is removed, and a data directory that this run created
//! is removed again if it is empty: nothing is left behind. (A process killed mid-way can leave
//! a `.fetch-*` directory, which is safe to delete.)

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::datasets::{ArchiveFormat, Availability, Converter, DatasetSpec, group_digits};
use crate::extract::{ExtractStats, extract};
use crate::install::{check_destination, install};
use crate::verify::{ContentStats, HashingWriter, check_archive, check_outputs, content_stats};

/// Where the archive comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchiveSource {
    /// Download from the dataset's official URL.
    Official,
    /// Download from another URL (mirror, tests); the same checksums apply.
    Url(String),
    /// Import a file already on disk (offline machines); the same checksums apply.
    File(PathBuf),
}

/// Options of one fetch.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Data directory; the dataset goes to `<data_dir>/<folder>`.
    pub data_dir: PathBuf,
    /// Archive source.
    pub source: ArchiveSource,
    /// Replace an existing dataset folder (atomically).
    pub force: bool,
    /// Print progress to stderr.
    pub progress: bool,
}

/// What a successful fetch did.
#[derive(Clone, Debug)]
pub struct FetchReport {
    /// Installed dataset folder.
    pub dest: PathBuf,
    /// Size and sha256 of the archive that was used.
    pub archive: ContentStats,
    /// Extraction statistics.
    pub extracted: ExtractStats,
    /// Produced files (relative paths) with the stats of their decompressed content.
    pub files: Vec<(String, ContentStats)>,
    /// Whether an existing folder was replaced.
    pub replaced: bool,
    /// Whether the produced files were compared with reference checksums.
    pub outputs_verified: bool,
}

/// Default data directory: the rule `set-lstm` reads by (`set_data::DataDir::default_root`:
/// `$SET_LSTM_DATA`, else `./datasets`, else the user data directory), so a fetch writes where
/// training reads.
pub fn default_data_dir() -> PathBuf {
    set_data::DataDir::default_root()
}

/// Fetches, verifies, converts and installs one dataset; see the module docs for the steps.
pub fn fetch_dataset(spec: &DatasetSpec, opts: &FetchOptions) -> Result<FetchReport> {
    let (format, converter) = match spec.availability {
        Availability::Archive { format, converter } => (format, converter),
        Availability::Unavailable(reason) => {
            bail!("dataset `{}` cannot be fetched: {reason}", spec.name)
        }
    };
    let dest = opts.data_dir.join(spec.folder);
    check_destination(&dest, opts.force)?;

    let created_data_dir = !opts.data_dir.exists();
    fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("cannot create data directory {}", opts.data_dir.display()))?;
    let result = (|| {
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".fetch-{}-", spec.folder))
            .tempdir_in(&opts.data_dir)
            .with_context(|| {
                format!(
                    "cannot create a temporary directory in {}",
                    opts.data_dir.display()
                )
            })?;
        let tmp_path = tmp.path().to_owned();
        let report = fetch_in(spec, opts, format, converter, &dest, &tmp_path)?;
        // The dataset is installed at this point; a failed clean-up is only worth a warning.
        if let Err(e) = tmp.close() {
            eprintln!(
                "warning: cannot remove the temporary directory {}: {e}",
                tmp_path.display()
            );
        }
        Ok(report)
    })();
    if result.is_err() && created_data_dir {
        // Only succeeds if empty, which is exactly what we want.
        let _ = fs::remove_dir(&opts.data_dir);
    }
    result
}

fn fetch_in(
    spec: &DatasetSpec,
    opts: &FetchOptions,
    format: ArchiveFormat,
    converter: Converter,
    dest: &Path,
    tmp: &Path,
) -> Result<FetchReport> {
    let say = |msg: String| {
        if opts.progress {
            eprintln!("{msg}");
        }
    };
    let archive = tmp.join(format!("archive.{}", format.extension()));
    let (what, stats) = match &opts.source {
        ArchiveSource::Official | ArchiveSource::Url(_) => {
            let url = match &opts.source {
                ArchiveSource::Url(url) => url.as_str(),
                _ => spec.url,
            };
            say(format!("downloading {url}"));
            let stats = crate::http::download(
                url,
                &archive,
                spec.archive_size,
                spec.limits.max_archive_bytes,
                opts.progress,
            )?;
            (url.to_owned(), stats)
        }
        ArchiveSource::File(path) => {
            say(format!("importing {}", path.display()));
            let stats = copy_and_hash(path, &archive, spec)?;
            (path.display().to_string(), stats)
        }
    };
    say(format!(
        "archive: {} bytes, sha256 {}",
        group_digits(stats.bytes),
        stats.sha256
    ));
    check_archive(&what, &stats, spec.archive_size, spec.archive_sha256)?;
    if spec.archive_sha256.is_none() {
        say(format!(
            "no published checksum for {}: the produced files are verified instead",
            spec.name
        ));
    }

    let extracted_dir = tmp.join("extracted");
    fs::create_dir(&extracted_dir)
        .with_context(|| format!("cannot create {}", extracted_dir.display()))?;
    let extracted = extract(format, &archive, &extracted_dir, &spec.limits, &|rel| {
        converter.wants(rel)
    })
    .with_context(|| format!("cannot extract {what}"))?;
    say(format!(
        "extracted {} of {} entries ({} bytes)",
        extracted.files_written,
        extracted.entries,
        group_digits(extracted.bytes_written)
    ));

    let new = tmp.join("new");
    fs::create_dir(&new).with_context(|| format!("cannot create {}", new.display()))?;
    converter
        .convert(&extracted_dir, &new)
        .with_context(|| format!("cannot convert {what}"))?;
    check_outputs(&new, spec.outputs).with_context(|| format!("verification of {what} failed"))?;

    let mut files = Vec::new();
    for rel in crate::convert::list_files(&new)? {
        let stats = content_stats(&new.join(&rel))?;
        files.push((rel.to_string_lossy().replace('\\', "/"), stats));
    }
    let replaced = install(&new, dest, &tmp.join("old"), opts.force)?;
    Ok(FetchReport {
        dest: dest.to_owned(),
        archive: stats,
        extracted,
        files,
        replaced,
        outputs_verified: !spec.outputs.is_empty(),
    })
}

/// Copies a local archive into the temporary directory while hashing it, so the verified bytes
/// are the extracted bytes even if the original changes meanwhile.
fn copy_and_hash(from: &Path, to: &Path, spec: &DatasetSpec) -> Result<ContentStats> {
    let meta = fs::metadata(from).with_context(|| format!("cannot read {}", from.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", from.display());
    }
    let limit = spec.archive_size.unwrap_or(spec.limits.max_archive_bytes);
    if meta.len() > limit {
        bail!(
            "{} is {} bytes, more than the {} bytes expected for {}; refusing it",
            from.display(),
            group_digits(meta.len()),
            group_digits(limit),
            spec.name
        );
    }
    let input = File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    let output = File::create_new(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut writer = HashingWriter::new(output);
    std::io::copy(&mut BufReader::new(input).take(limit + 1), &mut writer)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    let (file, stats) = writer.finish();
    if stats.bytes > limit {
        bail!(
            "{} grew while it was being read; refusing it",
            from.display()
        );
    }
    file.sync_all()
        .with_context(|| format!("cannot fsync {}", to.display()))?;
    Ok(stats)
}

/// One-paragraph summary of a successful fetch, printed by the CLI.
pub fn render_report(spec: &DatasetSpec, report: &FetchReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let verb = if report.replaced {
        "replaced"
    } else {
        "installed"
    };
    let _ = writeln!(out, "{verb} {} at {}", spec.name, report.dest.display());
    let _ = writeln!(
        out,
        "  archive: {} bytes, sha256 {}",
        group_digits(report.archive.bytes),
        report.archive.sha256
    );
    let check = if report.outputs_verified {
        "= reference"
    } else {
        "not checked against a reference"
    };
    for (path, stats) in &report.files {
        let _ = writeln!(
            out,
            "  {path:<40} {:>7} lines  content sha256 {} ({check})",
            group_digits(stats.lines),
            stats.sha256
        );
    }
    out
}
