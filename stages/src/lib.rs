//! synface-stages: every stage kind synface ships, the procedural face model (`face`),
//! and the candle networks and losses (`nn`).

pub mod artifacts;
pub mod csv_text;
pub mod dataset;
pub mod export;
pub mod face;
pub mod kinds;
pub mod memory;
pub mod nn;
pub mod onnx;
pub mod pixels;
pub mod provenance;
pub mod render_command;
pub mod report;
pub mod verify;

/// All stage kinds, registered.
pub fn registry() -> synface_engine::Registry {
    let mut r = synface_engine::Registry::new();
    kinds::register_all(&mut r);
    r
}
