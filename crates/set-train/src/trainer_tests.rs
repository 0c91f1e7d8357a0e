//! Class 1 of RELIABILITY.md below the command line: an optimizer state that overflows while
//! the weights stay finite (Adam's second moment under a huge weight decay) stops training at
//! that step, naming the tensor.

use crate::{TrainError, Trainer};

#[test]
fn an_infinite_second_moment_stops_the_step() {
    let mut s = crate::codec::tests::state();
    // Validated settings never allow this decay; a library user editing the state can.
    if let set_nn::OptimizerConfig::Adam { weight_decay, .. } = &mut s.optimizer.config {
        *weight_decay = 1e30;
    }
    let ex: Vec<set_data::EncodedExample> = (0..4)
        .map(|i| set_data::EncodedExample {
            ids: vec![2, 3 + i as u32],
            label: i % 2,
        })
        .collect();
    let cfg = set_data::BatchConfig {
        batch_size: 4,
        max_len: 8,
        ..set_data::BatchConfig::default()
    };
    let batches = set_data::make_batches::<rand_chacha::ChaCha8Rng>(&ex, &cfg, None).unwrap();
    let mut t = Trainer::from_state(s).unwrap();
    let e = t.step(&batches[0]).unwrap_err();
    assert!(
        matches!(&e, TrainError::NonFinite { what, step: 10, .. } if what == "optimizer state"),
        "{e}"
    );
}
