//! Contact sheets for the report: a grid of the first identities of a dataset (one row per
//! identity), and the PNG encoder the plots share.

use crate::dataset::{Dataset, Domain};
use crate::pixels::SheetLayout;

use super::{ReportError, Sheet, PROXY_LABEL};

/// Encode RGB8 pixels as PNG.
pub fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, ReportError> {
    crate::pixels::encode_png(rgb, w as usize, h as usize)
        .map_err(|e| ReportError::Image(e.to_string()))
}

/// Caption naming a dataset's domain (photo proxies labelled as such).
pub fn domain_caption(d: Domain) -> &'static str {
    match d {
        Domain::Synthetic => "synthetic",
        Domain::PhotoProxy => PROXY_LABEL,
        Domain::Real => "real photos",
        Domain::Mixed => "domain mixture",
    }
}

/// A contact sheet of the first `rows` classes, `cols` images each (2 px gaps, grey
/// background); images smaller than 64 px are enlarged by an integer factor (nearest
/// neighbour) so small renders stay visible. `None` for an empty dataset.
pub fn contact_sheet(
    d: &Dataset,
    rows: usize,
    cols: usize,
    caption: &str,
) -> Result<Option<Sheet>, ReportError> {
    let classes: Vec<Vec<usize>> = d
        .by_class()
        .into_iter()
        .filter(|c| !c.is_empty())
        .take(rows)
        .collect();
    if classes.is_empty() || cols == 0 {
        return Ok(None);
    }
    let (h, w) = (d.info.height, d.info.width);
    let k = (64 / h.max(w).max(1)).max(1);
    let l = SheetLayout {
        rows: classes.len(),
        cols: classes.iter().map(|c| c.len().min(cols)).max().unwrap_or(1),
        cell_w: w * k,
        cell_h: h * k,
        gap: 2,
        background: 128,
    };
    let mut px = l.canvas();
    for (r, imgs) in classes.iter().enumerate() {
        for (c, &i) in imgs.iter().take(cols).enumerate() {
            l.paste(&mut px, (r, c), d.image(i), w, h, k);
        }
    }
    let (sw, sh) = l.size();
    let png = encode_png(&px, sw as u32, sh as u32)?;
    Ok(Some(Sheet {
        caption: format!("{caption} — {}", domain_caption(d.info.domain)),
        png,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetInfo;

    #[test]
    fn sheet_layout_and_proxy_caption() {
        let (k, per, side) = (3usize, 4usize, 5usize);
        let n = k * per;
        let d = Dataset {
            info: DatasetInfo {
                domain: Domain::PhotoProxy,
                num_classes: k,
                height: side,
                width: side,
                class_names: vec![],
                identity_ids: vec![],
                sources: vec![],
            },
            images: (0..n)
                .flat_map(|i| vec![(i * 10) as u8; side * side * 3])
                .collect(),
            label_a: (0..n).map(|i| (i / per) as i64).collect(),
            label_b: (0..n).map(|i| (i / per) as i64).collect(),
            phi: vec![1.0; n],
            landmarks: None,
        };
        let s = contact_sheet(&d, 2, 3, "train").unwrap().unwrap();
        assert!(s.caption.contains(PROXY_LABEL));
        let img = image::load_from_memory(&s.png).unwrap().to_rgb8();
        // 5 px images are enlarged 12x to 60 px tiles.
        assert_eq!(img.dimensions(), (3 * 62 + 2, 2 * 62 + 2));
        // Row 1, column 2 shows image 6 (class 1, third image).
        assert_eq!(img.get_pixel(2 + 2 * 62 + 59, 2 + 62 + 59).0, [60, 60, 60]);
        assert_eq!(img.get_pixel(0, 0).0, [128, 128, 128]);
    }
}
