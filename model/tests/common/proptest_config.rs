//! The property tests' runner settings, shared by the model, server and client property
//! tests (the latter two include this file by path).

use proptest::test_runner::{Config, RngSeed};

/// The seed of CI's runs: the same cases on every run, so a red build means a change broke
/// something, not that this run drew an unlucky case. Set `PROPTEST_RNG_SEED` (or a random
/// one, e.g. `PROPTEST_RNG_SEED=$RANDOM`) to explore other cases locally.
const CI_SEED: u64 = 0x00c5_7a1e;

/// `default` cases, or `PROPTEST_CASES` when set (a longer local run, or a shorter one).
pub fn config(default: u32) -> Config {
    // Config::default() reads PROPTEST_RNG_SEED; without it, use the fixed seed.
    let defaults = Config::default();
    let rng_seed = match defaults.rng_seed {
        RngSeed::Random => RngSeed::Fixed(CI_SEED),
        chosen => chosen,
    };
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // Minimized failures become named regression tests, not files.
        failure_persistence: None,
        rng_seed,
        ..defaults
    }
}
