//! `sweet study`: a plan of (method x size x seed) cells, run resumably, and its report.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;
use sweet_study::{default_runs, run_study, Plan, Study, StudyOptions};

/// Run a study: pre-train the plan's templates (and direct pre-trainings), initialize every
/// (method, size, seed) cell, fine-tune each on the downstream data with one budget, and write
/// REPORT/{results.csv, README.md, accuracy_vs_size.png, accuracy_vs_epoch.png,
/// accuracy_vs_compute.png}.
///
/// Every job has its own run folder under --runs (default REPORT/runs); a re-run skips finished
/// cells and resumes a killed one from its last epoch. The report is rewritten after every
/// finished cell.
///
/// Example (about 15 minutes on 2 cores; needs scripts/fetch-data.sh):
///   sweet study --plan plans/quick.toml --out reports/quick --jobs 2
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The plan (TOML; see plans/init-mnist.toml for every key).
    #[arg(long)]
    pub plan: PathBuf,
    /// The report folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Where the run folders go (default: OUT/runs). Keep it outside a repository.
    #[arg(long)]
    pub runs: Option<PathBuf>,
    /// Jobs side by side.
    #[arg(long, default_value_t = 2, value_parser = super::at_least_one)]
    pub jobs: usize,
    /// Threads per job.
    #[arg(long, default_value_t = 1, value_parser = super::at_least_one)]
    pub threads: usize,
    /// Only rewrite the report from the finished cells; run nothing.
    #[arg(long)]
    pub report_only: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let plan = Plan::read(&a.plan)?;
    let plan_text = std::fs::read_to_string(&a.plan)
        .with_context(|| format!("reading {}", a.plan.display()))?;
    let runs = a.runs.clone().unwrap_or_else(|| default_runs(&a.out));
    let study = Study::new(plan, runs)?;
    let opts = StudyOptions {
        out: a.out.clone(),
        jobs: a.jobs,
        threads: a.threads,
        plan_text,
        verbose: !a.json,
    };
    let rows = if a.report_only {
        sweet_study::write_report(&study, &opts)?
    } else {
        run_study(&study, &opts)?
    };
    super::print_result(
        a.json,
        &json!({ "report": a.out, "cells": rows.len(), "jobs": study.jobs().len() }),
    );
    Ok(())
}
