//! Face verification: the LFW protocol's metrics ([`metrics`]), the `pairs.txt` format
//! ([`lfw`]), pair lists and their generation ([`pairs`]) and the embedding/scoring pipeline
//! the `verify` stage runs ([`run`]).

pub mod lfw;
pub mod metrics;
pub mod pairs;
pub mod run;
