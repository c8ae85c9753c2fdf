//! The report's three plots: final score against parameters, score per epoch in panels of
//! chosen sizes, final score against seconds.

use super::grid::{mean, mean_std, Grid};
use super::labels::{size_name, title_note, unit_note};
use crate::axis::fmt_si;
use crate::metric::Metric;
use crate::plot::{LinePlot, Panels, Series};

/// Final score against parameters, one line per method with +- std bars.
pub(super) fn size_plot(g: &Grid, metric: &Metric) -> LinePlot {
    let series = g
        .methods
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let (points, err): (Vec<_>, Vec<_>) = g
                .sizes
                .iter()
                .filter_map(|&s| {
                    let (mean, std) = mean_std(&g.finals(m, s))?;
                    let params = g.params(s)?;
                    let err = metric.scale(std.unwrap_or(0.0));
                    Some(((params, metric.scale(mean)), err))
                })
                .unzip();
            Series::line(*name, points).with_err(err)
        })
        .collect();
    let name = metric.name;
    LinePlot {
        title: format!(
            "Final test {name} against model size ({})",
            title_note("mean +- std over seeds", metric)
        ),
        x_label: "parameters".into(),
        y_label: format!("final test {name}{}", unit_note(metric)),
        series,
        log_x: true,
    }
}

/// Mean score after each epoch, one panel per chosen size, one line per method.
pub(super) fn epoch_panels(g: &Grid, metric: &Metric) -> Panels {
    let mut present: Vec<(usize, usize)> = g
        .sizes
        .iter()
        .copied()
        .filter(|&s| {
            (0..g.methods.len()).any(|m| g.valued(m, s).iter().any(|r| !r.acc_epochs.is_empty()))
        })
        .collect();
    // by parameters when every size has a count, else by depth then width
    let params: Vec<Option<f64>> = present.iter().map(|&s| g.params(s)).collect();
    if params.iter().all(Option::is_some) {
        let mut keyed: Vec<_> = present
            .iter()
            .copied()
            .zip(params.into_iter().flatten())
            .collect();
        keyed.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        present = keyed.into_iter().map(|k| k.0).collect();
    }
    let chosen: Vec<(usize, usize)> = if present.len() <= 3 {
        present.clone()
    } else {
        vec![
            present[0],
            present[(present.len() - 1) / 2],
            present[present.len() - 1],
        ]
    };
    let plots = chosen
        .iter()
        .map(|&s| {
            let series = g
                .methods
                .iter()
                .enumerate()
                .map(|(m, name)| {
                    let rows = g.valued(m, s);
                    let epochs = rows.iter().map(|r| r.acc_epochs.len()).max().unwrap_or(0);
                    let points = (0..epochs)
                        .map(|e| {
                            let at: Vec<f64> = rows
                                .iter()
                                .filter_map(|r| r.acc_epochs.get(e).copied())
                                .collect();
                            ((e + 1) as f64, metric.scale(mean(&at)))
                        })
                        .collect();
                    Series::line(*name, points)
                })
                .collect();
            let title = match g.params(s) {
                Some(p) => format!("{} ({} parameters)", size_name(s), fmt_si(p)),
                None => size_name(s),
            };
            LinePlot {
                title,
                x_label: "epoch".into(),
                y_label: format!("test {}{}, fixed subset", metric.name, unit_note(metric)),
                series,
                log_x: false,
            }
        })
        .collect();
    Panels {
        title: format!(
            "Test {} after each fine-tuning epoch ({})",
            metric.name,
            title_note("mean over seeds", metric)
        ),
        plots,
    }
}

/// Final score of each cell against its seconds, one marker series per method.
pub(super) fn compute_plot(g: &Grid, metric: &Metric) -> LinePlot {
    let series = g
        .methods
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let points = g
                .sizes
                .iter()
                .flat_map(|&s| g.valued(m, s))
                .filter_map(|r| Some((r.total_s()?, metric.scale(r.final_acc?))))
                .collect();
            Series::markers(*name, points)
        })
        .collect();
    let name = metric.name;
    LinePlot {
        title: format!(
            "Final test {name} against compute ({})",
            title_note("one marker per cell", metric)
        ),
        x_label: "seconds: pre-training attributed + initialization + fine-tuning".into(),
        y_label: format!("final test {name}{}", unit_note(metric)),
        series,
        log_x: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::CellResult;

    fn row(method: &str, (depth, width): (usize, usize), params: u64, acc: &[f64]) -> CellResult {
        CellResult {
            method: method.into(),
            template: String::new(),
            depth,
            width,
            heads: 1,
            params: Some(params),
            seed: 0,
            pretrain_s: None,
            init_s: None,
            finetune_s: Some(1.0),
            acc_epochs: acc.to_vec(),
            final_acc: acc.last().copied(),
            best_acc: CellResult::best_of(acc, &Metric::ACCURACY),
            secondary: None,
            note: String::new(),
        }
    }

    #[test]
    fn epoch_panels_are_smallest_middle_largest_by_parameters() {
        // (12, 64) sorts after (8, 256) by depth but has fewer parameters
        let sizes = [
            ((2, 32), 10),
            ((4, 64), 20),
            ((8, 256), 90),
            ((12, 64), 40),
            ((6, 96), 30),
        ];
        let rows: Vec<CellResult> = sizes.iter().map(|&(s, p)| row("m", s, p, &[0.5])).collect();
        let g = Grid::new(&rows);
        assert_eq!(g.sizes, [(2, 32), (4, 64), (6, 96), (8, 256), (12, 64)]);
        let titles: Vec<String> = epoch_panels(&g, &Metric::ACCURACY)
            .plots
            .into_iter()
            .map(|p| p.title)
            .collect();
        assert_eq!(
            titles,
            [
                "2 x 32 (10 parameters)",
                "6 x 96 (30 parameters)",
                "8 x 256 (90 parameters)"
            ]
        );
    }

    #[test]
    fn epoch_means_use_the_seeds_that_reached_each_epoch() {
        let rows = vec![
            row("m", (2, 32), 10, &[0.1, 0.2, 0.3]),
            row("m", (2, 32), 10, &[0.3, 0.4]),
            CellResult::na("m", "", (2, 32, 1), 2, "x"),
        ];
        let g = Grid::new(&rows);
        let panels = epoch_panels(&g, &Metric::ACCURACY);
        assert_eq!(panels.plots.len(), 1);
        let pts = &panels.plots[0].series[0].points;
        let want = [(1.0, 20.0), (2.0, 30.0), (3.0, 30.0)];
        assert_eq!(pts.len(), 3);
        for (p, w) in pts.iter().zip(want) {
            assert!(
                (p.0 - w.0).abs() < 1e-12 && (p.1 - w.1).abs() < 1e-9,
                "{pts:?}"
            );
        }
    }

    #[test]
    fn a_plain_metric_is_plotted_as_it_is_and_titled_lower_is_better() {
        let rows = vec![
            row("m", (2, 32), 10, &[40.0, 12.0]),
            row("m", (2, 32), 10, &[30.0, 16.0]),
        ];
        let g = Grid::new(&rows);
        let fd = Metric::FRECHET;
        let panels = epoch_panels(&g, &fd);
        assert_eq!(
            panels.title,
            "Test FD after each fine-tuning epoch (mean over seeds; lower is better)"
        );
        assert_eq!(panels.plots[0].y_label, "test FD, fixed subset");
        assert_eq!(panels.plots[0].series[0].points, [(1.0, 35.0), (2.0, 14.0)]);
        let size = size_plot(&g, &fd);
        assert_eq!(
            size.title,
            "Final test FD against model size (mean +- std over seeds; lower is better)"
        );
        assert_eq!(size.y_label, "final test FD");
        assert_eq!(size.series[0].points, [(10.0, 14.0)]);
        let compute = compute_plot(&g, &fd);
        assert_eq!(
            compute.title,
            "Final test FD against compute (one marker per cell; lower is better)"
        );
        assert_eq!(compute.series[0].points, [(1.0, 12.0), (1.0, 16.0)]);
        // a percent metric keeps its labels and is scaled
        let acc = size_plot(&g, &Metric::ACCURACY);
        assert_eq!(
            acc.title,
            "Final test accuracy against model size (mean +- std over seeds)"
        );
        assert_eq!(acc.y_label, "final test accuracy (%)");
        assert_eq!(acc.series[0].points, [(10.0, 1400.0)]);
    }
}
