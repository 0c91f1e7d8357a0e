//! Library behind `cargo xtask`: dataset download, verification, safe extraction and conversion.
//!
//! The binary (`src/main.rs`) is a thin clap front end; everything testable lives here.
//! Start with [`fetch::fetch_dataset`] and the dataset table in [`datasets`].

pub mod convert;
pub mod datasets;
pub mod extract;
pub mod fetch;
pub mod http;
pub mod install;
pub mod jsonl;
pub mod record;
pub mod report;
pub mod stats;
pub mod study;
pub mod tidy;
pub mod topology;
pub mod verify;
