//! End-to-end tests of the `synface` binary and the crates together (one test binary).

mod bad_inputs;
mod cache;
mod cli;
mod crash;
mod faces;
