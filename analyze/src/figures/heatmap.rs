//! The confusion matrix as a heat map (SVG): one cell per (true, predicted) class pair, its
//! colour the share of the true class's images that went to the predicted class (white 0 to
//! dark blue 1), its count written in it.

use std::fmt::Write as _;

use super::escape_xml;

/// Side of one cell in pixels.
const CELL: usize = 46;
/// Room for the row labels (true classes) on the left and the column labels above.
const LEFT: usize = 120;
const TOP: usize = 118;

/// The SVG of a confusion matrix. `matrix[t][p]` counts the images of true class `t` predicted
/// as class `p`; `names` has one name per class (rows and columns in the same order). Rows with
/// no image are drawn white.
pub fn confusion_svg(title: &str, names: &[String], matrix: &[Vec<usize>]) -> String {
    let n = names.len();
    // The column labels run up and to the right at 45°: room for the last one on the right.
    let (width, height) = (LEFT + n * CELL + 90, TOP + n * CELL + 44);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
        width / 2,
        escape_xml(title)
    );
    for (j, name) in names.iter().enumerate() {
        let x = LEFT + j * CELL + CELL / 2;
        let _ = writeln!(
            svg,
            "<text x=\"{x}\" y=\"{}\" transform=\"rotate(-45 {x} {})\">{}</text>",
            TOP - 6,
            TOP - 6,
            escape_xml(name)
        );
        let y = TOP + j * CELL + CELL / 2 + 4;
        let _ = writeln!(svg, "<text x=\"{}\" y=\"{y}\" text-anchor=\"end\">{}</text>", LEFT - 6, escape_xml(name));
    }
    for (t, row) in matrix.iter().enumerate().take(n) {
        let total = row.iter().sum::<usize>().max(1) as f64;
        for (p, &count) in row.iter().enumerate().take(n) {
            let share = count as f64 / total;
            let (x, y) = (LEFT + p * CELL, TOP + t * CELL);
            let _ = writeln!(
                svg,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{CELL}\" height=\"{CELL}\" fill=\"{}\" stroke=\"{}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\">{count}</text>",
                blue(share),
                if t == p { "#000" } else { "#ccc" },
                x + CELL / 2,
                y + CELL / 2 + 4,
                if share > 0.5 { "white" } else { "black" }
            );
        }
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">rows: true class · columns: predicted class · colour: share of the row</text>\n</svg>",
        LEFT + n * CELL / 2,
        TOP + n * CELL + 28
    );
    svg
}

/// White (0) to dark blue (1).
fn blue(share: f64) -> String {
    let s = share.clamp(0.0, 1.0);
    let mix = |from: f64, to: f64| (from + (to - from) * s).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(255.0, 8.0), mix(255.0, 48.0), mix(255.0, 107.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_is_drawn_with_its_count_and_row_share_colour() {
        let names: Vec<String> = ["T-shirt/top", "Shirt"].map(String::from).to_vec();
        let svg = confusion_svg("LeNet-5 & co", &names, &[vec![9, 1], vec![5, 5]]);
        assert_eq!(svg.matches("<rect x=").count(), 4);
        assert!(svg.contains(">9</text>") && svg.contains(">1</text>"));
        assert!(svg.contains(&format!("fill=\"{}\"", blue(0.9))) && svg.contains(&format!("fill=\"{}\"", blue(0.5))));
        assert!(svg.contains("LeNet-5 &amp; co"));
        assert_eq!(blue(0.0), "#ffffff");
        assert_eq!(blue(1.0), "#08306b");
    }
}
