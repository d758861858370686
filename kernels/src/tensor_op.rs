//! The batch op as a candle [`CustomOp2`] over two u8 tensors, the synthetic and the real
//! images (flat, HWC, one after another), giving the normalised f32 `[n, 3, size, size]` batch.
//!
//! It is how a CUDA training run keeps its training set on the device: the images are uploaded
//! once as u8 tensors, and each batch is one launch of `cu/batch.cu` (gather by index, mirror,
//! resize, normalise, domain mixup) writing straight into the tensor candle then trains on;
//! only the batch's indices cross the bus. On the CPU the op runs the reference
//! [`crate::cpu::batch::batch_input`], the very function CPU training calls
//! (`stages/src/nn/input.rs`), so the CUDA result can be compared with it bit for bit
//! (`kernels/tests/gpu.rs`). Without domain mixup the second tensor is not read (any u8 tensor
//! on the same device will do).

use candle_core::{CpuStorage, CustomOp2, Layout, Shape};

use crate::cpu::batch::{batch_input, check_selection, Batch, DomainMix, Images};
use crate::error::{rows, KernelError};

/// One batch's selection from the images the op is applied to.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOp {
    /// Image height and width (both inputs).
    pub h: usize,
    pub w: usize,
    /// Side of the square network input.
    pub size: usize,
    /// Synthetic image of each sample.
    pub rows: Vec<u32>,
    /// Mirrored samples (missing entries: not mirrored).
    pub flips: Vec<bool>,
    /// Domain mixup: each sample's real partner, and the weight `psi` of the synthetic image.
    pub mix: Option<(Vec<u32>, f32)>,
}

impl BatchOp {
    /// The output's shape.
    pub fn shape(&self) -> Shape {
        (self.rows.len(), 3, self.size, self.size).into()
    }

    fn batch(&self) -> Batch<'_> {
        Batch {
            rows: &self.rows,
            flips: &self.flips,
            size: self.size,
        }
    }

    /// Checks the selection against inputs of `syn_len` and `real_len` bytes (as
    /// [`crate::cpu::batch::check_batch`] does); returns the number of samples.
    pub(crate) fn check(&self, syn_len: usize, real_len: usize) -> Result<usize, KernelError> {
        if self.h == 0 || self.w == 0 {
            return Err(KernelError::ZeroDim { what: "image side" });
        }
        let image = self.h * self.w * 3;
        let n_syn = rows("synthetic images", syn_len, image)?;
        let mix = match &self.mix {
            Some((partners, psi)) => {
                let n_real = rows("real images", real_len, image)?;
                Some((partners.as_slice(), *psi, n_real))
            }
            None => None,
        };
        check_selection(&self.batch(), n_syn, mix)
    }

    fn cpu(&self, syn: &[u8], real: &[u8]) -> Result<Vec<f32>, KernelError> {
        let images = |pixels| Images {
            pixels,
            h: self.h,
            w: self.w,
        };
        let mix = self.mix.as_ref().map(|(partners, psi)| DomainMix {
            real: images(real),
            partners,
            psi: *psi,
        });
        batch_input(&images(syn), &self.batch(), mix.as_ref())
    }
}

/// The element range of a contiguous input, or the error both implementations give.
pub(crate) fn span(what: &str, l: &Layout) -> candle_core::Result<(usize, usize)> {
    l.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "batch op: the {what} images must be a contiguous tensor"
        ))
    })
}

impl CustomOp2 for BatchOp {
    fn name(&self) -> &'static str {
        "synface-batch-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::U8(syn), CpuStorage::U8(real)) = (s1, s2) else {
            candle_core::bail!("batch op: the images must be u8 tensors")
        };
        let ((a1, b1), (a2, b2)) = (span("synthetic", l1)?, span("real", l2)?);
        let (syn, real) = (&syn[a1..b1], &real[a2..b2]);
        // The checks the CUDA path makes, so both report the same errors.
        self.check(syn.len(), real.len())
            .map_err(candle_core::Error::wrap)?;
        let out = self.cpu(syn, real).map_err(candle_core::Error::wrap)?;
        Ok((CpuStorage::F32(out), self.shape()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let out = crate::gpu::batch_op_cuda(self, (s1, l1), (s2, l2))?;
        Ok((out, self.shape()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn op(rows: Vec<u32>, mix: Option<(Vec<u32>, f32)>) -> BatchOp {
        BatchOp {
            h: 3,
            w: 2,
            size: 4,
            flips: vec![true, false, true],
            rows,
            mix,
        }
    }

    #[test]
    fn tensor_op_equals_the_reference_batch_op() {
        let syn: Vec<u8> = (0..4 * 18).map(|i| (i * 37 % 256) as u8).collect();
        let real: Vec<u8> = (0..2 * 18).map(|i| (255 - i * 11 % 256) as u8).collect();
        let (ts, tr) = (
            Tensor::from_slice(&syn, syn.len(), &Device::Cpu).unwrap(),
            Tensor::from_slice(&real, real.len(), &Device::Cpu).unwrap(),
        );
        for o in [
            op(vec![3, 0, 3], None),
            op(vec![1, 2, 0], Some((vec![1, 0, 1], 0.3))),
        ] {
            let t = ts.apply_op2_no_bwd(&tr, &o).unwrap();
            assert_eq!(t.dims(), &[3, 3, 4, 4]);
            let want = o.cpu(&syn, &real).unwrap();
            assert_eq!(t.flatten_all().unwrap().to_vec1::<f32>().unwrap(), want);
        }
        // Offsets of a narrowed (still contiguous) input are honoured.
        let tail = ts.narrow(0, 18, 54).unwrap();
        let t = tail
            .apply_op2_no_bwd(&tr, &op(vec![0, 0, 2], None))
            .unwrap();
        let want = op(vec![1, 1, 3], None).cpu(&syn, &real).unwrap();
        assert_eq!(t.flatten_all().unwrap().to_vec1::<f32>().unwrap(), want);
    }

    #[test]
    fn tensor_op_rejects_bad_selections_with_errors() {
        let ts = Tensor::zeros(2 * 18, candle_core::DType::U8, &Device::Cpu).unwrap();
        let tf = Tensor::zeros(2 * 18, candle_core::DType::F32, &Device::Cpu).unwrap();
        let bad_row = ts.apply_op2_no_bwd(&ts, &op(vec![0, 2, 1], None));
        assert!(bad_row.unwrap_err().to_string().contains("rows[1] = 2"));
        let bad_partner = ts.apply_op2_no_bwd(&ts, &op(vec![0, 1, 1], Some((vec![0, 5, 0], 0.5))));
        assert!(bad_partner
            .unwrap_err()
            .to_string()
            .contains("partners[1] = 5"));
        assert!(ts
            .apply_op2_no_bwd(&ts, &op(vec![0], Some((vec![0], 2.0))))
            .is_err());
        assert!(tf.apply_op2_no_bwd(&tf, &op(vec![0], None)).is_err());
        let odd = Tensor::zeros(17, candle_core::DType::U8, &Device::Cpu).unwrap();
        assert!(odd.apply_op2_no_bwd(&odd, &op(vec![0], None)).is_err());
    }
}
