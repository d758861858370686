//! The artifact types stage kinds exchange: their type names (what a port accepts and a kind
//! produces) and, for the formats not owned by a richer module, their one encoder and decoder.
//! `dataset` is owned by [`crate::dataset`], `model` by [`crate::nn::embedder`] and
//! [`crate::nn::model_meta`], `verification` is read back by [`crate::report::decode`].

pub mod latents;
pub mod mixup_set;
pub mod pairs;

/// Face latents ([`crate::face::LatentSet`]): `latents.safetensors` + `latents.json`.
pub const LATENTS: &str = "latents";
/// Labelled images ([`crate::dataset::Dataset`]).
pub const DATASET: &str = "dataset";
/// A synthetic dataset with its real partner set and the domain-mixup grid ([`mixup_set`]).
pub const MIXUP_DATASET: &str = "mixup_dataset";
/// Either training input: [`DATASET`] or [`MIXUP_DATASET`] (a port's `|` list).
pub const TRAINING_DATA: &str = "dataset|mixup_dataset";
/// A trained backbone (`model.safetensors` + `model.json`).
pub const MODEL: &str = "model";
/// A verification protocol ([`pairs`]).
pub const PAIRS: &str = "pairs";
/// Verification results (`metrics.json`, `scores.csv`, `roc.csv`, embeddings).
pub const VERIFICATION: &str = "verification";
/// A rendered report.
pub const REPORT: &str = "report";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_data_lists_both_dataset_types() {
        assert_eq!(TRAINING_DATA, format!("{DATASET}|{MIXUP_DATASET}"));
    }
}
