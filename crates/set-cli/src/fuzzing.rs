//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/checkpoint.rs`,
//! `config.rs`) and the corpus replay test, so both exercise exactly the same code. Each takes
//! arbitrary bytes and must return (a typed error is fine), never panic, never allocate more than
//! a small multiple of the input. Beyond "no panic", each checks a round-trip property: whatever
//! is accepted re-encodes to something accepted that re-encodes to the same bytes.

use crate::config::{Settings, TrainConfig};
pub use set_train::fuzzing::checkpoint;

/// Parses `data` as a `--config` file (settings) and as a run's `config.toml`; a configuration
/// that is accepted must survive `to_toml` -> `from_toml` unchanged.
///
/// # Panics
/// If an accepted configuration does not round-trip (a bug the fuzzer is looking for).
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = toml::from_str::<Settings>(text);
    if let Ok(c) = TrainConfig::from_toml(text) {
        let written = c.to_toml().expect("a valid configuration serialises");
        let back = TrainConfig::from_toml(&written).expect("a written configuration parses");
        assert!(
            back == c,
            "config.toml round trip changed {c:?} into {back:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    /// Replays every committed fuzz corpus entry and crash input through the same entry points.
    #[test]
    fn fuzz_corpus_replays_without_panics() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        for (target, f) in [
            ("checkpoint", super::checkpoint as fn(&[u8])),
            ("config", super::config),
        ] {
            let replayed = set_data::fuzzing::replay(&root, target, f);
            assert!(
                replayed >= 10,
                "expected the committed corpus under {}/corpus/{target}, replayed {replayed}",
                root.display()
            );
        }
    }
}
