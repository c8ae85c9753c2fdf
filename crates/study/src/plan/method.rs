//! The `[[methods]]` of a plan: their kinds, the keys each kind takes, and how a method's
//! models are made ([`InitKind`]).

use serde::{Deserialize, Serialize};
use sweet_template::WidthRule;
use sweet_train::run::ScalerLearning;

/// How a cell's model is made (built from a [`MethodPlan`] by [`MethodPlan::init`]).
#[derive(Clone, Debug, PartialEq)]
pub enum InitKind {
    /// timm's init.
    Random,
    /// `sweet init sweet` from a template of the plan.
    Sweet {
        template: String,
        width_rule: Option<WidthRule>,
        scalers: ScalerLearning,
    },
    /// Dense MAE pre-training of the target size itself with the plan's recipe.
    Direct,
    /// `sweet init mimetic` (data-free).
    Mimetic,
    /// `sweet init weight-selection` from the direct pre-training of size `from`.
    WeightSelection { from: [usize; 2] },
    /// `sweet init ligo` from the direct pre-training of size `from`, the operators trained
    /// `steps` MAE steps on `images` pre-training images.
    Ligo {
        from: [usize; 2],
        steps: usize,
        images: usize,
    },
    /// `sweet init linear-expansion` from a learngene of the plan.
    LinearExpansion { template: String },
    /// `sweet init kronecker` from Kronecker templates of the plan (SWEET's scaler learning).
    Kronecker {
        template: String,
        scalers: ScalerLearning,
    },
}

impl InitKind {
    /// The template of the plan this init reads, if any.
    pub fn template(&self) -> Option<&str> {
        match self {
            InitKind::Sweet { template, .. }
            | InitKind::LinearExpansion { template }
            | InitKind::Kronecker { template, .. } => Some(template),
            _ => None,
        }
    }

    /// The direct pre-training this init reads, if any: the target's own size for `direct`,
    /// the source size for weight selection and LiGO.
    pub fn direct(&self, target: [usize; 2]) -> Option<[usize; 2]> {
        match self {
            InitKind::Direct => Some(target),
            InitKind::WeightSelection { from } | InitKind::Ligo { from, .. } => Some(*from),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodKind {
    Random,
    Sweet,
    Direct,
    Mimetic,
    WeightSelection,
    Ligo,
    LinearExpansion,
    Kronecker,
}

/// One method of the study. `kind = "sweet"` takes the `template` and scaler-learning keys
/// (defaults: `sweet init sweet`'s), `kronecker` the same but `width_rule`;
/// `linear-expansion` takes `template` (a learngene);
/// `weight-selection` and `ligo` take `from` (the size of the direct pre-training they start
/// from), `ligo` also `operator_steps` and `operator_images` (defaults: `sweet init ligo`'s);
/// a kind given a key it does not take is an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodPlan {
    pub name: String,
    pub kind: MethodKind,
    /// Fine-tune with the plan's layer-wise lr decay (meant for pre-trained weights).
    pub layer_decay: bool,
    /// Fine-tuning epochs of this method's cells (default: the plan's `[finetune] epochs`):
    /// the same method at other budgets, under another name, shows what the budget does.
    #[serde(default)]
    pub finetune_epochs: Option<usize>,
    /// This method's sizes and seeds (default: the plan's).
    #[serde(default)]
    pub sizes: Option<Vec<[usize; 2]>>,
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub width_rule: Option<WidthRule>,
    #[serde(default)]
    pub scaler_steps: Option<usize>,
    #[serde(default)]
    pub scaler_images: Option<usize>,
    #[serde(default)]
    pub scaler_batch_size: Option<usize>,
    #[serde(default)]
    pub scaler_lr: Option<f64>,
    #[serde(default)]
    pub scaler_warmup_steps: Option<usize>,
    #[serde(default)]
    pub from: Option<[usize; 2]>,
    #[serde(default)]
    pub operator_steps: Option<usize>,
    #[serde(default)]
    pub operator_images: Option<usize>,
}

impl MethodPlan {
    /// How this method's models are made; an error names keys its kind does not take and
    /// keys it needs.
    pub fn init(&self) -> Result<InitKind, String> {
        use MethodKind::*;
        let scaler_learners: &[MethodKind] = &[Sweet, Kronecker];
        let keys: [(&str, bool, &[MethodKind]); 10] = [
            (
                "template",
                self.template.is_some(),
                &[Sweet, LinearExpansion, Kronecker],
            ),
            ("width_rule", self.width_rule.is_some(), &[Sweet]),
            ("scaler_steps", self.scaler_steps.is_some(), scaler_learners),
            (
                "scaler_images",
                self.scaler_images.is_some(),
                scaler_learners,
            ),
            (
                "scaler_batch_size",
                self.scaler_batch_size.is_some(),
                scaler_learners,
            ),
            ("scaler_lr", self.scaler_lr.is_some(), scaler_learners),
            (
                "scaler_warmup_steps",
                self.scaler_warmup_steps.is_some(),
                scaler_learners,
            ),
            ("from", self.from.is_some(), &[WeightSelection, Ligo]),
            ("operator_steps", self.operator_steps.is_some(), &[Ligo]),
            ("operator_images", self.operator_images.is_some(), &[Ligo]),
        ];
        if let Some((k, _, takers)) = keys
            .iter()
            .find(|(_, set, takers)| *set && !takers.contains(&self.kind))
        {
            return Err(format!(
                "method {:?} ({:?}) does not take {k} (only kinds {takers:?} do)",
                self.name, self.kind
            ));
        }
        let template = || {
            self.template
                .clone()
                .ok_or_else(|| format!("method {:?} ({:?}) needs template", self.name, self.kind))
        };
        let from = || {
            self.from
                .ok_or_else(|| format!("method {:?} ({:?}) needs from", self.name, self.kind))
        };
        let d = ScalerLearning::default();
        let scalers = ScalerLearning {
            steps: self.scaler_steps.unwrap_or(d.steps),
            images: self.scaler_images.unwrap_or(d.images),
            batch_size: self.scaler_batch_size.unwrap_or(d.batch_size),
            lr: self.scaler_lr.unwrap_or(d.lr),
            warmup_steps: self.scaler_warmup_steps.unwrap_or(d.warmup_steps),
            // one thread per cell
            workers: 1,
            ..d
        };
        let ligo = sweet_baselines::ligo::OperatorTraining::default();
        Ok(match self.kind {
            Random => InitKind::Random,
            Direct => InitKind::Direct,
            Mimetic => InitKind::Mimetic,
            Sweet => InitKind::Sweet {
                template: template()?,
                width_rule: self.width_rule,
                scalers,
            },
            Kronecker => InitKind::Kronecker {
                template: template()?,
                scalers,
            },
            LinearExpansion => InitKind::LinearExpansion {
                template: template()?,
            },
            WeightSelection => InitKind::WeightSelection { from: from()? },
            Ligo => InitKind::Ligo {
                from: from()?,
                steps: self.operator_steps.unwrap_or(ligo.steps),
                images: self.operator_images.unwrap_or(ligo.images),
            },
        })
    }
}
