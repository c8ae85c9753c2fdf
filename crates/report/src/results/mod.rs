//! The study results table: one CSV row per study cell (method, size, seed), fixed header.
//!
//! Scores are numbers of the study's headline [`Metric`]; the columns keep the `acc` names of
//! the first one, accuracy. Accuracy, AP and mIoU are fractions in `[0, 1]` (as `test_acc` in a
//! run's `metrics.jsonl`), a Fréchet distance is any number `>= 0`; seconds are wall-clock
//! seconds. `acc_epochs` is the score on a fixed test subset after each epoch, `;`-joined; `final_acc`
//! the score on the full test set at the end; `best_acc` the best of `acc_epochs` under the
//! metric's direction ([`CellResult::best_of`]); `secondary` an optional second number of the
//! cell at the end (the class accuracy of generated samples), the last column. A cell that a
//! method cannot produce keeps its method, size and seed, leaves the scores empty and has a note
//! `n/a: <reason>`.
//!
//! The file does not say what its scores measure, so reading and writing check only what holds
//! for every metric: each score finite and `>= 0`, `best_acc` the largest or the smallest of
//! `acc_epochs`. The metric's own rules (a percent score within `[0, 1]`, `best_acc` the best in
//! the metric's direction) are [`CellResult::problem_for`], which the report applies to its rows.
//!
//! This module holds a cell ([`CellResult`]) and its checks; `file` reads and writes the CSV
//! file ([`read_results`], [`write_results`]) and `row` is a cell as one row of it.

mod file;
mod row;

use serde::{Deserialize, Serialize};

use crate::metric::Metric;

pub use file::{read_results, write_results, RESULTS_HEADER};

/// The start of the note of a cell its method cannot produce: `n/a: <reason>`.
pub const NA_PREFIX: &str = "n/a";

/// One study cell: a method at one target size with one seed, its cost and its scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// Initialization method (e.g. `sweet`, `random`, `weight-selection`).
    pub method: String,
    /// The template or source model the method used (empty when none).
    pub template: String,
    /// Encoder depth of the target model.
    pub depth: usize,
    /// Encoder width (embedding dimension) of the target model.
    pub width: usize,
    /// Attention heads of the target model.
    pub heads: usize,
    /// Parameter count of the target model.
    pub params: Option<u64>,
    /// Seed of the cell (initialization and fine-tuning).
    pub seed: u64,
    /// Pre-training seconds attributed to this cell (a shared pre-training's share; 0 if none).
    pub pretrain_s: Option<f64>,
    /// Seconds spent making the initial weights.
    pub init_s: Option<f64>,
    /// Seconds of fine-tuning.
    pub finetune_s: Option<f64>,
    /// The headline score (accuracy: a fraction in `[0, 1]`) on the fixed test subset after
    /// each epoch.
    pub acc_epochs: Vec<f64>,
    /// The headline score on the full test set at the end.
    pub final_acc: Option<f64>,
    /// The best of `acc_epochs` under the metric's direction ([`CellResult::best_of`]).
    pub best_acc: Option<f64>,
    /// A second score of the cell at the end (the class accuracy of generated samples), if its
    /// study has one. Absent in rows written before it existed.
    #[serde(default)]
    pub secondary: Option<f64>,
    /// Free text; `n/a: <reason>` for a cell the method cannot produce.
    pub note: String,
}

impl CellResult {
    /// A cell `method` cannot produce, with every number empty and the note `n/a: <reason>`.
    pub fn na(
        method: impl Into<String>,
        template: impl Into<String>,
        (depth, width, heads): (usize, usize, usize),
        seed: u64,
        reason: &str,
    ) -> Self {
        Self {
            method: method.into(),
            template: template.into(),
            depth,
            width,
            heads,
            params: None,
            seed,
            pretrain_s: None,
            init_s: None,
            finetune_s: None,
            acc_epochs: Vec::new(),
            final_acc: None,
            best_acc: None,
            secondary: None,
            note: format!("{NA_PREFIX}: {reason}"),
        }
    }

    /// Whether this is a cell the method cannot produce (its note starts with `n/a`).
    pub fn is_na(&self) -> bool {
        self.note.starts_with(NA_PREFIX)
    }

    /// The reason of an n/a cell: its note after `n/a` and a `:`, trimmed.
    pub fn na_reason(&self) -> Option<&str> {
        let rest = self.note.strip_prefix(NA_PREFIX)?;
        Some(rest.strip_prefix(':').unwrap_or(rest).trim())
    }

    /// The target size as `(depth, width)`.
    pub fn size(&self) -> (usize, usize) {
        (self.depth, self.width)
    }

    /// Seconds of pre-training attributed + initialization + fine-tuning, over the parts given;
    /// `None` when none is.
    pub fn total_s(&self) -> Option<f64> {
        let parts = [self.pretrain_s, self.init_s, self.finetune_s];
        parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.iter().flatten().sum())
    }

    /// The best of a list of per-epoch scores of `metric` (the largest, or the smallest when
    /// lower is better; `None` when empty): what `best_acc` holds.
    pub fn best_of(acc_epochs: &[f64], metric: &Metric) -> Option<f64> {
        metric.best_of(acc_epochs)
    }

    /// The headline scores of the row with their column names: every epoch, final and best.
    fn scores(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        let epochs = self.acc_epochs.iter().map(|&a| ("acc_epochs", a));
        let finals = self.final_acc.map(|a| ("final_acc", a));
        let best = self.best_acc.map(|a| ("best_acc", a));
        epochs.chain(finals).chain(best)
    }

    /// What makes this row unfit for a results file, if anything: checks that hold whatever the
    /// metric (scores finite and `>= 0`, `best_acc` the largest or smallest of `acc_epochs`).
    fn problem(&self) -> Option<String> {
        if self.method.is_empty() {
            return Some("empty method".into());
        }
        let mut scores = self
            .scores()
            .chain(self.secondary.map(|s| ("secondary", s)));
        if let Some((name, a)) = scores.find(|(_, a)| !(a.is_finite() && *a >= 0.0)) {
            return Some(format!("{name} {a} is not a finite score >= 0"));
        }
        let seconds = [
            ("pretrain_s", self.pretrain_s),
            ("init_s", self.init_s),
            ("finetune_s", self.finetune_s),
        ];
        if let Some((name, s)) = seconds
            .iter()
            .find_map(|(n, s)| s.filter(|s| !(s.is_finite() && *s >= 0.0)).map(|s| (n, s)))
        {
            return Some(format!("{name} {s} is not a finite number of seconds >= 0"));
        }
        let largest = self.acc_epochs.iter().copied().reduce(f64::max);
        let smallest = self.acc_epochs.iter().copied().reduce(f64::min);
        if let (Some(best), Some(max), Some(min)) = (self.best_acc, largest, smallest) {
            if best != max && best != min {
                return Some(format!(
                    "best_acc {best} is neither the largest ({max}) nor the smallest ({min}) \
                     of acc_epochs"
                ));
            }
        }
        if self.is_na() && (self.scores().next().is_some() || self.secondary.is_some()) {
            return Some("an n/a cell has scores".into());
        }
        None
    }

    /// What makes this row unfit for a study whose headline score is `metric` and whose
    /// second score (if it has one) is `secondary`, if anything: the checks of every results
    /// row, then every score of a percent metric within `[0, 1]` and `best_acc` the best of
    /// `acc_epochs` in the metric's direction.
    pub fn problem_for(&self, metric: &Metric, secondary: Option<&Metric>) -> Option<String> {
        if let Some(p) = self.problem() {
            return Some(p);
        }
        if metric.percent {
            if let Some((column, a)) = self.scores().find(|(_, a)| *a > 1.0) {
                return Some(not_a_fraction(column, a, metric));
            }
        }
        if let (Some(s), Some(a)) = (secondary, self.secondary) {
            if s.percent && a > 1.0 {
                return Some(not_a_fraction("secondary", a, s));
            }
        }
        if let (Some(best), Some(want)) = (self.best_acc, metric.best_of(&self.acc_epochs)) {
            if best != want {
                let way = if metric.higher_is_better {
                    "higher"
                } else {
                    "lower"
                };
                return Some(format!(
                    "best_acc {best} is not the best of acc_epochs ({want}; {way} {} is better)",
                    metric.name
                ));
            }
        }
        None
    }
}

/// Why `value` in `column` does not fit `metric`, a fraction shown in percent.
fn not_a_fraction(column: &str, value: f64, metric: &Metric) -> String {
    format!(
        "{column} {value} outside [0, 1] ({} is a fraction shown in percent)",
        metric.name
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn cell(method: &str, seed: u64, acc: &[f64], final_acc: f64) -> CellResult {
        CellResult {
            method: method.into(),
            template: "runs/template, \"quoted\"".into(),
            depth: 6,
            width: 128,
            heads: 4,
            params: Some(1_199_882),
            seed,
            pretrain_s: Some(1234.5),
            init_s: Some(0.125),
            finetune_s: Some(300.0),
            acc_epochs: acc.to_vec(),
            final_acc: Some(final_acc),
            best_acc: CellResult::best_of(acc, &Metric::ACCURACY),
            secondary: None,
            note: "two\nlines; a,comma".into(),
        }
    }

    #[test]
    fn best_epochs_follow_the_metrics_direction() {
        let epochs = [30.0, 8.5, 12.0];
        assert_eq!(CellResult::best_of(&epochs, &Metric::FRECHET), Some(8.5));
        assert_eq!(CellResult::best_of(&epochs, &Metric::ACCURACY), Some(30.0));
        // the smallest epoch is a valid best_acc for a results file, and the best for a distance
        let mut fd = cell("generate", 0, &epochs, 9.0);
        fd.best_acc = Some(8.5);
        assert_eq!(fd.problem(), None);
        assert_eq!(fd.problem_for(&Metric::FRECHET, None), None);
        // ... not for a score where higher is better; and FD is no fraction
        assert_eq!(
            fd.problem_for(&Metric::ACCURACY, None).as_deref(),
            Some("acc_epochs 30 outside [0, 1] (accuracy is a fraction shown in percent)")
        );
        let mut acc = cell("sweet", 0, &[0.5, 0.7], 0.7);
        acc.best_acc = Some(0.5);
        assert_eq!(
            acc.problem_for(&Metric::ACCURACY, None).as_deref(),
            Some("best_acc 0.5 is not the best of acc_epochs (0.7; higher accuracy is better)")
        );
        assert_eq!(
            acc.problem_for(&Metric::new("error", true, false), None),
            None
        );
        // a percent secondary score must be a fraction, a plain one need not be
        fd.secondary = Some(87.5);
        let want = "secondary 87.5 outside [0, 1] (class accuracy is a fraction shown in percent)";
        assert_eq!(
            fd.problem_for(&Metric::FRECHET, Some(&Metric::CLASS_ACCURACY))
                .as_deref(),
            Some(want)
        );
        assert_eq!(fd.problem_for(&Metric::FRECHET, None), None);
        assert_eq!(
            fd.problem_for(&Metric::FRECHET, Some(&Metric::FRECHET)),
            None
        );
    }

    #[test]
    fn totals_add_the_parts_given() {
        let mut c = cell("sweet", 0, &[], 0.5);
        assert_eq!(c.total_s(), Some(1234.5 + 0.125 + 300.0));
        c.pretrain_s = None;
        assert_eq!(c.total_s(), Some(300.125));
        assert_eq!(CellResult::na("a", "", (1, 8, 1), 0, "x").total_s(), None);
    }
}
