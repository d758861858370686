//! Stage kinds, one per file.

/// Register every stage kind.
pub fn register_all(_r: &mut synface_engine::Registry) {}
