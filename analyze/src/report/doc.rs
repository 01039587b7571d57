//! The Markdown being written and the figures it links.

use std::path::{Path, PathBuf};

use super::ReportOutput;
use crate::error::{AnalyzeError, Result};

/// A Markdown document under construction in `root`, with figures in `root/figures`.
pub(crate) struct Doc {
    root: PathBuf,
    md: String,
    figures: Vec<PathBuf>,
}

impl Doc {
    /// Creates `root/figures`.
    pub(crate) fn new(root: &Path) -> Result<Doc> {
        let dir = root.join("figures");
        std::fs::create_dir_all(&dir).map_err(|source| AnalyzeError::Io { path: dir, source })?;
        Ok(Doc { root: root.to_path_buf(), md: String::new(), figures: vec![] })
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

    /// The path a figure named `name` gets.
    pub(crate) fn figure_path(&self, name: &str) -> PathBuf {
        self.root.join("figures").join(name)
    }

    /// Links a figure already written to [`Doc::figure_path`]`(name)`.
    pub(crate) fn link_figure(&mut self, name: &str, alt: &str) {
        self.figures.push(self.figure_path(name));
        self.para(&format!("![{alt}](figures/{name})"));
    }

    /// Copies `src` to `figures/name` and links it.
    pub(crate) fn copy_figure(&mut self, src: &Path, name: &str, alt: &str) -> Result<()> {
        let bytes = std::fs::read(src).map_err(|source| AnalyzeError::Io { path: src.to_path_buf(), source })?;
        netlens_fetch::write_atomically(&self.figure_path(name), &bytes)?;
        self.link_figure(name, alt);
        Ok(())
    }

    /// Writes `report.md` atomically.
    pub(crate) fn finish(self) -> Result<ReportOutput> {
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
