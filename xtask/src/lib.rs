//! Library behind `cargo xtask`: dataset download, verification, safe extraction and conversion.
//!
//! The binary (`src/main.rs`) is a thin clap front end; everything testable lives here.
//! Start with [`fetch::fetch_dataset`] and the dataset table in [`datasets`].
//!
//! Results: [`record`] turns run directories into the committed records (`collect-results`),
//! [`embedding`] and [`topology`] measure model files into records of their own, and [`regen`]
//! renders every generated section of docs/RESULTS.md and its plots from those records alone
//! ([`study`], [`topology`], [`drift`], [`sweeps`], [`embedding_report`], [`tuning`], drawn with
//! [`chart`]).

pub mod chart;
pub mod convert;
pub mod datasets;
pub mod drift;
pub mod embedding;
pub mod embedding_report;
pub mod extract;
pub mod fetch;
pub mod http;
pub mod install;
pub mod jsonl;
pub mod record;
pub mod regen;
pub mod report;
pub mod section;
pub mod stats;
pub mod study;
pub mod sweeps;
pub mod tidy;
pub mod topology;
pub mod trace;
pub mod tuning;
pub mod tuning_plot;
pub mod verify;
