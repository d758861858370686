//! The `{ from, to, step }`-or-list grid of weights in [0, 1] that `identity_mixup` (`phi`) and
//! `domain_mixup` (`psi`) draw from: one parser and one set of checks for both.

/// A grid of values: `{ from, to, step }` (inclusive of `to` within rounding) or an explicit list.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Grid {
    Range { from: f64, to: f64, step: f64 },
    List(Vec<f64>),
}

impl Grid {
    /// The grid's values, or a description of what is wrong with it.
    pub fn values(&self) -> Result<Vec<f64>, String> {
        let v = match self {
            Grid::List(v) => v.clone(),
            Grid::Range { from, to, step } => {
                if !(step.is_finite() && *step > 0.0 && from.is_finite() && to.is_finite()) {
                    return Err(format!("range step must be > 0 and bounds finite (from {from}, to {to}, step {step})"));
                }
                if to < from {
                    return Err(format!("range `to` ({to}) is below `from` ({from})"));
                }
                let n = ((to - from) / step + 1e-9).floor() as usize;
                if n > 100_000 {
                    return Err(format!("range has {n} values: use a larger step"));
                }
                (0..=n)
                    .map(|i| from + i as f64 * step)
                    .map(|x| (x * 1e9).round() / 1e9)
                    .collect()
            }
        };
        if v.is_empty() {
            return Err("grid is empty".into());
        }
        if let Some(x) = v.iter().find(|x| !(0.0..=1.0).contains(*x)) {
            return Err(format!("value {x} is outside [0, 1]"));
        }
        Ok(v)
    }
}

impl Default for Grid {
    fn default() -> Self {
        Grid::Range {
            from: 0.0,
            to: 1.0,
            step: 0.05,
        }
    }
}

impl Grid {
    /// The grid's values as `f32` (what the latents and batches store).
    pub fn values_f32(&self) -> Result<Vec<f32>, String> {
        Ok(self.values()?.into_iter().map(|x| x as f32).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_grid_has_21_steps_and_out_of_range_values_are_refused() {
        assert_eq!(Grid::default().values().unwrap().len(), 21);
        assert!(Grid::List(vec![1.5]).values().is_err());
        assert!(Grid::List(vec![]).values().is_err());
    }
}
