//! The `synface` command line: a thin layer over synface-engine and synface-stages.
fn main() {
    let _ = synface_stages::registry();
}
