//! End-to-end tests of the `synface` binary and the crates together (one test binary).

mod bad_inputs;
mod bounds;
mod cache;
mod cache_safety;
mod cli;
mod crash;
mod daily_tool;
mod faces;
mod faults;
mod history;
mod py_export;
mod slurm;
mod stage_digests;
mod stale_inputs;
mod user_files;
