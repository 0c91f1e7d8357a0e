//! Fuzz target: the vocab parser must return (Ok or a typed error) on any bytes, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| set_data::fuzzing::vocab(data));
