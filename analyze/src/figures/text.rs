//! Text on raster (PNG) figures: DejaVu Sans, a TrueType font carried in the binary by the
//! `dejavu` crate, laid out with its advance widths and kerning and rasterised with
//! anti-aliasing by `ab_glyph`. Sizes are in pixels (the height of the font's em square), so a
//! figure's text is as large as its images, whatever the viewer's resolution.

use std::sync::LazyLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};

/// DejaVu Sans regular and bold, parsed once.
static FONTS: LazyLock<[FontRef<'static>; 2]> = LazyLock::new(|| {
    [dejavu::sans::regular(), dejavu::sans::bold()].map(|bytes| {
        FontRef::try_from_slice(bytes).expect("the DejaVu Sans carried by the `dejavu` crate is a valid TrueType font")
    })
});

/// How a line of text looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextStyle {
    /// Font size in pixels (em height); a line takes about 1.2 × this.
    pub size: f32,
    /// Bold instead of regular.
    pub bold: bool,
    /// sRGB colour of the glyphs.
    pub colour: [u8; 3],
}

impl TextStyle {
    /// Black regular text of `size` pixels.
    pub fn regular(size: f32) -> Self {
        TextStyle { size, bold: false, colour: [0, 0, 0] }
    }

    /// Black bold text of `size` pixels.
    pub fn bold(size: f32) -> Self {
        TextStyle { size, bold: true, colour: [0, 0, 0] }
    }

    /// The height of one line in whole pixels (ascent + descent + line gap, rounded up).
    pub fn line_height(&self) -> usize {
        let font = self.font().as_scaled(PxScale::from(self.size));
        (font.ascent() - font.descent() + font.line_gap()).ceil() as usize
    }

    fn font(&self) -> &'static FontRef<'static> {
        &FONTS[usize::from(self.bold)]
    }
}

/// The width of `text` in pixels when drawn in `style`.
pub fn text_width(text: &str, style: TextStyle) -> f32 {
    let font = style.font().as_scaled(PxScale::from(style.size));
    let mut width = 0.0;
    let mut previous = None;
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        if let Some(p) = previous {
            width += font.kern(p, id);
        }
        width += font.h_advance(id);
        previous = Some(id);
    }
    width
}

/// `text`, shortened with "…" at the end when wider than `max_width` pixels (empty when not
/// even "…" fits).
pub fn fit_text(text: &str, style: TextStyle, max_width: f32) -> String {
    if text_width(text, style) <= max_width {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len())
        .rev()
        .map(|n| format!("{}…", chars[..n].iter().collect::<String>().trim_end()))
        .find(|t| text_width(t, style) <= max_width)
        .unwrap_or_default()
}

/// Draws `text` with the top of its line box at `(x, y)`, cut with "…" to `max_width` pixels,
/// blending the glyphs' coverage over what is there. Returns the drawn width in pixels.
/// Pixels outside the image are skipped.
pub fn draw_text(img: &mut RgbImage, text: &str, x: usize, y: usize, max_width: usize, style: TextStyle) -> usize {
    let text = fit_text(text, style, max_width as f32);
    let font = style.font().as_scaled(PxScale::from(style.size));
    let baseline = y as f32 + font.ascent();
    let mut caret = x as f32;
    let mut previous = None;
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        if let Some(p) = previous {
            caret += font.kern(p, id);
        }
        let glyph = id.with_scale_and_position(PxScale::from(style.size), point(caret, baseline));
        caret += font.h_advance(id);
        previous = Some(id);
        let Some(outline) = style.font().outline_glyph(glyph) else { continue };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (bounds.min.x as i64 + i64::from(gx), bounds.min.y as i64 + i64::from(gy));
            if px < 0 || py < 0 || px >= i64::from(img.width()) || py >= i64::from(img.height()) {
                return;
            }
            let pixel = img.get_pixel_mut(px as u32, py as u32);
            let a = coverage.clamp(0.0, 1.0);
            *pixel = Rgb(std::array::from_fn(|c| {
                (f32::from(pixel.0[c]) * (1.0 - a) + f32::from(style.colour[c]) * a).round() as u8
            }));
        });
    }
    (caret - x as f32).ceil() as usize
}

/// Draws `text` centred on `centre_x` (see [`draw_text`]; never left of 0).
pub fn draw_text_centred(
    img: &mut RgbImage,
    text: &str,
    centre_x: usize,
    y: usize,
    max_width: usize,
    style: TextStyle,
) {
    let width = text_width(&fit_text(text, style, max_width as f32), style).ceil() as usize;
    draw_text(img, text, centre_x.saturating_sub(width / 2), y, max_width, style);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn_anti_aliased_inside_its_measured_box() {
        let style = TextStyle::regular(20.0);
        let mut img = RgbImage::from_pixel(200, 40, Rgb([255, 255, 255]));
        let width = draw_text(&mut img, "True label: Coat", 5, 5, 190, style);
        assert!((width as f32 - text_width("True label: Coat", style)).abs() < 1.0);
        let inked: Vec<(u32, u32, u8)> =
            img.enumerate_pixels().filter(|p| p.2.0[0] < 255).map(|(x, y, p)| (x, y, p.0[0])).collect();
        assert!(inked.iter().any(|p| p.2 == 0 || p.2 < 40), "solid strokes");
        assert!(inked.iter().any(|p| (60..200).contains(&p.2)), "anti-aliased edges");
        let (min_x, max_x) = (inked.iter().map(|p| p.0).min().unwrap(), inked.iter().map(|p| p.0).max().unwrap());
        let max_y = inked.iter().map(|p| p.1).max().unwrap();
        // One pixel of slack either side: a glyph's anti-aliased edge may reach past its advance.
        assert!(min_x >= 4 && (max_x as usize) <= 6 + width, "{min_x}..{max_x} for width {width}");
        assert!((max_y as usize) < 5 + style.line_height(), "inside the line box");
        // Lower-case letters are drawn as such: "a" is narrower than "A" in DejaVu Sans.
        assert!(text_width("a", style) < text_width("A", style));
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_to_the_width() {
        let style = TextStyle::bold(16.0);
        let cut = fit_text("Integrated Gradients (64 steps, blurred baseline)", style, 120.0);
        assert!(cut.ends_with('…') && text_width(&cut, style) <= 120.0, "{cut}");
        assert_eq!(fit_text("IG", style, 120.0), "IG");
        assert_eq!(fit_text("IG", style, 1.0), "");
    }
}
