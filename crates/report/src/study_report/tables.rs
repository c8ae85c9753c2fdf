//! The README's Markdown tables: a score per method and size (the headline score, the
//! secondary one) and the cost per method.

use std::fmt::Write as _;

use super::grid::{mean, mean_std, Grid, Score};
use super::labels::{heading_note, size_name};
use crate::metric::Metric;
use crate::results::CellResult;

/// Text safe inside a Markdown table cell.
fn cell_text(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Seconds with a precision that suits their size.
fn seconds(s: f64) -> String {
    if s == 0.0 {
        "0".into()
    } else if s >= 100.0 {
        format!("{s:.0}")
    } else if s >= 1.0 {
        format!("{s:.1}")
    } else {
        format!("{s:.3}")
    }
}

/// The table of `score` per method and size, formatted by `metric`, as Markdown.
pub(super) fn score_table(g: &Grid, metric: &Metric, score: Score) -> String {
    let counts: Vec<usize> = (0..g.methods.len())
        .flat_map(|m| g.sizes.iter().map(move |&s| (m, s)))
        .map(|(m, s)| g.values(m, s, score).len())
        .filter(|&n| n > 0)
        .collect();
    let show_n = counts.windows(2).any(|w| w[0] != w[1]);
    let mut t = String::from("| method |");
    for &s in &g.sizes {
        let _ = write!(t, " {} |", size_name(s));
    }
    t.push_str("\n|---|");
    t.push_str(&"---:|".repeat(g.sizes.len()));
    t.push('\n');
    for (m, name) in g.methods.iter().enumerate() {
        let _ = write!(t, "| {} |", cell_text(name));
        for &s in &g.sizes {
            let values = g.values(m, s, score);
            let rows = g.cells.get(&(m, s)).map_or(&[][..], Vec::as_slice);
            let text = match mean_std(&values) {
                Some((mean, std)) => {
                    let mut x = metric.format(mean);
                    if let Some(std) = std {
                        let _ = write!(x, " +- {}", metric.format(std));
                    }
                    if show_n {
                        let _ = write!(x, " (n={})", values.len());
                    }
                    x
                }
                None if !rows.is_empty() && rows.iter().all(|r| r.is_na()) => {
                    let mut reasons: Vec<&str> = Vec::new();
                    for r in rows {
                        let reason = r.na_reason().unwrap_or_default();
                        if !reasons.contains(&reason) {
                            reasons.push(reason);
                        }
                    }
                    let reasons: Vec<&str> =
                        reasons.into_iter().filter(|r| !r.is_empty()).collect();
                    if reasons.is_empty() {
                        "n/a".to_string()
                    } else {
                        cell_text(&format!("n/a: {}", reasons.join("; ")))
                    }
                }
                None if !rows.is_empty() => "no result".to_string(),
                None => "-".to_string(),
            };
            let _ = write!(t, " {text} |");
        }
        t.push('\n');
    }
    t
}

/// The cost table (mean seconds per method over its cells that are not n/a), as Markdown.
pub(super) fn cost_table(g: &Grid) -> String {
    let mut t = String::from(
        "| method | template | cells | pre-training attributed (s) | initialization (s) | fine-tuning (s) | total (s) |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for (m, name) in g.methods.iter().enumerate() {
        let rows: Vec<&CellResult> = g.sizes.iter().flat_map(|&s| g.valued(m, s)).collect();
        let mut templates: Vec<&str> = Vec::new();
        for r in &rows {
            if !r.template.is_empty() && !templates.contains(&r.template.as_str()) {
                templates.push(&r.template);
            }
        }
        let part = |f: fn(&CellResult) -> Option<f64>| -> Option<f64> {
            let v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
            (!v.is_empty()).then(|| mean(&v))
        };
        let parts = [
            part(|r| r.pretrain_s),
            part(|r| r.init_s),
            part(|r| r.finetune_s),
        ];
        let total = parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.iter().flatten().sum::<f64>());
        let show = |v: Option<f64>| v.map_or("-".to_string(), seconds);
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} |",
            cell_text(name),
            if templates.is_empty() {
                "-".to_string()
            } else {
                cell_text(&templates.join(", "))
            },
            rows.len(),
            show(parts[0]),
            show(parts[1]),
            show(parts[2]),
            show(total)
        );
    }
    t
}

/// The README section of the secondary score: its heading and its table, laid out as the
/// headline table.
pub(super) fn secondary_section(g: &Grid, metric: &Metric) -> String {
    let mut md = format!("\n## Final {}{}\n\n", metric.name, heading_note(metric));
    md.push_str(
        "The second score of each cell at the end, in the same layout: mean +- sample standard \
         deviation over seeds; no result: the cells have none.\n\n",
    );
    md.push_str(&score_table(g, metric, |r| r.secondary));
    md
}
