//! A cell as one row of the results file: the same fields, `acc_epochs` as one `;`-joined
//! field; a row read back is checked ([`CellResult`]'s checks that hold for every metric).

use serde::{Deserialize, Serialize};

use super::CellResult;

/// A results row as it is in the file (`acc_epochs` as one `;`-joined field).
#[derive(Serialize, Deserialize)]
pub(super) struct Row {
    method: String,
    template: String,
    depth: usize,
    width: usize,
    heads: usize,
    params: Option<u64>,
    seed: u64,
    pretrain_s: Option<f64>,
    init_s: Option<f64>,
    finetune_s: Option<f64>,
    acc_epochs: String,
    final_acc: Option<f64>,
    best_acc: Option<f64>,
    note: String,
    #[serde(default)]
    secondary: Option<f64>,
}

impl From<&CellResult> for Row {
    fn from(c: &CellResult) -> Self {
        let acc: Vec<String> = c.acc_epochs.iter().map(f64::to_string).collect();
        Row {
            method: c.method.clone(),
            template: c.template.clone(),
            depth: c.depth,
            width: c.width,
            heads: c.heads,
            params: c.params,
            seed: c.seed,
            pretrain_s: c.pretrain_s,
            init_s: c.init_s,
            finetune_s: c.finetune_s,
            acc_epochs: acc.join(";"),
            final_acc: c.final_acc,
            best_acc: c.best_acc,
            note: c.note.clone(),
            secondary: c.secondary,
        }
    }
}

impl TryFrom<Row> for CellResult {
    type Error = String;

    fn try_from(r: Row) -> Result<Self, String> {
        let acc_epochs = if r.acc_epochs.trim().is_empty() {
            Vec::new()
        } else {
            r.acc_epochs
                .split(';')
                .enumerate()
                .map(|(i, s)| {
                    s.trim()
                        .parse::<f64>()
                        .map_err(|e| format!("acc_epochs: value {} ({:?}): {e}", i + 1, s.trim()))
                })
                .collect::<Result<_, _>>()?
        };
        let cell = CellResult {
            method: r.method,
            template: r.template,
            depth: r.depth,
            width: r.width,
            heads: r.heads,
            params: r.params,
            seed: r.seed,
            pretrain_s: r.pretrain_s,
            init_s: r.init_s,
            finetune_s: r.finetune_s,
            acc_epochs,
            final_acc: r.final_acc,
            best_acc: r.best_acc,
            secondary: r.secondary,
            note: r.note,
        };
        match cell.problem() {
            Some(p) => Err(p),
            None => Ok(cell),
        }
    }
}
