//! SGD with momentum and (coupled, PyTorch-style) weight decay over the trainable variables of
//! a `VarMap` in name order, and the learning-rate schedule (linear warm-up, then cosine or
//! step decay).

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::VarMap;

use super::layers::{is_buffer, sorted_vars, HostTensor};
use super::{NnError, Result};

/// Decay after warm-up.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Half-cosine from the base rate to 0 at the last step.
    Cosine,
    /// Multiply by `gamma` at each milestone step.
    Step { milestones: Vec<u64>, gamma: f64 },
}

/// Learning rate as a function of the (0-based) step.
#[derive(Debug, Clone, PartialEq)]
pub struct LrSchedule {
    pub base: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub schedule: Schedule,
}

impl LrSchedule {
    pub fn at(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.base * (step + 1) as f64 / self.warmup_steps as f64;
        }
        match &self.schedule {
            Schedule::Cosine => {
                let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
                let t = ((step - self.warmup_steps) as f64 / span).min(1.0);
                0.5 * self.base * (1.0 + (std::f64::consts::PI * t).cos())
            }
            Schedule::Step { milestones, gamma } => {
                let passed = milestones.iter().filter(|&&m| step >= m).count();
                self.base * gamma.powi(passed as i32)
            }
        }
    }
}

/// SGD: `g += wd * w; v = mu * v + g; w -= lr * v` (velocity starts at zero).
pub struct Sgd {
    params: Vec<(String, Var)>,
    velocity: Vec<Option<Tensor>>,
    pub momentum: f64,
    pub weight_decay: f64,
}

impl Sgd {
    /// Over every trainable variable of `vm` (running statistics excluded), sorted by name.
    pub fn new(vm: &VarMap, momentum: f64, weight_decay: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&momentum) || weight_decay < 0.0 {
            return Err(NnError::Config(format!(
                "momentum {momentum} must be in [0, 1) and weight decay {weight_decay} >= 0"
            )));
        }
        let params: Vec<_> = sorted_vars(vm)
            .into_iter()
            .filter(|(n, _)| !is_buffer(n))
            .collect();
        let velocity = vec![None; params.len()];
        Ok(Sgd {
            params,
            velocity,
            momentum,
            weight_decay,
        })
    }

    /// Number of trainable scalars.
    pub fn param_count(&self) -> usize {
        self.params.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// One update; variables without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        for ((_, var), vel) in self.params.iter().zip(self.velocity.iter_mut()) {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let w = var.as_tensor().detach();
            let g = if self.weight_decay > 0.0 {
                (g.detach() + (&w * self.weight_decay)?)?
            } else {
                g.detach()
            };
            let v = match vel.take() {
                Some(v) if self.momentum > 0.0 => ((v * self.momentum)? + g)?,
                _ => g,
            };
            var.set(&(w - (&v * lr)?)?)?;
            *vel = Some(v);
        }
        Ok(())
    }

    /// Velocities as host tensors named `prefix + var name` (absent ones are skipped).
    pub fn state(&self, prefix: &str) -> Result<Vec<HostTensor>> {
        self.params
            .iter()
            .zip(&self.velocity)
            .filter_map(|((n, _), v)| {
                v.as_ref()
                    .map(|v| HostTensor::of(format!("{prefix}{n}"), v))
            })
            .collect()
    }

    /// Restore velocities saved by [`Sgd::state`].
    pub fn load_state(&mut self, tensors: &[HostTensor], prefix: &str) -> Result<()> {
        for ((n, var), vel) in self.params.iter().zip(self.velocity.iter_mut()) {
            let key = format!("{prefix}{n}");
            *vel = match tensors.iter().find(|t| t.name == key) {
                Some(t) if t.shape == var.dims() => {
                    Some(t.to_tensor(var.device())?.to_dtype(var.dtype())?)
                }
                Some(t) => {
                    return Err(NnError::Checkpoint(format!(
                        "velocity `{key}` has shape {:?}, expected {:?}",
                        t.shape,
                        var.dims()
                    )))
                }
                None => None,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarBuilder;

    #[test]
    fn schedules() {
        let mut s = LrSchedule {
            base: 0.1,
            warmup_steps: 2,
            total_steps: 12,
            schedule: Schedule::Cosine,
        };
        assert!((s.at(0) - 0.05).abs() < 1e-12);
        assert!((s.at(2) - 0.1).abs() < 1e-12);
        assert!((s.at(7) - 0.05).abs() < 1e-12);
        assert!(s.at(12).abs() < 1e-12);
        s.schedule = Schedule::Step {
            milestones: vec![5, 8],
            gamma: 0.1,
        };
        assert!((s.at(4) - 0.1).abs() < 1e-12);
        assert!((s.at(5) - 0.01).abs() < 1e-12);
        assert!((s.at(9) - 0.001).abs() < 1e-12);
    }

    #[test]
    fn momentum_and_decay_by_hand() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let w = vb
            .get_with_hints(1, "w", candle_nn::Init::Const(2.0))
            .unwrap();
        vb.get_with_hints(1, "bn.running_mean", candle_nn::Init::Const(0.0))
            .unwrap();
        let mut opt = Sgd::new(&vm, 0.9, 0.5).unwrap();
        assert_eq!(opt.param_count(), 1);
        // loss = 3 w: grad 3. Step 1: g = 3 + 0.5*2 = 4, v = 4, w = 2 - 0.1*4 = 1.6.
        let grads = (&w * 3.0).unwrap().sum_all().unwrap().backward().unwrap();
        opt.step(&grads, 0.1).unwrap();
        let now = |t: &Tensor| t.to_vec1::<f32>().unwrap()[0];
        assert!((now(&w) - 1.6).abs() < 1e-6);
        // Step 2: g = 3 + 0.8 = 3.8, v = 3.6 + 3.8 = 7.4, w = 1.6 - 0.74 = 0.86.
        let grads = (&w * 3.0).unwrap().sum_all().unwrap().backward().unwrap();
        opt.step(&grads, 0.1).unwrap();
        assert!((now(&w) - 0.86).abs() < 1e-5);
        let st = opt.state("v.").unwrap();
        assert_eq!(st.len(), 1);
        assert!((st[0].data[0] - 7.4).abs() < 1e-5);
        let mut fresh = Sgd::new(&vm, 0.9, 0.5).unwrap();
        fresh.load_state(&st, "v.").unwrap();
        assert_eq!(fresh.state("v.").unwrap()[0].data, st[0].data);
        assert!(Sgd::new(&vm, 1.5, 0.0).is_err());
    }
}
