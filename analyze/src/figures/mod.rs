//! Figures: plotters SVG charts and text on raster figures.
//!
//! - [`scatter`]: 2-D and projected 3-D scatter plots of embeddings, coloured by class.
//! - [`text`]: DejaVu Sans text on PNG figures.
//! - [`gallery`]: a grid of small captioned images (PNG).
//! - [`heatmap`]: a confusion matrix as a heat map (SVG).

pub mod gallery;
pub mod heatmap;
pub mod scatter;
pub mod text;

/// Escapes text for SVG (and any XML): `&`, `<`, `>` and `"`.
pub(crate) fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
