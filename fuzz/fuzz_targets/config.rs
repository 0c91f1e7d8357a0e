//! Fuzz target: the `--config` / `config.toml` parsers must return (Ok or a typed error) on any
//! bytes, never panic; an accepted configuration round-trips through `config.toml`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| set_cli::fuzzing::config(data));
