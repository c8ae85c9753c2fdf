//! A study's rows grouped by method and size, and the mean and spread over seeds the tables and
//! plots show.

use std::collections::BTreeMap;

use crate::results::CellResult;

/// A study's rows grouped by method (first appearance) and size (depth, then width).
pub(super) struct Grid<'a> {
    pub(super) methods: Vec<&'a str>,
    pub(super) sizes: Vec<(usize, usize)>,
    /// Rows per (method index, size), in input order.
    pub(super) cells: BTreeMap<(usize, (usize, usize)), Vec<&'a CellResult>>,
}

impl<'a> Grid<'a> {
    pub(super) fn new(rows: &'a [CellResult]) -> Self {
        let mut methods: Vec<&str> = Vec::new();
        let mut cells: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for r in rows {
            let m = match methods.iter().position(|m| *m == r.method) {
                Some(m) => m,
                None => {
                    methods.push(&r.method);
                    methods.len() - 1
                }
            };
            cells.entry((m, r.size())).or_default().push(r);
        }
        let mut sizes: Vec<(usize, usize)> = cells.keys().map(|k| k.1).collect();
        sizes.sort_unstable();
        sizes.dedup();
        Grid {
            methods,
            sizes,
            cells,
        }
    }

    /// The rows of `method` at `size` that are not n/a.
    pub(super) fn valued(&self, method: usize, size: (usize, usize)) -> Vec<&'a CellResult> {
        self.cells
            .get(&(method, size))
            .map(|v| v.iter().copied().filter(|r| !r.is_na()).collect())
            .unwrap_or_default()
    }

    /// The values `score` picks from the rows of `method` at `size` (rows without one are
    /// skipped).
    pub(super) fn values(&self, method: usize, size: (usize, usize), score: Score) -> Vec<f64> {
        self.valued(method, size)
            .iter()
            .filter_map(|r| score(r))
            .collect()
    }

    /// Final headline scores of `method` at `size`.
    pub(super) fn finals(&self, method: usize, size: (usize, usize)) -> Vec<f64> {
        self.values(method, size, |r| r.final_acc)
    }

    /// Mean parameter count of the rows at `size` that give one.
    pub(super) fn params(&self, size: (usize, usize)) -> Option<f64> {
        let p: Vec<f64> = self
            .cells
            .iter()
            .filter(|(k, _)| k.1 == size)
            .flat_map(|(_, rows)| rows.iter().filter_map(|r| r.params.map(|p| p as f64)))
            .collect();
        (!p.is_empty()).then(|| mean(&p))
    }
}

/// Which number of a row a table shows (the final headline score, the secondary score).
pub(super) type Score = fn(&CellResult) -> Option<f64>;

/// The mean of a non-empty slice.
pub(super) fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Mean and sample standard deviation (n - 1; `None` for fewer than two values).
pub fn mean_std(v: &[f64]) -> Option<(f64, Option<f64>)> {
    if v.is_empty() {
        return None;
    }
    let m = mean(v);
    let std = (v.len() > 1).then(|| {
        let ss: f64 = v.iter().map(|x| (x - m) * (x - m)).sum();
        (ss / (v.len() - 1) as f64).sqrt()
    });
    Some((m, std))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_std() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[3.0]), Some((3.0, None)));
        let (m, s) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(m, 5.0);
        // population std is 2; the sample std is sqrt(32 / 7)
        assert!((s.unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
    }
}
