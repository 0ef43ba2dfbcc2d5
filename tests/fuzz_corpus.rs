//! Replays the checked-in fuzz corpus on stable Rust: every file of `fuzz/corpus/<target>/` and
//! of `fuzz/regressions/<target>/` (crash reproducers, kept after the fix) goes through the
//! same `ferrolb::fuzzing` function the cargo-fuzz target calls, so a parser change that brings
//! back a fixed crash, or breaks a property the targets assert, fails `cargo test`.
//!
//! As under libFuzzer, whose panic hook aborts the process, any panic counts, also one the
//! library catches itself (the codec runs zettabgp under `catch_unwind`).
//!
//! It cannot pass vacuously: each target must have a non-empty corpus directory, and the
//! targets here, the corpus directories and `fuzz/fuzz_targets/*.rs` must be the same set.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrolb::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn names_in(dir: &Path, strip: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").file_name())
        .filter_map(|n| {
            n.to_str()
                .and_then(|n| n.strip_suffix(strip))
                .map(str::to_string)
        })
        .collect()
}

/// The files of `dir`, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn the_targets_the_corpus_and_the_fuzz_crate_agree() {
    let ours: BTreeSet<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(names_in(&fuzz_dir().join("fuzz_targets"), ".rs"), ours);
    assert_eq!(names_in(&fuzz_dir().join("corpus"), ""), ours);
    if fuzz_dir().join("regressions").exists() {
        let reproduced = names_in(&fuzz_dir().join("regressions"), "");
        assert!(reproduced.is_subset(&ours), "{reproduced:?}");
    }
}

/// Panics seen by the hook, caught or not.
static PANICS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn every_corpus_and_regression_input_replays_without_a_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let mut total = 0;
    for (name, run) in TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name} is missing or empty (fuzz/seeds.py writes the seeds)"
        );
        let regressions = files(&fuzz_dir().join("regressions").join(name));
        for path in corpus.iter().chain(&regressions) {
            let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let before = PANICS.load(Ordering::SeqCst);
            let outcome = std::panic::catch_unwind(|| run(&data));
            let panicked = PANICS.load(Ordering::SeqCst) != before;
            assert!(
                outcome.is_ok() && !panicked,
                "{name}: {} panicked",
                path.display()
            );
            total += 1;
        }
    }
    assert!(total >= TARGETS.len());
}
