//! The fused kernels as burn operations: tensor plumbing for Flex primitives and one autodiff
//! node per call (with its backward step) for training.

use burn::backend::Flex;
use burn::tensor::{Shape, TensorData};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::FlexTensor;

use crate::cpu::{self, attention::Dims};
use crate::route::AutodiffTensor;

/// The f32 elements of `t` in row-major order (copied only if `t` is a strided view).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    let n = t.layout().num_elements();
    if t.layout().is_contiguous() {
        let off = t.layout().start_offset();
        std::borrow::Cow::Borrowed(&t.storage::<f32>()[off..off + n])
    } else {
        std::borrow::Cow::Owned(t.to_contiguous().storage::<f32>()[..n].to_vec())
    }
}

fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

// ---------------------------------------------------------------- LayerNorm

fn layer_norm_forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    eps: f32,
) -> FlexTensor {
    let xs = values(x);
    let y = cpu::filled(xs.len(), |y| {
        cpu::layer_norm::forward(&xs, &values(gamma), &values(beta), eps, y)
    });
    tensor(y, x.layout().shape().clone())
}

pub fn layer_norm_plain([x, gamma, beta]: [FlexTensor; 3], eps: f32) -> FlexTensor {
    layer_norm_forward(&x, &gamma, &beta, eps)
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    /// (x, gamma, eps)
    type State = (FlexTensor, FlexTensor, f32);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy: FlexTensor = grads.consume::<Flex>(&ops.node);
        let (x, gamma, eps) = ops.state;
        let xs = values(&x);
        let mut grads_gb = None;
        let dx = cpu::filled(xs.len(), |dx| {
            grads_gb = Some(cpu::layer_norm::backward(
                &xs,
                &values(&gamma),
                &values(&dy),
                eps,
                dx,
            ))
        });
        let (dg, db) = grads_gb.expect("backward ran");
        let d = dg.len();
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(dx, x.layout().shape().clone()));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(dg, Shape::new([d])));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(db, Shape::new([d])));
        }
    }
}

pub fn layer_norm([x, gamma, beta]: [AutodiffTensor<Flex>; 3], eps: f32) -> AutodiffTensor<Flex> {
    let out = layer_norm_forward(x.primitive(), gamma.primitive(), beta.primitive(), eps);
    match LayerNormBackward
        .prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            prep.finish((x.primitive().clone(), gamma.primitive().clone(), eps), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

// ---------------------------------------------------------------- GELU

fn gelu_forward(x: &FlexTensor) -> FlexTensor {
    let xs = values(x);
    let y = cpu::filled(xs.len(), |y| cpu::gelu::forward(&xs, y));
    tensor(y, x.layout().shape().clone())
}

pub fn gelu_plain([x]: [FlexTensor; 1]) -> FlexTensor {
    gelu_forward(&x)
}

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    /// The input x.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy: FlexTensor = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            let x = ops.state;
            let xs = values(&x);
            let dx = cpu::filled(xs.len(), |dx| cpu::gelu::backward(&xs, &values(&dy), dx));
            grads.register::<Flex>(node.id, tensor(dx, x.layout().shape().clone()));
        }
    }
}

pub fn gelu([x]: [AutodiffTensor<Flex>; 1]) -> AutodiffTensor<Flex> {
    let out = gelu_forward(x.primitive());
    match GeluBackward
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(x.primitive().clone(), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

// ---------------------------------------------------------------- attention

fn attention_dims(qkv: &FlexTensor, heads: usize) -> (Dims, f32) {
    let s = dims(qkv);
    let hd = s[2] / 3 / heads;
    (
        Dims {
            batch: s[0],
            tokens: s[1],
            heads,
            head_dim: hd,
        },
        (hd as f32).powf(-0.5),
    )
}

fn attention_forward(qkv: &FlexTensor, heads: usize) -> (FlexTensor, FlexTensor) {
    let (d, scale) = attention_dims(qkv, heads);
    let (out, probs) = cpu::attention::forward(&values(qkv), d, scale);
    (
        tensor(out, Shape::new([d.batch, d.tokens, d.width()])),
        tensor(probs, Shape::new([d.batch, d.heads, d.tokens, d.tokens])),
    )
}

pub fn attention_plain([qkv]: [FlexTensor; 1], heads: usize) -> FlexTensor {
    attention_forward(&qkv, heads).0
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 1> for AttentionBackward {
    /// (qkv, softmax probabilities, heads)
    type State = (FlexTensor, FlexTensor, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_qkv] = ops.parents;
        let dout: FlexTensor = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_qkv {
            let (qkv, probs, heads) = ops.state;
            let (d, scale) = attention_dims(&qkv, heads);
            let dqkv =
                cpu::attention::backward(&values(&qkv), &values(&probs), &values(&dout), d, scale);
            grads.register::<Flex>(node.id, tensor(dqkv, qkv.layout().shape().clone()));
        }
    }
}

pub fn attention([qkv]: [AutodiffTensor<Flex>; 1], heads: usize) -> AutodiffTensor<Flex> {
    match AttentionBackward
        .prepare::<NoCheckpointing>([qkv.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (out, probs) = attention_forward(qkv.primitive(), heads);
            prep.finish((qkv.primitive().clone(), probs, heads), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(attention_forward(qkv.primitive(), heads).0),
    }
}

// ---------------------------------------------------------------- linear

/// W as a strided view into its storage (no copy for transposed or sliced weights).
fn strided(w: &FlexTensor) -> Option<cpu::linear::Strided<'_>> {
    let l = w.layout();
    let s = l.strides();
    let shape = l.shape();
    (s.len() == 2 && s[0] >= 0 && s[1] >= 0).then(|| cpu::linear::Strided {
        data: &w.storage::<f32>()[l.start_offset()..],
        rows: shape[0],
        cols: shape[1],
        rs: s[0],
        cs: s[1],
    })
}

/// The weight itself when [`strided`] can view it in place, else a contiguous copy.
fn viewable_weight(w: &FlexTensor) -> std::borrow::Cow<'_, FlexTensor> {
    if strided(w).is_some() {
        std::borrow::Cow::Borrowed(w)
    } else {
        std::borrow::Cow::Owned(w.to_contiguous())
    }
}

fn linear_forward(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor) -> FlexTensor {
    let w = viewable_weight(w);
    let wv = strided(&w).expect("2-D weight");
    let xs = values(x);
    let rows = xs.len() / wv.cols;
    let y = cpu::filled(rows * wv.rows, |y| {
        cpu::linear::forward(&xs, wv, &values(b), y)
    });
    let mut shape = dims(x);
    *shape.last_mut().unwrap() = wv.rows;
    tensor(y, Shape::from(shape))
}

pub fn linear_plain([x, w, b]: [FlexTensor; 3]) -> FlexTensor {
    linear_forward(&x, &w, &b)
}

#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    /// (x, weight)
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy: FlexTensor = grads.consume::<Flex>(&ops.node);
        let (x, w) = ops.state;
        let w = viewable_weight(&w);
        let wv = strided(&w).expect("2-D weight");
        let (dx, dw, db) = cpu::linear::backward(
            &values(&x),
            wv,
            &values(&dy),
            node_x.is_some(),
            node_w.is_some(),
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, tensor(dx, x.layout().shape().clone()));
        }
        if let (Some(node), Some(dw)) = (node_w, dw) {
            grads.register::<Flex>(node.id, tensor(dw, Shape::new([wv.rows, wv.cols])));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(db, Shape::new([wv.rows])));
        }
    }
}

pub fn linear([x, w, b]: [AutodiffTensor<Flex>; 3]) -> AutodiffTensor<Flex> {
    let out = linear_forward(x.primitive(), w.primitive(), b.primitive());
    match LinearBackward
        .prepare::<NoCheckpointing>([x.node(), w.node(), b.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((x.primitive().clone(), w.primitive().clone()), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}
