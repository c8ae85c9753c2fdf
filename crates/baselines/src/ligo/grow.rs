//! The grown model as a function of the operators: the frozen source's tensors mixed along
//! depth ([`DepthOperator`]), then expanded in width ([`WidthOperator`]), materialized at every
//! forward (differentiable in the operators only) and once more at export.
//!
//! Width expansion of a `[out, in]` weight: `[I; C_out] W [I; C_in]ᵀ`, i.e. the old block
//! kept verbatim, new rows `C_out W`, new columns `W C_inᵀ`; a bias or LayerNorm vector
//! `[b; C b]`; an embedding `E` `[.., D1]` -> `[E, E C_eᵀ]`. With the fused qkv, each D1 segment
//! grows to D2 and the three are concatenated, so new q rows sit at the end of the q segment
//! (new heads are mixtures of old head dims; the head dim is kept).

use burn::prelude::*;
use sweet_vit::encoder::{BlockView, Norm};
use sweet_vit::names::HostTensor;
use sweet_vit::{EncoderView, LayerWeights, Vit};

use super::operator::{Coeffs, DepthOperator, WidthOperator};

/// The source model (frozen: no gradient, so the optimizer leaves it bit for bit) and the
/// operators that grow it.
#[derive(Module, Debug)]
pub struct LigoModel {
    /// The smaller model `(L1, D1)`.
    pub source: Vit,
    pub depth: DepthOperator,
    /// `None` when the width does not grow.
    pub width: Option<WidthOperator>,
    /// Attention heads of the grown model.
    pub num_heads: usize,
}

/// Target layer i's tensor for every i: `coef [L2, L1] · stack(parts)`, each part of one shape.
fn mix<const R: usize>(coef: Tensor<2>, parts: Vec<Tensor<R>>) -> Vec<Tensor<R>> {
    let shape = parts[0].dims();
    let n: usize = shape.iter().product();
    let stack = Tensor::cat(parts.into_iter().map(|t| t.reshape([1, n])).collect(), 0);
    let mixed = coef.matmul(stack);
    let l2 = mixed.dims()[0];
    (0..l2)
        .map(|i| mixed.clone().narrow(0, i, 1).reshape(shape))
        .collect()
}

/// `[out, in]` -> `[out + e, in]`: the rows, then `C W` (`C` `[e, out]`).
fn grow_rows(w: Tensor<2>, c: Option<&Tensor<2>>) -> Tensor<2> {
    match c {
        None => w,
        Some(c) => Tensor::cat(vec![w.clone(), c.clone().matmul(w)], 0),
    }
}

/// `[out, in]` -> `[out, in + e]`: the columns, then `W Cᵀ` (`C` `[e, in]`).
fn grow_cols(w: Tensor<2>, c: Option<&Tensor<2>>) -> Tensor<2> {
    match c {
        None => w,
        Some(c) => Tensor::cat(vec![w.clone(), w.matmul(c.clone().transpose())], 1),
    }
}

/// `[n]` -> `[n + e]`: the entries, then `C b` (`C` `[e, n]`).
fn grow_vec(b: Tensor<1>, c: Option<&Tensor<2>>) -> Tensor<1> {
    match c {
        None => b,
        Some(c) => {
            let (n, e) = (b.dims()[0], c.dims()[0]);
            let new = c.clone().matmul(b.clone().reshape([n, 1])).reshape([e]);
            Tensor::cat(vec![b, new], 0)
        }
    }
}

/// `[1, T, D1]` -> `[1, T, D2]`: `[E, E C_eᵀ]`.
fn grow_embedding(e: Tensor<3>, c: Option<&Tensor<2>>) -> Tensor<3> {
    let [_, t, d] = e.dims();
    let g = grow_cols(e.reshape([t, d]), c);
    let d2 = g.dims()[1];
    g.reshape([1, t, d2])
}

/// One module's weights and biases of every target layer, mixed along depth.
struct Mixed<const R: usize> {
    weight: Vec<Tensor<R>>,
    bias: Vec<Tensor<1>>,
}

fn mixed<const R: usize>(c: &Coeffs, weight: Vec<Tensor<R>>, bias: Vec<Tensor<1>>) -> Mixed<R> {
    Mixed {
        weight: mix(c.weight_coef.val(), weight),
        bias: mix(c.bias_coef.val(), bias),
    }
}

impl LigoModel {
    /// The grown encoder for one forward: `(L2, D2)`, every tensor a function of the
    /// operators and the frozen source.
    pub fn view(&self) -> EncoderView {
        let src = &self.source;
        let gen = &src.generator.blocks;
        let d1 = src.embed_dim();
        let dp = &self.depth;
        let seg = |j: usize, s: usize| gen[j].attn.qkv.weight.val().narrow(0, s * d1, d1);
        let seg_b = |j: usize, s: usize| src.blocks[j].attn.qkv.bias.val().narrow(0, s * d1, d1);
        let l1 = gen.len();
        let per = |f: &dyn Fn(usize) -> Tensor<2>| (0..l1).map(f).collect::<Vec<_>>();
        let per1 = |f: &dyn Fn(usize) -> Tensor<1>| (0..l1).map(f).collect::<Vec<_>>();
        let q = mixed(&dp.q, per(&|j| seg(j, 0)), per1(&|j| seg_b(j, 0)));
        let k = mixed(&dp.k, per(&|j| seg(j, 1)), per1(&|j| seg_b(j, 1)));
        let v = mixed(&dp.v, per(&|j| seg(j, 2)), per1(&|j| seg_b(j, 2)));
        let proj = mixed(
            &dp.proj,
            per(&|j| gen[j].attn.proj.weight.val()),
            per1(&|j| src.blocks[j].attn.proj.bias.val()),
        );
        let fc1 = mixed(
            &dp.fc1,
            per(&|j| gen[j].mlp.fc1.weight.val()),
            per1(&|j| src.blocks[j].mlp.fc1.bias.val()),
        );
        let fc2 = mixed(
            &dp.fc2,
            per(&|j| gen[j].mlp.fc2.weight.val()),
            per1(&|j| src.blocks[j].mlp.fc2.bias.val()),
        );
        let norm1 = mixed(
            &dp.norm1,
            per1(&|j| src.blocks[j].norm1.weight.val()),
            per1(&|j| src.blocks[j].norm1.bias.val()),
        );
        let norm2 = mixed(
            &dp.norm2,
            per1(&|j| src.blocks[j].norm2.weight.val()),
            per1(&|j| src.blocks[j].norm2.bias.val()),
        );
        let w = self.width.as_ref();
        let ce = w.map(|w| w.embed.val());
        let ce = ce.as_ref();
        let blocks = (0..q.weight.len())
            .map(|i| {
                let lw = w.map(|w| &w.layers[i]);
                let (cq, ck, cv, cf) = (
                    lw.map(|l| l.q.val()),
                    lw.map(|l| l.k.val()),
                    lw.map(|l| l.v.val()),
                    lw.map(|l| l.ffn.val()),
                );
                let (cq, ck, cv, cf) = (cq.as_ref(), ck.as_ref(), cv.as_ref(), cf.as_ref());
                let grow = |w: &Tensor<2>, out: Option<&Tensor<2>>, inp: Option<&Tensor<2>>| {
                    grow_cols(grow_rows(w.clone(), out), inp)
                };
                let qkv = Tensor::cat(
                    vec![
                        grow(&q.weight[i], cq, ce),
                        grow(&k.weight[i], ck, ce),
                        grow(&v.weight[i], cv, ce),
                    ],
                    0,
                );
                let qkv_bias = Tensor::cat(
                    vec![
                        grow_vec(q.bias[i].clone(), cq),
                        grow_vec(k.bias[i].clone(), ck),
                        grow_vec(v.bias[i].clone(), cv),
                    ],
                    0,
                );
                let norm = |m: &Mixed<1>| Norm {
                    weight: grow_vec(m.weight[i].clone(), ce),
                    bias: grow_vec(m.bias[i].clone(), ce),
                };
                BlockView {
                    norm1: norm(&norm1),
                    qkv_bias,
                    proj_bias: grow_vec(proj.bias[i].clone(), ce),
                    norm2: norm(&norm2),
                    fc1_bias: grow_vec(fc1.bias[i].clone(), cf),
                    fc2_bias: grow_vec(fc2.bias[i].clone(), ce),
                    weights: LayerWeights {
                        qkv,
                        proj: grow(&proj.weight[i], ce, cv),
                        fc1: grow(&fc1.weight[i], cf, ce),
                        fc2: grow(&fc2.weight[i], ce, cf),
                    },
                }
            })
            .collect();
        EncoderView {
            patch_weight: grow_rows(src.patch_embed.matrix(), ce),
            patch_bias: grow_vec(src.patch_embed.proj.bias.val(), ce),
            patch_size: src.patch_embed.patch_size,
            cls_token: grow_embedding(src.cls_token.val(), ce),
            pos_embed: grow_embedding(src.pos_embed.val(), ce),
            blocks,
            norm: src.norm.as_ref().map(|n| Norm {
                weight: grow_vec(n.weight.val(), ce),
                bias: grow_vec(n.bias.val(), ce),
            }),
            heads: self.num_heads,
        }
    }

    /// The grown model's tensors by timm key (no head, no `fc_norm`), materialized once.
    pub fn grown_tensors(&self) -> Vec<(String, HostTensor)> {
        let view = self.view();
        let [_, c, p, _] = self.source.patch_embed.proj.weight.dims();
        let d2 = view.width();
        let h1 = |t: &Tensor<1>| HostTensor::from_tensor(t);
        let h2 = |t: &Tensor<2>| HostTensor::from_tensor(t);
        let mut out = vec![
            (
                "patch_embed.proj.weight".to_string(),
                HostTensor::from_tensor(&view.patch_weight.clone().reshape([d2, c, p, p])),
            ),
            ("patch_embed.proj.bias".into(), h1(&view.patch_bias)),
            ("cls_token".into(), HostTensor::from_tensor(&view.cls_token)),
            ("pos_embed".into(), HostTensor::from_tensor(&view.pos_embed)),
        ];
        for (i, b) in view.blocks.iter().enumerate() {
            let k = |s: &str| format!("blocks.{i}.{s}");
            out.extend([
                (k("norm1.weight"), h1(&b.norm1.weight)),
                (k("norm1.bias"), h1(&b.norm1.bias)),
                (k("attn.qkv.weight"), h2(&b.weights.qkv)),
                (k("attn.qkv.bias"), h1(&b.qkv_bias)),
                (k("attn.proj.weight"), h2(&b.weights.proj)),
                (k("attn.proj.bias"), h1(&b.proj_bias)),
                (k("norm2.weight"), h1(&b.norm2.weight)),
                (k("norm2.bias"), h1(&b.norm2.bias)),
                (k("mlp.fc1.weight"), h2(&b.weights.fc1)),
                (k("mlp.fc1.bias"), h1(&b.fc1_bias)),
                (k("mlp.fc2.weight"), h2(&b.weights.fc2)),
                (k("mlp.fc2.bias"), h1(&b.fc2_bias)),
            ]);
        }
        if let Some(n) = &view.norm {
            out.push(("norm.weight".into(), h1(&n.weight)));
            out.push(("norm.bias".into(), h1(&n.bias)));
        }
        out
    }
}
