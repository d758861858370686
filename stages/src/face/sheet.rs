//! Contact sheets: tile equally sized RGB images into one grid PNG.

use super::FaceError;

/// Tile `images` (each `size x size` RGB) into `rows x cols` with a `gap`-pixel border.
pub fn grid(
    images: &[Vec<u8>],
    size: usize,
    rows: usize,
    cols: usize,
    gap: usize,
) -> (Vec<u8>, usize, usize) {
    let w = cols * size + (cols + 1) * gap;
    let h = rows * size + (rows + 1) * gap;
    let mut out = vec![255u8; w * h * 3];
    for (k, img) in images.iter().enumerate().take(rows * cols) {
        let (r, c) = (k / cols, k % cols);
        let (ox, oy) = (gap + c * (size + gap), gap + r * (size + gap));
        for y in 0..size {
            let src = &img[y * size * 3..(y + 1) * size * 3];
            let d = ((oy + y) * w + ox) * 3;
            out[d..d + size * 3].copy_from_slice(src);
        }
    }
    (out, w, h)
}

/// Encode RGB bytes as PNG.
pub fn png(rgb: &[u8], w: usize, h: usize) -> Result<Vec<u8>, FaceError> {
    let mut buf = Vec::new();
    let enc = image::codecs::png::PngEncoder::new(&mut buf);
    image::ImageEncoder::write_image(enc, rgb, w as u32, h as u32, image::ExtendedColorType::Rgb8)
        .map_err(|e| FaceError::Image(e.to_string()))?;
    Ok(buf)
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
}
