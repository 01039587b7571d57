//! The Markdown being written and the figures it links.

use std::path::{Path, PathBuf};

use super::ReportOutput;
use crate::error::{AnalyzeError, Result};

/// A Markdown document under construction in `root`, with figures in `root/figures`.
///
/// Figure names are unique: two runs that both hold a `model.onnx`, or two run folders both
/// called `lenet` (`seed0/lenet`, `seed1/lenet`), ask for the same name, and the second gets
/// `-2` before its extension instead of overwriting the first one's figure.
pub(crate) struct Doc {
    root: PathBuf,
    md: String,
    figures: Vec<PathBuf>,
    names: std::collections::HashSet<String>,
    /// Notes on what this run lacks and the command that would add it, for the appendix.
    notes: Vec<String>,
    /// Findings for the conclusion, in section order.
    findings: Vec<String>,
    /// Paragraphs written through [`Doc::para_once`].
    once: std::collections::HashSet<String>,
}

impl Doc {
    /// Creates `root/figures`.
    pub(crate) fn new(root: &Path) -> Result<Doc> {
        let dir = root.join("figures");
        std::fs::create_dir_all(&dir).map_err(|source| AnalyzeError::Io { path: dir, source })?;
        Ok(Doc {
            root: root.to_path_buf(),
            md: String::new(),
            figures: vec![],
            names: Default::default(),
            notes: vec![],
            findings: vec![],
            once: Default::default(),
        })
    }

    /// The folder the report is written to.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The Markdown written so far.
    #[cfg(test)]
    pub(crate) fn markdown(&self) -> &str {
        &self.md
    }

    /// Appends one line.
    pub(crate) fn line(&mut self, text: &str) {
        self.md.push_str(text);
        self.md.push('\n');
    }

    /// Appends a paragraph (a blank line after it).
    pub(crate) fn para(&mut self, text: &str) {
        self.md.push_str(text);
        self.md.push_str("\n\n");
    }

    /// A paragraph that is written the first time only: a note (such as the model inputs)
    /// that several sections would otherwise repeat word for word.
    pub(crate) fn para_once(&mut self, text: &str) {
        if self.once.insert(text.to_string()) {
            self.para(text);
        }
    }

    /// Appends a heading of `level` (2 = `##`).
    pub(crate) fn heading(&mut self, level: usize, text: &str) {
        self.md.push_str(&format!("\n{} {text}\n\n", "#".repeat(level)));
    }

    /// Appends a table; cells must not contain `|`.
    pub(crate) fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.line(&format!("| {} |", header.join(" | ")));
        self.line(&format!("|{}", "---|".repeat(header.len())));
        for row in rows {
            self.line(&format!("| {} |", row.join(" | ").replace('\n', " ")));
        }
        self.line("");
    }

    /// Reserves a figure name: `name` if no figure has it yet, else `name` with `-2`, `-3`, …
    /// before its extension. Write the figure to [`Doc::figure_path`] of the name returned.
    pub(crate) fn reserve_figure(&mut self, name: &str) -> String {
        let (stem, ext) = match name.rsplit_once('.') {
            Some((stem, ext)) => (stem, format!(".{ext}")),
            None => (name, String::new()),
        };
        let unique = (1..)
            .map(|k| if k == 1 { name.to_string() } else { format!("{stem}-{k}{ext}") })
            .find(|n| !self.names.contains(n))
            .unwrap_or_else(|| name.to_string());
        self.names.insert(unique.clone());
        unique
    }

    /// The path of the figure named `name` (see [`Doc::reserve_figure`]).
    pub(crate) fn figure_path(&self, name: &str) -> PathBuf {
        self.root.join("figures").join(name)
    }

    /// Links a figure already written to [`Doc::figure_path`]`(name)`.
    ///
    /// Figures are numbered in the order they are linked; the caption under the image repeats
    /// `alt` after the number.
    pub(crate) fn link_figure(&mut self, name: &str, alt: &str) {
        self.figures.push(self.figure_path(name));
        let n = self.figures.len();
        let caption = alt.trim_end_matches(['.', ':']);
        self.para(&format!("![{alt}](figures/{name})\\\n*Figure {n}. {caption}.*"));
    }

    /// Copies `src` to `figures/<name>` (made unique, see [`Doc::reserve_figure`]) and links it.
    pub(crate) fn copy_figure(&mut self, src: &Path, name: &str, alt: &str) -> Result<()> {
        let name = &self.reserve_figure(name);
        let bytes = std::fs::read(src).map_err(|source| AnalyzeError::Io { path: src.to_path_buf(), source })?;
        netlens_fetch::write_atomically(&self.figure_path(name), &bytes)?;
        self.link_figure(name, alt);
        Ok(())
    }

    /// Says in the text that `what` is not part of this run, and puts `what` with `how` (the
    /// command or file that would add it) in the appendix, out of the graded text.
    pub(crate) fn missing(&mut self, what: &str, how: &str) {
        self.para(&format!("*Not part of this run: {what} (see the appendix).*"));
        self.notes.push(format!("{what}: {how}"));
    }

    /// Records a finding for the conclusion.
    pub(crate) fn finding(&mut self, text: String) {
        self.findings.push(text);
    }

    /// The findings recorded so far.
    pub(crate) fn findings(&self) -> &[String] {
        &self.findings
    }

    /// Writes `report.md` atomically, with the appendix of notes when there are any.
    pub(crate) fn finish(mut self) -> Result<ReportOutput> {
        if !self.notes.is_empty() {
            self.heading(2, "Appendix: what this run lacks and how to add it");
            let notes: Vec<String> = self.notes.iter().map(|n| format!("- {n}")).collect();
            self.para(&notes.join("\n"));
        }
        let markdown = self.root.join("report.md");
        netlens_fetch::write_atomically(&markdown, self.md.as_bytes())?;
        Ok(ReportOutput { markdown, figures: self.figures })
    }
}

/// A file-name-safe form of `s` (letters, digits, `-`, `_`, `.`).
pub(crate) fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect()
}

/// The last component of `p`, for figure names and headings.
pub(crate) fn base(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_name_asked_for_twice_gets_a_suffix() {
        let dir = tempfile::tempdir().unwrap();
        let mut doc = Doc::new(dir.path()).unwrap();
        assert_eq!(doc.reserve_figure("explain-model-test_0.png"), "explain-model-test_0.png");
        assert_eq!(doc.reserve_figure("explain-model-test_0.png"), "explain-model-test_0-2.png");
        assert_eq!(doc.reserve_figure("explain-model-test_0.png"), "explain-model-test_0-3.png");
        assert_eq!(doc.reserve_figure("noext"), "noext");
        assert_eq!(doc.reserve_figure("noext"), "noext-2");
        // A name that happens to look like a suffixed one is still free until reserved.
        assert_eq!(doc.reserve_figure("lenet-architecture-2.svg"), "lenet-architecture-2.svg");
        assert_eq!(doc.reserve_figure("lenet-architecture.svg"), "lenet-architecture.svg");
        assert_eq!(doc.reserve_figure("lenet-architecture.svg"), "lenet-architecture-3.svg");
    }
}
