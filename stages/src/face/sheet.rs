//! Contact sheets: tile equally sized RGB images into one grid PNG, optionally with a caption
//! under each tile (identity ids, mixup weights) drawn in a built-in 3x5 pixel font.

use super::FaceError;
use crate::pixels::{encode_png, SheetLayout};

/// The sheet layout of `rows x cols` square tiles of `size` pixels, each over a caption strip
/// of `caption` pixels, on white.
fn layout(size: usize, rows: usize, cols: usize, gap: usize, caption: usize) -> SheetLayout {
    SheetLayout {
        rows,
        cols,
        cell_w: size,
        cell_h: size + caption,
        gap,
        background: 255,
    }
}

/// Tile `images` (each `size x size` RGB) into `rows x cols` with a `gap`-pixel border.
pub fn grid(
    images: &[Vec<u8>],
    size: usize,
    rows: usize,
    cols: usize,
    gap: usize,
) -> (Vec<u8>, usize, usize) {
    let l = layout(size, rows, cols, gap, 0);
    let mut out = l.canvas();
    for (k, img) in images.iter().enumerate().take(rows * cols) {
        l.paste(&mut out, (k / cols, k % cols), img, size, size, 1);
    }
    let (w, h) = l.size();
    (out, w, h)
}

/// Encode RGB bytes as PNG.
pub fn png(rgb: &[u8], w: usize, h: usize) -> Result<Vec<u8>, FaceError> {
    encode_png(rgb, w, h).map_err(|e| FaceError::Image(e.to_string()))
}

/// A PNG contact sheet of `images`.
pub fn sheet_png(
    images: &[Vec<u8>],
    size: usize,
    rows: usize,
    cols: usize,
) -> Result<Vec<u8>, FaceError> {
    let (rgb, w, h) = grid(images, size, rows, cols, 2);
    png(&rgb, w, h)
}

/// Glyphs of the caption font: 5 rows of 3 bits (MSB = left column).
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 3, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 2, 2],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '=' => [0, 7, 0, 7, 0],
        '/' => [1, 1, 2, 4, 4],
        '+' => [0, 2, 7, 2, 0],
        '-' => [0, 0, 7, 0, 0],
        'i' => [2, 0, 2, 2, 2],
        'd' => [1, 1, 7, 5, 7],
        'p' => [7, 5, 7, 4, 4],
        'h' => [4, 4, 7, 5, 5],
        _ => [0; 5],
    }
}

/// Draw `text` into `rgb` (width `w`) at `(x, y)` with pixels `scale` wide, clipped to
/// `max_x`.
fn draw_text(
    rgb: &mut [u8],
    w: usize,
    (x, y): (usize, usize),
    text: &str,
    scale: usize,
    max_x: usize,
) {
    for (k, c) in text.chars().enumerate() {
        let gx = x + k * 4 * scale;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = gx + col * scale + dx;
                        if px >= max_x {
                            continue;
                        }
                        let i = ((y + row * scale + dy) * w + px) * 3;
                        rgb[i..i + 3].copy_from_slice(&[40, 40, 40]);
                    }
                }
            }
        }
    }
}

/// A PNG contact sheet of `images` with `labels[k]` under tile `k` (`id=17`,
/// `id=4/5 phi=.75`): `rows x cols` tiles, each over a caption strip.
pub fn labelled_sheet_png(
    images: &[Vec<u8>],
    size: usize,
    rows: usize,
    cols: usize,
    labels: &[String],
) -> Result<Vec<u8>, FaceError> {
    let (gap, scale) = (2, (size / 112).max(1));
    let l = layout(size, rows, cols, gap, 7 * scale);
    let mut out = l.canvas();
    let w = l.size().0;
    for (k, img) in images.iter().enumerate().take(rows * cols) {
        let cell = (k / cols, k % cols);
        l.paste(&mut out, cell, img, size, size, 1);
        if let Some(text) = labels.get(k) {
            let (ox, oy) = l.origin(cell.0, cell.1);
            draw_text(
                &mut out,
                w,
                (ox + scale, oy + size + scale),
                text,
                scale,
                ox + size,
            );
        }
    }
    let h = l.size().1;
    png(&out, w, h)
}

/// The captions of `synface render`'s tiles: each tile's identity id, and for a mixup strip
/// (`--vary mixup`: identity `2r` mixed into `2r + 1`, phi from 1 down to 0 along the row) the
/// partner and phi, the weight of the first identity.
pub fn tile_labels(identities: &[u64], mixup_cols: Option<usize>) -> Vec<String> {
    identities
        .iter()
        .enumerate()
        .map(|(k, id)| match mixup_cols {
            Some(cols) => {
                let c = k % cols.max(1);
                let phi = if cols > 1 {
                    1.0 - c as f64 / (cols - 1) as f64
                } else {
                    1.0
                };
                format!("id={id}+{} phi={phi:.2}", id + 1)
            }
            None => format!("id={id}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_tiles() {
        let a = vec![10u8; 4 * 4 * 3];
        let b = vec![200u8; 4 * 4 * 3];
        let (g, w, h) = grid(&[a, b], 4, 1, 2, 1);
        assert_eq!((w, h), (11, 6));
        assert_eq!(g[(w + 1) * 3], 10);
        assert_eq!(g[(w + 6) * 3], 200);
        assert_eq!(g[0], 255);
        assert!(png(&g, w, h).is_ok());
    }

    #[test]
    fn sheets_carry_tile_labels() {
        let tiles = vec![vec![128u8; 56 * 56 * 3]; 2];
        let labels = tile_labels(&[17, 17], None);
        assert_eq!(labels, ["id=17", "id=17"]);
        let png_bytes = labelled_sheet_png(&tiles, 56, 1, 2, &labels).unwrap();
        let img = image::load_from_memory(&png_bytes).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (2 * 56 + 6, 56 + 7 + 4));
        let dark = img.pixels().filter(|p| p.0 == [40, 40, 40]).count();
        assert!(dark > 20, "captions are drawn ({dark} caption pixels)");
        assert_eq!(
            tile_labels(&[0, 0, 0], Some(3)),
            ["id=0+1 phi=1.00", "id=0+1 phi=0.50", "id=0+1 phi=0.00"]
        );
    }
}
