//! Pixel helpers every part of the crate shares: the bilinear blend (the image loader's
//! alignment warp, the network input's resize, the face backgrounds), PNG encoding, and the
//! tile layout of contact sheets (`synface render`'s sheets, the report's dataset sheets).
//! One copy of each, so two sheets or two resamplers cannot drift apart.

/// The bilinear blend, shared with the network input's resize in the kernels crate (one
/// fixed order of operations; outputs are hashed into cache keys, docs/design.md §11).
pub use synface_kernels::cpu::batch::bilerp;

/// Encode `w x h` RGB8 pixels as PNG (the `image` crate's default compression and filter).
/// A buffer of the wrong length is an error (the encoder itself would panic).
pub fn encode_png(rgb: &[u8], w: usize, h: usize) -> Result<Vec<u8>, image::ImageError> {
    if w.checked_mul(h).and_then(|n| n.checked_mul(3)) != Some(rgb.len()) {
        use image::error::{ParameterError, ParameterErrorKind};
        return Err(image::ImageError::Parameter(ParameterError::from_kind(
            ParameterErrorKind::Generic(format!(
                "{w}x{h} RGB image needs {} bytes, got {}",
                w * h * 3,
                rgb.len()
            )),
        )));
    }
    let mut buf = Vec::new();
    let enc = image::codecs::png::PngEncoder::new(&mut buf);
    image::ImageEncoder::write_image(enc, rgb, w as u32, h as u32, image::ExtendedColorType::Rgb8)?;
    Ok(buf)
}

/// The layout of a contact sheet: `rows x cols` cells of `cell_w x cell_h` pixels, with a
/// `gap`-pixel border around and between them, on a `background` grey.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SheetLayout {
    pub rows: usize,
    pub cols: usize,
    pub cell_w: usize,
    pub cell_h: usize,
    pub gap: usize,
    pub background: u8,
}

impl SheetLayout {
    /// Sheet width and height in pixels.
    pub fn size(&self) -> (usize, usize) {
        (
            self.cols * (self.cell_w + self.gap) + self.gap,
            self.rows * (self.cell_h + self.gap) + self.gap,
        )
    }
    /// Top-left pixel of cell `(r, c)`.
    pub fn origin(&self, r: usize, c: usize) -> (usize, usize) {
        (
            self.gap + c * (self.cell_w + self.gap),
            self.gap + r * (self.cell_h + self.gap),
        )
    }
    /// An empty sheet (RGB, background only).
    pub fn canvas(&self) -> Vec<u8> {
        let (w, h) = self.size();
        vec![self.background; w * h * 3]
    }
    /// Copy the `w x h` RGB image `img`, enlarged `k` times (nearest neighbour), to the top
    /// left of cell `(r, c)` of `canvas`.
    pub fn paste(
        &self,
        canvas: &mut [u8],
        (r, c): (usize, usize),
        img: &[u8],
        w: usize,
        h: usize,
        k: usize,
    ) {
        let sw = self.size().0;
        let (x0, y0) = self.origin(r, c);
        for y in 0..h * k {
            let row = &img[(y / k) * w * 3..(y / k + 1) * w * 3];
            let d = ((y0 + y) * sw + x0) * 3;
            if k == 1 {
                canvas[d..d + w * 3].copy_from_slice(row);
            } else {
                for x in 0..w * k {
                    canvas[d + x * 3..d + x * 3 + 3]
                        .copy_from_slice(&row[(x / k) * 3..(x / k) * 3 + 3]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilerp_hits_corners_and_centre() {
        assert_eq!(bilerp(1.0, 2.0, 3.0, 4.0, 0.0, 0.0), 1.0);
        assert_eq!(bilerp(1.0, 2.0, 3.0, 4.0, 1.0, 1.0), 4.0);
        assert_eq!(bilerp(1.0, 2.0, 3.0, 4.0, 0.5, 0.5), 2.5);
    }

    #[test]
    fn paste_enlarges_by_nearest_neighbour_inside_its_cell() {
        let l = SheetLayout {
            rows: 1,
            cols: 2,
            cell_w: 4,
            cell_h: 4,
            gap: 1,
            background: 9,
        };
        assert_eq!(l.size(), (11, 6));
        let mut c = l.canvas();
        let img = [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]; // 2 x 2
        l.paste(&mut c, (0, 1), &img, 2, 2, 2);
        let at = |x: usize, y: usize| c[(y * 11 + x) * 3];
        assert_eq!(
            (at(6, 1), at(7, 1), at(8, 1), at(9, 2), at(6, 3)),
            (1, 1, 2, 2, 3)
        );
        assert_eq!((at(0, 0), at(5, 1), at(10, 5)), (9, 9, 9));
        assert!(encode_png(&c, 11, 6).is_ok());
    }

    #[test]
    fn png_of_a_wrong_length_buffer_is_an_error_not_a_panic() {
        let e = encode_png(&[0u8; 10], 2, 2).unwrap_err().to_string();
        assert!(e.contains("needs 12 bytes, got 10"), "{e}");
    }
}
