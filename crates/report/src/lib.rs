//! Study results and reports for sweet, with no burn dependency.
//!
//! - [`plot`]: line and marker plots ([`LinePlot`], side-by-side [`Panels`]) written as PNG.
//! - [`metric`]: what a study's scores are ([`Metric`]: name, percent or plain, which way is
//!   better).
//! - [`results`]: the study results table ([`CellResult`], one CSV row per study cell).
//! - [`study_report`]: a study's `README.md` (score and cost tables) and its three plots, in the
//!   study's metric.
//!
//! Plots are drawn by plotters without its default features: text comes from the DejaVu Sans
//! bytes of the `dejavu` crate through plotters' `ab_glyph` renderer, pixels go into a plain RGB
//! buffer (`BitMapBackend::with_buffer`) and the workspace's `image` 0.25 encodes the PNG.
//! `cargo tree -p sweet-report` therefore holds no font-kit, fontconfig or freetype (nothing
//! looks up system fonts, nothing needs system libraries to build) and no second `image`
//! version; the same rows give the same bytes on every machine.

mod axis;
pub mod error;
pub mod metric;
pub mod plot;
pub mod results;
pub mod study_report;

pub use error::ReportError;
pub use metric::Metric;
pub use plot::{LinePlot, Panels, Series};
pub use results::{read_results, write_results, CellResult, RESULTS_HEADER};
pub use study_report::write_report;
