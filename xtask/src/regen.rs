//! Everything `cargo xtask report --record results/runs.jsonl` regenerates: the generated
//! sections of `docs/RESULTS.md` and the SVG plots in `docs/plots/` they link to, computed
//! from the committed records alone (`results/*.jsonl` beside the run record), so that a test
//! can check the committed files byte for byte.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Folder of the plots, relative to the document.
pub const PLOTS_DIR: &str = "plots";

/// The regenerated document and plots.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The whole document with every generated section replaced.
    pub doc: String,
    /// Plot files: name inside [`PLOTS_DIR`] -> SVG text.
    pub plots: BTreeMap<String, String>,
}

/// Regenerates the sections of `old_doc` and the plots from the records beside `record`.
///
/// # Errors
/// An unreadable record, or one a section refuses to render.
pub fn generate(record: &Path, old_doc: &str) -> Result<Generated> {
    let records = crate::record::read_records(record)?;
    let mut plots = BTreeMap::new();
    let section = crate::study::render(&records, &crate::study::read_scope(record)?)?;
    let mut doc = crate::study::SECTION.splice(old_doc, &section)?;
    let overlaps = crate::topology::read(&crate::study::topology_record(record))?;
    if !overlaps.is_empty() {
        doc = crate::topology::SECTION
            .splice(&doc, &crate::topology::render(&overlaps, &records)?)?;
    }
    let tuning = crate::record::read_records(&crate::tuning::record_path(record))?;
    if crate::drift::has_data(&records, &tuning)? {
        let section = crate::drift::render(&records, &tuning, PLOTS_DIR)?;
        doc = crate::drift::SECTION.splice(&doc, &section)?;
        plots.extend(crate::drift::plots(&records, &tuning)?);
    }
    let sweep_plots = crate::sweeps::plots(&records)?;
    if !sweep_plots.is_empty() {
        doc = crate::sweeps::SECTION.splice(&doc, &crate::sweeps::render(&records, PLOTS_DIR)?)?;
        plots.extend(sweep_plots);
    }
    let degrees = crate::embedding::read(&crate::embedding::record_path(record))?;
    if !degrees.is_empty() {
        let name = crate::embedding_report::PLOT;
        let section = crate::embedding_report::render(&degrees, &format!("{PLOTS_DIR}/{name}"))?;
        doc = crate::embedding_report::SECTION.splice(&doc, &section)?;
        plots.insert(name.to_string(), crate::embedding_report::plot(&degrees)?);
    }
    if !tuning.is_empty() {
        let mut links = BTreeMap::new();
        for (data, svg) in crate::tuning_plot::plots(&tuning)? {
            let name = format!("tuning-{data}.svg");
            links.insert(data, format!("{PLOTS_DIR}/{name}"));
            plots.insert(name, svg);
        }
        doc = crate::tuning::SECTION.splice(&doc, &crate::tuning::render(&tuning, &links)?)?;
    }
    Ok(Generated { doc, plots })
}

/// Rewrites the generated sections of the Markdown file `doc` and its plots (in
/// [`PLOTS_DIR`] beside it) from the record file `record`.
///
/// # Errors
/// An unreadable or unwritable file, or a record a section refuses.
pub fn regenerate(record: &Path, doc: &Path) -> Result<()> {
    let old = std::fs::read_to_string(doc).with_context(|| format!("reading {}", doc.display()))?;
    let g = generate(record, &old)?;
    let dir = doc.with_file_name(PLOTS_DIR);
    if !g.plots.is_empty() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, svg) in &g.plots {
            let p = dir.join(name);
            std::fs::write(&p, svg).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    // The folder holds generated plots only: a plot no section links any more goes.
    for stale in stale_plots(&dir, &g.plots)? {
        std::fs::remove_file(&stale).with_context(|| format!("removing {}", stale.display()))?;
    }
    std::fs::write(doc, g.doc).with_context(|| format!("writing {}", doc.display()))
}

/// SVG files in `dir` that are not among `plots` (none when `dir` does not exist).
///
/// # Errors
/// An unreadable folder.
pub fn stale_plots(
    dir: &Path,
    plots: &BTreeMap<String, String>,
) -> Result<Vec<std::path::PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let p = e?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".svg") && !plots.contains_key(name) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed docs/RESULTS.md and docs/plots/ are exactly what the committed records
    /// regenerate: every generated section and every plot (the paired-study section is also
    /// checked on its own in `study`).
    #[test]
    fn committed_document_and_plots_are_the_regenerated_ones() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let record = root.join("results").join("runs.jsonl");
        let doc = std::fs::read_to_string(root.join("docs").join("RESULTS.md")).unwrap();
        let g = generate(&record, &doc).unwrap();
        let tuning = crate::record::read_records(&crate::tuning::record_path(&record)).unwrap();
        if !tuning.is_empty() {
            assert!(
                crate::tuning::SECTION.extract(&doc).is_some(),
                "docs/RESULTS.md has no tuning section"
            );
        }
        assert!(
            g.doc == doc,
            "docs/RESULTS.md is stale: run `cargo xtask report --record results/runs.jsonl`"
        );
        let dir = root.join("docs").join(PLOTS_DIR);
        let stale = stale_plots(&dir, &g.plots).unwrap();
        assert!(
            stale.is_empty(),
            "plots no section links: {stale:?}; run `cargo xtask report --record results/runs.jsonl`"
        );
        for (name, svg) in &g.plots {
            let p = dir.join(name);
            let committed = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask report`", p.display()));
            assert!(
                &committed == svg,
                "{} is stale: run `cargo xtask report --record results/runs.jsonl`",
                p.display()
            );
        }
    }
}

#[cfg(test)]
mod write_tests {
    use super::*;

    /// Regenerating writes the plots beside the document and removes plots nothing links.
    #[test]
    fn regenerate_writes_plots_and_removes_stale_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let results = tmp.path().join("results");
        let docs = tmp.path().join("docs");
        std::fs::create_dir_all(&results).unwrap();
        std::fs::create_dir_all(docs.join(PLOTS_DIR)).unwrap();
        let mut runs = Vec::new();
        for seed in 1..=2 {
            runs.push(crate::tuning::tests::run("set", 0.01, 0.2, seed, 0.8, 0.8));
            runs.push(crate::tuning::tests::run("set", 0.03, 0.2, seed, 0.9, 0.8));
        }
        std::fs::write(
            results.join("runs.jsonl"),
            crate::record::render_records(&[runs[0].clone(), runs[2].clone()]).unwrap(),
        )
        .unwrap();
        std::fs::write(
            results.join("tuning.jsonl"),
            crate::record::render_records(&runs).unwrap(),
        )
        .unwrap();
        let doc = docs.join("RESULTS.md");
        std::fs::write(&doc, "# Results\n").unwrap();
        let old = docs.join(PLOTS_DIR).join("old.svg");
        std::fs::write(&old, "<svg/>").unwrap();
        std::fs::write(docs.join(PLOTS_DIR).join("notes.txt"), "kept").unwrap();
        regenerate(&results.join("runs.jsonl"), &doc).unwrap();
        let text = std::fs::read_to_string(&doc).unwrap();
        assert!(text.contains("](plots/tuning-uci.svg)"), "{text}");
        assert!(docs.join(PLOTS_DIR).join("tuning-uci.svg").is_file());
        assert!(!old.exists());
        assert!(docs.join(PLOTS_DIR).join("notes.txt").exists());
        // Regenerating again changes nothing.
        let again = generate(&results.join("runs.jsonl"), &text).unwrap();
        assert_eq!(again.doc, text);
    }
}
