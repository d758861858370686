//! End-to-end tests of the `synface` binary and the crates together (one test binary).
