//! On-disk cache of tokenised source files, so a second run skips parsing and tokenising.
//!
//! A cache entry holds every tokenised example of **one source file** (before any train/dev/test
//! carving) plus its [`LoadStats`]. It lives in `<cache dir>/<key>.tok`, where `key` is the hex
//! sha256 of
//!
//! - the cache format version ([`TokenCache::FORMAT_VERSION`]),
//! - the tokenizer configuration (serialised as JSON),
//! - a caller-supplied *loader key* describing everything else that shapes the examples (label
//!   map, load options — e.g. `sanders` and `sanders4` read the same file but keep different
//!   records), and
//! - the source file's bytes.
//!
//! File layout: magic `SETLSTMT`, version (u32 LE), key (32 bytes), payload sha256 (32 bytes),
//! payload length (u64 LE), then the payload encoded with bincode 2 (serde, standard config, a
//! decode limit of 4 GiB): the load statistics, a lexicon of the file's distinct tokens, and per
//! example its label, its length and its token ids into the lexicon (all examples' ids
//! concatenated). Decoding checks every length and id. A cache file that is missing, truncated, from another version, for
//! another key, fails its checksum or fails to decode is never trusted: the source is re-loaded
//! and the entry rewritten. Writes are atomic (temporary file in the same directory + rename).
//! Old entries are not deleted; clearing the directory is always safe.
//!
//! The source is hashed before the loader reads it; a file modified in between would be cached
//! under the old key (and missed next time), never silently mixed.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;
use crate::error::{DataError, Location, Result};
use crate::example::{LoadStats, Loaded, TokenizedExample};
use crate::tokenizer::{Tokenizer, TokenizerConfig};

const MAGIC: &[u8; 8] = b"SETLSTMT";
const HEADER_LEN: usize = 8 + 4 + 32 + 32 + 8;
/// Decoding may allocate at most this many bytes (bincode's limit), whatever the file claims.
const DECODE_LIMIT: usize = u32::MAX as usize;

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// How a [`TokenCache::tokenize_cached`] call was served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// Read from a valid cache entry: no parsing, no tokenising.
    Hit,
    /// No entry existed; loaded, tokenised and written.
    Built,
    /// An entry existed but was not trusted (the reason says why); rebuilt and overwritten.
    Rebuilt {
        /// Why the entry was rejected, e.g. `"checksum mismatch"`.
        reason: &'static str,
    },
    /// No cache in use.
    Disabled,
}

/// Tokenised examples of one source file and how they were obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedTokens {
    /// Tokenised examples in file order.
    pub examples: Vec<TokenizedExample>,
    /// The statistics of the original load.
    pub stats: LoadStats,
    /// Hit, built or rebuilt.
    pub status: CacheStatus,
    /// The cache file (read or written).
    pub cache_file: PathBuf,
}

/// The stored form: tokens interned in a per-file lexicon, ids of all examples concatenated.
/// Much smaller and faster to decode than one string per token.
#[derive(Serialize)]
struct PayloadRef<'a> {
    stats: &'a LoadStats,
    lexicon: Vec<&'a str>,
    labels: Vec<usize>,
    lengths: Vec<usize>,
    ids: Vec<u32>,
}

#[derive(Deserialize)]
struct Payload {
    stats: LoadStats,
    lexicon: Vec<String>,
    labels: Vec<usize>,
    lengths: Vec<usize>,
    ids: Vec<u32>,
}

impl<'a> PayloadRef<'a> {
    fn new(stats: &'a LoadStats, examples: &'a [TokenizedExample]) -> Result<Self, String> {
        let mut index: HashMap<&'a str, u32> = HashMap::new();
        let mut lexicon = Vec::new();
        let mut ids = Vec::with_capacity(examples.iter().map(|e| e.tokens.len()).sum());
        for tok in examples.iter().flat_map(|e| &e.tokens) {
            let next = u32::try_from(lexicon.len())
                .map_err(|_| "more than u32::MAX distinct tokens".to_owned())?;
            let id = *index.entry(tok.as_str()).or_insert_with(|| {
                lexicon.push(tok.as_str());
                next
            });
            ids.push(id);
        }
        Ok(Self {
            stats,
            lexicon,
            labels: examples.iter().map(|e| e.label).collect(),
            lengths: examples.iter().map(|e| e.tokens.len()).collect(),
            ids,
        })
    }
}

impl Payload {
    /// Rebuilds the examples, checking every length and id (never trusting the file).
    fn into_examples(self) -> Result<(LoadStats, Vec<TokenizedExample>), &'static str> {
        if self.labels.len() != self.lengths.len() {
            return Err("inconsistent payload");
        }
        let total = self
            .lengths
            .iter()
            .try_fold(0usize, |acc, &n| acc.checked_add(n));
        if total != Some(self.ids.len()) {
            return Err("inconsistent payload");
        }
        if self.ids.iter().any(|&id| id as usize >= self.lexicon.len()) {
            return Err("token id out of range");
        }
        let mut rest = &self.ids[..];
        let examples = self
            .labels
            .iter()
            .zip(&self.lengths)
            .map(|(&label, &n)| {
                let (mine, tail) = rest.split_at(n);
                rest = tail;
                TokenizedExample {
                    tokens: mine
                        .iter()
                        .map(|&id| self.lexicon[id as usize].clone())
                        .collect(),
                    label,
                }
            })
            .collect();
        Ok((self.stats, examples))
    }
}

/// A directory of cached tokenised source files.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let src = dir.path().join("train.jsonl");
/// # std::fs::write(&src, "{\"label\":1,\"text\":\"Loved it!\"}\n").unwrap();
/// use set_data::{load_jsonl, CacheStatus, LabelMap, LoadOptions, TokenCache, Tokenizer};
/// let cache = TokenCache::new(dir.path().join("cache"))?;
/// let tok = Tokenizer::default();
/// let load = || load_jsonl(&src, &LabelMap::binary(), &LoadOptions::default());
/// let first = cache.tokenize_cached(&src, "binary", &tok, load)?;
/// assert_eq!(first.status, CacheStatus::Built);
/// let second = cache.tokenize_cached(&src, "binary", &tok, || unreachable!("served from cache"))?;
/// assert_eq!(second.status, CacheStatus::Hit);
/// assert_eq!(second.examples[0].tokens, ["loved", "it", "!"]);
/// # Ok::<(), set_data::DataError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokenCache {
    dir: PathBuf,
}

impl TokenCache {
    /// Bumped whenever the payload layout or the tokenizer's behaviour changes.
    pub const FORMAT_VERSION: u32 = 1;

    /// A cache in `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, "create cache directory", e))?;
        Ok(Self { dir })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache key (64 hex digits) for `source` read by a loader described by `loader_key`
    /// and tokenised with `tokenizer`. Reads the whole source file.
    pub fn key(
        &self,
        source: &Path,
        loader_key: &str,
        tokenizer: &TokenizerConfig,
    ) -> Result<String> {
        Ok(hex(&key_bytes(source, loader_key, tokenizer)?))
    }

    /// Returns the tokenised examples of `source`: from the cache if a valid entry exists,
    /// otherwise by calling `load` (which should read `source`), tokenising, and writing the entry.
    ///
    /// `loader_key` must describe everything besides the file bytes and the tokenizer that changes
    /// what `load` returns (label map, options); the registry uses their JSON serialisation.
    pub fn tokenize_cached<F>(
        &self,
        source: &Path,
        loader_key: &str,
        tokenizer: &Tokenizer,
        load: F,
    ) -> Result<CachedTokens>
    where
        F: FnOnce() -> Result<Loaded>,
    {
        let key = key_bytes(source, loader_key, tokenizer.config())?;
        let cache_file = self.dir.join(format!("{}.tok", hex(&key)));
        let status = match read_entry(&cache_file, &key) {
            Ok((stats, examples)) => {
                return Ok(CachedTokens {
                    examples,
                    stats,
                    status: CacheStatus::Hit,
                    cache_file,
                });
            }
            Err(None) => CacheStatus::Built,
            Err(Some(reason)) => CacheStatus::Rebuilt { reason },
        };
        let Loaded { examples, stats } = load()?;
        let examples: Vec<TokenizedExample> = examples
            .iter()
            .map(|e| TokenizedExample {
                tokens: tokenizer.tokenize(&e.text),
                label: e.label,
            })
            .collect();
        let bytes = encode_entry(&key, &stats, &examples).map_err(|message| DataError::Cache {
            at: Location::file(&cache_file),
            message,
        })?;
        write_atomic(&cache_file, &bytes)?;
        Ok(CachedTokens {
            examples,
            stats,
            status,
            cache_file,
        })
    }
}

fn key_bytes(source: &Path, loader_key: &str, tokenizer: &TokenizerConfig) -> Result<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(b"set-lstm token cache\0");
    h.update(TokenCache::FORMAT_VERSION.to_le_bytes());
    let tok = serde_json::to_vec(tokenizer)
        .map_err(|e| DataError::invalid("tokenizer config", e.to_string()))?;
    for part in [&tok[..], loader_key.as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let mut file = File::open(source).map_err(|e| DataError::io(source, "open", e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DataError::io(source, "read", e)),
        }
    }
    Ok(h.finalize().into())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn encode_entry(
    key: &[u8; 32],
    stats: &LoadStats,
    examples: &[TokenizedExample],
) -> Result<Vec<u8>, String> {
    let payload =
        bincode::serde::encode_to_vec(PayloadRef::new(stats, examples)?, bincode_config())
            .map_err(|e| format!("encoding failed: {e}"))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&TokenCache::FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&sha256(&payload));
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// `Err(None)`: no entry; `Err(Some(reason))`: an entry that must not be trusted.
fn read_entry(
    path: &Path,
    key: &[u8; 32],
) -> Result<(LoadStats, Vec<TokenizedExample>), Option<&'static str>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(None),
        Err(_) => return Err(Some("unreadable")),
    };
    decode_entry(&bytes, key).map_err(Some)
}

fn decode_entry(
    bytes: &[u8],
    key: &[u8; 32],
) -> Result<(LoadStats, Vec<TokenizedExample>), &'static str> {
    if bytes.len() < HEADER_LEN {
        return Err("truncated header");
    }
    let (header, payload) = bytes.split_at(HEADER_LEN);
    if &header[..8] != MAGIC {
        return Err("bad magic");
    }
    if header[8..12] != TokenCache::FORMAT_VERSION.to_le_bytes() {
        return Err("format version mismatch");
    }
    if &header[12..44] != key {
        return Err("key mismatch");
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&header[76..84]);
    if u64::from_le_bytes(len) != payload.len() as u64 {
        return Err("length mismatch (truncated?)");
    }
    if header[44..76] != sha256(payload) {
        return Err("checksum mismatch");
    }
    match bincode::serde::decode_from_slice::<Payload, _>(payload, bincode_config()) {
        Ok((p, used)) if used == payload.len() => p.into_examples(),
        Ok(_) => Err("trailing bytes"),
        Err(_) => Err("decode failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::example::{EmptyTextPolicy, Example, LabelMap, LoadOptions};
    use crate::jsonl::load_jsonl;
    use crate::tokenizer::Punctuation;
    use std::cell::Cell;

    struct Fixture {
        _dir: tempfile::TempDir,
        src: PathBuf,
        cache: TokenCache,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("train.jsonl");
        fs::write(
            &src,
            "{\"label\":1,\"text\":\"Good, GOOD film!\"}\n{\"label\":0,\"text\":\"Bad.\"}\n",
        )
        .unwrap();
        let cache = TokenCache::new(dir.path().join("cache")).unwrap();
        Fixture {
            _dir: dir,
            src,
            cache,
        }
    }

    fn run(f: &Fixture, tok: &Tokenizer, loads: &Cell<usize>) -> CachedTokens {
        f.cache
            .tokenize_cached(&f.src, "k", tok, || {
                loads.set(loads.get() + 1);
                load_jsonl(&f.src, &LabelMap::binary(), &LoadOptions::default())
            })
            .unwrap()
    }

    #[test]
    fn hit_on_second_call() {
        let f = fixture();
        let loads = Cell::new(0);
        let tok = Tokenizer::default();
        let a = run(&f, &tok, &loads);
        let b = run(&f, &tok, &loads);
        assert_eq!(
            (a.status.clone(), b.status.clone(), loads.get()),
            (CacheStatus::Built, CacheStatus::Hit, 1)
        );
        assert_eq!(a.examples, b.examples);
        assert_eq!(a.stats, b.stats);
        assert_eq!(b.examples[0].tokens, ["good", ",", "good", "film", "!"]);
        // Only the entry, no temporary files.
        assert_eq!(fs::read_dir(f.cache.dir()).unwrap().count(), 1);
    }

    #[test]
    fn invalidated_by_source_bytes_tokenizer_config_and_loader_key() {
        let f = fixture();
        let loads = Cell::new(0);
        let tok = Tokenizer::default();
        run(&f, &tok, &loads);
        fs::write(&f.src, "{\"label\":1,\"text\":\"Changed\"}\n").unwrap();
        let b = run(&f, &tok, &loads);
        assert_eq!((b.status, loads.get()), (CacheStatus::Built, 2));
        assert_eq!(b.examples[0].tokens, ["changed"]);
        let drop = Tokenizer::new(TokenizerConfig {
            punctuation: Punctuation::Drop,
            lowercase: false,
            ..Default::default()
        });
        let c = run(&f, &drop, &loads);
        assert_eq!((c.status, loads.get()), (CacheStatus::Built, 3));
        assert_eq!(c.examples[0].tokens, ["Changed"]);
        let other = f.cache.tokenize_cached(&f.src, "other loader", &tok, || {
            Ok(Loaded {
                examples: vec![Example {
                    label: 0,
                    text: "x".into(),
                }],
                stats: LoadStats::default(),
            })
        });
        assert_eq!(other.unwrap().status, CacheStatus::Built);
        assert_ne!(
            f.cache.key(&f.src, "a", tok.config()).unwrap(),
            f.cache.key(&f.src, "b", tok.config()).unwrap()
        );
    }

    #[test]
    fn corrupt_entries_are_rebuilt_not_trusted() {
        let f = fixture();
        let loads = Cell::new(0);
        let tok = Tokenizer::default();
        let first = run(&f, &tok, &loads);
        let good = fs::read(&first.cache_file).unwrap();
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x55;
        let mut wrong_version = good.clone();
        wrong_version[8] ^= 1;
        let cases: [(Vec<u8>, &str); 5] = [
            (flipped, "checksum mismatch"),
            (good[..good.len() - 3].to_vec(), "length mismatch (truncated?)"),
            (good[..10].to_vec(), "truncated header"),
            (b"garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage".to_vec(), "bad magic"),
            (wrong_version, "format version mismatch"),
        ];
        for (i, (bytes, reason)) in cases.into_iter().enumerate() {
            fs::write(&first.cache_file, bytes).unwrap();
            let again = run(&f, &tok, &loads);
            assert_eq!(again.status, CacheStatus::Rebuilt { reason });
            assert_eq!(again.examples, first.examples);
            assert_eq!(loads.get(), i + 2);
            assert_eq!(run(&f, &tok, &loads).status, CacheStatus::Hit);
        }
    }

    fn entry(key: &[u8; 32], payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&TokenCache::FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(key);
        bytes.extend_from_slice(&sha256(payload));
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn payload_with_valid_checksum_but_bad_content_is_rejected() {
        let key = [7u8; 32];
        let garbage = entry(&key, &[0xff; 40]);
        assert_eq!(decode_entry(&garbage, &key).err(), Some("decode failed"));
        assert_eq!(
            decode_entry(&garbage, &[0u8; 32]).err(),
            Some("key mismatch")
        );
        let stats = LoadStats::default();
        let craft = |labels: Vec<usize>, lengths: Vec<usize>, ids: Vec<u32>| {
            let p = PayloadRef {
                stats: &stats,
                lexicon: vec!["a", "b"],
                labels,
                lengths,
                ids,
            };
            entry(
                &key,
                &bincode::serde::encode_to_vec(p, bincode_config()).unwrap(),
            )
        };
        let ok = decode_entry(&craft(vec![1, 0], vec![2, 1], vec![1, 0, 1]), &key).unwrap();
        assert_eq!(ok.1[0].tokens, ["b", "a"]);
        assert_eq!(
            ok.1[1],
            TokenizedExample {
                tokens: vec!["b".into()],
                label: 0
            }
        );
        let bad = [
            (craft(vec![0], vec![1], vec![2]), "token id out of range"),
            (craft(vec![0], vec![2], vec![1]), "inconsistent payload"),
            (craft(vec![0, 1], vec![1], vec![1]), "inconsistent payload"),
            (
                craft(vec![0], vec![usize::MAX, 2], vec![1]),
                "inconsistent payload",
            ),
        ];
        for (bytes, reason) in bad {
            assert_eq!(decode_entry(&bytes, &key).err(), Some(reason));
        }
    }

    #[test]
    fn loader_errors_propagate_and_nothing_is_written() {
        let f = fixture();
        fs::write(&f.src, "{\"label\":1,\"text\":\" \"}\n").unwrap();
        let opts = LoadOptions {
            empty_text: EmptyTextPolicy::Error,
            ..LoadOptions::default()
        };
        let r = f
            .cache
            .tokenize_cached(&f.src, "k", &Tokenizer::default(), || {
                load_jsonl(&f.src, &LabelMap::binary(), &opts)
            });
        assert!(matches!(r, Err(DataError::EmptyText { .. })));
        assert_eq!(fs::read_dir(f.cache.dir()).unwrap().count(), 0);
    }

    #[test]
    fn hex_encoding() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
