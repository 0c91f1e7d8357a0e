//! `cargo xtask`: developer tasks for the set-lstm workspace (thin clap front end over the lib).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};

use xtask::datasets::{self, known_names};
use xtask::fetch::{self, ArchiveSource, FetchOptions};

/// Developer tasks for the set-lstm workspace.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Download (or import) an official dataset archive, verify it, convert it to canonical
    /// JSONL and install it into the data directory.
    FetchData(FetchDataArgs),
    /// Build docs/RESULTS.md from run directories and benchmark JSON lines; with --record, only
    /// regenerate its generated sections and their plots (docs/plots/) from results/*.jsonl.
    Report(ReportArgs),
    /// Add finished run directories to the committed record results/runs.jsonl, or
    /// results/tuning.jsonl for tuning runs (a run collected again replaces its line).
    CollectResults(CollectArgs),
    /// Print each model group's chosen tuning cell (highest mean best-dev accuracy, as the
    /// report's tuning section chooses) of the finished runs under the given folders, one JSON
    /// line per group (read by bench/tuned_grids.py).
    Choose(ChooseArgs),
    /// Compare the final topologies of sparse runs (Jaccard index of stored positions between
    /// seeds of a group, and against the initial topology) into results/topology.jsonl.
    Topology(TopologyArgs),
    /// Measure, per sparse run, how the embedding rows' degrees (stored entries of the final
    /// model) follow the words' frequencies, into results/embedding-degree.jsonl.
    EmbeddingDegree(EmbeddingArgs),
    /// Check the workspace's structural rules: crate arrows, no import cycles between files, no
    /// front-end crate in set-train's run-time dependencies.
    Tidy,
}

#[derive(Args, Debug)]
struct ReportArgs {
    /// Run directories, or folders holding them (searched recursively).
    paths: Vec<std::path::PathBuf>,
    /// JSON-lines files from `set-lstm bench` / `bench/pytorch_lstm.py`.
    #[arg(long = "bench")]
    bench: Vec<std::path::PathBuf>,
    /// Where to write the Markdown report.
    #[arg(long, default_value = "docs/RESULTS.md")]
    out: std::path::PathBuf,
    /// Regenerate only the generated sections of --out (paired study; topology, tuning and the
    /// other records beside this one when present) and their plots in `plots/` beside --out,
    /// from this record (no run directories needed).
    #[arg(long, value_name = "JSONL", conflicts_with_all = ["paths", "bench"])]
    record: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
struct CollectArgs {
    /// Run directories, or folders holding them (searched recursively).
    #[arg(required = true)]
    paths: Vec<std::path::PathBuf>,
    /// The record to update (`results/tuning.jsonl` for the tuning runs under runs/tune-*).
    #[arg(long, default_value = "results/runs.jsonl")]
    out: std::path::PathBuf,
}

#[derive(Args, Debug)]
struct ChooseArgs {
    /// Run directories, or folders holding them (searched recursively).
    #[arg(required = true)]
    paths: Vec<std::path::PathBuf>,
}

#[derive(Args, Debug)]
struct TopologyArgs {
    /// Run directories, or folders holding them (searched recursively).
    #[arg(required = true)]
    paths: Vec<std::path::PathBuf>,
    /// The record to update (the groups of the given runs are replaced).
    #[arg(long, default_value = "results/topology.jsonl")]
    out: std::path::PathBuf,
}

#[derive(Args, Debug)]
struct EmbeddingArgs {
    /// Run directories, or folders holding them (searched recursively; dense runs are skipped).
    #[arg(required = true)]
    paths: Vec<std::path::PathBuf>,
    /// The record to update (lines of the given runs are replaced).
    #[arg(long, default_value = "results/embedding-degree.jsonl")]
    out: std::path::PathBuf,
}

#[derive(Args, Debug)]
struct FetchDataArgs {
    /// Dataset name: imdb, sst, uci (see --list).
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// List the known datasets with URL, size and sha256, then exit.
    #[arg(long, conflicts_with_all = ["name", "from", "url", "force", "data_dir"])]
    list: bool,
    /// Data directory [default: $SET_LSTM_DATA, else ./datasets if it exists, else the user data directory: where set-lstm reads].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Import an archive already on disk instead of downloading it (same checks).
    #[arg(long, value_name = "ARCHIVE", conflicts_with = "url")]
    from: Option<PathBuf>,
    /// Download from this URL instead of the official one (same checks).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Replace an existing dataset folder (atomically: the old one is removed only after the
    /// new one is in place).
    #[arg(long)]
    force: bool,
}

fn report(args: ReportArgs) -> anyhow::Result<()> {
    if let Some(record) = &args.record {
        xtask::regen::regenerate(record, &args.out)?;
        println!(
            "wrote the generated sections of {} and their plots",
            args.out.display()
        );
        return Ok(());
    }
    let mut invocation = String::from("cargo xtask report");
    for p in &args.paths {
        invocation.push_str(&format!(" {}", p.display()));
    }
    for b in &args.bench {
        invocation.push_str(&format!(" --bench {}", b.display()));
    }
    invocation.push_str(&format!(" --out {}", args.out.display()));
    xtask::report::generate(&args.paths, &args.bench, &args.out, &invocation)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

fn choose(paths: &[PathBuf]) -> Result<()> {
    let records = xtask::record::read_runs(paths)?;
    for c in xtask::tuning::choices(&records)? {
        println!("{}", serde_json::to_string(&c)?);
    }
    Ok(())
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::FetchData(args) => fetch_data(args),
        Command::Report(args) => report(args),
        Command::CollectResults(args) => xtask::record::collect(&args.paths, &args.out).map(|n| {
            println!("{n} runs collected into {}", args.out.display());
        }),
        Command::Choose(args) => choose(&args.paths),
        Command::Topology(args) => xtask::topology::collect(&args.paths, &args.out).map(|n| {
            println!("{n} comparisons written into {}", args.out.display());
        }),
        Command::EmbeddingDegree(args) => {
            xtask::embedding::collect(&args.paths, &args.out).map(|n| {
                println!("{n} runs measured into {}", args.out.display());
            })
        }
        Command::Tidy => tidy(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line, without a backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn tidy() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let v = xtask::tidy::check(&root)?;
    for line in &v {
        println!("{line}");
    }
    if !v.is_empty() {
        bail!("{} structural rule(s) broken", v.len());
    }
    println!("tidy: crate arrows, file imports and library dependencies are in order");
    Ok(())
}

fn fetch_data(args: FetchDataArgs) -> Result<()> {
    if args.list {
        print!("{}", datasets::render_list());
        return Ok(());
    }
    let name = args.name.unwrap_or_default();
    let Some(spec) = datasets::find(&name) else {
        bail!(
            "unknown dataset `{name}`; known datasets: {}",
            known_names()
        );
    };
    let source = match (args.from, args.url) {
        (Some(path), _) => ArchiveSource::File(path),
        (None, Some(url)) => ArchiveSource::Url(url),
        (None, None) => ArchiveSource::Official,
    };
    let opts = FetchOptions {
        data_dir: args.data_dir.unwrap_or_else(fetch::default_data_dir),
        source,
        force: args.force,
        progress: true,
    };
    let report = fetch::fetch_dataset(spec, &opts)?;
    print!("{}", fetch::render_report(spec, &report));
    Ok(())
}
