//! `report.html` of a run: one self-contained page (summary, configuration, the plots inlined,
//! the evaluation tables when `eval` has run) that opens in a browser from disk, no server.

use crate::rundir::{RunDir, names, write_atomic};
use anyhow::Result;

/// The page's file name in the run directory.
pub const REPORT: &str = "report.html";

/// `text` with `&`, `<`, `>` and `"` escaped for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A two-column table of a JSON object's scalar fields.
fn object_table(v: &serde_json::Value) -> String {
    let mut rows = String::new();
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            let shown = match x {
                serde_json::Value::Number(n) => match n.as_f64() {
                    Some(f) if n.is_f64() => format!("{f:.4}"),
                    _ => n.to_string(),
                },
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "–".into(),
                other => other.to_string(),
            };
            rows.push_str(&format!(
                "<tr><th>{}</th><td>{}</td></tr>\n",
                escape(k),
                escape(&shown)
            ));
        }
    }
    format!("<table>\n{rows}</table>\n")
}

/// The evaluation section from `eval/report.json` (per-class scores and confusion matrix).
fn eval_section(v: &serde_json::Value) -> String {
    let mut html = format!(
        "<h2>Evaluation</h2>\n<p>{} ({} examples): accuracy {:.4}, macro F1 {:.4}</p>\n",
        escape(v["data"].as_str().unwrap_or("")),
        v["examples"],
        v["accuracy"].as_f64().unwrap_or(f64::NAN),
        v["macro_f1"].as_f64().unwrap_or(f64::NAN)
    );
    html.push_str("<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n");
    let classes = v["classes"].as_array().cloned().unwrap_or_default();
    for c in &classes {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td></tr>\n",
            escape(c["name"].as_str().unwrap_or("")),
            c["precision"].as_f64().unwrap_or(f64::NAN),
            c["recall"].as_f64().unwrap_or(f64::NAN),
            c["f1"].as_f64().unwrap_or(f64::NAN),
            c["support"]
        ));
    }
    html.push_str("</table>\n<p>Confusion matrix (rows: true class, columns: predicted)</p>\n<table class=\"confusion\"><tr><th></th>");
    for c in &classes {
        html.push_str(&format!(
            "<th>{}</th>",
            escape(c["name"].as_str().unwrap_or(""))
        ));
    }
    html.push_str("</tr>\n");
    for (c, row) in classes
        .iter()
        .zip(v["confusion"].as_array().into_iter().flatten())
    {
        html.push_str(&format!(
            "<tr><th>{}</th>",
            escape(c["name"].as_str().unwrap_or(""))
        ));
        for n in row.as_array().into_iter().flatten() {
            html.push_str(&format!("<td>{n}</td>"));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

/// Writes `report.html` from what the run directory holds now.
///
/// # Errors
/// An unreadable summary or an unwritable page.
pub fn write(run: &RunDir, title: &str) -> Result<()> {
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).ok();
    let json = |p| read(p).and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\
         body{{font-family:sans-serif;margin:2em;max-width:1150px}} table{{border-collapse:collapse;margin:1em 0}}\
         th,td{{border:1px solid #ccc;padding:3px 10px;text-align:left}} pre{{background:#f6f6f6;padding:1em}}\
         </style></head><body>\n<h1>{t}</h1>\n<p>Run directory <code>{dir}</code></p>\n",
        t = escape(title),
        dir = escape(&run.root.display().to_string())
    );
    if let Some(s) = json(run.file(names::SUMMARY)) {
        html.push_str("<h2>Summary</h2>\n");
        html.push_str(&object_table(&s));
    }
    for (name, caption) in [
        ("learning_curves.svg", "Learning curves"),
        ("evolution.svg", "Topology evolution"),
        ("topology.svg", "Final topology"),
    ] {
        if let Some(svg) = read(run.plots().join(name)) {
            html.push_str(&format!(
                "<h2>{caption}</h2>\n<figure class=\"plot\">{svg}</figure>\n"
            ));
        }
    }
    if let Some(e) = json(run.file(names::EVAL).join("report.json")) {
        html.push_str(&eval_section(&e));
    }
    if let Some(c) = read(run.file(names::CONFIG)) {
        html.push_str(&format!(
            "<h2>Configuration</h2>\n<pre>{}</pre>\n",
            escape(&c)
        ));
    }
    html.push_str("</body></html>\n");
    write_atomic(&run.file(REPORT), html.as_bytes())
}

/// The title of a run's plots and report: dataset, policy, density and seed.
pub fn title(front_end: Option<&serde_json::Value>, density: f64) -> String {
    let cfg = crate::config::TrainConfig::from_json(front_end).ok();
    let Some(c) = cfg else {
        return format!("set-lstm run | density {:.2} %", density * 100.0);
    };
    let policy = if c.dense { "dense" } else { c.policy.as_str() };
    format!(
        "{} | {policy} | density {:.2} % | seed {}",
        c.dataset_label(),
        density * 100.0,
        c.seed
    )
}
