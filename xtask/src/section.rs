//! Generated sections of a Markdown document: the lines from a `begin` marker to an `end`
//! marker, which `cargo xtask report` replaces and the regeneration test compares.

use anyhow::{Result, bail};

/// One generated section, known by its first and last lines.
///
/// ```
/// use xtask::section::Section;
/// const S: Section = Section { begin: "<!-- BEGIN s -->", end: "<!-- END s -->" };
/// let doc = S.splice("# R\n", "<!-- BEGIN s -->\nold\n<!-- END s -->\n").unwrap();
/// let doc = S.splice(&doc, "<!-- BEGIN s -->\nnew\n<!-- END s -->\n").unwrap();
/// assert_eq!(doc, "# R\n\n<!-- BEGIN s -->\nnew\n<!-- END s -->\n");
/// assert_eq!(S.extract(&doc), Some("<!-- BEGIN s -->\nnew\n<!-- END s -->\n"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// The section's first line.
    pub begin: &'static str,
    /// The section's last line.
    pub end: &'static str,
}

impl Section {
    /// `doc` with this section replaced by `section` (appended after a blank line when `doc`
    /// has neither marker).
    ///
    /// # Errors
    /// One marker without the other, or `end` before `begin`.
    pub fn splice(&self, doc: &str, section: &str) -> Result<String> {
        let (begin, end) = (self.begin, self.end);
        match (doc.find(begin), doc.find(end)) {
            (Some(b), Some(e)) if e > b => {
                let after = &doc[e + end.len()..];
                let after = after.strip_prefix('\n').unwrap_or(after);
                Ok(format!("{}{section}{after}", &doc[..b]))
            }
            (None, None) => {
                let sep = if doc.ends_with("\n\n") || doc.is_empty() {
                    ""
                } else if doc.ends_with('\n') {
                    "\n"
                } else {
                    "\n\n"
                };
                Ok(format!("{doc}{sep}{section}"))
            }
            _ => bail!("a generated section's markers are not in order (`{begin}` before `{end}`)"),
        }
    }

    /// This section of `doc`, markers and the newline after the last included, if it has one.
    pub fn extract<'a>(&self, doc: &'a str) -> Option<&'a str> {
        let b = doc.find(self.begin)?;
        let e = doc[b..].find(self.end)? + b;
        let stop = e + self.end.len();
        Some(&doc[b..(stop + usize::from(doc[stop..].starts_with('\n')))])
    }
}
