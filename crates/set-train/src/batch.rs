//! The one conversion from a `set-data` batch to the model's borrowed batch view, and the check
//! that both crates agree on the padding id.

use set_data::{Batch, Vocab};
use set_nn::{BatchRef, PAD_ID};

// `set-data` pads batches with `Vocab::PAD`; the model treats `PAD_ID` as padding (no gradient,
// no topology). They are one convention: this fails to compile if they ever differ.
const _: () = assert!(Vocab::PAD == PAD_ID);

/// The model's view of a batch (time-major token ids, lengths, steps).
///
/// ```
/// let examples = vec![set_data::EncodedExample { ids: vec![5, 6], label: 1 }];
/// let batches = set_data::eval_batches(&examples, &set_data::BatchConfig::default()).unwrap();
/// let b = set_train::batch_ref(&batches[0]);
/// assert_eq!((b.seq_len, b.lengths), (2, &[2usize][..]));
/// ```
pub fn batch_ref(b: &Batch) -> BatchRef<'_> {
    BatchRef {
        tokens: &b.tokens,
        lengths: &b.lengths,
        seq_len: b.seq_len,
    }
}
