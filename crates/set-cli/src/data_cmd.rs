//! `set-lstm data`: the registry datasets in the data directory (`list`), and installing one
//! from a folder that holds its files in the canonical layout (`fetch NAME --from DIR`, e.g.
//! `../shared/datasets/sst`), each file checked by loading it before it is copied in; the small
//! UCI sentences are inside the binary (`set_data::bundled`), so `data fetch uci` needs no
//! folder.

use crate::cli::{DataArgs, DataCommand};
use crate::rundir::write_atomic;
use anyhow::{Context, Result};
use set_data::DatasetName;
use std::path::{Path, PathBuf};

/// `set-lstm data`.
///
/// # Errors
/// Unknown names, unreadable or invalid files, I/O errors.
pub fn run(args: &DataArgs) -> Result<()> {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(crate::config::default_data_dir);
    match &args.command {
        DataCommand::List => list(&dir),
        DataCommand::Fetch { name, from } => fetch(&dir, name, from.as_deref()),
    }
}

fn list(dir: &Path) -> Result<()> {
    crate::out::say!("data directory {}", dir.display())?;
    crate::out::say!("{:<11} {:<9} {:>12}  files", "dataset", "state", "bytes")?;
    for d in DatasetName::ALL {
        let files = d.layout().files();
        let sizes: Vec<Option<u64>> = files
            .iter()
            .map(|f| std::fs::metadata(dir.join(f)).ok().map(|m| m.len()))
            .collect();
        let present = sizes.iter().filter(|s| s.is_some()).count();
        let state = match present {
            0 => "missing",
            n if n == files.len() => "present",
            _ => "partial",
        };
        let bytes: u64 = sizes.iter().flatten().sum();
        crate::out::say!(
            "{:<11} {:<9} {:>12}  {}",
            d.as_str(),
            state,
            bytes,
            files.join(", ")
        )?;
    }
    crate::out::say!(
        "\nfetch one with `set-lstm data fetch NAME --from DIR` (a folder with its files) or `cargo xtask fetch-data NAME` (download and convert)"
    )?;
    Ok(())
}

fn fetch(dir: &Path, name: &str, from: Option<&Path>) -> Result<()> {
    let d: DatasetName = name
        .parse()
        .map_err(|e: set_data::DataError| crate::exit::usage(format!("data fetch {name}: {e}")))?;
    let Some(from) = from else {
        if set_data::bundled::files(d).is_some() {
            // Shipped inside the binary: no checkout or download needed.
            let written = set_data::bundled::install(d, dir)?;
            for p in &written {
                set_data::load_labeled(p, &d.labels(), &set_data::LoadOptions::default())
                    .with_context(|| format!("checking {}", p.display()))?;
                crate::out::say!("{}", p.display())?;
            }
            crate::out::say!(
                "dataset {} installed in {} (from the copy inside set-lstm)",
                d.as_str(),
                dir.display()
            )?;
            return Ok(());
        }
        return Err(crate::exit::usage(format!(
            "data fetch {name}: give --from DIR (a folder holding {}), or download and convert with `cargo xtask fetch-data {name} --data-dir {}`",
            d.layout().files().join(", "),
            dir.display()
        )));
    };
    // Each file is looked for in DIR itself and in DIR's registry sub-folder.
    let mut copied = Vec::new();
    for f in d.layout().files() {
        let base = Path::new(f).file_name().unwrap_or_default();
        let src = [from.join(base), from.join(f)]
            .into_iter()
            .find(|p| p.is_file())
            .with_context(|| format!("--from {}: no {} in it", from.display(), base.display()))?;
        let loaded = set_data::load_labeled(&src, &d.labels(), &set_data::LoadOptions::default())
            .with_context(|| format!("checking {}", src.display()))?;
        let dest: PathBuf = dir.join(f);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let bytes = std::fs::read(&src).with_context(|| format!("reading {}", src.display()))?;
        write_atomic(&dest, &bytes)?;
        copied.push((dest, loaded.examples.len()));
    }
    for (p, n) in &copied {
        crate::out::say!("{} ({n} examples)", p.display())?;
    }
    crate::out::say!("dataset {} installed in {}", d.as_str(), dir.display())?;
    Ok(())
}
