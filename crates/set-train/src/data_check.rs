//! Data that make training meaningless: refused (a vocabulary of only `<pad>` and `<unk>`, a
//! single class in the training split) or warned about (a class without training examples).

use crate::data::RunData;
use crate::error::TrainError;

impl RunData {
    /// Checks that these data can train a classifier; returns warnings to show the user.
    ///
    /// # Errors
    /// [`TrainError::Mismatch`] when training could learn nothing: no token beyond `<pad>` and
    /// `<unk>` (raise the vocabulary or lower `min_count`), or fewer than two classes among the
    /// training labels.
    pub fn check_trainable(&self) -> Result<Vec<String>, TrainError> {
        if self.vocab.len() <= 2 {
            return Err(TrainError::Mismatch(format!(
                "the vocabulary holds only <pad> and <unk> ({} tokens): every text would look the same; lower min_count or raise vocab_size",
                self.vocab.len()
            )));
        }
        let mut counts = vec![0usize; self.num_classes()];
        for e in &self.splits.train {
            if let Some(c) = counts.get_mut(e.label) {
                *c += 1;
            }
        }
        let present = counts.iter().filter(|&&c| c > 0).count();
        if present < 2 {
            return Err(TrainError::Mismatch(format!(
                "the training split has examples of {present} class(es) only: a classifier needs at least two (check the labels and `classes`)"
            )));
        }
        Ok(counts
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c == 0)
            .map(|(k, _)| {
                format!(
                    "class {k} (`{}`) has no training examples: the model can never learn it (is `classes` right?)",
                    self.splits.class_names[k]
                )
            })
            .collect())
    }
}
