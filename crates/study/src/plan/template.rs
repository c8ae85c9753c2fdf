//! The `[[templates]]` of a plan: what each pre-trains (SWEET's Tucker template, TLEG's
//! learngene, WAVE's Kronecker templates) and which method initializes from it.

use serde::{Deserialize, Serialize};
use sweet_template::SwsMode;

use super::MethodKind;

/// What a `[[templates]]` entry pre-trains, by MAE with the plan's recipe, through an
/// auxiliary encoder of its depth and width.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TemplateKind {
    /// SWEET's Tucker template (takes `ranks` and `sws`).
    #[default]
    Tucker,
    /// TLEG's learngene (BASELINES.md section 3).
    LinearExpansion,
    /// WAVE's Kronecker templates (BASELINES.md section 4: 16 of 32 x 32 per weight type).
    Kronecker,
}

impl TemplateKind {
    /// The method kind that initializes from this kind of template.
    pub fn method(self) -> MethodKind {
        match self {
            TemplateKind::Tucker => MethodKind::Sweet,
            TemplateKind::LinearExpansion => MethodKind::LinearExpansion,
            TemplateKind::Kronecker => MethodKind::Kronecker,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatePlan {
    pub name: String,
    /// Default `tucker`.
    #[serde(default)]
    pub generator: TemplateKind,
    pub depth: usize,
    pub width: usize,
    pub heads: usize,
    /// Tucker only.
    #[serde(default)]
    pub ranks: Option<[usize; 3]>,
    /// Tucker only.
    #[serde(default)]
    pub sws: Option<SwsMode>,
}

impl TemplatePlan {
    /// The Tucker settings (ranks, SWS mode) of a `tucker` entry.
    pub fn tucker(&self) -> Option<([usize; 3], SwsMode)> {
        Some((self.ranks?, self.sws?))
    }

    pub(super) fn check(&self) -> Result<(), String> {
        let tucker_keys = self.ranks.is_some() || self.sws.is_some();
        match self.generator {
            TemplateKind::Tucker if self.tucker().is_none() => Err(format!(
                "template {:?} (tucker) needs ranks and sws",
                self.name
            )),
            TemplateKind::LinearExpansion | TemplateKind::Kronecker if tucker_keys => Err(format!(
                "template {:?} ({:?}) takes no ranks or sws (only generator = \"tucker\" does)",
                self.name, self.generator
            )),
            _ => Ok(()),
        }
    }
}
