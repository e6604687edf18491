//! Share cards: the JPEG a shared link previews with (`og:image`), rendered on the server —
//! poem lines typeset in Noto Serif CJK SC (Debian `fonts-noto-cjk`, the `.ttc` collection read
//! at its SC face by `ab_glyph`) beside the top photos, 1200×630; and the tall storyboard card
//! (one row per line: the line beside its photo) offered as "save picture".
//!
//! The font is found at `SHIHUA_CARD_FONT` (a .ttf/.otf, or a .ttc with
//! `SHIHUA_CARD_FONT_INDEX`), else Debian's path; without it [`CardFont::load`] fails with how
//! to install it.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use ab_glyph::{point, Font, FontVec, PxScale, ScaleFont};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, Rgb, RgbImage};

/// Link-preview card size (what chat apps crop `summary_large_image` to).
pub const CARD_W: u32 = 1200;
pub const CARD_H: u32 = 630;
/// Where the text goes on a 1200×630 card: x, y, width, height.
pub const TEXT_AREA: (u32, u32, u32, u32) = (660, 40, 500, 500);
/// Height of one row of the tall storyboard card, and its margins.
pub const TALL_ROW_H: u32 = 360;
const TALL_MARGIN: u32 = 40;
/// Debian `fonts-noto-cjk`: the serif collection, face 2 is Simplified Chinese.
pub const DEBIAN_FONT: &str = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc";
const DEBIAN_FONT_INDEX: u32 = 2;

const PAPER: Rgb<u8> = Rgb([246, 241, 231]);
const INK: Rgb<u8> = Rgb([43, 38, 35]);
const MUTED: Rgb<u8> = Rgb([111, 100, 89]);
const ACCENT: Rgb<u8> = Rgb([122, 46, 31]);
const JPEG_QUALITY: u8 = 85;

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error(
        "the card font {path} is missing ({detail}): install Debian's fonts-noto-cjk \
         (`sudo apt-get install fonts-noto-cjk`, or run scripts/setup.sh), or point \
         SHIHUA_CARD_FONT at a CJK serif font"
    )]
    FontMissing { path: PathBuf, detail: String },
    #[error("encoding the card: {0}")]
    Encode(#[from] image::ImageError),
}

/// The typeface cards are set in.
pub struct CardFont {
    font: FontVec,
}

impl CardFont {
    /// The font named by `SHIHUA_CARD_FONT` (face `SHIHUA_CARD_FONT_INDEX`, default 0), else
    /// Debian's Noto Serif CJK SC.
    pub fn load() -> Result<CardFont, CardError> {
        match std::env::var_os("SHIHUA_CARD_FONT") {
            Some(p) => {
                let index = std::env::var("SHIHUA_CARD_FONT_INDEX")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                Self::from_file(Path::new(&p), index)
            }
            None => Self::from_file(Path::new(DEBIAN_FONT), DEBIAN_FONT_INDEX),
        }
    }

    /// Face `index` of a font file (0 for a plain .ttf/.otf).
    pub fn from_file(path: &Path, index: u32) -> Result<CardFont, CardError> {
        let missing = |detail: String| CardError::FontMissing {
            path: path.to_path_buf(),
            detail,
        };
        let bytes = std::fs::read(path).map_err(|e| missing(e.to_string()))?;
        let font = FontVec::try_from_vec_and_index(bytes, index)
            .map_err(|e| missing(format!("not a font with face {index}: {e}")))?;
        // A serif CJK face must have the glyphs the cards use.
        if font.glyph_id('诗').0 == 0 {
            return Err(missing(format!("face {index} has no Chinese glyphs")));
        }
        Ok(CardFont { font })
    }

    /// Width in pixels of `text` at `px`.
    fn width(&self, text: &str, px: f32) -> f32 {
        let f = self.font.as_scaled(PxScale::from(px));
        text.chars().map(|c| f.h_advance(f.glyph_id(c))).sum()
    }

    /// Draws `text` with its baseline at (`x`, `baseline`), clipped to the image.
    fn draw(&self, img: &mut RgbImage, text: &str, px: f32, x: f32, baseline: f32, color: Rgb<u8>) {
        let scale = PxScale::from(px);
        let scaled = self.font.as_scaled(scale);
        let mut pen = x;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            let glyph = id.with_scale_and_position(scale, point(pen, baseline));
            pen += scaled.h_advance(id);
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue;
            };
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cov| {
                let px = b.min.x as i64 + i64::from(gx);
                let py = b.min.y as i64 + i64::from(gy);
                if px < 0 || py < 0 || px >= img.width() as i64 || py >= img.height() as i64 {
                    return;
                }
                let p = img.get_pixel_mut(px as u32, py as u32);
                for ch in 0..3 {
                    let bg = f32::from(p.0[ch]);
                    let fg = f32::from(color.0[ch]);
                    p.0[ch] = (bg + (fg - bg) * cov.clamp(0.0, 1.0)).round() as u8;
                }
            });
        }
    }

    /// Lines set one under another in a box, as large as fits (at most `max_px`), at most
    /// `max_lines`; returns the y below the last line.
    fn draw_block(
        &self,
        img: &mut RgbImage,
        lines: &[String],
        area: (u32, u32, u32, u32),
        max_px: f32,
        max_lines: usize,
    ) -> f32 {
        let (x, y, w, h) = area;
        let lines: Vec<&String> = lines
            .iter()
            .filter(|l| !l.is_empty())
            .take(max_lines)
            .collect();
        if lines.is_empty() {
            return y as f32;
        }
        let widest = lines
            .iter()
            .map(|l| self.width(l, 100.0))
            .fold(1.0f32, f32::max);
        let by_width = w as f32 / widest * 100.0;
        let by_height = h as f32 / (lines.len() as f32 * 1.5);
        let px = max_px.min(by_width).min(by_height).max(12.0);
        let mut baseline = y as f32 + px;
        for l in lines {
            self.draw(img, l, px, x as f32, baseline, INK);
            baseline += px * 1.5;
        }
        baseline
    }
}

/// `photo` scaled to cover `w`×`h` and centre-cropped.
fn cover(photo: &DynamicImage, w: u32, h: u32) -> RgbImage {
    let (pw, ph) = (photo.width().max(1), photo.height().max(1));
    let scale = (w as f32 / pw as f32).max(h as f32 / ph as f32);
    let (sw, sh) = (
        ((pw as f32 * scale).ceil() as u32).max(w),
        ((ph as f32 * scale).ceil() as u32).max(h),
    );
    let resized = photo.resize_exact(sw, sh, FilterType::Triangle).to_rgb8();
    image::imageops::crop_imm(&resized, (sw - w) / 2, (sh - h) / 2, w, h).to_image()
}

/// The 1200×630 link-preview card: up to three photos on the left, `lines` (the poem or the
/// query) and `byline` (poem and poet, or empty) on the right.
pub fn render_card(
    font: &CardFont,
    lines: &[String],
    byline: &str,
    photos: &[DynamicImage],
) -> RgbImage {
    let mut img = RgbImage::from_pixel(CARD_W, CARD_H, PAPER);
    match photos {
        [] => {}
        [one] => image::imageops::replace(&mut img, &cover(one, 630, 630), 0, 0),
        [one, two] => {
            image::imageops::replace(&mut img, &cover(one, 630, 420), 0, 0);
            image::imageops::replace(&mut img, &cover(two, 630, 206), 0, 424);
        }
        [one, two, three, ..] => {
            image::imageops::replace(&mut img, &cover(one, 630, 420), 0, 0);
            image::imageops::replace(&mut img, &cover(two, 313, 206), 0, 424);
            image::imageops::replace(&mut img, &cover(three, 313, 206), 317, 424);
        }
    }
    let below = font.draw_block(&mut img, lines, TEXT_AREA, 72.0, 5);
    if !byline.is_empty() {
        let y = (below + 10.0).min(570.0);
        font.draw(&mut img, byline, 26.0, TEXT_AREA.0 as f32, y + 26.0, MUTED);
    }
    font.draw(
        &mut img,
        "诗画 shihua",
        24.0,
        TEXT_AREA.0 as f32,
        600.0,
        ACCENT,
    );
    img
}

/// The tall storyboard card: a title, then one row per line (line left, photo right).
pub fn render_tall(
    font: &CardFont,
    title: &str,
    rows: &[(String, Option<DynamicImage>)],
) -> RgbImage {
    let head = 120;
    let h = head + rows.len().max(1) as u32 * TALL_ROW_H + TALL_MARGIN;
    let mut img = RgbImage::from_pixel(CARD_W, h, PAPER);
    font.draw(&mut img, title, 44.0, TALL_MARGIN as f32, 80.0, ACCENT);
    for (i, (line, photo)) in rows.iter().enumerate() {
        let top = head + i as u32 * TALL_ROW_H;
        font.draw_block(
            &mut img,
            std::slice::from_ref(line),
            (TALL_MARGIN, top + 120, 460, 140),
            64.0,
            1,
        );
        if let Some(p) = photo {
            image::imageops::replace(&mut img, &cover(p, 620, TALL_ROW_H - 20), 540, top as i64);
        }
    }
    font.draw(
        &mut img,
        "诗画 shihua",
        24.0,
        TALL_MARGIN as f32,
        (h - 12) as f32,
        MUTED,
    );
    img
}

/// A card as JPEG bytes.
pub fn encode_jpeg(img: &RgbImage) -> Result<Vec<u8>, CardError> {
    let mut out = Cursor::new(Vec::new());
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).encode_image(img)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font() -> CardFont {
        CardFont::from_file(Path::new(DEBIAN_FONT), DEBIAN_FONT_INDEX)
            .expect("Noto Serif CJK (Debian fonts-noto-cjk; scripts/setup.sh installs it)")
    }

    fn area(img: &RgbImage, (x, y, w, h): (u32, u32, u32, u32)) -> Vec<u8> {
        image::imageops::crop_imm(img, x, y, w, h)
            .to_image()
            .into_raw()
    }

    #[test]
    fn a_card_decodes_to_1200_by_630() {
        let f = font();
        let photo = DynamicImage::ImageRgb8(RgbImage::from_pixel(800, 500, Rgb([10, 120, 200])));
        let card = render_card(
            &f,
            &["枯藤老树昏鸦".into()],
            "《天净沙·秋思》 马致远",
            &[photo.clone(), photo],
        );
        let jpeg = encode_jpeg(&card).unwrap();
        let decoded = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (CARD_W, CARD_H));
        // The photo is on the left.
        let p = decoded.to_rgb8().get_pixel(100, 100).0;
        assert!(p[2] > 150 && p[0] < 60, "{p:?}");
    }

    #[test]
    fn the_text_area_shows_the_text() {
        let f = font();
        let with = render_card(&f, &["枯藤老树昏鸦".into(), "小桥流水人家".into()], "", &[]);
        let without = render_card(&f, &[String::new()], "", &[]);
        let (a, b) = (area(&with, TEXT_AREA), area(&without, TEXT_AREA));
        let changed = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        // Real glyphs ink a good share of the box (not one tofu box, not nothing).
        assert!(
            changed > a.len() / 50,
            "{changed} of {} bytes differ",
            a.len()
        );
        // Different lines, different ink (no tofu: every glyph would be the same box).
        let other = render_card(&f, &["明月松间照".into(), "清泉石上流".into()], "", &[]);
        assert_ne!(area(&other, TEXT_AREA), a);
    }

    #[test]
    fn the_tall_card_has_a_row_per_line() {
        let f = font();
        let photo = DynamicImage::ImageRgb8(RgbImage::from_pixel(300, 300, Rgb([200, 50, 50])));
        let rows = vec![
            ("枯藤老树昏鸦".to_string(), Some(photo.clone())),
            ("小桥流水人家".to_string(), None),
            ("古道西风瘦马".to_string(), Some(photo)),
        ];
        let card = render_tall(&f, "以诗配图", &rows);
        assert_eq!(card.width(), CARD_W);
        assert_eq!(card.height(), 120 + 3 * TALL_ROW_H + 40);
    }

    #[test]
    fn a_missing_font_says_how_to_install_it() {
        let err = CardFont::from_file(Path::new("/nonexistent/font.ttc"), 2)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("fonts-noto-cjk"), "{err}");
    }
}
