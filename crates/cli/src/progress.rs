//! Progress bars for long work (only the binary draws them). Hidden when stderr is not a
//! terminal, so logs and tests stay clean.

use indicatif::{ProgressBar, ProgressStyle};
use sweet_train::classify::EpochMetrics;
use sweet_train::pretrain::PretrainMetrics;
use sweet_train::Observer;

pub struct Bars {
    bar: Option<ProgressBar>,
    json: bool,
}

impl Bars {
    pub fn new(json: bool) -> Self {
        Bars { bar: None, json }
    }
}

impl Observer for Bars {
    fn run_start(&mut self, summary: &str) {
        eprintln!("{summary}");
    }
    fn epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("epoch {}/{epochs}", epoch + 1));
        self.bar = Some(bar);
    }
    fn step(&mut self, loss: f64, images_per_s: f64) {
        if let Some(b) = &self.bar {
            b.set_message(format!("loss {loss:.4} {images_per_s:.0} img/s"));
            b.inc(1);
        }
    }
    fn evaluating(&mut self) {
        if let Some(b) = &self.bar {
            b.set_message("evaluating");
        }
    }
    fn epoch_end(&mut self, m: &EpochMetrics) {
        let line = format!(
            "epoch {:>3}  train loss {:.4} acc {:.2}%  test loss {:.4} acc {:.2}%  {:.1}s  {:.0} img/s",
            m.epoch, m.train_loss, 100.0 * m.train_acc, m.test_loss, 100.0 * m.test_acc, m.epoch_seconds, m.images_per_s
        );
        self.epoch_line(&line);
    }
    fn pretrain_epoch_end(&mut self, m: &PretrainMetrics) {
        let line = format!(
            "epoch {:>3}  masked-patch loss train {:.4} test {:.4}  lr {:.2e}  {:.1}s  {:.0} img/s",
            m.epoch, m.train_loss, m.test_loss, m.lr, m.epoch_seconds, m.images_per_s
        );
        self.epoch_line(&line);
    }
    fn epoch_line(&mut self, line: &str) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        // With --json, stdout carries only the final result line.
        if self.json {
            eprintln!("{line}")
        } else {
            println!("{line}")
        }
    }
}

/// A bar counting `len` items of work (hidden when stderr is not a terminal).
pub fn count_bar(len: u64, prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}
