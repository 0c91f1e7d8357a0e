//! Seeded, stratified hold-out splits (test from a pooled dataset, dev from train).

use std::collections::BTreeMap;

use rand::Rng;
use rand::seq::SliceRandom;

use crate::error::{DataError, Result};
use crate::example::Labeled;

/// Splits `items` into `(kept, held_out)`, holding out `round(n_c * fraction)` items of every
/// class `c`, chosen by shuffling each class with `rng` (classes in ascending order).
///
/// Both parts keep the input order, so the result depends only on the input and the rng state.
/// `fraction` must be in `[0, 1)`.
///
/// ```
/// use rand::SeedableRng;
/// use set_data::{stratified_split, Example};
/// let items: Vec<Example> = (0..10).map(|i| Example { label: i % 2, text: i.to_string() }).collect();
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// let (train, dev) = stratified_split(items, 0.2, &mut rng)?;
/// assert_eq!((train.len(), dev.len()), (8, 2));
/// assert_eq!(dev.iter().filter(|e| e.label == 0).count(), 1);
/// # Ok::<(), set_data::DataError>(())
/// ```
pub fn stratified_split<T: Labeled, R: Rng + ?Sized>(
    items: Vec<T>,
    fraction: f64,
    rng: &mut R,
) -> Result<(Vec<T>, Vec<T>)> {
    check_fraction("split fraction", fraction)?;
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        by_class.entry(item.label()).or_default().push(i);
    }
    let mut held = vec![false; items.len()];
    for indices in by_class.values_mut() {
        indices.shuffle(rng);
        let k = ((indices.len() as f64) * fraction).round() as usize;
        for &i in indices.iter().take(k.min(indices.len())) {
            held[i] = true;
        }
    }
    let mut kept = Vec::with_capacity(items.len());
    let mut out = Vec::new();
    for (item, h) in items.into_iter().zip(held) {
        if h {
            out.push(item);
        } else {
            kept.push(item);
        }
    }
    Ok((kept, out))
}

pub(crate) fn check_fraction(what: &'static str, fraction: f64) -> Result<()> {
    if (0.0..1.0).contains(&fraction) {
        Ok(())
    } else {
        Err(DataError::invalid(
            what,
            format!("{fraction} is not in [0, 1)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::example::Example;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn items(n: usize) -> Vec<Example> {
        (0..n)
            .map(|i| Example {
                label: usize::from(i % 3 == 0),
                text: i.to_string(),
            })
            .collect()
    }

    #[test]
    fn deterministic_stratified_and_order_preserving() {
        let run =
            |seed| stratified_split(items(300), 0.1, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        let (a_keep, a_out) = run(1);
        let (b_keep, b_out) = run(1);
        assert_eq!((&a_keep, &a_out), (&b_keep, &b_out));
        assert_ne!(a_out, run(2).1);
        assert_eq!(a_keep.len() + a_out.len(), 300);
        assert_eq!(a_out.iter().filter(|e| e.label == 1).count(), 10);
        assert_eq!(a_out.iter().filter(|e| e.label == 0).count(), 20);
        let idx = |v: &[Example]| {
            v.iter()
                .map(|e| e.text.parse::<usize>().unwrap())
                .collect::<Vec<_>>()
        };
        assert!(idx(&a_keep).is_sorted());
        assert!(idx(&a_out).is_sorted());
    }

    #[test]
    fn bad_fractions_and_edges() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert!(stratified_split(items(5), 1.0, &mut rng).is_err());
        assert!(stratified_split(items(5), -0.1, &mut rng).is_err());
        assert!(stratified_split(items(5), f64::NAN, &mut rng).is_err());
        let (k, o) = stratified_split(items(5), 0.0, &mut rng).unwrap();
        assert_eq!((k.len(), o.len()), (5, 0));
        let (k, o) = stratified_split(Vec::<Example>::new(), 0.5, &mut rng).unwrap();
        assert!(k.is_empty() && o.is_empty());
    }
}
