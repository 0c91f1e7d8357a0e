//! The cargo-fuzz entry point over the checkpoint and model-file decoders (`fuzz/`), shared with
//! the corpus replay test so both run exactly the same code: arbitrary bytes must give a typed
//! error or a value that re-encodes stably, never a panic.

use crate::codec::{decode_checkpoint, decode_model, encode_checkpoint, encode_model};

/// Decodes `data` as a checkpoint and as a model file; re-encodes whatever is accepted.
///
/// # Panics
/// If an accepted file does not re-encode stably (a bug the fuzzer is looking for).
pub fn checkpoint(data: &[u8]) {
    if let Ok(state) = decode_checkpoint(data) {
        let bytes = encode_checkpoint(&state).expect("a decoded checkpoint encodes");
        let again = decode_checkpoint(&bytes).expect("a re-encoded checkpoint decodes");
        assert!(
            encode_checkpoint(&again).expect("encodes") == bytes,
            "checkpoint re-encoding is not stable"
        );
    }
    if let Ok(bundle) = decode_model(data) {
        let bytes = encode_model(&bundle).expect("a decoded model encodes");
        let again = decode_model(&bytes).expect("a re-encoded model decodes");
        assert!(
            encode_model(&again).expect("encodes") == bytes,
            "model re-encoding is not stable"
        );
    }
}
