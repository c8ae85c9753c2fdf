//! The words the tables and plots share: a size's name and what follows a metric's name in
//! headings, axis labels and titles (its unit, whether lower is better).

use crate::metric::Metric;

/// A size as the tables and plots name it.
pub(super) fn size_name((depth, width): (usize, usize)) -> String {
    format!("{depth} x {width}")
}

/// What follows a metric's name in a table heading: its unit and, when lower is better, that
/// (` (%)`, ` (lower is better)`, ` (%, lower is better)` or nothing).
pub(super) fn heading_note(metric: &Metric) -> String {
    let unit = metric.unit_label();
    let notes: Vec<&str> = [unit, lower_is_better(metric)]
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect();
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join(", "))
    }
}

/// `lower is better` for a metric where it is, else nothing.
fn lower_is_better(metric: &Metric) -> &'static str {
    if metric.higher_is_better {
        ""
    } else {
        "lower is better"
    }
}

/// What follows a metric's name on an axis: ` (%)` for a percent metric, else nothing.
pub(super) fn unit_note(metric: &Metric) -> String {
    match metric.unit_label() {
        "" => String::new(),
        unit => format!(" ({unit})"),
    }
}

/// The words a plot title puts in its parentheses after `what`: `what; lower is better` when
/// it is.
pub(super) fn title_note(what: &str, metric: &Metric) -> String {
    match lower_is_better(metric) {
        "" => what.to_string(),
        lower => format!("{what}; {lower}"),
    }
}
