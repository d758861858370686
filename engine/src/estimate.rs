//! Plan-time cost estimates of a stage instance (`synface plan --estimate`): arithmetic work,
//! peak memory and the bytes its outputs take in the cache, from each kind's cost model
//! ([`crate::Stage::estimate`]) over its parameters and its inputs' plan-time facts. Rough
//! by design: they say which stages dominate, not how long a run takes.

/// Facts about a stage instance's output known at plan time (e.g. `image_size = 112`),
/// propagated along the plan by [`Stage::output_facts`].
pub type Facts = std::collections::BTreeMap<String, toml::Value>;

/// What one instance is expected to cost; `None` where the kind cannot say at plan time
/// (e.g. the size of a folder of real images).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Estimate {
    /// Floating-point (or comparable integer) operations.
    pub flops: Option<f64>,
    /// Peak memory, MiB.
    pub mem_mb: Option<u64>,
    /// Bytes of the outputs stored in the cache.
    pub disk_bytes: Option<u64>,
}

impl Estimate {
    /// Add `other` to `self`; unknown parts stay unknown only when both are.
    pub fn add(&mut self, other: &Estimate) {
        fn sum<T: std::ops::Add<Output = T> + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(x), Some(y)) => Some(x + y),
                (x, None) => x,
                (None, y) => y,
            }
        }
        self.flops = sum(self.flops, other.flops);
        self.mem_mb = self.mem_mb.max(other.mem_mb);
        self.disk_bytes = sum(self.disk_bytes, other.disk_bytes);
    }
}

/// The first input's facts, or none: what a stage's output is known to be by default.
pub fn first_facts(inputs: &[(&str, &Facts)]) -> Facts {
    inputs
        .first()
        .map(|(_, f)| (*f).clone())
        .unwrap_or_default()
}

/// An integer fact of an input (`images`, `image_size`), from the first input that has it.
pub fn fact_u64(inputs: &[(&str, &Facts)], name: &str) -> Option<u64> {
    inputs
        .iter()
        .find_map(|(_, f)| f.get(name)?.as_integer())
        .and_then(|v| u64::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_work_and_disk_and_keep_the_peak_memory() {
        let mut t = Estimate::default();
        t.add(&Estimate {
            flops: Some(2.0),
            mem_mb: Some(100),
            disk_bytes: None,
        });
        t.add(&Estimate {
            flops: Some(3.0),
            mem_mb: Some(50),
            disk_bytes: Some(7),
        });
        assert_eq!(t.flops, Some(5.0));
        assert_eq!(t.mem_mb, Some(100));
        assert_eq!(t.disk_bytes, Some(7));
        let facts = Facts::from([("images".to_string(), toml::Value::Integer(40))]);
        assert_eq!(fact_u64(&[("input", &facts)], "images"), Some(40));
        assert_eq!(fact_u64(&[("input", &facts)], "image_size"), None);
    }
}
