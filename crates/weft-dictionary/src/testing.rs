//! The real dictionaries for tests (this crate's and others'; enable the `testing` feature).
//!
//! `tests/dictionaries/fetch.sh` puts gdcdictionary 1.2.0 and gen3dictionary 3.0.0 in a
//! directory named by [`DICTIONARIES_ENV`] (`./test.sh` runs it and sets the variable). When
//! it is unset a test using them is skipped with a notice, unless `CI` is set: then it fails.

use std::path::PathBuf;

/// The environment variable naming the directory of real dictionaries.
pub const DICTIONARIES_ENV: &str = "WEFT_TEST_DICTIONARIES";

/// The real dictionaries' names: each is `<dir>/<name>/` (YAML) and `<dir>/<name>.json`.
pub const REAL: [&str; 2] = ["gdcdictionary-1.2.0", "gen3dictionary-3.0.0"];

/// The directory of real dictionaries, or `None` (with a notice) when it is not configured.
///
/// # Panics
/// When it is not configured and `CI` is set, or when it is configured but lacks one.
#[must_use]
pub fn real_dictionaries() -> Option<PathBuf> {
    let dir = std::env::var_os(DICTIONARIES_ENV).filter(|d| !d.is_empty());
    let Some(dir) = dir.map(PathBuf::from) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{DICTIONARIES_ENV} is unset but CI is: run tests/dictionaries/fetch.sh and set it \
             (./test.sh does)"
        );
        eprintln!("{DICTIONARIES_ENV} is unset: skipping a test on the real dictionaries");
        return None;
    };
    for name in REAL {
        assert!(
            dir.join(name).is_dir() && dir.join(format!("{name}.json")).is_file(),
            "{} lacks {name}: run tests/dictionaries/fetch.sh {}",
            dir.display(),
            dir.display()
        );
    }
    Some(dir)
}
