//! Network input: u8 NHWC images -> normalised f32 NCHW tensors through the kernels' batch op
//! (`kernels/src/cpu/batch.rs`: gather, mirror, bilinear resize to the model's square input,
//! `(x - 127.5) / 128`, and domain mixup with real partners), the same op a GPU run compares
//! against.

use candle_core::{Device, Tensor};
use synface_kernels::cpu::batch::{batch_input, Batch, DomainMix, Images};

use super::{NnError, Result};

/// Real images and their per-sample partners for a domain-mixup batch (weight `psi` of the
/// synthetic image).
pub struct Partners<'a> {
    pub images: &'a [u8],
    pub rows: &'a [usize],
    pub psi: f32,
}

fn indices(rows: &[usize]) -> Result<Vec<u32>> {
    rows.iter()
        .map(|&r| {
            u32::try_from(r).map_err(|_| NnError::Input(format!("image index {r} exceeds u32")))
        })
        .collect()
}

/// Normalised `[n, 3, size, size]` host buffer of the selected images (`flips[i]` mirrors
/// image `i` of the selection), blended with `mix`'s partners when given.
pub fn batch_chw(
    images: &[u8],
    (h, w): (usize, usize),
    rows: &[usize],
    flips: &[bool],
    size: usize,
    mix: Option<Partners>,
) -> Result<Vec<f32>> {
    let err =
        |e: synface_kernels::KernelError| NnError::Input(format!("batch of {h}x{w} images: {e}"));
    let syn = Images {
        pixels: images,
        h,
        w,
    };
    let rows = indices(rows)?;
    let batch = Batch {
        rows: &rows,
        flips,
        size,
    };
    let Some(p) = mix else {
        return batch_input(&syn, &batch, None).map_err(err);
    };
    let partners = indices(p.rows)?;
    let dm = DomainMix {
        real: Images {
            pixels: p.images,
            h,
            w,
        },
        partners: &partners,
        psi: p.psi,
    };
    batch_input(&syn, &batch, Some(&dm)).map_err(err)
}

/// Host buffer -> `[n, 3, size, size]` tensor on `device`.
pub fn to_tensor(buf: Vec<f32>, size: usize, device: &Device) -> Result<Tensor> {
    let n = buf.len() / (3 * size * size);
    Ok(Tensor::from_vec(buf, (n, 3, size, size), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_report_bad_rows_as_input_errors() {
        let img4 = [0u8, 0, 0, 100, 100, 100, 100, 100, 100, 200, 200, 200];
        let b = batch_chw(&img4, (2, 2), &[0, 0], &[false, true], 2, None).unwrap();
        assert_eq!(b.len(), 2 * 12);
        assert_eq!(b[0], b[12 + 1]);
        assert!(matches!(
            batch_chw(&img4, (2, 2), &[1], &[], 2, None),
            Err(NnError::Input(_))
        ));
        let white = [255u8; 12];
        let mixed = batch_chw(
            &img4,
            (2, 2),
            &[0],
            &[],
            2,
            Some(Partners {
                images: &white,
                rows: &[0],
                psi: 0.25,
            }),
        )
        .unwrap();
        assert!(mixed[0] > b[0], "blended toward the white partner");
    }
}
