//! Property tests: every kernel against a dense reference, invariants after edits, thread-count
//! independence.

use crate::{NEW_ENTRY, Remap, SparseError, SparseMatrix};
use ndarray::{Array2, s};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_matrix(rows: usize, cols: usize, density: f64, seed: u64) -> SparseMatrix<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    SparseMatrix::random_density(rows, cols, density, &mut rng, |r| r.random_range(-1.0..1.0))
        .unwrap()
}

fn random_dense(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0..1.0))
}

fn assert_close(a: &Array2<f64>, b: &Array2<f64>) {
    assert_eq!(a.dim(), b.dim());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-10 * (1.0 + y.abs()), "{x} vs {y}");
    }
}

fn shape_strategy() -> impl Strategy<Value = (usize, usize, usize, f64, u64)> {
    (
        1usize..40,
        1usize..40,
        prop_oneof![Just(1usize), 1usize..8, 60usize..140],
        prop_oneof![Just(0.0), Just(1.0), 0.0f64..1.0],
        any::<u64>(),
    )
}

fn check_invariants<T: crate::Scalar>(m: &SparseMatrix<T>) {
    crate::matrix::validate_csr(
        m.rows(),
        m.cols(),
        m.indptr(),
        m.indices(),
        m.values().len(),
    )
    .unwrap();
    // The transposed index lists every entry once, rows ascending within each column.
    let t = &m.t_index;
    assert_eq!(t.rows.len(), m.nnz());
    for c in 0..m.cols() {
        let r = t.col_ptr[c]..t.col_ptr[c + 1];
        for w in t.rows[r.clone()].windows(2) {
            assert!(w[0] < w[1]);
        }
        for k in r {
            let p = t.pos[k] as usize;
            assert_eq!(m.indices()[p] as usize, c);
            assert!(m.row_range(t.rows[k] as usize).contains(&p));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn spmm_matches_dense((m, n, b, d, seed) in shape_strategy()) {
        let w = random_matrix(m, n, d, seed);
        check_invariants(&w);
        let x = random_dense(n, b, seed ^ 1);
        let mut y = random_dense(m, b, seed ^ 2);
        let y0 = y.clone();
        w.spmm(x.view(), y.view_mut());
        assert_close(&y, &w.to_dense().dot(&x));
        y.assign(&y0);
        w.spmm_acc(x.view(), y.view_mut());
        assert_close(&y, &(&y0 + &w.to_dense().dot(&x)));
    }

    #[test]
    fn spmm_t_matches_dense((m, n, b, d, seed) in shape_strategy()) {
        let w = random_matrix(m, n, d, seed);
        let dy = random_dense(m, b, seed ^ 3);
        let mut dx = random_dense(n, b, seed ^ 4);
        let dx0 = dx.clone();
        w.spmm_t(dy.view(), dx.view_mut());
        assert_close(&dx, &w.to_dense().t().dot(&dy));
        dx.assign(&dx0);
        w.spmm_t_acc(dy.view(), dx.view_mut());
        assert_close(&dx, &(&dx0 + &w.to_dense().t().dot(&dy)));
    }

    #[test]
    fn sddmm_matches_dense((m, n, b, d, seed) in shape_strategy()) {
        let w = random_matrix(m, n, d, seed);
        let dy = random_dense(m, b, seed ^ 5);
        let x = random_dense(n, b, seed ^ 6);
        let mut g = vec![0.5; w.nnz()];
        w.sddmm_acc(dy.view(), x.view(), &mut g);
        let full = dy.dot(&x.t());
        for (r, c, k) in w.entries() {
            prop_assert!((g[k] - 0.5 - full[[r, c]]).abs() <= 1e-10 * (1.0 + full[[r, c]].abs()));
        }
    }

    #[test]
    fn embedding_gather_scatter_match_dense((v, e, n, d, seed) in shape_strategy()) {
        let w = random_matrix(v, e, d, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 7);
        let ids: Vec<u32> = (0..n).map(|_| rng.random_range(0..v as u32)).collect();
        let mut out = Array2::zeros((e, n));
        w.gather_rows(&ids, Some(0), out.view_mut());
        let dense = w.to_dense();
        for (k, &id) in ids.iter().enumerate() {
            let expect = if id == 0 { Array2::zeros((e, 1)).column(0).to_owned() } else { dense.row(id as usize).to_owned() };
            prop_assert_eq!(out.column(k).to_owned(), expect);
        }
        let gout = random_dense(e, n, seed ^ 8);
        let mut g = vec![0.0; w.nnz()];
        w.scatter_add_rows(&ids, Some(0), gout.view(), &mut g);
        let mut dense_g = Array2::<f64>::zeros((v, e));
        for (k, &id) in ids.iter().enumerate() {
            if id != 0 {
                let mut row = dense_g.row_mut(id as usize);
                row += &gout.column(k);
            }
        }
        for (r, c, k) in w.entries() {
            prop_assert!((g[k] - dense_g[[r, c]]).abs() < 1e-10);
        }
    }

    #[test]
    fn random_init_has_exact_nnz(rows in 0usize..50, cols in 0usize..50, d in 0.0f64..=1.0, seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let w = SparseMatrix::<f32>::random_density(rows, cols, d, &mut rng, |_| 1.0).unwrap();
        prop_assert_eq!(w.nnz(), (d * (rows * cols) as f64).round() as usize);
        check_invariants(&w);
    }

    #[test]
    fn edit_keeps_structure_and_remaps(( m, n, _b, d, seed) in shape_strategy(), frac in 0.0f64..1.0) {
        let mut w = random_matrix(m, n, d, seed);
        let before = w.to_dense();
        let state: Vec<f64> = w.values().iter().map(|v| v * 10.0).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 9);
        let n_remove = (w.nnz() as f64 * frac) as usize;
        let remove: Vec<usize> = rand::seq::index::sample(&mut rng, w.nnz(), n_remove).into_vec();
        // Regrow as many at empty positions (removed ones count as empty).
        let mut removed_pos = std::collections::HashSet::new();
        for &p in &remove { removed_pos.insert(w.entries().nth(p).map(|(r, c, _)| (r, c)).unwrap()); }
        let mut inserts = Vec::new();
        let mut taken = std::collections::HashSet::new();
        for r in 0..m { for c in 0..n {
            if inserts.len() < n_remove && (w.position(r, c).is_none() || removed_pos.contains(&(r, c))) && rng.random_bool(0.5) && taken.insert((r, c)) {
                inserts.push((r, c, 7.0));
            }
        }}
        let nnz0 = w.nnz();
        let remap = w.edit(&remove, &inserts).unwrap();
        check_invariants(&w);
        prop_assert_eq!(w.nnz(), nnz0 - remove.len() + inserts.len());
        let moved = remap.apply(&state, -1.0);
        for (r, c, k) in w.entries() {
            if remap.old_of_new[k] == NEW_ENTRY {
                prop_assert_eq!(w.values()[k], 7.0);
                prop_assert_eq!(moved[k], -1.0);
            } else {
                prop_assert_eq!(w.values()[k], before[[r, c]]);
                prop_assert_eq!(moved[k], before[[r, c]] * 10.0);
            }
        }
    }

    #[test]
    fn try_new_never_panics(rows in 0usize..6, cols in 0usize..6, indptr in prop::collection::vec(0usize..10, 0..8), indices in prop::collection::vec(0u32..8, 0..10)) {
        let values = vec![1.0f32; indices.len()];
        if let Ok(m) = SparseMatrix::try_new(rows, cols, indptr, indices, values) {
            check_invariants(&m);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The `f32` kernels (hand-vectorised on AVX-512) against an `f64` dense reference, with
    /// batch widths that exercise full register blocks, masked tails and column tiling.
    #[test]
    fn f32_kernels_match_f64_reference(m in 1usize..48, n in 1usize..48, b in prop_oneof![1usize..20, 60usize..70, 250usize..600], d in 0.0f64..=1.0, seed in any::<u64>()) {
        let w64 = random_matrix(m, n, d, seed);
        let w: SparseMatrix<f32> = w64.cast();
        let x64 = random_dense(n, b, seed ^ 1).mapv(|v| v as f32 as f64);
        let dy64 = random_dense(m, b, seed ^ 2).mapv(|v| v as f32 as f64);
        let wd = w.cast::<f64>().to_dense();
        let (x, dy) = (x64.mapv(|v| v as f32), dy64.mapv(|v| v as f32));
        let tol = |r: f64| 1e-4 * (1.0 + r.abs()) * (n.max(m) as f64).sqrt() * (b as f64).sqrt();
        let mut y = Array2::<f32>::ones((m, b));
        w.spmm_acc(x.view(), y.view_mut());
        let y_ref = wd.dot(&x64) + 1.0;
        for (a, r) in y.iter().zip(y_ref.iter()) { prop_assert!((*a as f64 - r).abs() <= tol(*r), "spmm {a} vs {r}"); }
        let mut dx = Array2::<f32>::zeros((n, b));
        w.spmm_t(dy.view(), dx.view_mut());
        let dx_ref = wd.t().dot(&dy64);
        for (a, r) in dx.iter().zip(dx_ref.iter()) { prop_assert!((*a as f64 - r).abs() <= tol(*r), "spmm_t {a} vs {r}"); }
        let mut g = vec![0.0f32; w.nnz()];
        w.sddmm_acc(dy.view(), x.view(), &mut g);
        let full = dy64.dot(&x64.t());
        for (r, c, k) in w.entries() { prop_assert!((g[k] as f64 - full[[r, c]]).abs() <= tol(full[[r, c]]), "sddmm"); }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// One batch column (the matrix-vector kernel on AVX-512) gives the bits of that column in
    /// a wider product (the batched kernel), with and without accumulation, into contiguous and
    /// strided outputs, and matches the dense reference.
    #[test]
    fn one_column_is_bit_identical_to_a_column_of_a_wider_product(
        m in 1usize..80, n in 1usize..80, d in 0.0f64..=1.0, seed in any::<u64>(), wide in 2usize..40,
    ) {
        let w: SparseMatrix<f32> = random_matrix(m, n, d, seed).cast();
        let x = random_dense(n, wide, seed ^ 1).mapv(|v| v as f32);
        let y0 = random_dense(m, wide, seed ^ 2).mapv(|v| v as f32);
        for accumulate in [false, true] {
            let mut y_wide = y0.clone();
            let mut y_one = y0.column(0).to_owned().into_shape_with_order((m, 1)).unwrap();
            let mut y_strided = y0.clone();
            let x1 = x.slice(s![.., 0..1]).to_owned();
            if accumulate {
                w.spmm_acc(x.view(), y_wide.view_mut());
                w.spmm_acc(x1.view(), y_one.view_mut());
                w.spmm_acc(x.slice(s![.., 0..1]), y_strided.slice_mut(s![.., 0..1]));
            } else {
                w.spmm(x.view(), y_wide.view_mut());
                w.spmm(x1.view(), y_one.view_mut());
                w.spmm(x.slice(s![.., 0..1]), y_strided.slice_mut(s![.., 0..1]));
            }
            for i in 0..m {
                prop_assert_eq!(y_one[[i, 0]].to_bits(), y_wide[[i, 0]].to_bits(), "row {}", i);
                prop_assert_eq!(y_strided[[i, 0]].to_bits(), y_wide[[i, 0]].to_bits(), "row {}", i);
                let mut r = if accumulate { y0[[i, 0]] as f64 } else { 0.0 };
                for (row, c, k) in w.entries() {
                    if row == i { r += w.values()[k] as f64 * x[[c, 0]] as f64; }
                }
                prop_assert!((y_one[[i, 0]] as f64 - r).abs() <= 1e-4 * (1.0 + r.abs()) * (n as f64).sqrt());
            }
        }
    }
}

#[test]
fn batched_kernels_match_per_step_calls() {
    use ndarray::{Array3, Axis};
    let w = random_matrix(7, 5, 0.4, 21);
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let x = Array3::from_shape_fn((3, 5, 9), |_| rng.random_range(-1.0..1.0));
    let dy = Array3::from_shape_fn((3, 7, 9), |_| rng.random_range(-1.0..1.0));
    let mut y = Array3::zeros((3, 7, 9));
    w.spmm_batched(x.view(), y.view_mut(), false);
    let mut dx = Array3::zeros((3, 5, 9));
    w.spmm_t_batched(dy.view(), dx.view_mut(), false);
    let mut g = vec![0.0; w.nnz()];
    w.sddmm_batched_acc(dy.view(), x.view(), &mut g);
    let d = w.to_dense();
    let mut g_ref = Array2::<f64>::zeros((7, 5));
    for t in 0..3 {
        assert_close(
            &y.index_axis(Axis(0), t).to_owned(),
            &d.dot(&x.index_axis(Axis(0), t)),
        );
        assert_close(
            &dx.index_axis(Axis(0), t).to_owned(),
            &d.t().dot(&dy.index_axis(Axis(0), t)),
        );
        g_ref = g_ref + dy.index_axis(Axis(0), t).dot(&x.index_axis(Axis(0), t).t());
    }
    for (r, c, k) in w.entries() {
        assert!((g[k] - g_ref[[r, c]]).abs() < 1e-10);
    }
}

#[test]
fn bad_structures_are_typed_errors() {
    let e = |r, c, p: Vec<usize>, i: Vec<u32>| {
        SparseMatrix::<f32>::try_new(r, c, p, i.clone(), vec![1.0; i.len()]).unwrap_err()
    };
    assert_eq!(
        e(2, 3, vec![0, 1], vec![0]),
        SparseError::IndptrLength {
            expected: 3,
            got: 2
        }
    );
    assert_eq!(
        e(1, 3, vec![1, 1], vec![0]),
        SparseError::IndptrStart { got: 1 }
    );
    assert_eq!(
        e(2, 3, vec![0, 2, 1], vec![0, 1]),
        SparseError::IndptrNotMonotone {
            row: 1,
            start: 2,
            end: 1
        }
    );
    assert_eq!(
        e(1, 3, vec![0, 1], vec![3]),
        SparseError::ColumnOutOfRange {
            row: 0,
            col: 3,
            cols: 3
        }
    );
    assert_eq!(
        e(1, 3, vec![0, 2], vec![1, 1]),
        SparseError::ColumnsNotSorted { row: 0, col: 1 }
    );
    assert_eq!(
        e(1, 3, vec![0, 1], vec![0, 1]),
        SparseError::IndptrEnd { nnz: 2, got: 1 }
    );
    assert_eq!(
        e(1, 3, vec![0, 5], vec![0]),
        SparseError::IndptrEnd { nnz: 1, got: 5 }
    );
    assert!(matches!(
        SparseMatrix::<f32>::try_new(1, 2, vec![0, 1], vec![0], vec![]),
        Err(SparseError::ValuesLength {
            indices: 1,
            values: 0
        })
    ));
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert!(matches!(
        SparseMatrix::<f32>::random(2, 2, 5, &mut rng, |_| 0.0),
        Err(SparseError::NnzExceedsCapacity { .. })
    ));
    assert!(SparseMatrix::<f32>::random_density(2, 2, 1.5, &mut rng, |_| 0.0).is_err());
    assert!(crate::er_density(f64::NAN, 3, 3).is_err());
}

#[test]
fn bad_edits_are_typed_errors_and_leave_matrix_unchanged() {
    let mut w =
        SparseMatrix::from_dense(ndarray::array![[1.0f32, 0.0], [0.0, 2.0]].view()).unwrap();
    let h = w.topology_hash();
    assert_eq!(
        w.edit(&[2], &[]),
        Err(SparseError::RemoveOutOfRange { pos: 2, nnz: 2 })
    );
    assert_eq!(
        w.edit(&[0, 0], &[]),
        Err(SparseError::DuplicateRemove { pos: 0 })
    );
    assert!(matches!(
        w.edit(&[], &[(2, 0, 1.0)]),
        Err(SparseError::InsertOutOfRange { .. })
    ));
    assert_eq!(
        w.edit(&[], &[(0, 0, 1.0)]),
        Err(SparseError::InsertOccupied { row: 0, col: 0 })
    );
    assert_eq!(
        w.edit(&[], &[(0, 1, 1.0), (0, 1, 2.0)]),
        Err(SparseError::InsertOccupied { row: 0, col: 1 })
    );
    assert_eq!(w.topology_hash(), h);
    // Regrowing exactly where an entry was removed is allowed.
    let remap = w.edit(&[0], &[(0, 0, 5.0)]).unwrap();
    assert_eq!(
        remap,
        Remap {
            old_of_new: vec![NEW_ENTRY, 1],
            old_len: 2
        }
    );
    assert_eq!(w.get(0, 0), Some(5.0));
}

fn same_bits<'a, T: crate::Scalar>(
    a: impl IntoIterator<Item = &'a T>,
    b: impl IntoIterator<Item = &'a T>,
) -> bool {
    let (a, b): (Vec<f64>, Vec<f64>) = (
        a.into_iter().map(|v| v.as_f64()).collect(),
        b.into_iter().map(|v| v.as_f64()).collect(),
    );
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn kernels_are_bit_identical_across_thread_counts() {
    // Large enough to take the parallel paths; 509 rows and 383 columns split unevenly.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let w =
        SparseMatrix::<f32>::random_density(509, 383, 0.1, &mut rng, |r| r.random_range(-1.0..1.0))
            .unwrap();
    for b in [70, 64, 37] {
        let x = Array2::from_shape_fn((383, b), |_| rng.random_range(-1.0f32..1.0));
        let dy = Array2::from_shape_fn((509, b), |_| rng.random_range(-1.0f32..1.0));
        let run = |threads: usize| {
            in_pool(threads, || {
                let mut y = Array2::zeros((509, b));
                w.spmm(x.view(), y.view_mut());
                let mut dx = Array2::zeros((383, b));
                w.spmm_t(dy.view(), dx.view_mut());
                let mut g = vec![0.0f32; w.nnz()];
                w.sddmm_acc(dy.view(), x.view(), &mut g);
                let ss = crate::reduce::sum_squares(&g);
                (y, dx, g, ss)
            })
        };
        let one = run(1);
        for t in [2, 4] {
            let other = run(t);
            assert!(same_bits(&one.0, &other.0), "spmm, b = {b}, {t} threads");
            assert!(same_bits(&one.1, &other.1), "spmm_t, b = {b}, {t} threads");
            assert!(same_bits(&one.2, &other.2), "sddmm, b = {b}, {t} threads");
            assert_eq!(one.3.to_bits(), other.3.to_bits());
        }
    }
}

/// Runs the three batched kernels (accumulating into non-zero outputs) and, for comparison, the
/// same products as a loop of 2-D calls.
fn batched_and_per_step<T: crate::Scalar>(
    w: &SparseMatrix<T>,
    x: &ndarray::Array3<T>,
    dy: &ndarray::Array3<T>,
    per_step: bool,
) -> (ndarray::Array3<T>, ndarray::Array3<T>, Vec<T>) {
    use ndarray::Axis;
    let steps = x.dim().0;
    let mut y = ndarray::Array3::from_elem((steps, w.rows(), x.dim().2), T::of_f64(0.5));
    let mut dx = ndarray::Array3::from_elem((steps, w.cols(), x.dim().2), T::of_f64(-0.5));
    let mut g = vec![T::of_f64(0.25); w.nnz()];
    if per_step {
        for t in 0..steps {
            w.spmm_acc(x.index_axis(Axis(0), t), y.index_axis_mut(Axis(0), t));
            w.spmm_t_acc(dy.index_axis(Axis(0), t), dx.index_axis_mut(Axis(0), t));
            w.sddmm_acc(dy.index_axis(Axis(0), t), x.index_axis(Axis(0), t), &mut g);
        }
    } else {
        w.spmm_batched(x.view(), y.view_mut(), true);
        w.spmm_t_batched(dy.view(), dx.view_mut(), true);
        w.sddmm_batched_acc(dy.view(), x.view(), &mut g);
    }
    (y, dx, g)
}

#[test]
fn batched_kernels_are_bit_identical_to_per_step_calls_for_any_thread_count() {
    use ndarray::Array3;
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    // 4H x H at H = 61: row and column counts that no block size divides.
    let w =
        SparseMatrix::<f32>::random_density(244, 61, 0.2, &mut rng, |r| r.random_range(-1.0..1.0))
            .unwrap();
    // 9 steps take the per-step parallel path on 2 and 4 threads, 3 steps the row-split one;
    // 64 columns are full registers, 37 end in a masked chunk, 300 take the wide SDDMM path and
    // two column tiles.
    for (steps, b) in [(9, 64), (3, 64), (9, 37), (2, 300)] {
        let x = Array3::from_shape_fn((steps, 61, b), |_| rng.random_range(-1.0f32..1.0));
        let dy = Array3::from_shape_fn((steps, 244, b), |_| rng.random_range(-1.0f32..1.0));
        let reference = in_pool(1, || batched_and_per_step(&w, &x, &dy, true));
        for threads in [1, 2, 4] {
            for per_step in [false, true] {
                let got = in_pool(threads, || batched_and_per_step(&w, &x, &dy, per_step));
                let what = format!("steps {steps}, b {b}, {threads} threads, per_step {per_step}");
                assert!(same_bits(&reference.0, &got.0), "spmm: {what}");
                assert!(same_bits(&reference.1, &got.1), "spmm_t: {what}");
                assert!(same_bits(&reference.2, &got.2), "sddmm: {what}");
            }
        }
    }
}

#[test]
fn batched_kernels_match_dense_reference_in_f64() {
    use ndarray::{Array3, Axis};
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let w = random_matrix(203, 57, 0.3, 14);
    let (steps, b) = (10, 21);
    let x = Array3::from_shape_fn((steps, 57, b), |_| rng.random_range(-1.0..1.0));
    let dy = Array3::from_shape_fn((steps, 203, b), |_| rng.random_range(-1.0..1.0));
    let (y, dx, g) = in_pool(2, || batched_and_per_step(&w, &x, &dy, false));
    let d = w.to_dense();
    let mut g_ref = Array2::<f64>::from_elem((203, 57), 0.25);
    for t in 0..steps {
        let (xt, dyt) = (x.index_axis(Axis(0), t), dy.index_axis(Axis(0), t));
        assert_close(&y.index_axis(Axis(0), t).to_owned(), &(d.dot(&xt) + 0.5));
        assert_close(
            &dx.index_axis(Axis(0), t).to_owned(),
            &(d.t().dot(&dyt) - 0.5),
        );
        g_ref = g_ref + dyt.dot(&xt.t());
    }
    for (r, c, k) in w.entries() {
        assert!((g[k] - g_ref[[r, c]]).abs() <= 1e-10 * (1.0 + g_ref[[r, c]].abs()));
    }
}

/// Copies `a` into storage whose rows start `offset` floats after a 64-byte boundary, rows
/// `stride` floats apart; returns the storage and where the copy starts.
fn placed(a: &Array2<f32>, offset: usize, stride: usize) -> (Vec<f32>, usize) {
    let (rows, cols) = a.dim();
    let mut v = vec![f32::NAN; rows * stride + 32];
    let start = (16 - (v.as_ptr() as usize % 64) / 4) % 16 + offset;
    for r in 0..rows {
        v[start + r * stride..][..cols].copy_from_slice(a.row(r).as_slice().unwrap());
    }
    (v, start)
}

#[test]
fn kernels_give_the_same_bits_for_aligned_and_unaligned_operands() {
    use ndarray::{ArrayView2, ShapeBuilder};
    // The AVX-512 kernels copy randomly read operands whose rows are not 64-byte aligned into
    // aligned scratch; the copy must not change a single bit, nor may the NaN padding leak in.
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let (m, n) = (300, 120);
    let w = SparseMatrix::<f32>::random_density(m, n, 0.2, &mut rng, |r| r.random_range(-1.0..1.0))
        .unwrap();
    for b in [64, 40, 16, 130] {
        let x = Array2::from_shape_fn((n, b), |_| rng.random_range(-1.0f32..1.0));
        let dy = Array2::from_shape_fn((m, b), |_| rng.random_range(-1.0f32..1.0));
        let mut results = Vec::new();
        // Aligned rows; unaligned base; odd row stride.
        for (offset, pad) in [(0, b.next_multiple_of(16) - b), (4, 0), (1, 3)] {
            let (xs, x0) = placed(&x, offset, b + pad);
            let (dys, dy0) = placed(&dy, offset, b + pad);
            let xv = ArrayView2::from_shape((n, b).strides((b + pad, 1)), &xs[x0..]).unwrap();
            let dyv = ArrayView2::from_shape((m, b).strides((b + pad, 1)), &dys[dy0..]).unwrap();
            for threads in [1, 2] {
                results.push(in_pool(threads, || {
                    let mut y = Array2::zeros((m, b));
                    w.spmm(xv, y.view_mut());
                    let mut dx = Array2::zeros((n, b));
                    w.spmm_t(dyv, dx.view_mut());
                    let mut g = vec![0.0f32; w.nnz()];
                    w.sddmm_acc(dyv, xv, &mut g);
                    (y, dx, g)
                }));
            }
        }
        let first = &results[0];
        assert!(
            first
                .0
                .iter()
                .chain(&first.1)
                .chain(&first.2)
                .all(|v| v.is_finite())
        );
        for r in &results[1..] {
            assert!(same_bits(&first.0, &r.0), "spmm, b = {b}");
            assert!(same_bits(&first.1, &r.1), "spmm_t, b = {b}");
            assert!(same_bits(&first.2, &r.2), "sddmm, b = {b}");
        }
    }
}

#[test]
fn balanced_bounds_cover_all_rows_in_order() {
    use crate::kernels::rows::balanced_bounds;
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    for rows in [0usize, 1, 2, 7, 100, 1001] {
        // Skewed rows: some empty, some long.
        let mut ptr = vec![0usize];
        for _ in 0..rows {
            let len = if rng.random_bool(0.3) {
                0
            } else {
                rng.random_range(0..50)
            };
            ptr.push(ptr.last().unwrap() + len);
        }
        for parts in [1, 2, 3, 8, 5000] {
            let b = balanced_bounds(&ptr, parts);
            assert_eq!(b[0], 0);
            assert_eq!(*b.last().unwrap(), rows);
            assert!(b.windows(2).all(|w| w[0] < w[1]), "{b:?}");
            assert!(b.len() - 1 <= parts.max(1));
            if rows >= parts && parts > 1 {
                // No range costs more than twice its share (plus one long row).
                let cost = |r0: usize, r1: usize| ptr[r1] - ptr[r0] + (r1 - r0);
                let share = cost(0, rows) / parts + 50;
                assert!(b.windows(2).all(|w| cost(w[0], w[1]) <= 2 * share), "{b:?}");
            }
        }
    }
}

#[test]
fn kernels_accept_column_slices_of_wider_arrays() {
    // The LSTM runs per-time-step products on column blocks of a [4H, T*B] array.
    let w = random_matrix(6, 5, 0.5, 3);
    let x = random_dense(5, 12, 4);
    let mut y = Array2::<f64>::zeros((6, 12));
    w.spmm(x.slice(s![.., 4..8]), y.slice_mut(s![.., 4..8]));
    assert_close(
        &y.slice(s![.., 4..8]).to_owned(),
        &w.to_dense().dot(&x.slice(s![.., 4..8])),
    );
    assert!(y.slice(s![.., 0..4]).iter().all(|&v| v == 0.0));
}

#[test]
fn flush_to_zero_is_set_in_pool_workers() {
    let pool = crate::denormal::build_thread_pool(2, true).unwrap();
    let flags: Vec<bool> = pool.broadcast(|_| crate::denormal::flush_denormals_enabled());
    assert!(flags.iter().all(|&f| f));
    // A subnormal product flushes to zero on a worker.
    let tiny = pool.install(|| std::hint::black_box(1e-30f32) * std::hint::black_box(1e-10f32));
    assert_eq!(tiny, 0.0);
    crate::denormal::set_flush_denormals(false);
}

#[test]
fn sample_sorted_distinct_is_exact_at_both_ends() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (total, k) in [(10u64, 0u64), (10, 10), (10, 9), (1000, 3), (1000, 999)] {
        let v = crate::sample_sorted_distinct(total, k, &mut rng);
        assert_eq!(v.len() as u64, k);
        assert!(v.windows(2).all(|w| w[0] < w[1]));
        assert!(v.iter().all(|&x| x < total));
    }
}

// ---------------------------------------------------------------------------------------------
// Triplet construction and the checked (`try_*`) kernels.
// ---------------------------------------------------------------------------------------------

/// `shape` with `delta` added to axis `axis`.
fn grown<const N: usize>(mut shape: [usize; N], axis: usize, delta: usize) -> [usize; N] {
    shape[axis] += delta;
    shape
}

fn random_dense3(shape: [usize; 3], seed: u64) -> ndarray::Array3<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ndarray::Array3::from_shape_fn(shape, |_| rng.random_range(-1.0..1.0))
}

/// The operand named by a shape error, or a description of any other outcome.
fn shape_err_operand(r: Result<(), SparseError>) -> Result<&'static str, String> {
    match r {
        Err(SparseError::ShapeMismatch {
            operand,
            expected,
            got,
            ..
        }) => {
            assert_ne!(expected, got);
            Ok(operand)
        }
        other => Err(format!("{other:?}")),
    }
}

/// Whether `r` is the "rows not contiguous" error for `operand`.
fn is_not_contiguous(r: &Result<(), SparseError>, operand: &str) -> bool {
    matches!(r, Err(SparseError::NotContiguous { operand: o, .. }) if *o == operand)
}

fn batch_strategy() -> impl Strategy<Value = (usize, usize, usize, f64, u64)> {
    (
        0usize..24,
        0usize..24,
        prop_oneof![Just(0usize), Just(1), 2usize..9, 60usize..70, 250usize..300],
        prop_oneof![Just(0.0), Just(1.0), 0.0f64..1.0],
        any::<u64>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `from_triplets` against a dense accumulation of the same triplets (duplicates summed in
    /// input order, so the bits agree exactly), over random shapes, densities and duplicate
    /// rates.
    #[test]
    fn from_triplets_matches_dense(rows in 0usize..30, cols in 0usize..30, density in 0.0f64..1.5, seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Up to 1.5 triplets per position: many duplicates at high densities.
        let n = (density * (rows * cols) as f64) as usize;
        let triplets: Vec<(usize, usize, f64)> = (0..n)
            .map(|_| (rng.random_range(0..rows), rng.random_range(0..cols), rng.random_range(-1.0..1.0)))
            .collect();
        let w = SparseMatrix::from_triplets(rows, cols, &triplets).unwrap();
        check_invariants(&w);
        prop_assert_eq!(w.shape(), (rows, cols));
        let mut dense = Array2::<f64>::zeros((rows, cols));
        let mut named = std::collections::BTreeSet::new();
        for &(r, c, v) in &triplets {
            if named.insert((r, c)) {
                dense[[r, c]] = v;
            } else {
                dense[[r, c]] += v;
            }
        }
        // Exactly the named positions are stored (even where the sum is zero), sorted, unique.
        let stored: std::collections::BTreeSet<_> = w.entries().map(|(r, c, _)| (r, c)).collect();
        prop_assert_eq!(w.nnz(), named.len());
        prop_assert_eq!(&stored, &named);
        prop_assert!(same_bits(&w.to_dense(), &dense));
        // Any permutation of distinct triplets gives the same matrix.
        let mut distinct: Vec<(usize, usize, f64)> = w.entries().map(|(r, c, k)| (r, c, w.values()[k])).collect();
        distinct.reverse();
        let again = SparseMatrix::from_triplets(rows, cols, &distinct).unwrap();
        prop_assert_eq!(again.indptr(), w.indptr());
        prop_assert_eq!(again.indices(), w.indices());
        prop_assert!(same_bits(again.values(), w.values()));
        prop_assert_eq!(again.topology_hash(), w.topology_hash());
    }

    /// An out-of-range triplet anywhere in the list is a typed error naming the first one.
    #[test]
    fn from_triplets_rejects_out_of_range(rows in 1usize..10, cols in 1usize..10, n in 1usize..20, at in any::<prop::sample::Index>(), off_row in any::<bool>(), delta in 0usize..3, seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut triplets: Vec<(usize, usize, f32)> = (0..n)
            .map(|_| (rng.random_range(0..rows), rng.random_range(0..cols), 1.0))
            .collect();
        let index = at.index(n);
        if off_row { triplets[index].0 = rows + delta } else { triplets[index].1 = cols + delta }
        let (row, col, _) = triplets[index];
        prop_assert_eq!(
            SparseMatrix::from_triplets(rows, cols, &triplets).unwrap_err(),
            SparseError::TripletOutOfRange { index, row, col, rows, cols }
        );
    }

    /// SpMM, SpMM-acc, transposed SpMM and its acc form: valid operands give exactly the bits of
    /// the panicking kernel; a wrong shape or non-contiguous rows give `Err` and leave the output
    /// untouched.
    #[test]
    fn checked_spmm_family((m, n, b, d, seed) in batch_strategy(), axis in 0usize..2, delta in 1usize..3) {
        let w = random_matrix(m, n, d, seed);
        for (transposed, acc) in [(false, false), (false, true), (true, false), (true, true)] {
            // Input [k_in, b] and output [k_out, b] of this product.
            let (k_in, k_out) = if transposed { (m, n) } else { (n, m) };
            let (in_name, out_name) = if transposed { ("dy", "dx") } else { ("x", "y") };
            let unchecked = |x: ndarray::ArrayView2<f64>, y: ndarray::ArrayViewMut2<f64>| match (transposed, acc) {
                (false, false) => w.spmm(x, y),
                (false, true) => w.spmm_acc(x, y),
                (true, false) => w.spmm_t(x, y),
                (true, true) => w.spmm_t_acc(x, y),
            };
            let checked = |x: ndarray::ArrayView2<f64>, y: ndarray::ArrayViewMut2<f64>| match (transposed, acc) {
                (false, false) => w.try_spmm(x, y),
                (false, true) => w.try_spmm_acc(x, y),
                (true, false) => w.try_spmm_t(x, y),
                (true, true) => w.try_spmm_t_acc(x, y),
            };
            let x = random_dense(k_in, b, seed ^ 1);
            let y0 = random_dense(k_out, b, seed ^ 2);
            let (mut ya, mut yb) = (y0.clone(), y0.clone());
            unchecked(x.view(), ya.view_mut());
            prop_assert_eq!(checked(x.view(), yb.view_mut()), Ok(()));
            prop_assert!(same_bits(&ya, &yb));

            // Wrong input shape: a feature-count error names the input, a batch error the
            // output (the batch is taken from the input).
            let [r, c] = grown([k_in, b], axis, delta);
            let mut y = y0.clone();
            let got = shape_err_operand(checked(random_dense(r, c, 3).view(), y.view_mut()));
            prop_assert_eq!(got, Ok(if axis == 0 { in_name } else { out_name }));
            prop_assert!(same_bits(&y, &y0));
            // Wrong output shape.
            let [r, c] = grown([k_out, b], axis, delta);
            let mut y_bad = Array2::<f64>::zeros((r, c));
            prop_assert_eq!(shape_err_operand(checked(x.view(), y_bad.view_mut())), Ok(out_name));
            prop_assert!(y_bad.iter().all(|&v| v == 0.0));

            // Every other column of a wider array: rows not contiguous once the batch is >= 2.
            let wide = random_dense(k_in, 2 * b, seed ^ 4);
            let x_nc = wide.slice(s![.., ..;2]);
            let mut y = y0.clone();
            let r = checked(x_nc, y.view_mut());
            // (An operand without elements has no rows to read: any strides are fine.)
            if b >= 2 && k_in > 0 {
                prop_assert!(is_not_contiguous(&r, in_name), "{:?}", r);
                prop_assert!(same_bits(&y, &y0));
            } else {
                prop_assert_eq!(r, Ok(()));
                let mut y_ref = y0.clone();
                unchecked(x_nc, y_ref.view_mut());
                prop_assert!(same_bits(&y, &y_ref));
            }
            // A transposed view of a [batch, features] array.
            let xt_storage = random_dense(b, k_in, seed ^ 5);
            let mut y = y0.clone();
            let r = checked(xt_storage.t(), y.view_mut());
            if b >= 2 && k_in >= 2 {
                prop_assert!(is_not_contiguous(&r, in_name), "{:?}", r);
            } else {
                prop_assert_eq!(r, Ok(()));
            }
            let mut y_wide = Array2::<f64>::zeros((k_out, 2 * b));
            let r = checked(x.view(), y_wide.slice_mut(s![.., ..;2]));
            if b >= 2 && k_out > 0 {
                prop_assert!(is_not_contiguous(&r, out_name), "{:?}", r);
                prop_assert!(y_wide.iter().all(|&v| v == 0.0));
            } else {
                prop_assert_eq!(r, Ok(()));
            }
        }
    }

    /// SDDMM: valid operands give the panicking kernel's bits; wrong shapes, a wrong gradient
    /// length or non-contiguous rows give `Err` with `grad` untouched.
    #[test]
    fn checked_sddmm((m, n, b, d, seed) in batch_strategy(), axis in 0usize..2, delta in 1usize..3) {
        let w = random_matrix(m, n, d, seed);
        let dy = random_dense(m, b, seed ^ 1);
        let x = random_dense(n, b, seed ^ 2);
        let g0: Vec<f64> = (0..w.nnz()).map(|k| k as f64 * 0.125).collect();
        let (mut ga, mut gb) = (g0.clone(), g0.clone());
        w.sddmm_acc(dy.view(), x.view(), &mut ga);
        prop_assert_eq!(w.try_sddmm_acc(dy.view(), x.view(), &mut gb), Ok(()));
        prop_assert!(same_bits(&ga, &gb));

        let mut g = g0.clone();
        let [r, c] = grown([m, b], axis, delta);
        let got = shape_err_operand(w.try_sddmm_acc(random_dense(r, c, 3).view(), x.view(), &mut g));
        prop_assert_eq!(got, Ok(if axis == 0 { "dy" } else { "x" }));
        let [r, c] = grown([n, b], axis, delta);
        prop_assert_eq!(shape_err_operand(w.try_sddmm_acc(dy.view(), random_dense(r, c, 3).view(), &mut g)), Ok("x"));
        let mut g_long = vec![0.0; w.nnz() + delta];
        prop_assert_eq!(
            w.try_sddmm_acc(dy.view(), x.view(), &mut g_long),
            Err(SparseError::LengthMismatch { op: "sddmm_acc", operand: "grad", expected: w.nnz(), got: w.nnz() + delta })
        );
        let (wide_dy, wide_x) = (random_dense(m, 2 * b, 4), random_dense(n, 2 * b, 5));
        let r_dy = w.try_sddmm_acc(wide_dy.slice(s![.., ..;2]), x.view(), &mut g);
        let r_x = w.try_sddmm_acc(dy.view(), wide_x.slice(s![.., ..;2]), &mut g);
        for (r, operand, features) in [(r_dy, "dy", m), (r_x, "x", n)] {
            if b >= 2 && features > 0 {
                prop_assert!(is_not_contiguous(&r, operand), "{:?}", r);
            } else {
                prop_assert_eq!(r, Ok(()));
            }
        }
        if b >= 2 && m > 0 && n > 0 {
            prop_assert!(same_bits(&g, &g0));
        }
    }

    /// The batched kernels: same bits as the panicking forms when valid; `Err` for a wrong size
    /// on any axis of any operand (steps, features, batch), a wrong gradient length, or
    /// non-contiguous rows.
    #[test]
    fn checked_batched_kernels(steps in 0usize..5, (m, n, b, d, seed) in batch_strategy(), axis in 0usize..3, delta in 1usize..3, acc in any::<bool>()) {
        let w = random_matrix(m, n, d, seed);
        let x = random_dense3([steps, n, b], seed ^ 1);
        let dy = random_dense3([steps, m, b], seed ^ 2);
        let y0 = random_dense3([steps, m, b], seed ^ 3);
        let dx0 = random_dense3([steps, n, b], seed ^ 4);
        let g0: Vec<f64> = (0..w.nnz()).map(|k| k as f64 * 0.25).collect();

        let (mut ya, mut yb) = (y0.clone(), y0.clone());
        w.spmm_batched(x.view(), ya.view_mut(), acc);
        prop_assert_eq!(w.try_spmm_batched(x.view(), yb.view_mut(), acc), Ok(()));
        prop_assert!(same_bits(&ya, &yb));
        let (mut dxa, mut dxb) = (dx0.clone(), dx0.clone());
        w.spmm_t_batched(dy.view(), dxa.view_mut(), acc);
        prop_assert_eq!(w.try_spmm_t_batched(dy.view(), dxb.view_mut(), acc), Ok(()));
        prop_assert!(same_bits(&dxa, &dxb));
        let (mut ga, mut gb) = (g0.clone(), g0.clone());
        w.sddmm_batched_acc(dy.view(), x.view(), &mut ga);
        prop_assert_eq!(w.try_sddmm_batched_acc(dy.view(), x.view(), &mut gb), Ok(()));
        prop_assert!(same_bits(&ga, &gb));

        // Growing the first operand's steps or batch moves the blame to the second one; growing
        // its features blames the first.
        let first_or_second = |first, second| if axis == 1 { first } else { second };
        let (mut y, mut dx, mut g) = (y0.clone(), dx0.clone(), g0.clone());
        let x_bad = random_dense3(grown([steps, n, b], axis, delta), 6);
        let dy_bad = random_dense3(grown([steps, m, b], axis, delta), 7);
        prop_assert_eq!(shape_err_operand(w.try_spmm_batched(x_bad.view(), y.view_mut(), acc)), Ok(first_or_second("x", "y")));
        prop_assert_eq!(shape_err_operand(w.try_spmm_t_batched(dy_bad.view(), dx.view_mut(), acc)), Ok(first_or_second("dy", "dx")));
        prop_assert_eq!(shape_err_operand(w.try_sddmm_batched_acc(dy_bad.view(), x.view(), &mut g)), Ok(first_or_second("dy", "x")));
        let mut y_bad = random_dense3(grown([steps, m, b], axis, delta), 8);
        let mut dx_bad = random_dense3(grown([steps, n, b], axis, delta), 9);
        prop_assert_eq!(shape_err_operand(w.try_spmm_batched(x.view(), y_bad.view_mut(), acc)), Ok("y"));
        prop_assert_eq!(shape_err_operand(w.try_spmm_t_batched(dy.view(), dx_bad.view_mut(), acc)), Ok("dx"));
        prop_assert_eq!(shape_err_operand(w.try_sddmm_batched_acc(dy.view(), x_bad.view(), &mut g)), Ok("x"));
        let long = w.try_sddmm_batched_acc(dy.view(), x.view(), &mut vec![0.0; w.nnz() + delta]);
        let is_length_error = matches!(long, Err(SparseError::LengthMismatch { operand: "grad", .. }));
        prop_assert!(is_length_error);
        prop_assert!(same_bits(&y, &y0) && same_bits(&dx, &dx0) && same_bits(&g, &g0));

        // Every other batch column: not contiguous once the batch is >= 2 (and there are rows).
        let x_wide = random_dense3([steps, n, 2 * b], 10);
        let dy_wide = random_dense3([steps, m, 2 * b], 11);
        let mut y_wide = ndarray::Array3::<f64>::zeros([steps, m, 2 * b]);
        let mut dx_wide = ndarray::Array3::<f64>::zeros([steps, n, 2 * b]);
        let nc = s![.., .., ..;2];
        let results = [
            ("x", n, w.try_spmm_batched(x_wide.slice(nc), y.view_mut(), acc)),
            ("y", m, w.try_spmm_batched(x.view(), y_wide.slice_mut(nc), acc)),
            ("dy", m, w.try_spmm_t_batched(dy_wide.slice(nc), dx.view_mut(), acc)),
            ("dx", n, w.try_spmm_t_batched(dy.view(), dx_wide.slice_mut(nc), acc)),
            ("dy", m, w.try_sddmm_batched_acc(dy_wide.slice(nc), x.view(), &mut g)),
            ("x", n, w.try_sddmm_batched_acc(dy.view(), x_wide.slice(nc), &mut g)),
        ];
        // (An operand without elements has no rows to read: any strides are fine.)
        let non_empty = |features: usize| steps > 0 && features > 0;
        for (operand, features, r) in results {
            if b >= 2 && non_empty(features) {
                prop_assert!(is_not_contiguous(&r, operand), "{operand}: {r:?}");
            } else {
                prop_assert_eq!(r, Ok(()));
            }
        }
        if b >= 2 && non_empty(m) && non_empty(n) {
            prop_assert!(same_bits(&y, &y0) && same_bits(&dx, &dx0) && same_bits(&g, &g0));
            prop_assert!(y_wide.iter().chain(&dx_wide).all(|&v| v == 0.0));
        }
    }

    /// Embedding gather / scatter-add: same bits as the panicking forms when valid; `Err` for a
    /// mis-shaped output or gradient, a wrong gradient length, or an id that is not a row
    /// (ids equal to `skip` are never checked, as they are never read).
    #[test]
    fn checked_embedding((v, e, n, d, seed) in batch_strategy(), axis in 0usize..2, delta in 1usize..3, bad_at in any::<prop::sample::Index>()) {
        let w = random_matrix(v, e, d, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 7);
        let pad = v as u32 + 7; // a skip id that is not a row
        let ids: Vec<u32> = (0..n)
            .map(|_| if v == 0 || rng.random_bool(0.2) { pad } else { rng.random_range(0..v as u32) })
            .collect();
        let out0 = random_dense(e, n, seed ^ 8);
        let (mut oa, mut ob) = (out0.clone(), out0.clone());
        w.gather_rows(&ids, Some(pad), oa.view_mut());
        prop_assert_eq!(w.try_gather_rows(&ids, Some(pad), ob.view_mut()), Ok(()));
        prop_assert!(same_bits(&oa, &ob));
        let gout = random_dense(e, n, seed ^ 9);
        let g0: Vec<f64> = (0..w.nnz()).map(|k| k as f64).collect();
        let (mut ga, mut gb) = (g0.clone(), g0.clone());
        w.scatter_add_rows(&ids, Some(pad), gout.view(), &mut ga);
        prop_assert_eq!(w.try_scatter_add_rows(&ids, Some(pad), gout.view(), &mut gb), Ok(()));
        prop_assert!(same_bits(&ga, &gb));

        let [r, c] = grown([e, n], axis, delta);
        let mut out = out0.clone();
        let mut out_bad = Array2::<f64>::zeros((r, c));
        let mut g = g0.clone();
        prop_assert_eq!(shape_err_operand(w.try_gather_rows(&ids, Some(pad), out_bad.view_mut())), Ok("out"));
        prop_assert_eq!(shape_err_operand(w.try_scatter_add_rows(&ids, Some(pad), random_dense(r, c, 1).view(), &mut g)), Ok("grad_out"));
        prop_assert_eq!(
            w.try_scatter_add_rows(&ids, Some(pad), gout.view(), &mut vec![0.0; w.nnz() + delta]),
            Err(SparseError::LengthMismatch { op: "scatter_add_rows", operand: "grad", expected: w.nnz(), got: w.nnz() + delta })
        );
        if n > 0 {
            // Without `skip`, the padding id is out of range; so is any id >= v.
            let first_pad = ids.iter().position(|&id| id == pad);
            let mut bad_ids = ids.clone();
            let at = bad_at.index(n);
            bad_ids[at] = v as u32 + delta as u32 - 1;
            let index = first_pad.map_or(at, |p| p.min(at));
            let expect = |op| Err(SparseError::IdOutOfRange { op, index, id: bad_ids[index], rows: v });
            prop_assert_eq!(w.try_gather_rows(&bad_ids, None, out.view_mut()), expect("gather_rows"));
            prop_assert_eq!(w.try_scatter_add_rows(&bad_ids, None, gout.view(), &mut g), expect("scatter_add_rows"));
            prop_assert!(same_bits(&out, &out0) && same_bits(&g, &g0));
        }
    }
}

#[test]
fn from_triplets_sums_duplicates_and_keeps_explicit_zeros() {
    let w = SparseMatrix::<f32>::from_triplets(
        3,
        4,
        &[
            (2, 3, 1.0),
            (0, 1, 0.5),
            (2, 3, -1.0), // cancels: (2, 3) stays stored with value 0
            (0, 1, 0.25),
            (1, 0, 0.0), // explicit zero: stored
            (0, 0, 4.0),
            (0, 1, 0.25),
        ],
    )
    .unwrap();
    check_invariants(&w);
    assert_eq!(w.indptr(), &[0, 2, 3, 4]);
    assert_eq!(w.indices(), &[0, 1, 0, 3]);
    assert_eq!(w.values(), &[4.0, 1.0, 0.0, 0.0]);
    assert_eq!(w.get(2, 3), Some(0.0));
    // Spmm through the transposed index agrees with the CSR.
    let dy = ndarray::array![[1.0f32], [2.0], [3.0]];
    let mut dx = Array2::zeros((4, 1));
    w.spmm_t(dy.view(), dx.view_mut());
    assert_eq!(dx, ndarray::array![[4.0], [1.0], [0.0], [0.0]]);
    // No triplets: an empty matrix of the given shape.
    let e = SparseMatrix::<f32>::from_triplets(5, 0, &[]).unwrap();
    assert_eq!((e.shape(), e.nnz()), ((5, 0), 0));
}

#[test]
fn oversized_dimensions_are_errors_not_overflows() {
    let too_large = |r: Result<SparseMatrix<f32>, SparseError>| {
        matches!(
            r,
            Err(SparseError::TooLarge {
                what: "rows" | "cols",
                ..
            })
        )
    };
    assert!(too_large(SparseMatrix::from_triplets(usize::MAX, 1, &[])));
    assert!(too_large(SparseMatrix::from_triplets(
        1,
        usize::MAX,
        &[(0, 0, 1.0)]
    )));
    assert!(too_large(SparseMatrix::from_triplets(
        crate::MAX_INDEX as usize + 1,
        1,
        &[]
    )));
    assert!(too_large(SparseMatrix::empty(usize::MAX, 1)));
}

#[test]
fn checked_errors_name_the_problem() {
    let w = SparseMatrix::<f32>::from_triplets(2, 3, &[(0, 0, 1.0), (1, 2, 1.0)]).unwrap();
    let x = Array2::<f32>::zeros((4, 3)); // [batch, features] by mistake
    let mut y = Array2::<f32>::zeros((2, 4));
    let e = w.try_spmm(x.view(), y.view_mut()).unwrap_err();
    assert_eq!(
        e,
        SparseError::ShapeMismatch {
            op: "spmm",
            operand: "x",
            expected: vec![3, 3],
            got: vec![4, 3],
            w_rows: 2,
            w_cols: 3
        }
    );
    assert_eq!(
        e.to_string(),
        "spmm: operand `x` has shape [4, 3], expected [3, 3] (dense operands are [features, \
         batch]; W is 2 x 3)"
    );
    let x = Array2::<f32>::zeros((4, 3));
    let e = w.try_spmm(x.t(), y.view_mut()).unwrap_err();
    assert_eq!(
        e,
        SparseError::NotContiguous {
            op: "spmm",
            operand: "x",
            strides: vec![1, 3]
        }
    );
    assert!(e.to_string().contains("rows not contiguous"), "{e}");
    // The panicking kernel runs the same check and panics with the same message.
    let caught = std::panic::catch_unwind(|| {
        let mut y = Array2::<f32>::zeros((2, 4));
        w.spmm(x.t(), y.view_mut());
    })
    .unwrap_err();
    assert_eq!(caught.downcast_ref::<String>(), Some(&e.to_string()));
}
