//! Topology edits: remove and insert entries in one pass, with a remap for per-weight state.

use crate::Scalar;
use crate::error::SparseError;
use crate::matrix::SparseMatrix;

/// Marker in [`Remap::old_of_new`] for an entry that did not exist before the edit.
pub const NEW_ENTRY: u32 = u32::MAX;

/// How stored positions moved in a topology edit: for every new position, the old position it
/// came from, or [`NEW_ENTRY`]. Apply it to every buffer aligned with the values (gradients,
/// optimizer moments, ages) so state follows its weight.
///
/// ```
/// use ndarray::array;
/// use set_sparse::SparseMatrix;
/// let mut w = SparseMatrix::from_dense(array![[1.0f32, 2.0, 0.0]].view()).unwrap();
/// let momentum = vec![0.1f32, 0.2];
/// // Remove the entry at position 0 (column 0), insert (0, 2) with value 5.
/// let remap = w.edit(&[0], &[(0, 2, 5.0)]).unwrap();
/// assert_eq!(w.to_dense(), array![[0.0, 2.0, 5.0]]);
/// assert_eq!(remap.apply(&momentum, 0.0), vec![0.2, 0.0]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    /// For each new position, its old position or [`NEW_ENTRY`].
    pub old_of_new: Vec<u32>,
    /// Number of stored entries before the edit.
    pub old_len: usize,
}

impl Remap {
    /// The identity remap for `len` entries.
    pub fn identity(len: usize) -> Self {
        Remap {
            old_of_new: (0..len as u32).collect(),
            old_len: len,
        }
    }

    /// Number of stored entries after the edit.
    pub fn new_len(&self) -> usize {
        self.old_of_new.len()
    }

    /// Builds the new buffer: survivors keep their value, new entries get `fill`.
    ///
    /// # Panics
    /// If `old.len()` is not the pre-edit entry count.
    #[track_caller]
    pub fn apply<V: Copy>(&self, old: &[V], fill: V) -> Vec<V> {
        assert_eq!(
            old.len(),
            self.old_len,
            "Remap::apply: buffer length is not the pre-edit nnz"
        );
        self.old_of_new
            .iter()
            .map(|&o| {
                if o == NEW_ENTRY {
                    fill
                } else {
                    old[o as usize]
                }
            })
            .collect()
    }

    /// [`Remap::apply`] in place on a `Vec`.
    ///
    /// # Panics
    /// As [`Remap::apply`].
    #[track_caller]
    pub fn apply_in_place<V: Copy>(&self, buf: &mut Vec<V>, fill: V) {
        *buf = self.apply(buf, fill);
    }

    /// New positions that hold inserted entries.
    pub fn inserted(&self) -> impl Iterator<Item = usize> + '_ {
        self.old_of_new
            .iter()
            .enumerate()
            .filter(|(_, o)| **o == NEW_ENTRY)
            .map(|(k, _)| k)
    }
}

impl<T: Scalar> SparseMatrix<T> {
    /// Removes the entries at value positions `remove` and inserts `(row, col, value)` triples,
    /// in one pass over the structure, then rebuilds the transposed index.
    ///
    /// An insert may target a position removed by the same edit (a regrown connection).
    /// Returns the [`Remap`] for per-weight buffers. On error the matrix is unchanged.
    ///
    /// # Errors
    /// A removal position out of range or repeated; an insert out of range, repeated, or onto a
    /// surviving entry.
    pub fn edit(
        &mut self,
        remove: &[usize],
        insert: &[(usize, usize, T)],
    ) -> Result<Remap, SparseError> {
        let nnz = self.nnz();
        let (rows, cols) = self.shape();
        let mut removed = vec![false; nnz];
        for &p in remove {
            if p >= nnz {
                return Err(SparseError::RemoveOutOfRange { pos: p, nnz });
            }
            if removed[p] {
                return Err(SparseError::DuplicateRemove { pos: p });
            }
            removed[p] = true;
        }
        let mut ins: Vec<(usize, usize, T)> = insert.to_vec();
        for &(r, c, _) in &ins {
            if r >= rows || c >= cols {
                return Err(SparseError::InsertOutOfRange {
                    row: r,
                    col: c,
                    rows,
                    cols,
                });
            }
        }
        ins.sort_by_key(|&(r, c, _)| (r, c));
        for w in ins.windows(2) {
            if (w[0].0, w[0].1) == (w[1].0, w[1].1) {
                return Err(SparseError::InsertOccupied {
                    row: w[0].0,
                    col: w[0].1,
                });
            }
        }
        let new_nnz = nnz - remove.len() + ins.len();
        if new_nnz as u64 > crate::matrix::MAX_INDEX {
            return Err(SparseError::TooLarge {
                what: "nnz",
                value: new_nnz as u64,
                max: crate::matrix::MAX_INDEX,
            });
        }
        let (indptr, indices, values) = (self.indptr(), self.indices(), self.values());
        let mut new_indptr = Vec::with_capacity(rows + 1);
        let mut new_indices = Vec::with_capacity(new_nnz);
        let mut new_values = Vec::with_capacity(new_nnz);
        let mut old_of_new = Vec::with_capacity(new_nnz);
        new_indptr.push(0);
        let mut next_ins = 0;
        for r in 0..rows {
            let mut k = indptr[r];
            let end = indptr[r + 1];
            loop {
                while k < end && removed[k] {
                    k += 1;
                }
                let ins_here = next_ins < ins.len() && ins[next_ins].0 == r;
                match (k < end, ins_here) {
                    (false, false) => break,
                    (true, true) if (indices[k] as usize) == ins[next_ins].1 => {
                        return Err(SparseError::InsertOccupied {
                            row: r,
                            col: ins[next_ins].1,
                        });
                    }
                    (true, true) if (indices[k] as usize) > ins[next_ins].1 => {
                        new_indices.push(ins[next_ins].1 as u32);
                        new_values.push(ins[next_ins].2);
                        old_of_new.push(crate::topology::NEW_ENTRY);
                        next_ins += 1;
                    }
                    (true, _) => {
                        new_indices.push(indices[k]);
                        new_values.push(values[k]);
                        old_of_new.push(k as u32);
                        k += 1;
                    }
                    (false, true) => {
                        new_indices.push(ins[next_ins].1 as u32);
                        new_values.push(ins[next_ins].2);
                        old_of_new.push(crate::topology::NEW_ENTRY);
                        next_ins += 1;
                    }
                }
            }
            new_indptr.push(new_indices.len());
        }
        *self = Self::from_valid_parts(rows, cols, new_indptr, new_indices, new_values);
        Ok(Remap {
            old_of_new,
            old_len: nnz,
        })
    }
}
