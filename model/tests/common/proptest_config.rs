//! The property tests' runner settings, shared by the model, server and client property
//! tests (the latter two include this file by path).

use proptest::test_runner::Config;

/// `default` cases, or `PROPTEST_CASES` when set (a longer local run, or a shorter one).
pub fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // Minimized failures become named regression tests, not files.
        failure_persistence: None,
        ..Config::default()
    }
}
