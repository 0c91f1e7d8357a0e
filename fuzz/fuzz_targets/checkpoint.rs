//! Fuzz target: the checkpoint and model-file decoders must return (Ok or a typed error) on any
//! bytes, never panic or allocate beyond the input's size; what they accept re-encodes stably.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| set_cli::fuzzing::checkpoint(data));
