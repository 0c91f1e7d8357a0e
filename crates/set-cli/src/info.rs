//! `info`: per-matrix shape, non-zeros, density and bytes of a model, with totals against the
//! dense model of the same shapes.

use crate::cli::InfoArgs;
use anyhow::Result;
use set_nn::model_report;

fn human(bytes: usize) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// `set-lstm info`.
///
/// # Errors
/// Loading errors.
pub fn run(args: &InfoArgs) -> Result<()> {
    let (bundle, _) = crate::modelfile::load(args.model.path())?;
    let r = model_report(&bundle.model, None);
    if args.json {
        return crate::out::say!("{}", serde_json::to_string_pretty(&r)?);
    }
    use std::fmt::Write;
    let mut s = String::new();
    let c = &bundle.model.config;
    writeln!(s, "model     {}", args.model.path().display())?;
    writeln!(
        s,
        "shape     vocabulary {} | embedding {} | hidden {} | classes {} ({})",
        c.vocab_size,
        c.embed_dim,
        c.hidden,
        c.classes,
        bundle.class_names.join(", ")
    )?;
    let rnn = c.rnn;
    writeln!(
        s,
        "layers    {} x {}{} | dropout between layers {}",
        rnn.layers,
        rnn.cell,
        if rnn.bidirectional {
            " | bidirectional"
        } else {
            ""
        },
        rnn.dropout_between
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "{:<20} {:>14} {:>8} {:>10} {:>10} {:>9} {:>11}",
        "tensor", "shape", "storage", "stored", "dense", "density", "bytes"
    )?;
    for p in &r.params {
        let shape = p
            .shape
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("x");
        let storage = if p.sparse { "csr" } else { "dense" };
        writeln!(
            s,
            "{:<20} {:>14} {:>8} {:>10} {:>10} {:>8.3}% {:>11}",
            p.name,
            shape,
            storage,
            p.stored,
            p.dense,
            p.density * 100.0,
            human(p.bytes)
        )?;
    }
    let dense_bytes = r.dense_params * 4;
    writeln!(
        s,
        "{:<20} {:>14} {:>8} {:>10} {:>10} {:>8.3}% {:>11}",
        "total",
        "",
        "",
        r.total_params,
        r.dense_params,
        r.density * 100.0,
        human(r.weight_bytes)
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "{} stored parameters of {} dense ({:.2}%); weights and structure {} vs {} dense f32 ({:.2}%)",
        r.total_params,
        r.dense_params,
        r.density * 100.0,
        human(r.weight_bytes),
        human(dense_bytes),
        100.0 * r.weight_bytes as f64 / dense_bytes.max(1) as f64
    )?;
    crate::out::write(&s)
}
