//! Derived random streams: one `--seed` fixes every draw, and each purpose has its own stream so
//! that resuming needs only counters (epoch, global step), never a saved RNG state.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a random stream is used for. The discriminant is part of the derivation: never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Model initialisation (index 0).
    Init = 1,
    /// Batch order of one epoch (index = epoch).
    Shuffle = 2,
    /// Dropout masks of one optimizer step (index = global step).
    Dropout = 3,
    /// One evolution step (index = epoch after which it runs).
    Evolve = 4,
    /// Carving dev/test splits from the data (index 0).
    Split = 5,
    /// Random tokens and initialisation of `bench` (index 0).
    Bench = 6,
}

/// SplitMix64's output function: a bijective 64-bit mixer.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The 64-bit seed of stream `stream`, item `index`, of run seed `seed`.
pub fn stream_seed(seed: u64, stream: Stream, index: u64) -> u64 {
    let a = splitmix64(seed);
    let b = splitmix64(a ^ (stream as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
    splitmix64(b ^ splitmix64(index.wrapping_add(0xA076_1D64_78BD_642F)))
}

/// A ChaCha8 generator for one stream item; the same arguments always give the same sequence.
pub fn stream_rng(seed: u64, stream: Stream, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(stream_seed(seed, stream, index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |s, i| stream_rng(7, s, i).random::<u64>();
        assert_eq!(draw(Stream::Dropout, 3), draw(Stream::Dropout, 3));
        assert_ne!(draw(Stream::Dropout, 3), draw(Stream::Dropout, 4));
        assert_ne!(draw(Stream::Dropout, 3), draw(Stream::Shuffle, 3));
        assert_ne!(
            stream_rng(7, Stream::Init, 0).random::<u64>(),
            stream_rng(8, Stream::Init, 0).random::<u64>()
        );
    }
}
