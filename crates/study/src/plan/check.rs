//! What a plan must satisfy beyond its keys: the tables its task needs and refuses, methods
//! listed twice only with other cells, templates that exist and fit their methods, non-empty
//! sizes and seeds.

use super::{MethodPlan, Plan, StudyTask};

impl Plan {
    pub(super) fn check(&self) -> Result<(), String> {
        match (self.task, &self.dense) {
            (StudyTask::Classify, Some(_)) => {
                return Err("[dense] is for task = \"detect\" or \"segment\"".into())
            }
            (StudyTask::Detect | StudyTask::Segment, None) => {
                return Err(format!(
                    "task = {:?} needs a [dense] table (patch = 8)",
                    self.task
                ))
            }
            _ => {}
        }
        match (self.task, &self.generate) {
            (StudyTask::Generate, None) => {
                return Err("task = \"generate\" needs a [generate] table (judge, sample_steps, guidance, eval_samples, final_samples, reference_images)".into())
            }
            (StudyTask::Generate, Some(g)) => {
                if self.downstream.labels_per_class.is_some() {
                    return Err("task generate: [downstream] takes no labels_per_class (train_images in [generate] limits the data)".into());
                }
                if g.eval_samples < 2 {
                    return Err("[generate] eval_samples must be at least 2: the curves are Fréchet distances after every epoch".into());
                }
                if let Some(m) = self.methods.iter().find(|m| m.layer_decay) {
                    return Err(format!(
                        "method {:?}: generation trains every part at one lr, set layer_decay = false",
                        m.name
                    ));
                }
            }
            (_, Some(_)) => return Err("[generate] is for task = \"generate\"".into()),
            _ => {}
        }
        if self.task.dense().is_some() {
            let d = &self.downstream;
            if !matches!(d.data.as_str(), "coco" | "masks") || d.labels_per_class.is_some() {
                return Err(format!(
                    "task {:?}: [downstream] reads data = \"coco\" or \"masks\" (got {:?}) and takes no labels_per_class",
                    self.task, d.data
                ));
            }
        }
        for (i, m) in self.methods.iter().enumerate() {
            // A method may be listed twice (e.g. its most important sizes early in the
            // priority order, the rest late) when only its sizes and seeds differ and no cell
            // repeats.
            for earlier in &self.methods[..i] {
                if earlier.name != m.name {
                    continue;
                }
                let same = MethodPlan {
                    sizes: None,
                    seeds: None,
                    ..earlier.clone()
                } == MethodPlan {
                    sizes: None,
                    seeds: None,
                    ..m.clone()
                };
                let (s1, d1) = self.cells_of(earlier);
                let (s2, d2) = self.cells_of(m);
                let overlap =
                    s1.iter().any(|s| s2.contains(s)) && d1.iter().any(|d| d2.contains(d));
                if !same || overlap {
                    return Err(format!(
                        "method {:?} appears twice with other settings or the same cells",
                        m.name
                    ));
                }
            }
            if let Some(template) = m.init()?.template() {
                let Some(t) = self.templates.iter().find(|t| t.name == template) else {
                    return Err(format!(
                        "method {:?} names template {template:?}, which [[templates]] does not list",
                        m.name
                    ));
                };
                if t.generator.method() != m.kind {
                    return Err(format!(
                        "method {:?} ({:?}) cannot initialize from template {template:?} \
                         (generator {:?})",
                        m.name, m.kind, t.generator
                    ));
                }
            }
        }
        for t in &self.templates {
            t.check()?;
        }
        if self.head_dim == 0 || self.seeds.is_empty() || self.sizes.is_empty() {
            return Err("head_dim, seeds and sizes must be non-empty".into());
        }
        Ok(())
    }
}
