//! The per-epoch topology of a sparse run, read from its `events.jsonl` (one evolution report
//! per line) into a compact part of its [`crate::record::RunRecord`]: per evolution step and
//! sparse matrix, the stored entries after the step, per row block (the gates of a recurrent
//! matrix) when there is more than one, and how many of them were in the initial topology
//! (`initial_kept`, recorded by newer runs only).

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Largest `events.jsonl` read (a run of thousands of steps stays far below it).
const MAX_EVENTS_BYTES: u64 = 256 << 20;

/// One matrix over a run's evolution steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixTrace {
    /// Stored entries before the first step (the initial topology's size).
    pub initial_nnz: u64,
    /// Stored entries after each step.
    pub nnz: Vec<u64>,
    /// Stored entries of each row block after each step (`[step][block]`; empty for a matrix of
    /// one block).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Vec<u64>>,
    /// Entries after each step that were in the initial topology (empty when no step recorded
    /// it; `None` for a step that did not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub initial_kept: Vec<Option<u64>>,
}

impl MatrixTrace {
    /// Jaccard index of the topology after step `i` with the initial one:
    /// `k / (nnz_after + nnz_initial − k)`, if the step recorded `k`.
    pub fn jaccard_with_initial(&self, i: usize) -> Option<f64> {
        let k = (*self.initial_kept.get(i)?)? as f64;
        let union = *self.nnz.get(i)? as f64 + self.initial_nnz as f64 - k;
        Some(if union > 0.0 { k / union } else { 1.0 })
    }
}

/// A run's evolution steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopologyTrace {
    /// Each step's number, 1-based (the report's `epoch` + 1): for a policy that evolves after
    /// every epoch, the epoch after which it ran; for one evolving every N optimizer steps
    /// (`evolve_every`), its count of such steps.
    pub steps: Vec<u64>,
    /// Each sparse matrix, by parameter name.
    pub matrices: BTreeMap<String, MatrixTrace>,
}

fn field<'a>(v: &'a Value, k: &str, at: &str) -> Result<&'a Value> {
    v.get(k).with_context(|| format!("{at}: no `{k}`"))
}

fn uint(v: &Value, k: &str, at: &str) -> Result<u64> {
    field(v, k, at)?
        .as_u64()
        .with_context(|| format!("{at}: `{k}` is not a non-negative integer"))
}

/// Reads `events.jsonl` (`None` when the file is absent or has no step).
///
/// # Errors
/// An unreadable or oversized file, or a line without the fields used, naming `path:line` and
/// the field; matrices that change between steps.
pub fn read(path: &Path) -> Result<Option<TopologyTrace>> {
    if !path.exists() {
        return Ok(None);
    }
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > MAX_EVENTS_BYTES {
        bail!(
            "{}: {len} bytes, more than the {MAX_EVENTS_BYTES} read",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut steps = Vec::new();
    let mut matrices: BTreeMap<String, MatrixTrace> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{}:{}", path.display(), i + 1);
        let v: Value = serde_json::from_str(line).with_context(|| at.clone())?;
        let step = steps.len();
        steps.push(uint(&v, "epoch", &at)?.saturating_add(1));
        let ms = field(&v, "matrices", &at)?
            .as_array()
            .with_context(|| format!("{at}: `matrices` is not a list"))?;
        if step > 0 && ms.len() != matrices.len() {
            bail!(
                "{at}: {} matrices, the first step had {}",
                ms.len(),
                matrices.len()
            );
        }
        for m in ms {
            let name = field(m, "name", &at)?
                .as_str()
                .with_context(|| format!("{at}: `name` is not a string"))?;
            let at = format!("{at}: {name}");
            let blocks: Vec<u64> = field(m, "groups", &at)?
                .as_array()
                .with_context(|| format!("{at}: `groups` is not a list"))?
                .iter()
                .map(|g| uint(g, "nnz", &format!("{at}: groups")))
                .collect::<Result<_>>()?;
            let kept = match m.get("initial_kept") {
                None | Some(Value::Null) => None,
                Some(k) => Some(
                    k.as_u64()
                        .with_context(|| format!("{at}: `initial_kept` is not an integer"))?,
                ),
            };
            let t = if step == 0 {
                matrices.entry(name.to_string()).or_insert(MatrixTrace {
                    initial_nnz: uint(m, "nnz_before", &at)?,
                    nnz: Vec::new(),
                    groups: Vec::new(),
                    initial_kept: Vec::new(),
                })
            } else {
                matrices
                    .get_mut(name)
                    .with_context(|| format!("{at}: not in the first step"))?
            };
            if t.nnz.len() != step {
                bail!("{at}: the matrix appears twice in one step");
            }
            t.nnz.push(uint(m, "nnz_after", &at)?);
            if blocks.len() > 1 {
                t.groups.push(blocks);
            } else if !t.groups.is_empty() {
                bail!("{at}: one row block after steps with several");
            }
            if kept.is_some() && t.initial_kept.len() < step {
                t.initial_kept.resize(step, None);
            }
            if kept.is_some() || !t.initial_kept.is_empty() {
                t.initial_kept.push(kept);
            }
        }
    }
    for (name, t) in &matrices {
        if !t.groups.is_empty() && t.groups.len() != t.nnz.len() {
            bail!(
                "{}: {name}: row blocks at {} of {} steps",
                path.display(),
                t.groups.len(),
                t.nnz.len()
            );
        }
    }
    Ok((!steps.is_empty()).then_some(TopologyTrace { steps, matrices }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(epoch: u64, kept: Option<u64>) -> String {
        let kept = kept.map_or(String::new(), |k| format!(",\"initial_kept\":{k}"));
        format!(
            r#"{{"epoch":{epoch},"matrices":[{{"name":"w_ih","nnz_before":10,"nnz_after":10,"groups":[{{"nnz":4}},{{"nnz":6}}]{kept}}},{{"name":"emb","nnz_before":5,"nnz_after":5,"groups":[{{"nnz":5}}]}}]}}"#
        )
    }

    #[test]
    fn reads_steps_blocks_and_initial_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.jsonl");
        assert_eq!(read(&p).unwrap(), None);
        std::fs::write(&p, format!("{}\n{}\n", line(0, None), line(1, Some(6)))).unwrap();
        let t = read(&p).unwrap().unwrap();
        assert_eq!(t.steps, [1, 2]);
        let w = &t.matrices["w_ih"];
        assert_eq!(w.groups, [[4, 6], [4, 6]]);
        assert_eq!(w.initial_kept, [None, Some(6)]);
        // 6 kept of 10 now and 10 at first: 6 / 14.
        assert_eq!(w.jaccard_with_initial(0), None);
        assert!((w.jaccard_with_initial(1).unwrap() - 6.0 / 14.0).abs() < 1e-12);
        let e = &t.matrices["emb"];
        assert!(e.groups.is_empty() && e.initial_kept.is_empty());
        // A compact round trip: absent parts are not written.
        let json = serde_json::to_string(e).unwrap();
        assert_eq!(json, r#"{"initial_nnz":5,"nnz":[5,5]}"#);
    }

    #[test]
    fn malformed_lines_name_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.jsonl");
        std::fs::write(&p, format!("{}\n{{\"epoch\":1}}\n", line(0, None))).unwrap();
        let e = format!("{:#}", read(&p).unwrap_err());
        assert!(e.contains("events.jsonl:2: no `matrices`"), "{e}");
        let bad = line(0, None).replace("\"nnz_after\":10", "\"nnz_after\":-1");
        std::fs::write(&p, bad).unwrap();
        let e = format!("{:#}", read(&p).unwrap_err());
        assert!(e.contains(":1: w_ih: `nnz_after` is not"), "{e}");
    }
}
