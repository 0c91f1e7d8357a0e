//! `cargo xtask tidy`: structural rules of the workspace that no compiler checks.
//!
//! - **Crate arrows**: `set-sparse` <- `set-evolve` <- `set-nn` <- `set-train` <- front ends
//!   (`set-cli`, `set-py`), with `set-data` beside; no crate depends on one above it
//!   ([`crate_arrows`]).
//! - **No import cycles between files**: no source file in `crates/` imports a file that imports
//!   it back ([`import_cycles`]). A file imports another when it names an item of the other's
//!   module (`use crate::a::b::X`, `super::X`, `crate::a::f()` in code, or `use child::X` in a
//!   module file). A name re-exported by `pub use` counts as the module that defines it, and the
//!   re-exports themselves are a module's public face, not imports. Test modules are ignored.
//! - **A front-end-free library**: `set-train`'s run-time dependencies include no command-line,
//!   terminal or plotting crate ([`library_dependencies`]).

use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which workspace crates each crate may depend on (normal and dev dependencies).
pub const ALLOWED: &[(&str, &[&str])] = &[
    ("set-sparse", &[]),
    ("set-data", &[]),
    ("set-evolve", &["set-sparse"]),
    ("set-nn", &["set-sparse", "set-evolve"]),
    (
        "set-train",
        &["set-sparse", "set-evolve", "set-nn", "set-data"],
    ),
    (
        "set-cli",
        &[
            "set-sparse",
            "set-evolve",
            "set-nn",
            "set-data",
            "set-train",
        ],
    ),
    (
        "set-py",
        &[
            "set-sparse",
            "set-evolve",
            "set-nn",
            "set-data",
            "set-train",
        ],
    ),
];

/// Crates a library must not depend on at run time: they belong to front ends.
pub const FRONT_END_CRATES: &[&str] = &[
    "clap",
    "plotters",
    "indicatif",
    "ctrlc",
    "tracing-subscriber",
];

/// Every violation found under `root` (the workspace root), as sentences.
///
/// # Errors
/// Unreadable files or a failing `cargo tree`.
pub fn check(root: &Path) -> Result<Vec<String>> {
    let mut v = crate_arrows(root)?;
    v.extend(import_cycles(root)?);
    v.extend(library_dependencies(root, "set-train")?);
    Ok(v)
}

/// Dependencies between workspace crates that [`ALLOWED`] does not list, and crates it does
/// not know.
///
/// # Errors
/// Unreadable or malformed manifests.
pub fn crate_arrows(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for dir in crate_dirs(root)? {
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        let t: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing {}", manifest.display()))?;
        let name = t
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some((_, allowed)) = ALLOWED.iter().find(|(n, _)| *n == name) else {
            out.push(format!(
                "crate `{name}` ({}) has no place in the crate arrows (xtask/src/tidy.rs ALLOWED)",
                manifest.display()
            ));
            continue;
        };
        for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(deps) = t.get(table).and_then(toml::Value::as_table) else {
                continue;
            };
            for dep in deps.keys() {
                if dep.starts_with("set-") && *dep != name && !allowed.contains(&dep.as_str()) {
                    out.push(format!(
                        "`{name}` depends on `{dep}` ([{table}] of {}): the arrows point the other way",
                        manifest.display()
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Front-end crates in the run-time dependency graph of `krate` (`cargo tree -e normal`).
///
/// # Errors
/// `cargo tree` cannot run.
pub fn library_dependencies(root: &Path, krate: &str) -> Result<Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = std::process::Command::new(cargo)
        .args(["tree", "-e", "normal", "--prefix", "none", "-p", krate])
        .current_dir(root)
        .output()
        .context("running cargo tree")?;
    anyhow::ensure!(
        o.status.success(),
        "cargo tree -p {krate}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let tree = String::from_utf8_lossy(&o.stdout);
    Ok(FRONT_END_CRATES
        .iter()
        .filter(|c| tree.lines().any(|l| l.starts_with(&format!("{c} v"))))
        .map(|c| format!("`{krate}` depends on the front-end crate `{c}` at run time"))
        .collect())
}

fn crate_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .context("listing crates/")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// One source file of a crate: its module path and its text without comments and test modules.
struct Source {
    module: Vec<String>,
    path: PathBuf,
    code: String,
}

/// Pairs of files that import each other, in every crate under `root/crates`.
///
/// # Errors
/// Unreadable source files.
pub fn import_cycles(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for dir in crate_dirs(root)? {
        let src = dir.join("src");
        if !src.join("lib.rs").is_file() {
            continue;
        }
        let files = module_files(&src)?;
        let edges = imports(&files);
        for (a, targets) in &edges {
            for b in targets {
                if a < b && edges.get(b).is_some_and(|t| t.contains(a)) {
                    out.push(format!(
                        "{} and {} import each other",
                        files[a].path.display(),
                        files[b].path.display()
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Every module file of a crate's `src`, keyed by module path (`[]` is `lib.rs`).
fn module_files(src: &Path) -> Result<BTreeMap<Vec<String>, Source>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|e| e != "rs") || p.file_name() == Some("main.rs".as_ref())
            {
                continue;
            }
            let rel = p.strip_prefix(src).expect("below src");
            let mut module: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "lib" || m == "mod") {
                module.pop();
            }
            let text =
                std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            files.insert(
                module.clone(),
                Source {
                    module,
                    path: p,
                    code: strip_tests(&strip_comments(&text)),
                },
            );
        }
    }
    Ok(files)
}

/// The source without `//` and `/* */` comments and string literals.
fn strip_comments(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = s[i + 2..].find("*/").map_or(b.len(), |k| i + 2 + k + 2);
            i = end;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            let ch = s[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The source without `#[cfg(test)]` modules.
fn strip_tests(s: &str) -> String {
    let mut out = s.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let after = &out[at..];
        let Some(open) = after.find('{') else { break };
        let semi = after.find(';');
        if semi.is_some_and(|k| k < open) {
            // `#[cfg(test)] mod tests;`: the file itself is skipped by name below.
            out.replace_range(at..at + semi.expect("found") + 1, "");
            continue;
        }
        let mut depth = 0usize;
        let mut end = after.len();
        for (k, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..at + end, "");
    }
    out
}

/// `use` statements of `code`: (is `pub use`, each expanded path).
fn use_statements(code: &str) -> Vec<(bool, Vec<Vec<String>>)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(k) = find_word(rest, "use") {
        let before = rest[..k].trim_end();
        let public = before.ends_with("pub") || before.ends_with(')') && before.contains("pub(");
        let stmt_end = rest[k..].find(';').map_or(rest.len(), |e| k + e);
        let body = without_aliases(&rest[k + 3..stmt_end]);
        out.push((public, expand(&body)));
        rest = &rest[stmt_end.min(rest.len())..];
        if rest.is_empty() {
            break;
        }
        rest = &rest[1..];
    }
    out
}

/// A `use` body without white space and without `as Alias` renames (the path is what counts).
fn without_aliases(body: &str) -> String {
    let mut out = String::new();
    let mut tokens = body.split_whitespace();
    while let Some(t) = tokens.next() {
        if t == "as" {
            // Keep the punctuation that follows the alias (`,` or `}`).
            if let Some(alias) = tokens.next() {
                out.extend(
                    alias
                        .chars()
                        .filter(|c| !(c.is_alphanumeric() || *c == '_')),
                );
            }
        } else {
            out.push_str(t);
        }
    }
    out
}

fn find_word(s: &str, w: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(k) = s[from..].find(w) {
        let at = from + k;
        let ok_before = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        let end = at + w.len();
        let ok_after = end < b.len() && b[end].is_ascii_whitespace();
        if ok_before && ok_after {
            return Some(at);
        }
        from = end;
    }
    None
}

/// `a::{b::C, d}` -> `[[a, b, C], [a, d]]` (`self` resolved).
fn expand(body: &str) -> Vec<Vec<String>> {
    let Some(open) = body.find('{') else {
        return vec![
            body.split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        ];
    };
    let prefix: Vec<String> = body[..open]
        .split("::")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let inner = &body[open + 1..body.rfind('}').unwrap_or(body.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    let mut out = Vec::new();
    for p in parts.into_iter().filter(|p| !p.is_empty()) {
        for tail in expand(p) {
            let mut full = prefix.clone();
            full.extend(tail.into_iter().filter(|s| s != "self"));
            out.push(full);
        }
    }
    out
}

/// `crate::`, `super::` and `self::` paths used in code outside `use` statements.
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(k) = code[from..].find(start) {
            let at = from + k;
            from = at + start.len();
            if at > 0 {
                let c = code.as_bytes()[at - 1];
                if c.is_ascii_alphanumeric() || c == b'_' || c == b':' {
                    continue;
                }
            }
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push(
                path.split("::")
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            );
        }
    }
    out
}

/// The file-to-file import edges of one crate.
fn imports(files: &BTreeMap<Vec<String>, Source>) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    // Re-exports: module -> name -> path it names (absolute within the crate).
    let mut reexports: BTreeMap<&[String], BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for f in files.values() {
        for (public, paths) in use_statements(&f.code) {
            if !public {
                continue;
            }
            for p in paths {
                if let (Some(name), Some(abs)) = (p.last(), absolute(files, &f.module, &p)) {
                    reexports
                        .entry(&f.module)
                        .or_default()
                        .insert(name.clone(), abs);
                }
            }
        }
    }
    let resolve = |from: &[String], p: &[String]| -> Option<Vec<String>> {
        let mut abs = absolute(files, from, p)?;
        for _ in 0..8 {
            let module = longest_module(files, &abs);
            match abs.get(module.len()).and_then(|name| {
                reexports
                    .get(module.as_slice())
                    .and_then(|m| m.get(name))
                    .filter(|target| **target != abs)
            }) {
                Some(target) => abs = target.clone(),
                None => return Some(module),
            }
        }
        Some(longest_module(files, &abs))
    };
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for f in files.values() {
        let mut targets = BTreeSet::new();
        let mut paths: Vec<Vec<String>> = use_statements(&f.code)
            .into_iter()
            .filter(|(public, _)| !public)
            .flat_map(|(_, p)| p)
            .collect();
        paths.extend(inline_paths(&f.code));
        for p in paths {
            if let Some(m) = resolve(&f.module, &p)
                && m != f.module
            {
                targets.insert(m);
            }
        }
        edges.insert(f.module.clone(), targets);
    }
    edges
}

/// A path made absolute within the crate (`None` for other crates and `std`).
fn absolute(
    files: &BTreeMap<Vec<String>, Source>,
    from: &[String],
    p: &[String],
) -> Option<Vec<String>> {
    let first = p.first()?;
    let (mut base, rest): (Vec<String>, &[String]) = match first.as_str() {
        "crate" => (Vec::new(), &p[1..]),
        "self" => (from.to_vec(), &p[1..]),
        "super" => {
            let mut base = from.to_vec();
            let mut k = 0;
            while p.get(k).is_some_and(|s| s == "super") {
                base.pop();
                k += 1;
            }
            (base, &p[k..])
        }
        child => {
            let mut m = from.to_vec();
            m.push(child.to_string());
            if !files.contains_key(&m) {
                return None;
            }
            (from.to_vec(), p)
        }
    };
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The longest prefix of `abs` that is a module file.
fn longest_module(files: &BTreeMap<Vec<String>, Source>, abs: &[String]) -> Vec<String> {
    (0..=abs.len())
        .rev()
        .map(|n| abs[..n].to_vec())
        .find(|m| files.contains_key(m))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn finds_two_files_that_import_each_other_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("crates/demo");
        write(&c, "Cargo.toml", "[package]\nname = \"set-sparse\"\n");
        write(
            &c,
            "src/lib.rs",
            "mod a;\nmod b;\nmod c;\npub use a::A;\npub use c::{C, D};\n",
        );
        write(&c, "src/a.rs", "use crate::b::B;\npub struct A;\n");
        // b names A through the crate root: that is a.rs, which imports b.rs back.
        write(
            &c,
            "src/b.rs",
            "pub struct B;\nfn f() { let _ = crate::A; }\n",
        );
        // c uses a, a does not use c; a comment and a test module do not count.
        write(
            &c,
            "src/c.rs",
            "use crate::a::A; // crate::b::B\npub struct C; pub struct D;\n#[cfg(test)]\nmod tests { use crate::b::B; }\n",
        );
        let cycles = import_cycles(d.path()).unwrap();
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        assert!(cycles[0].contains("a.rs") && cycles[0].contains("b.rs"));
    }

    #[test]
    fn arrows_pointing_up_are_reported() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "crates/set-nn/Cargo.toml",
            "[package]\nname = \"set-nn\"\n[dependencies]\nset-train = { path = \"../set-train\" }\nset-sparse = { path = \"../set-sparse\" }\n",
        );
        let v = crate_arrows(d.path()).unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("`set-nn` depends on `set-train`"));
    }

    #[test]
    fn use_statements_expand_nested_braces() {
        let v = use_statements("pub use a::{b::{C, D}, e as F, self};\nuse crate::x::Y;");
        assert_eq!(v.len(), 2);
        assert!(v[0].0 && !v[1].0);
        assert_eq!(v[0].1.len(), 4);
        assert_eq!(v[1].1, vec![vec!["crate", "x", "Y"]]);
    }
}
