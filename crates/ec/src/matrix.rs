//! Small dense matrices over GF(2^8), for building decoding matrices.
//!
//! Field arithmetic is the `reed-solomon-erasure` crate's `galois_8` (the same field and
//! generating polynomial its encoder uses); only Gauss–Jordan inversion and products of
//! at most 32×32 matrices live here, so their cost is negligible next to coding bytes.

use reed_solomon_erasure::galois_8;

/// A `rows × cols` matrix over GF(2^8), row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GfMatrix {
    rows: usize,
    cols: usize,
    cells: Vec<u8>,
}

impl GfMatrix {
    /// The all-zero matrix.
    pub fn zero(rows: usize, cols: usize) -> GfMatrix {
        GfMatrix {
            rows,
            cols,
            cells: vec![0; rows * cols],
        }
    }

    /// The matrix whose rows are `rows`, each `cols` long.
    pub fn from_rows<'a>(cols: usize, rows: impl IntoIterator<Item = &'a [u8]>) -> GfMatrix {
        let mut cells = Vec::new();
        let mut n = 0;
        for row in rows {
            debug_assert_eq!(row.len(), cols);
            cells.extend_from_slice(row);
            n += 1;
        }
        GfMatrix {
            rows: n,
            cols,
            cells,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn row(&self, r: usize) -> &[u8] {
        &self.cells[r * self.cols..(r + 1) * self.cols]
    }

    fn row_mut(&mut self, r: usize) -> &mut [u8] {
        &mut self.cells[r * self.cols..(r + 1) * self.cols]
    }

    pub fn get(&self, r: usize, c: usize) -> u8 {
        self.cells[r * self.cols + c]
    }

    pub fn set(&mut self, r: usize, c: usize, v: u8) {
        self.cells[r * self.cols + c] = v;
    }

    /// `self × other`.
    pub fn multiply(&self, other: &GfMatrix) -> GfMatrix {
        debug_assert_eq!(self.cols, other.rows);
        let mut out = GfMatrix::zero(self.rows, other.cols);
        for r in 0..self.rows {
            for c in 0..other.cols {
                let mut acc = 0u8;
                for i in 0..self.cols {
                    acc ^= galois_8::mul(self.get(r, i), other.get(i, c));
                }
                out.set(r, c, acc);
            }
        }
        out
    }

    /// The inverse of a square matrix, or `None` when it is singular.
    pub fn invert(&self) -> Option<GfMatrix> {
        debug_assert_eq!(self.rows, self.cols);
        let n = self.rows;
        let mut a = self.clone();
        let mut inv = GfMatrix::zero(n, n);
        for i in 0..n {
            inv.set(i, i, 1);
        }
        for col in 0..n {
            let pivot = (col..n).find(|&r| a.get(r, col) != 0)?;
            if pivot != col {
                a.swap_rows(pivot, col);
                inv.swap_rows(pivot, col);
            }
            let scale = galois_8::div(1, a.get(col, col));
            for c in 0..n {
                a.set(col, c, galois_8::mul(a.get(col, c), scale));
                inv.set(col, c, galois_8::mul(inv.get(col, c), scale));
            }
            for r in 0..n {
                let factor = a.get(r, col);
                if r == col || factor == 0 {
                    continue;
                }
                for c in 0..n {
                    let av = a.get(r, c) ^ galois_8::mul(factor, a.get(col, c));
                    a.set(r, c, av);
                    let iv = inv.get(r, c) ^ galois_8::mul(factor, inv.get(col, c));
                    inv.set(r, c, iv);
                }
            }
        }
        Some(inv)
    }

    fn swap_rows(&mut self, a: usize, b: usize) {
        let tmp = self.row(a).to_vec();
        let from_b = self.row(b).to_vec();
        self.row_mut(a).copy_from_slice(&from_b);
        self.row_mut(b).copy_from_slice(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_times_matrix_is_identity() {
        let m = GfMatrix::from_rows(3, [&[1u8, 2, 3][..], &[4, 5, 6], &[7, 8, 10]]);
        let inv = m.invert().expect("invertible");
        let id = m.multiply(&inv);
        for r in 0..3 {
            for c in 0..3 {
                assert_eq!(id.get(r, c), u8::from(r == c));
            }
        }
    }

    #[test]
    fn singular_matrix_has_no_inverse() {
        let m = GfMatrix::from_rows(2, [&[3u8, 5][..], &[3, 5]]);
        assert_eq!(m.invert(), None);
    }
}
