//! Which synface made something: the crate version and the git commit it was built from
//! (recorded by `stages/build.rs`), for run history entries and reports.

/// The synface version (`synface --version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit (12 hex digits, then `-dirty` when the tree had uncommitted changes to tracked
/// files) this build came from, when known at build time.
pub fn commit() -> Option<&'static str> {
    Some(env!("SYNFACE_GIT_COMMIT")).filter(|c| !c.is_empty())
}

/// `0.1.0 (commit 3ceb743a1b2c)`, or the version alone when the commit is unknown.
pub fn describe() -> String {
    match commit() {
        Some(c) => format!("{VERSION} (commit {c})"),
        None => VERSION.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_names_the_version_and_any_commit() {
        let d = describe();
        assert!(d.starts_with(VERSION), "{d}");
        assert_eq!(d.contains("commit"), commit().is_some());
        let hex = |c: &str| c.len() == 12 && c.chars().all(|x| x.is_ascii_hexdigit());
        assert!(commit().is_none_or(|c| hex(c.strip_suffix("-dirty").unwrap_or(c))));
    }
}
