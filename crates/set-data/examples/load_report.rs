//! Loads a dataset (default IMDB), tokenises it cold and from the cache, builds a 20k vocabulary and prints statistics and timings.
//!
//! ```text
//! cargo run --release -p set-data --example load_report -- <data_dir> [dataset] [cache_dir]
//! cargo run --release -p set-data --example load_report -- /work/shared/datasets imdb /tmp/set-lstm-cache
//! ```
//!
//! Without `cache_dir`, a fresh directory under the system temp dir is used and removed afterwards.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use set_data::{
    BatchConfig, DataDir, DatasetSplits, SplitConfig, SplitStats, TokenCache, TokenizedExample,
    Tokenizer, Vocab, load_dataset_tokenized, make_batches, unk_rate,
};

const SEED: u64 = 42;
const VOCAB_SIZE: usize = 20_000;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data_dir = DataDir::resolve(args.next().map(PathBuf::from))?;
    let name = args.next().unwrap_or_else(|| "imdb".into());
    let (cache_dir, temporary) = match args.next() {
        Some(d) => (PathBuf::from(d), false),
        None => (
            std::env::temp_dir().join(format!("set-lstm-load-report-{}", std::process::id())),
            true,
        ),
    };
    let tokenizer = Tokenizer::default();
    let config = SplitConfig::default();
    println!("dataset {name} from {}", data_dir.root().display());
    println!("tokenizer {}", serde_json::to_string(tokenizer.config())?);
    println!(
        "splits: dev_fraction {}, test_fraction {}, seed {SEED}",
        config.dev_fraction, config.test_fraction
    );

    let load = |cache: Option<&TokenCache>| -> Result<(DatasetSplits<TokenizedExample>, f64), set_data::DataError> {
        let t = Instant::now();
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        let s = load_dataset_tokenized(&name, &data_dir, &tokenizer, cache, &mut rng, &config)?;
        Ok((s, t.elapsed().as_secs_f64()))
    };
    // Each run's result is reduced to a fingerprint and dropped before the next run, so the
    // timings are not skewed by holding several copies in memory.
    let (plain, t_plain) = load(None)?;
    let fp_plain = fingerprint(&plain);
    drop(plain);
    let cache = TokenCache::new(&cache_dir)?;
    let (first, t_first) = load(Some(&cache))?;
    let (fp_first, status_first) = (fingerprint(&first), first.cache_status.clone());
    drop(first);
    let (cached, t_cached) = load(Some(&cache))?;
    if fp_plain != fp_first || fp_first != fingerprint(&cached) {
        return Err("cached splits differ from uncached ones".into());
    }
    println!();
    println!("load + tokenise, no cache:          {t_plain:7.2} s");
    println!("load + tokenise + write cache:      {t_first:7.2} s  {status_first:?}");
    println!(
        "load from cache:                    {t_cached:7.2} s  {:?}",
        cached.cache_status
    );
    let cache_bytes: u64 = std::fs::read_dir(&cache_dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "cache dir {} holds {:.1} MiB",
        cache_dir.display(),
        cache_bytes as f64 / (1 << 20) as f64
    );
    println!("source files:");
    for (f, st) in cached.source_files.iter().zip(&cached.load_stats) {
        println!(
            "  {}: {} records {:?}, {} filtered, {} empty skipped",
            f.display(),
            st.records,
            st.per_class,
            st.filtered_label,
            st.skipped_empty
        );
    }

    println!();
    println!(
        "classes {:?} (dev {:?}, test {:?})",
        cached.class_names, cached.dev_origin, cached.test_origin
    );
    for (split, ex) in [
        ("train", &cached.train),
        ("dev", &cached.dev),
        ("test", &cached.test),
    ] {
        let s = SplitStats::of(ex, cached.num_classes);
        println!(
            "{split:5}: {:6} examples {:?}, {:9} tokens, {:6} distinct, {} empty",
            s.examples, s.per_class, s.tokens, s.distinct_tokens, s.empty_examples
        );
        println!("       lengths: {}", s.lengths);
    }

    let t = Instant::now();
    let vocab = Vocab::build(cached.train.iter().map(|e| &e.tokens), VOCAB_SIZE, 1);
    let t_vocab = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let encoded = cached.encode(&vocab);
    let t_encode = t.elapsed().as_secs_f64();
    println!();
    println!(
        "vocab: {} ids (max {VOCAB_SIZE}, from train only) built in {t_vocab:.2} s; encode all splits {t_encode:.2} s",
        vocab.len()
    );
    println!(
        "  top tokens: {:?}",
        vocab.tokens().iter().skip(2).take(12).collect::<Vec<_>>()
    );
    println!(
        "  UNK rate: train {:.2}%, dev {:.2}%, test {:.2}%",
        100.0 * unk_rate(&encoded.train),
        100.0 * unk_rate(&encoded.dev),
        100.0 * unk_rate(&encoded.test)
    );

    let batch = BatchConfig::default();
    for bucket in [false, true] {
        let cfg = BatchConfig {
            bucket,
            ..batch.clone()
        };
        let t = Instant::now();
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        let batches = make_batches(&encoded.train, &cfg, Some(&mut rng))?;
        let secs = t.elapsed().as_secs_f64();
        let slots: usize = batches.iter().map(|b| b.seq_len * b.batch).sum();
        let pad: usize = batches.iter().map(|b| b.padding()).sum();
        println!(
            "batches (size {}, max_len {}, {:?}, bucket {bucket}): {} batches in {secs:.2} s, padding {:.1}% of {} slots",
            cfg.batch_size,
            cfg.max_len,
            cfg.truncation,
            batches.len(),
            100.0 * pad as f64 / slots.max(1) as f64,
            slots
        );
    }
    println!(
        "splits identical with and without cache (sha256 {})",
        &fp_plain[..16]
    );
    if temporary {
        std::fs::remove_dir_all(&cache_dir)?;
    }
    Ok(())
}

/// sha256 over every split's labels and tokens, hex.
fn fingerprint(s: &DatasetSplits<TokenizedExample>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for split in [&s.train, &s.dev, &s.test] {
        h.update((split.len() as u64).to_le_bytes());
        for e in split {
            h.update((e.label as u64).to_le_bytes());
            h.update((e.tokens.len() as u64).to_le_bytes());
            for t in &e.tokens {
                h.update(t.as_bytes());
                h.update([0xff]);
            }
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
