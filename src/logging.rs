//! The stderr log filter: `RUST_LOG` as a bare level (`info`, `debug`, ...) applies to
//! synface's own crates only, dependency crates (sled, candle, ...) stay at `warn`; a
//! `RUST_LOG` with directives (`sled=debug`, `warn,synface_engine::cache=trace`) is taken as
//! written. Unset: `warn`.

/// Levels `RUST_LOG` may name on their own.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The `EnvFilter` directives for a `RUST_LOG` value.
pub fn filter(rust_log: Option<&str>) -> String {
    match rust_log.map(str::trim) {
        None | Some("") => "warn".into(),
        Some(level) if LEVELS.contains(&level.to_ascii_lowercase().as_str()) => {
            // `synface` matches every target starting with it: the binary and its crates.
            format!("warn,synface={}", level.to_ascii_lowercase())
        }
        Some(directives) => directives.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_level_keeps_dependencies_at_warn() {
        assert_eq!(filter(None), "warn");
        assert_eq!(filter(Some("debug")), "warn,synface=debug");
        assert_eq!(filter(Some("INFO")), "warn,synface=info");
        assert_eq!(filter(Some("sled=debug")), "sled=debug");
    }
}
