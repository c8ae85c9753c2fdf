//! What a study's numbers are: a [`Metric`] names a score, says whether it is a fraction shown
//! in percent and which way is better.
//!
//! The results file stores bare numbers (`acc_epochs`, `final_acc`, `best_acc`, `secondary`);
//! only the study knows what they measure. Classification accuracy, detection AP and
//! segmentation mIoU are fractions in `[0, 1]`, shown in percent, higher better; the Fréchet
//! distance of generated samples is a squared distance `>= 0`, shown as it is, lower better.
//! The report takes the metric to format its tables, scale and label its plots and pick the
//! best epoch; [`Metric::best_of`] is what a row's `best_acc` holds.

/// A score of a study: its name, how it is shown and which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// The name tables and plots use (`accuracy`, `AP`, `mIoU`, `FD`).
    pub name: &'static str,
    /// A fraction in `[0, 1]` shown in percent (`true`), or a number shown as it is.
    pub percent: bool,
    /// Whether a larger value is better (accuracy) or a smaller one (a distance).
    pub higher_is_better: bool,
}

impl Metric {
    /// Classification accuracy: a fraction, in percent, higher better.
    pub const ACCURACY: Metric = Metric::new("accuracy", true, true);
    /// Detection average precision: a fraction, in percent, higher better.
    pub const AP: Metric = Metric::new("AP", true, true);
    /// Segmentation mean intersection over union: a fraction, in percent, higher better.
    pub const MIOU: Metric = Metric::new("mIoU", true, true);
    /// The Fréchet distance of generated samples' features to the test images' (a squared
    /// distance `>= 0`): shown as it is, lower better.
    pub const FRECHET: Metric = Metric::new("FD", false, false);
    /// The accuracy of a classifier on generated samples against the classes they were asked
    /// for: a fraction, in percent, higher better.
    pub const CLASS_ACCURACY: Metric = Metric::new("class accuracy", true, true);

    /// A metric named `name`, a fraction shown in percent when `percent`, better when larger
    /// when `higher_is_better`.
    pub const fn new(name: &'static str, percent: bool, higher_is_better: bool) -> Self {
        Metric {
            name,
            percent,
            higher_is_better,
        }
    }

    /// `value` as the number plots draw: times 100 for a percent metric, else as it is.
    /// Linear, so a standard deviation scales the same way.
    pub fn scale(&self, value: f64) -> f64 {
        if self.percent {
            value * 100.0
        } else {
            value
        }
    }

    /// `value` as tables show it: [`Metric::scale`]d, two decimals (`0.9234` in percent is
    /// `92.34`; an FD of `12.345` is `12.35`).
    pub fn format(&self, value: f64) -> String {
        format!("{:.2}", self.scale(value))
    }

    /// The unit of the shown numbers: `%` for a percent metric, empty otherwise.
    pub fn unit_label(&self) -> &'static str {
        if self.percent {
            "%"
        } else {
            ""
        }
    }

    /// The better of `a` and `b` (the larger or the smaller; a NaN loses to a number).
    pub fn better(&self, a: f64, b: f64) -> f64 {
        if self.higher_is_better {
            a.max(b)
        } else {
            a.min(b)
        }
    }

    /// The best of `values` under this metric's direction; `None` when empty.
    pub fn best_of(&self, values: &[f64]) -> Option<f64> {
        values.iter().copied().reduce(|a, b| self.better(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_metrics_scale_and_format_in_percent() {
        let m = Metric::ACCURACY;
        assert_eq!(m.scale(0.25), 25.0);
        assert_eq!(m.format(0.92346), "92.35");
        assert_eq!(m.unit_label(), "%");
        assert_eq!(m.best_of(&[0.5, 0.9, 0.7]), Some(0.9));
        assert_eq!((Metric::AP.name, Metric::MIOU.name), ("AP", "mIoU"));
    }

    #[test]
    fn a_distance_is_plain_and_lower_is_better() {
        let m = Metric::FRECHET;
        assert_eq!(m.name, "FD");
        assert_eq!(m.scale(12.5), 12.5);
        assert_eq!(m.format(12.345_6), "12.35");
        assert_eq!(m.unit_label(), "");
        assert_eq!(m.better(3.0, 2.0), 2.0);
        assert_eq!(m.best_of(&[30.0, 8.5, 12.0]), Some(8.5));
        assert_eq!(m.best_of(&[]), None);
        assert_eq!(m.best_of(&[f64::NAN, 4.0]), Some(4.0));
    }
}
