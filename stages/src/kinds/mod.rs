//! Stage kinds, one per file.

pub mod augment;
pub(crate) mod cost;
pub mod domain_mixup;
pub mod grid;
pub mod identity_mixup;
pub mod load_images;
pub mod pairs;
pub mod render;
pub mod report;
pub mod sample_latents;
pub mod train;
pub mod train_checks;
pub mod verify;

/// Register every stage kind.
pub fn register_all(r: &mut synface_engine::Registry) {
    r.register(load_images::LoadImages);
    r.register(sample_latents::SampleLatents);
    r.register(identity_mixup::IdentityMixup);
    r.register(render::Render);
    r.register(augment::Augment);
    r.register(domain_mixup::DomainMixup);
    r.register(report::Report);
    r.register(train::Train);
    r.register(pairs::Pairs);
    r.register(verify::Verify);
}

/// The non-empty path parameters among `(name, value)`, as external inputs (paths a stage
/// reads).
pub(crate) fn path_params(paths: &[(&str, &str)]) -> Vec<synface_engine::inputs::ExternalInput> {
    paths
        .iter()
        .filter(|(_, path)| !path.is_empty())
        .map(|(name, path)| synface_engine::inputs::ExternalInput::new(name, path))
        .collect()
}

/// The facts of a stage whose output images are `size` x `size` pixels (`image_size`).
pub(crate) fn image_size_facts(size: u64) -> synface_engine::Facts {
    synface_engine::Facts::from([(
        "image_size".to_string(),
        synface_engine::params::to_value(&size),
    )])
}

/// A `threads` parameter: that many threads, or every core for 0.
pub(crate) fn threads_or_all(threads: u64) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => usize::try_from(t).unwrap_or(usize::MAX),
    }
}

/// Largest text input file a stage reads (pairs lists, landmark lists).
pub(crate) const MAX_TEXT_INPUT: u64 = 256 << 20;

/// Read a user's text file with a size cap: a device file or a runaway file is an error
/// naming the limit, never an unbounded read.
pub(crate) fn read_text_input(
    path: &std::path::Path,
) -> Result<String, synface_engine::StageError> {
    use std::io::Read;
    let io = |e: std::io::Error| {
        synface_engine::StageError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_TEXT_INPUT + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_TEXT_INPUT {
        return Err(synface_engine::StageError::Input(format!(
            "{}: larger than the {} MiB limit for text inputs",
            path.display(),
            MAX_TEXT_INPUT >> 20
        )));
    }
    Ok(text)
}
