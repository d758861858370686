//! Network input: u8 NHWC images -> normalised f32 NCHW tensors through the kernels' batch op
//! (`kernels/src/cpu/batch.rs`: gather, mirror, bilinear resize to the model's square input,
//! `(x - 127.5) / 128`, and domain mixup with real partners). [`BatchSource`] is where a
//! training run's batches come from: on the CPU the host images through that reference op; on
//! a CUDA device u8 copies of the images uploaded once, and one launch of the same op per batch
//! (`kernels/src/tensor_op.rs`, bit-identical to the reference: `kernels/tests/gpu.rs`).

use candle_core::{Device, Tensor};
use synface_kernels::cpu::batch::{batch_input, Batch, DomainMix, Images};
use synface_kernels::BatchOp;

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

/// The images a training run draws its batches from (see the module docs).
pub struct BatchSource<'a> {
    syn: &'a [u8],
    real: Option<&'a [u8]>,
    hw: (usize, usize),
    size: usize,
    device: Device,
    /// On a CUDA device: the synthetic and real images as u8 tensors there (the synthetic ones
    /// twice over, by reference, when there are no real ones).
    resident: Option<(Tensor, Tensor)>,
}

impl<'a> BatchSource<'a> {
    /// Batches of `syn` (and `real` partners for domain mixup), `hw`-sized images, at the
    /// network's input side `size`, on `device` (where CUDA ones are uploaded now, once).
    pub fn new(
        syn: &'a [u8],
        real: Option<&'a [u8]>,
        hw: (usize, usize),
        size: usize,
        device: &Device,
    ) -> Result<Self> {
        let resident = match device {
            Device::Cpu => None,
            _ => {
                let up = |x: &[u8]| Tensor::from_slice(x, x.len(), device);
                let s = up(syn)?;
                let r = match real {
                    Some(r) => up(r)?,
                    None => s.clone(),
                };
                Some((s, r))
            }
        };
        Ok(BatchSource {
            syn,
            real,
            hw,
            size,
            device: device.clone(),
            resident,
        })
    }

    /// Images `rows` (`flips[i]` mirrors sample `i`) as `[n, 3, size, size]` on the device,
    /// blended with the real images `mix.0` at synthetic weight `mix.1` when given.
    pub fn batch(
        &self,
        rows: &[usize],
        flips: &[bool],
        mix: Option<(&[usize], f32)>,
    ) -> Result<Tensor> {
        if mix.is_some() && self.real.is_none() {
            return Err(NnError::Input(
                "domain mixup asked of a batch source without real images".into(),
            ));
        }
        let Some((syn, real)) = &self.resident else {
            let mix =
                mix.zip(self.real)
                    .map(|((rows, psi), images)| Partners { images, rows, psi });
            let x = batch_chw(self.syn, self.hw, rows, flips, self.size, mix)?;
            return to_tensor(x, self.size, &self.device);
        };
        let op = BatchOp {
            h: self.hw.0,
            w: self.hw.1,
            size: self.size,
            rows: indices(rows)?,
            flips: flips.to_vec(),
            mix: match mix {
                Some((partners, psi)) => Some((indices(partners)?, psi)),
                None => None,
            },
        };
        Ok(syn.apply_op2_no_bwd(real, &op)?)
    }
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
    fn batch_source_on_the_cpu_is_the_reference_op() {
        let syn: Vec<u8> = (0..3 * 12).map(|i| (i * 41 % 256) as u8).collect();
        let real = [7u8, 200, 13, 90, 255, 0, 64, 128, 32, 1, 2, 3];
        let src = BatchSource::new(&syn, Some(&real), (2, 2), 3, &Device::Cpu).unwrap();
        let got = src.batch(&[2, 0], &[true], Some((&[0, 0], 0.7))).unwrap();
        let mix = Partners {
            images: &real,
            rows: &[0, 0],
            psi: 0.7,
        };
        let want = batch_chw(&syn, (2, 2), &[2, 0], &[true], 3, Some(mix)).unwrap();
        assert_eq!(got.dims(), &[2, 3, 3, 3]);
        assert_eq!(got.flatten_all().unwrap().to_vec1::<f32>().unwrap(), want);
        let plain = BatchSource::new(&syn, None, (2, 2), 3, &Device::Cpu).unwrap();
        assert!(matches!(
            plain.batch(&[0], &[], Some((&[0], 0.5))),
            Err(NnError::Input(_))
        ));
    }

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
