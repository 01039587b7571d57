//! Architecture diagrams: one box per layer, top to bottom, each with the layer's name, operation
//! and output feature-map size, drawn as plain SVG.

use std::path::Path;

use crate::error::Result;

/// One box of a diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagramBox {
    /// Layer name, e.g. `conv1`.
    pub name: String,
    /// Operation, e.g. `Conv`.
    pub op: String,
    /// Output feature-map size, e.g. `6×28×28`.
    pub size: String,
}

const WIDTH: usize = 560;
const BOX_H: usize = 24;
const GAP: usize = 12;

/// Writes a vertical chain of boxes with arrows between them to `path` (atomically).
pub fn write_diagram_svg(title: &str, boxes: &[DiagramBox], path: &Path) -> Result<()> {
    let height = 40 + boxes.len() * (BOX_H + GAP);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
        WIDTH / 2,
        escape(title)
    );
    for (i, b) in boxes.iter().enumerate() {
        svg += &layer_box(i, b);
    }
    svg += "</svg>\n";
    netlens_fetch::write_atomically(path, svg.as_bytes())?;
    Ok(())
}

fn layer_box(i: usize, b: &DiagramBox) -> String {
    let y = 32 + i * (BOX_H + GAP);
    let fill = match b.op.to_ascii_lowercase() {
        o if o.contains("conv") => "#cfe2f3",
        o if o.contains("pool") => "#d9ead3",
        o if o.contains("gemm") || o.contains("matmul") || o.contains("fully") || o.contains("linear") => "#fce5cd",
        o if o.contains("norm") => "#ead1dc",
        _ => "#eeeeee",
    };
    let arrow = if i == 0 { String::new() } else { format!("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#555\"/><polygon points=\"{3},{4} {5},{4} {0},{2}\" fill=\"#555\"/>\n", WIDTH / 2, y - GAP, y, WIDTH / 2 - 4, y - 5, WIDTH / 2 + 4) };
    format!(
        "{arrow}<rect x=\"20\" y=\"{y}\" width=\"{}\" height=\"{BOX_H}\" rx=\"4\" fill=\"{fill}\" stroke=\"#333\"/>\n<text x=\"30\" y=\"{}\">{}</text><text x=\"200\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-family=\"monospace\">{}</text>\n",
        WIDTH - 40,
        y + 16,
        escape(&b.name),
        y + 16,
        escape(&b.op),
        WIDTH - 30,
        y + 16,
        escape(&b.size)
    )
}

/// Escapes text for SVG.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_box_per_layer_with_escaped_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.svg");
        let boxes = vec![
            DiagramBox { name: "conv1".into(), op: "Conv".into(), size: "6×28×28".into() },
            DiagramBox { name: "a<b".into(), op: "Gemm".into(), size: "10".into() },
        ];
        write_diagram_svg("Net & co", &boxes, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert_eq!(svg.matches("<rect x=\"20\"").count(), 2);
        assert!(svg.contains("6×28×28") && svg.contains("a&lt;b") && svg.contains("Net &amp; co"));
        assert_eq!(svg.matches("<line").count(), 1);
    }
}
