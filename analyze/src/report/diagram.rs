//! Architecture diagrams: one box per layer, top to bottom, each with the layer's name, operation
//! and output feature-map size, drawn as plain SVG. Layers computed from the same input (two
//! heads) share a row.

use std::path::Path;

use crate::figures::escape_xml;

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
    /// Drawn beside the previous box (same input, e.g. a second head), not below it.
    pub beside_previous: bool,
}

const WIDTH: usize = 600;
/// Title characters per line: 14-pixel bold sans-serif averages under 9 pixels a character,
/// so 62 fit in the width with a margin.
const TITLE_CHARS: usize = 62;
const TITLE_LINE: usize = 18;
const BOX_H: usize = 24;
const GAP: usize = 12;

/// Writes a vertical chain of rows of boxes with arrows between them to `path` (atomically).
pub fn write_diagram_svg(title: &str, boxes: &[DiagramBox], path: &Path) -> Result<()> {
    let mut rows: Vec<Vec<&DiagramBox>> = vec![];
    for b in boxes {
        match rows.last_mut() {
            Some(row) if b.beside_previous => row.push(b),
            _ => rows.push(vec![b]),
        }
    }
    let title_lines = wrap(title, TITLE_CHARS);
    let top = 12 + TITLE_LINE * title_lines.len();
    let height = top + 8 + rows.iter().map(|r| row_height(r) + GAP).sum::<usize>();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (i, line) in title_lines.iter().enumerate() {
        svg += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
            WIDTH / 2,
            20 + i * TITLE_LINE,
            escape_xml(line)
        );
    }
    let mut y = top;
    let mut above: Vec<usize> = vec![];
    for row in &rows {
        let width = (WIDTH - 40 - (row.len() - 1) * GAP) / row.len();
        let centres: Vec<usize> = (0..row.len()).map(|i| 20 + i * (width + GAP) + width / 2).collect();
        // Arrows from every box of the row above to every box of this row.
        for &from in &above {
            for &to in &centres {
                svg += &arrow(from, y - GAP, to, y);
            }
        }
        for (i, b) in row.iter().enumerate() {
            svg += &layer_box(20 + i * (width + GAP), y, width, row_height(row), b, row.len() > 1);
        }
        above = centres;
        y += row_height(row) + GAP;
    }
    svg += "</svg>\n";
    netlens_fetch::write_atomically(path, svg.as_bytes())?;
    Ok(())
}

/// A row of several boxes puts the operation on a second line.
fn row_height(row: &[&DiagramBox]) -> usize {
    if row.len() > 1 { 2 * BOX_H - 6 } else { BOX_H }
}

fn arrow(x1: usize, y1: usize, x2: usize, y2: usize) -> String {
    format!(
        "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"#555\"/><polygon points=\"{},{} {},{} {x2},{y2}\" fill=\"#555\"/>\n",
        x2 - 4,
        y2 - 5,
        x2 + 4,
        y2 - 5
    )
}

fn layer_box(x: usize, y: usize, width: usize, height: usize, b: &DiagramBox, two_lines: bool) -> String {
    let fill = match b.op.to_ascii_lowercase() {
        o if o.contains("conv") => "#cfe2f3",
        o if o.contains("pool") => "#d9ead3",
        o if o.contains("gemm") || o.contains("matmul") || o.contains("fully") || o.contains("linear") => "#fce5cd",
        o if o.contains("norm") => "#ead1dc",
        _ => "#eeeeee",
    };
    let (op_x, op_y) = if two_lines { (x + 10, y + 16 + BOX_H - 6) } else { (x + 180, y + 16) };
    format!(
        "<rect x=\"{x}\" y=\"{y}\" width=\"{width}\" height=\"{height}\" rx=\"4\" fill=\"{fill}\" stroke=\"#333\"/>\n<text x=\"{}\" y=\"{}\">{}</text><text x=\"{op_x}\" y=\"{op_y}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-family=\"monospace\">{}</text>\n",
        x + 10,
        y + 16,
        escape_xml(&b.name),
        escape_xml(&b.op),
        x + width - 10,
        y + 16,
        escape_xml(&b.size)
    )
}

/// `text` broken at spaces into lines of at most `max` characters (a longer word stays whole).
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![];
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= max => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_box_per_layer_with_escaped_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.svg");
        let boxes = vec![
            DiagramBox { name: "conv1".into(), op: "Conv".into(), size: "6×28×28".into(), beside_previous: false },
            DiagramBox { name: "a<b".into(), op: "Gemm".into(), size: "10".into(), beside_previous: false },
        ];
        write_diagram_svg("Net & co", &boxes, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert_eq!(svg.matches("<rect x=\"20\"").count(), 2);
        assert!(svg.contains("6×28×28") && svg.contains("a&lt;b") && svg.contains("Net &amp; co"));
        assert_eq!(svg.matches("<line").count(), 1);
    }

    #[test]
    fn a_long_title_wraps_instead_of_running_off_the_figure() {
        let title = "Convolutional variational autoencoder: encoder and decoder layers with output sizes (from model_card.json)";
        let lines = wrap(title, TITLE_CHARS);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= TITLE_CHARS));
        assert_eq!(lines.join(" "), title);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.svg");
        let b = DiagramBox {
            name: "conv1".into(),
            op: "Conv 3×3, pad 1".into(),
            size: "8×32×32".into(),
            beside_previous: false,
        };
        write_diagram_svg(title, &[b], &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert_eq!(svg.matches("font-weight=\"bold\"").count(), 2, "two title lines");
    }

    #[test]
    fn two_heads_share_a_row_and_each_gets_an_arrow_in_and_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.svg");
        let b = |name: &str, beside| DiagramBox {
            name: name.into(),
            op: "Fully connected".into(),
            size: "64".into(),
            beside_previous: beside,
        };
        write_diagram_svg("VAE", &[b("flatten", false), b("mu", false), b("log_var", true), b("z", false)], &path)
            .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert_eq!(svg.matches("<rect x=").count(), 4, "four boxes");
        // flatten → mu, flatten → log_var, mu → z, log_var → z.
        assert_eq!(svg.matches("<line").count(), 4);
    }
}
