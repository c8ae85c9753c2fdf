//! Run files written before the run configs moved into the library (by the `sweet` binary of
//! commit 70b09b0, in `fixtures/`) still parse, and write back byte for byte, so existing run
//! folders resume; `max_steps` appears in them only when set.

use sweet_template::GeneratorConfig;
use sweet_train::run::{ClassifyRun, PretrainRun};

/// `sweet train ... --labels-per-class 5 --grad-clip 1.0`.
const RUN: &str = include_str!("fixtures/run.json");
/// `sweet pretrain ... --rank1 4 --rank2 8 --rank3 8 --train-images 40`.
const PRETRAIN_TUCKER: &str = include_str!("fixtures/pretrain_tucker.json");
/// `sweet pretrain ... --dense`.
const PRETRAIN_DENSE: &str = include_str!("fixtures/pretrain_dense.json");

#[test]
fn run_json_reads_and_writes_back_unchanged() {
    let run: ClassifyRun = serde_json::from_str(RUN).unwrap();
    assert_eq!(run.dataset.data, "mnist");
    assert_eq!(run.dataset.data_img_size, None);
    assert_eq!(run.labels_per_class, Some(5));
    assert_eq!(run.train.run.optimizer.grad_clip, Some(1.0));
    assert_eq!(run.train.run.max_steps, None);
    assert_eq!(serde_json::to_string_pretty(&run).unwrap(), RUN);
}

#[test]
fn pretrain_json_reads_and_writes_back_unchanged() {
    let run: PretrainRun = serde_json::from_str(PRETRAIN_TUCKER).unwrap();
    let GeneratorConfig::Tucker(t) = &run.pretrain.generator else {
        panic!("a template run: {:?}", run.pretrain.generator);
    };
    assert_eq!(t.ranks, [4, 8, 8]);
    assert_eq!(run.train_images, Some(40));
    assert_eq!(run.pretrain.run.optimizer.beta2, 0.95);
    assert_eq!(serde_json::to_string_pretty(&run).unwrap(), PRETRAIN_TUCKER);

    let run: PretrainRun = serde_json::from_str(PRETRAIN_DENSE).unwrap();
    assert_eq!(run.pretrain.generator, GeneratorConfig::Dense);
    assert_eq!(run.train_images, None);
    assert_eq!(serde_json::to_string_pretty(&run).unwrap(), PRETRAIN_DENSE);
}

#[test]
fn max_steps_is_written_only_when_set_and_stop_after_never() {
    let mut run: ClassifyRun = serde_json::from_str(RUN).unwrap();
    run.train.run.max_steps = Some(300);
    run.train.run.stop_after = Some(1);
    let text = serde_json::to_string(&run).unwrap();
    assert!(
        text.contains(r#""workers":2,"max_steps":300,"label_smoothing""#),
        "{text}"
    );
    assert!(!text.contains("stop_after"), "{text}");
    let back: ClassifyRun = serde_json::from_str(&text).unwrap();
    assert_eq!(back.train.run.max_steps, Some(300));
    assert_eq!(back.train.run.stop_after, None);
}

/// `sweet pretrain` of commit 4623fe2 (before generators): `"template": {...}` and
/// `"template": null`.
const PRETRAIN_OLD_TEMPLATE: &str = include_str!("fixtures/pretrain_4623fe2_template.json");
const PRETRAIN_OLD_DENSE: &str = include_str!("fixtures/pretrain_4623fe2_dense.json");

#[test]
fn pretrain_json_from_before_generators_still_reads() {
    let run: PretrainRun = serde_json::from_str(PRETRAIN_OLD_TEMPLATE).unwrap();
    let GeneratorConfig::Tucker(t) = &run.pretrain.generator else {
        panic!("a template run: {:?}", run.pretrain.generator);
    };
    assert_eq!(t.ranks, [4, 16, 16]);
    assert_eq!(t.sws, sweet_template::SwsMode::Nested);
    // written back in today's form, which reads again to the same config
    let text = serde_json::to_string(&run).unwrap();
    assert!(text.contains(r#""generator":{"kind":"tucker""#), "{text}");
    let back: PretrainRun = serde_json::from_str(&text).unwrap();
    assert_eq!(back.pretrain, run.pretrain);

    let run: PretrainRun = serde_json::from_str(PRETRAIN_OLD_DENSE).unwrap();
    assert_eq!(run.pretrain.generator, GeneratorConfig::Dense);
}
