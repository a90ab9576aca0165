//! The configuration every property test of the crate runs with, so that
//! a run can be reproduced:
//!
//! - A failure is saved to `proptest-regressions/` beside `src/` (one file
//!   per test module, committed) and replayed first by every later run,
//!   before any new case: a seed that once failed stays a regression case.
//! - In CI (`CI` set, as GitHub Actions, GitLab CI and most others set it)
//!   the cases come from a fixed seed ([`CI_SEED`]), so a red run fails the
//!   same way when run again, here or there; locally each run draws new
//!   cases. `PROPTEST_RNG_SEED=N` fixes the seed of any run (to replay a CI
//!   run with another seed, or to explore locally in a reproducible way),
//!   and `PROPTEST_CASES=N` changes every test's number of cases.

use proptest::test_runner::{Config, FileFailurePersistence, RngAlgorithm, RngSeed};

/// The seed of CI runs when `PROPTEST_RNG_SEED` does not name one.
pub(crate) const CI_SEED: u64 = 0x2fa_5eed;

/// The configuration of a property test running `cases` cases (unless
/// `PROPTEST_CASES` says otherwise), by the environment of this process.
pub(crate) fn config(cases: u32) -> Config {
    config_from(cases, |name| std::env::var(name).ok())
}

/// [`config`] by the environment `env` gives (tests).
fn config_from(cases: u32, env: impl Fn(&str) -> Option<String>) -> Config {
    let set = |name: &str| env(name).filter(|v| !v.is_empty() && v != "false" && v != "0");
    // `Config::default()` reads `PROPTEST_RNG_SEED` itself.
    let rng_seed = match (set("PROPTEST_RNG_SEED"), set("CI")) {
        (None, Some(_)) => RngSeed::Fixed(CI_SEED),
        _ => Config::default().rng_seed,
    };
    Config {
        cases: set("PROPTEST_CASES")
            .and_then(|n| n.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        // Pinned, so that a seed names the same cases whatever the
        // environment's `PROPTEST_RNG_ALGORITHM`.
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed,
        ..Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn ci_runs_draw_their_cases_from_a_fixed_seed() {
        let ci = config_from(64, env(&[("CI", "true")]));
        assert_eq!(ci.rng_seed, RngSeed::Fixed(CI_SEED));
        assert_eq!(ci.rng_algorithm, RngAlgorithm::ChaCha);
        assert_eq!(ci.cases, 64);
        // A seed given is kept (proptest reads it into the default).
        let given = config_from(64, env(&[("CI", "1"), ("PROPTEST_RNG_SEED", "7")]));
        assert_eq!(given.rng_seed, Config::default().rng_seed);
        assert_ne!(given.rng_seed, RngSeed::Fixed(CI_SEED));
        // Not CI: whatever the environment says (random unless a seed is set).
        for local in [&[][..], &[("CI", "")], &[("CI", "false")]] {
            assert_eq!(
                config_from(8, env(local)).rng_seed,
                Config::default().rng_seed
            );
        }
        assert_eq!(config_from(8, env(&[("PROPTEST_CASES", "3")])).cases, 3);
        // Two runs from one seed draw the same cases.
        let draw = || {
            use proptest::strategy::{Strategy, ValueTree};
            let mut runner =
                proptest::test_runner::TestRunner::new(config_from(1, env(&[("CI", "true")])));
            (0..5)
                .map(|_| {
                    proptest::arbitrary::any::<u64>()
                        .new_tree(&mut runner)
                        .map(|t| t.current())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(), draw());
    }

    /// The regression files are where the property tests look for them:
    /// the saved failure of `safe_next` (a NUL and an encoded slash) is
    /// replayed by `web::redirect`'s property test.
    #[test]
    fn saved_failures_are_replayed() {
        let persistence = config(1).failure_persistence.expect("persistence on");
        let redirect = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/redirect.rs");
        let saved = persistence.load_persisted_failures2(Some(redirect));
        assert!(!saved.is_empty(), "no regression file for {redirect}");
    }
}
