//! Running a study's jobs: `jobs` workers, each in its own rayon pool of `threads` threads (so
//! two cells side by side get one core each), taking the first job in priority order whose
//! dependency has finished. After every finished cell the results and report are rewritten, so
//! an interrupted study still leaves a report of what finished. A failed job is reported and its
//! dependents skipped; the other jobs go on.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use burn::prelude::*;
use sweet_report::{write_results, CellResult};
use sweet_train::classify::EpochMetrics;
use sweet_train::pretrain::PretrainMetrics;
use sweet_train::Observer;

use crate::jobs::{Job, Study};
use crate::StudyError;

/// How a study runs.
pub struct StudyOptions {
    /// Where the report goes (`results.csv`, `README.md`, plots).
    pub out: PathBuf,
    /// Jobs side by side.
    pub jobs: usize,
    /// Threads per job.
    pub threads: usize,
    /// The plan file's text, quoted in the report.
    pub plan_text: String,
    /// Print progress lines.
    pub verbose: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
}

/// Runs every unfinished job of `study` and writes the report; returns the rows.
pub fn run_study(study: &Study, opts: &StudyOptions) -> Result<Vec<CellResult>, StudyError> {
    let jobs = study.jobs();
    let states: Vec<State> = jobs
        .iter()
        .map(|j| {
            if study.is_done(j) {
                State::Done
            } else {
                State::Pending
            }
        })
        .collect();
    let total = jobs.len();
    let done_before = states.iter().filter(|s| **s == State::Done).count();
    if opts.verbose {
        eprintln!(
            "study: {total} jobs, {done_before} finished before, {} to run, {} side by side",
            total - done_before,
            opts.jobs
        );
    }
    let shared = Mutex::new((states, Vec::<String>::new()));
    let wake = Condvar::new();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            scope.spawn(|| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(opts.threads.max(1))
                    .build()
                    .expect("a thread pool");
                loop {
                    let next = {
                        let mut g = shared.lock().expect("no poisoned lock");
                        loop {
                            let (states, _) = &mut *g;
                            let dep_state = |states: &[State], j: &Job| {
                                study
                                    .dependency(j)
                                    .and_then(|d| jobs.iter().position(|x| *x == d))
                                    .map(|i| states[i])
                            };
                            // dependents of failed jobs fail too
                            for i in 0..jobs.len() {
                                if states[i] == State::Pending
                                    && dep_state(states, &jobs[i]) == Some(State::Failed)
                                {
                                    states[i] = State::Failed;
                                }
                            }
                            let ready = (0..jobs.len()).find(|&i| {
                                states[i] == State::Pending
                                    && matches!(
                                        dep_state(states, &jobs[i]),
                                        None | Some(State::Done)
                                    )
                            });
                            if let Some(i) = ready {
                                states[i] = State::Running;
                                break Some(i);
                            }
                            if !states.contains(&State::Running) {
                                break None;
                            }
                            g = wake.wait(g).expect("no poisoned lock");
                        }
                    };
                    let Some(i) = next else {
                        wake.notify_all();
                        return;
                    };
                    let job = &jobs[i];
                    let name = study.name(job);
                    if opts.verbose {
                        eprintln!("[{:>7.0} s] start  {name}", started.elapsed().as_secs_f64());
                    }
                    let t = Instant::now();
                    let mut log = JobLog {
                        name: name.clone(),
                        verbose: opts.verbose,
                    };
                    let result = pool.install(|| study.run(job, &mut log, &Device::default()));
                    let mut g = shared.lock().expect("no poisoned lock");
                    match result {
                        Ok(()) => {
                            g.0[i] = State::Done;
                            if opts.verbose {
                                eprintln!(
                                    "[{:>7.0} s] done   {name} ({:.0} s)",
                                    started.elapsed().as_secs_f64(),
                                    t.elapsed().as_secs_f64()
                                );
                            }
                            if matches!(job, Job::Cell(..)) {
                                if let Err(e) = write_report(study, opts) {
                                    eprintln!("study: the report could not be written: {e}");
                                }
                            }
                        }
                        Err(e) => {
                            g.0[i] = State::Failed;
                            eprintln!("study: {name} failed: {e}");
                            g.1.push(format!("{name}: {e}"));
                        }
                    }
                    drop(g);
                    wake.notify_all();
                }
            });
        }
    });
    let (_, failures) = shared.into_inner().expect("no poisoned lock");
    let rows = write_report(study, opts)?;
    if let Some(first) = failures.first() {
        return Err(StudyError::Jobs {
            failed: failures.len(),
            first: first.clone(),
        });
    }
    Ok(rows)
}

/// Collects the rows of every finished cell (plan order) and writes `results.csv` and the
/// report into `opts.out`.
pub fn write_report(study: &Study, opts: &StudyOptions) -> Result<Vec<CellResult>, StudyError> {
    let jobs = study.jobs();
    let mut rows = Vec::new();
    let mut cells = 0;
    for j in &jobs {
        if matches!(j, Job::Cell(..)) {
            cells += 1;
            if let Some(r) = study.row(j)? {
                rows.push(r);
            }
        }
    }
    std::fs::create_dir_all(&opts.out).map_err(|source| StudyError::Io {
        path: opts.out.clone(),
        source,
    })?;
    write_results(&opts.out.join("results.csv"), &rows)?;
    let pretrained = pretraining_seconds(study)?;
    let spent: f64 = pretrained
        + rows
            .iter()
            .map(|r| r.init_s.unwrap_or(0.0) + r.finetune_s.unwrap_or(0.0))
            .sum::<f64>();
    let grids = sample_grids(study, &jobs, &opts.out)?;
    let notes = format!(
        "{}{grids}\n\n## Status and cost\n\n{} of {cells} cells finished. Compute spent so far (sum over jobs, \
         one thread each): {:.1} core-hours: every pre-training once ({:.1} h), plus every \
         cell's initialization and fine-tuning. Pre-training seconds in the tables are those of \
         the template or encoder a cell starts from (one template serves every size and seed; \
         one direct pre-training serves every seed of its size).\n\n## Plan\n\n```toml\n{}\n```\n",
        study.plan.notes.trim(),
        rows.len(),
        spent / 3600.0,
        pretrained / 3600.0,
        opts.plan_text.trim()
    );
    sweet_report::write_report(
        &opts.out,
        &study.plan.title,
        &rows,
        &notes,
        &study.plan.task.metric(),
        study.plan.task.secondary().as_ref(),
    )?;
    Ok(rows)
}

/// The folder of the report's sample grids, beside its README.
pub const SAMPLES_DIR: &str = "samples";

/// Generation studies: each (method, size)'s sample grid (one row per class) of its first
/// finished seed, copied into `out/samples/<method>-d<L>-w<D>.png`, as a Markdown section
/// (empty for other tasks and before any cell finishes).
fn sample_grids(study: &Study, jobs: &[Job], out: &Path) -> Result<String, StudyError> {
    if study.plan.task != crate::plan::StudyTask::Generate {
        return Ok(String::new());
    }
    let mut md = String::new();
    let mut shown = std::collections::BTreeSet::new();
    for job in jobs {
        let Job::Cell(mi, [d, w], seed) = job else {
            continue;
        };
        let method = &study.plan.methods[*mi].name;
        let grid = study
            .folder(job)
            .join("generate")
            .join(sweet_generate::run::GenerateRun::GRID_FILE);
        if !grid.exists() || !shown.insert((method.clone(), *d, *w)) {
            continue;
        }
        let name = format!("{method}-d{d}-w{w}.png");
        let dir = out.join(SAMPLES_DIR);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StudyError::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        std::fs::copy(&grid, dir.join(&name)).map_err(io(&grid))?;
        md.push_str(&format!(
            "\n\n**{method}, ({d}, {w}), seed {seed}**\n\n![{method} ({d}, {w})]({SAMPLES_DIR}/{name})"
        ));
    }
    if md.is_empty() {
        return Ok(md);
    }
    Ok(format!(
        "\n\n## Samples\n\nOne row per class, drawn at the end by the EMA model of each method's first finished seed (the plan's sampler, noise from the cell's seed).{md}"
    ))
}

/// Seconds of every finished or partial pre-training of the study (its metrics lines).
fn pretraining_seconds(study: &Study) -> Result<f64, StudyError> {
    let mut s = 0.0;
    for j in study.jobs() {
        if matches!(j, Job::Template(_) | Job::Direct(_)) {
            s += sweet_train::pretrain::run_totals(&study.folder(&j))?.0;
        }
    }
    Ok(s)
}

/// One line per finished epoch of a job.
struct JobLog {
    name: String,
    verbose: bool,
}

impl Observer for JobLog {
    fn epoch_end(&mut self, m: &EpochMetrics) {
        if self.verbose {
            eprintln!(
                "    {}: epoch {} train loss {:.4} acc {:.4} test acc {:.4} ({:.0} s)",
                self.name, m.epoch, m.train_loss, m.train_acc, m.test_acc, m.epoch_seconds
            );
        }
    }
    fn pretrain_epoch_end(&mut self, m: &PretrainMetrics) {
        if self.verbose {
            eprintln!(
                "    {}: epoch {} train loss {:.4} test loss {:.4} ({:.0} s)",
                self.name, m.epoch, m.train_loss, m.test_loss, m.epoch_seconds
            );
        }
    }
}

/// The default runs folder of a report folder.
pub fn default_runs(out: &Path) -> PathBuf {
    out.join("runs")
}
