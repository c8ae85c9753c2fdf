//! Axis ranges, ticks and tick labels of the plots: padded ranges, round linear ticks, log ticks
//! at 1, 2, 5 x 10^k, and a plotters coordinate that puts its grid lines at the ticks chosen.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

/// A linear axis over `[lo, hi]` whose grid lines and labels are at `ticks` (plotters' own
/// key points cannot be replaced while keeping a label formatter on its f64 ranges).
pub(crate) struct Axis {
    /// Value at the start of the axis.
    pub lo: f64,
    /// Value at the end of the axis.
    pub hi: f64,
    /// Where the grid lines and labels go.
    pub ticks: Vec<f64>,
}

impl Ranged for Axis {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = (v - self.lo) / (self.hi - self.lo);
        limit.0 + ((limit.1 - limit.0) as f64 * t).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // the ticks are the bold grid lines; no light lines
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// `[lo, hi]` widened by a margin; all-equal values get a range around them, and no data
/// (infinite bounds) the range `[0, 1]`.
pub(crate) fn padded(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= 1e-9 * lo.abs().max(hi.abs()).max(1e-300) {
        let pad = if log {
            0.5 // half a decade each side
        } else if lo == 0.0 {
            1.0
        } else {
            lo.abs() * 0.1
        };
        return (lo - pad, hi + pad);
    }
    (lo - span * 0.06, hi + span * 0.06)
}

/// Evenly spaced ticks at multiples of 1, 2 or 5 x 10^k inside `[lo, hi]`, about `target` of them,
/// spaced at least `min_step` (1 for integer data such as epochs), and their spacing.
pub(crate) fn linear_ticks(lo: f64, hi: f64, target: usize, min_step: f64) -> (Vec<f64>, f64) {
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = mag
        * if norm < 1.5 {
            1.0
        } else if norm < 3.0 {
            2.0
        } else if norm < 7.0 {
            5.0
        } else {
            10.0
        };
    let step = step.max(min_step);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let ticks = (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            if v.abs() < step * 1e-9 {
                0.0
            } else {
                v
            }
        })
        .collect();
    (ticks, step)
}

/// At most `max` (and at least two) ticks for a log10 axis spanning `[lo, hi]` (exponents):
/// 1, 2, 5 x 10^k; decades (every n-th when many) when those are too many; denser mantissas
/// when they are fewer than three; linear ticks inside one short span.
pub(crate) fn log_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let max = max.max(2);
    let pick = |mantissas: &[f64]| -> Vec<f64> {
        let mut v = Vec::new();
        for k in (lo.floor() as i32)..=(hi.ceil() as i32) {
            for m in mantissas {
                let t = m.log10() + k as f64;
                if t >= lo - 1e-12 && t <= hi + 1e-12 {
                    v.push(t);
                }
            }
        }
        v
    };
    let mut ticks = pick(&[1.0, 2.0, 5.0]);
    if ticks.len() > max {
        ticks = pick(&[1.0]);
        let stride = ticks.len().div_ceil(max);
        ticks = ticks.into_iter().step_by(stride).collect();
    } else if ticks.len() < 3 {
        for denser in [
            &[1.0, 2.0, 3.0, 5.0][..],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        ] {
            let t = pick(denser);
            if t.len() > max {
                break;
            }
            ticks = t;
            if ticks.len() >= 3 {
                break;
            }
        }
    }
    if ticks.len() < 2 {
        let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
        ticks = linear_ticks(a, b, max.min(4), 0.0)
            .0
            .into_iter()
            .filter(|v| *v > 0.0)
            .map(f64::log10)
            .collect();
    }
    ticks
}

/// `v` with up to three significant digits and a k/M/G suffix (axis labels of a log axis).
pub(crate) fn fmt_si(v: f64) -> String {
    let a = v.abs();
    let (div, suffix) = if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let m = v / div;
    if m == 0.0 {
        return "0".into();
    }
    let decimals = (2 - m.abs().log10().floor() as i32).max(0) as usize;
    let mut s = format!("{m:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    s + suffix
}

/// A label for tick `v` of a linear axis with tick spacing `step`.
pub(crate) fn fmt_linear(v: f64, step: f64, big: bool) -> String {
    if big {
        return fmt_si(v);
    }
    let decimals = (-(step.log10() + 1e-9).floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_inside() {
        let (t, step) = linear_ticks(0.3, 9.7, 5, 0.0);
        assert_eq!(step, 2.0);
        assert_eq!(t, vec![2.0, 4.0, 6.0, 8.0]);
        let (t, step) = linear_ticks(-0.05, 0.05, 4, 0.0);
        assert!((step - 0.02).abs() < 1e-15, "{step}");
        assert_eq!(t.len(), 5);
        assert_eq!(t[2], 0.0);
        // integer data (epochs 1-3): no ticks between integers
        let (t, step) = linear_ticks(0.88, 3.12, 8, 1.0);
        assert_eq!((t, step), (vec![1.0, 2.0, 3.0], 1.0));
    }

    #[test]
    fn log_ticks_cover_short_and_long_spans() {
        // 1e4..1e6: 1, 2, 5 x 10^k
        let t: Vec<String> = log_ticks(4.0, 6.0, 10)
            .iter()
            .map(|v| fmt_si(10f64.powf(*v)))
            .collect();
        assert_eq!(t, ["10k", "20k", "50k", "100k", "200k", "500k", "1M"]);
        // inside one decade without a power of ten: still at least two ticks
        let t = log_ticks(5.35, 5.9, 10);
        assert!(t.len() >= 2, "{t:?}");
        assert!(t.iter().all(|v| (5.35..=5.9).contains(v)), "{t:?}");
        // little room: decades only, every other one when still too many
        assert_eq!(log_ticks(4.0, 6.0, 4).len(), 3);
        assert_eq!(
            log_ticks(0.0, 12.0, 7),
            [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
        );
        // 220k..790k: no crowd of 1..9 x 10^k labels in a narrow plot
        let t = log_ticks(5.3, 5.9, 4);
        assert!((2..=4).contains(&t.len()), "{t:?}");
    }

    #[test]
    fn si_labels() {
        assert_eq!(fmt_si(1_199_882.0), "1.2M");
        assert_eq!(fmt_si(250_000.0), "250k");
        assert_eq!(fmt_si(0.05), "0.05");
        assert_eq!(fmt_si(30.0), "30");
        assert_eq!(fmt_si(0.0), "0");
    }

    #[test]
    fn equal_values_and_no_data_get_a_range() {
        assert_eq!(padded(0.0, 0.0, false), (-1.0, 1.0));
        let (a, b) = padded(0.9, 0.9, false);
        assert!(a < 0.9 && b > 0.9);
        assert_eq!(padded(f64::INFINITY, f64::NEG_INFINITY, false), (0.0, 1.0));
        assert_eq!(padded(6.0, 6.0, true), (5.5, 6.5));
    }
}
