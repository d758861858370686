//! Run history (docs/design.md §7): every `synface run` leaves one entry,
//! `runs/<name>/history/<id>.json`, saying when it ran, with which synface, what the plan was
//! (a digest, the points, every instance's parameters and key) and what came out (the
//! `results.json` rows and a headline metric). `synface runs`, `show --run`, `diff` and the
//! MLflow export read these entries.
//!
//! Entries are not stage outputs: they carry wall-clock times, live beside the run layout
//! rather than in it (`.synface-published.json` never lists them) and are never removed by
//! synface. [`entry`] has the format, [`store`] numbers, writes and lists entries, [`diff`]
//! compares two, [`headline`] picks the metric a run is summarised by, [`mlflow`] writes
//! entries into an MLflow tracking store.

pub mod diff;
pub mod entry;
pub mod headline;
pub mod mlflow;
pub mod store;

pub use diff::{param_changes, Comparison, MetricDelta, ParamChange};
pub use entry::{utc, InstanceEntry, Outcome, PointEntry, Producer, RunEntry, RunFacts};
pub use headline::Headline;
pub use store::{list, read, record, HistoryError, Listing};
