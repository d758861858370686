//! Stage kinds, one per file.

pub mod augment;
pub mod domain_mixup;
pub mod identity_mixup;
pub mod load_images;
pub mod pairs;
pub mod render;
pub mod report;
pub mod sample_latents;
pub mod train;
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
