//! Regenerate the contact sheets in `docs/faces/`:
//! `cargo run -p synface-stages --example face_sheets -- [OUT_DIR]`, or write an image folder
//! (`--imagefolder DIR IDS PER_ID SIZE MAX_YAW`) for external judges (bench/judge).

use std::path::PathBuf;

use synface_stages::face::{Factor, Style};
use synface_stages::render_command::{cli_render, OutputFormat, RenderOpts};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--imagefolder") {
        let num = |i: usize, d: f64| args.get(i).and_then(|a| a.parse::<f64>().ok()).unwrap_or(d);
        let o = RenderOpts {
            out: PathBuf::from(args.get(1).cloned().unwrap_or_else(|| "faces".into())),
            ids: num(2, 20.0) as usize,
            per_id: num(3, 5.0) as usize,
            size: num(4, 150.0) as usize,
            max_yaw: num(5, 25.0) as f32,
            format: OutputFormat::ImageFolder,
            ..RenderOpts::default()
        };
        cli_render(&o)?;
        println!("wrote image folder {}", o.out.display());
        return Ok(());
    }
    let dir = PathBuf::from(args.first().cloned().unwrap_or_else(|| "docs/faces".into()));
    let base = RenderOpts {
        ids: 8,
        per_id: 8,
        format: OutputFormat::Sheet,
        ..RenderOpts::default()
    };
    cli_render(&RenderOpts {
        out: dir.join("grid.png"),
        ..base.clone()
    })?;
    cli_render(&RenderOpts {
        out: dir.join("photo.png"),
        style: Style::Photo,
        ..base.clone()
    })?;
    for f in [
        Factor::Identity,
        Factor::Expression,
        Factor::Illumination,
        Factor::Pose,
        Factor::Background,
        Factor::Mixup,
    ] {
        let o = RenderOpts {
            ids: 3,
            vary: Some(f),
            out: dir.join(format!("vary-{}.png", f.name())),
            ..base.clone()
        };
        cli_render(&o)?;
    }
    println!("wrote sheets to {}", dir.display());
    Ok(())
}
