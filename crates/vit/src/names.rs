//! Module paths as timm state-dict keys: reading every float parameter out by name, and
//! replacing parameters by name. The one boundary between burn modules and checkpoints.
//!
//! A key is the dotted path of field names and `Vec` indices, with two exceptions that let a
//! model's parts and its block generator share timm's key space:
//! - a struct field named [`GENERATOR_FIELD`] adds no segment (`Vit.generator.blocks.0.attn.
//!   qkv.weight` is `blocks.0.attn.qkv.weight`, beside the parts' `blocks.0.attn.qkv.bias`);
//! - an enum variant adds no segment (which variant a file holds is in its config).

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

/// A float tensor leaving or entering a module: row-major f32 values and a shape.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl HostTensor {
    pub fn from_tensor<const D: usize>(t: &Tensor<D>) -> Self {
        let data = t.to_data().convert::<f32>();
        HostTensor {
            shape: data.shape().to_vec(),
            values: data.try_into_vec::<f32>().expect("f32 data"),
        }
    }

    pub fn to_tensor<const D: usize>(&self, device: &Device) -> Tensor<D> {
        Tensor::from_data(
            TensorData::new(self.values.clone(), self.shape.clone()),
            device,
        )
    }
}

/// The struct field whose keys sit at its parent's level.
pub const GENERATOR_FIELD: &str = "generator";

/// Tracks the dotted path of the parameter being visited, from burn's enter/exit callbacks.
#[derive(Default)]
struct Path(Vec<Option<String>>);

impl Path {
    fn enter(&mut self, name: &str, container_type: &str) {
        let transparent = container_type.starts_with("Enum:")
            || (name == GENERATOR_FIELD && container_type.starts_with("Struct:"));
        self.0.push((!transparent).then(|| name.to_string()));
    }
    fn exit(&mut self) {
        self.0.pop();
    }
    fn key(&self) -> String {
        self.0
            .iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(".")
    }
}

struct Collect {
    path: Path,
    out: Vec<(String, HostTensor)>,
    with_values: bool,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type)
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit()
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = if self.with_values {
            HostTensor::from_tensor(&param.val())
        } else {
            HostTensor {
                shape: param.lazy_shape().to_vec(),
                values: Vec::new(),
            }
        };
        self.out.push((self.path.key(), t));
    }
}

/// Every float parameter with its key and values, in module order.
pub fn named_tensors<M: Module>(module: &M) -> Vec<(String, HostTensor)> {
    let mut v = Collect {
        path: Path::default(),
        out: Vec::new(),
        with_values: true,
    };
    module.visit(&mut v);
    v.out
}

/// Every float parameter's key and shape, in module order (no data is copied).
pub fn named_shapes<M: Module>(module: &M) -> Vec<(String, Vec<usize>)> {
    let mut v = Collect {
        path: Path::default(),
        out: Vec::new(),
        with_values: false,
    };
    module.visit(&mut v);
    v.out.into_iter().map(|(k, t)| (k, t.shape)).collect()
}

/// A [`ModuleVisitor`] that sees each float parameter with its key, rank-generic.
pub trait NamedVisit {
    fn visit<const D: usize>(&mut self, key: &str, param: &Param<Tensor<D>>);
}

struct NamedVisitor<'a, F: NamedVisit> {
    path: Path,
    f: &'a mut F,
}

impl<F: NamedVisit> ModuleVisitor for NamedVisitor<'_, F> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type)
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit()
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let key = self.path.key();
        self.f.visit(&key, param);
    }
}

/// Shows `f` every float parameter of `module` with its key, in module order.
pub fn visit_params<M: Module, F: NamedVisit>(module: &M, f: &mut F) {
    module.visit(&mut NamedVisitor {
        path: Path::default(),
        f,
    })
}

/// A [`ModuleMapper`] that hands each float parameter, with its key, to a rank-generic function.
pub trait NamedMap {
    fn map<const D: usize>(&mut self, key: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>>;
}

struct NamedMapper<'a, F: NamedMap> {
    path: Path,
    f: &'a mut F,
}

impl<F: NamedMap> ModuleMapper for NamedMapper<'_, F> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type)
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit()
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let key = self.path.key();
        self.f.map(&key, param)
    }
}

/// Runs `f` over every float parameter of `module` with its key.
pub fn map_params<M: Module, F: NamedMap>(module: M, f: &mut F) -> M {
    module.map(&mut NamedMapper {
        path: Path::default(),
        f,
    })
}

/// Replaces parameter values from `tensors` by key, keeping ids and require-grad state. Fails,
/// naming every problem, unless the keys match exactly and every shape matches.
pub fn load_named<M: Module>(
    module: M,
    tensors: &BTreeMap<String, HostTensor>,
) -> Result<M, KeyMismatch> {
    load_named_where(module, tensors, |_| true)
}

/// [`load_named`] for the parameters whose key `load` selects: their keys and shapes must match
/// `tensors` exactly, and they take its values; the other parameters keep theirs (a key of
/// `tensors` that is not selected is unexpected).
pub fn load_named_where<M: Module>(
    module: M,
    tensors: &BTreeMap<String, HostTensor>,
    load: impl Fn(&str) -> bool,
) -> Result<M, KeyMismatch> {
    let expected: Vec<(String, Vec<usize>)> = named_shapes(&module)
        .into_iter()
        .filter(|(k, _)| load(k))
        .collect();
    let mut problems = KeyMismatch::default();
    for (key, shape) in &expected {
        match tensors.get(key) {
            None => problems.missing.push(format!("{key} {shape:?}")),
            Some(t) if &t.shape != shape => problems
                .wrong_shape
                .push(format!("{key}: expected {shape:?}, found {:?}", t.shape)),
            Some(_) => {}
        }
    }
    for key in tensors.keys() {
        if !expected.iter().any(|(k, _)| k == key) {
            problems.unexpected.push(key.clone());
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    struct Load<'a>(&'a BTreeMap<String, HostTensor>);
    impl NamedMap for Load<'_> {
        fn map<const D: usize>(&mut self, key: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some(host) = self.0.get(key) else {
                return param;
            };
            param.map(|old| {
                let device = old.device();
                let grad = old.is_require_grad();
                let t: Tensor<D> = host.to_tensor(&device);
                if grad {
                    t.require_grad()
                } else {
                    t
                }
            })
        }
    }
    Ok(map_params(module, &mut Load(tensors)))
}

/// What did not match when loading named tensors into a module.
#[derive(Debug, Default, PartialEq)]
pub struct KeyMismatch {
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    pub wrong_shape: Vec<String>,
}

impl KeyMismatch {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.wrong_shape.is_empty()
    }
}

impl std::fmt::Display for KeyMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!("missing keys: {}", self.missing.join(", ")));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!("unexpected keys: {}", self.unexpected.join(", ")));
        }
        if !self.wrong_shape.is_empty() {
            parts.push(format!("wrong shapes: {}", self.wrong_shape.join("; ")));
        }
        write!(f, "{}", parts.join("; "))
    }
}

impl std::error::Error for KeyMismatch {}

/// timm's weight-decay rule: no decay for 1-D tensors (biases, norms) and for the tokens and
/// position embeddings (`no_weight_decay()`), decay for every matrix.
pub fn decays(key: &str, shape: &[usize]) -> bool {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let token = matches!(
        leaf,
        "cls_token" | "pos_embed" | "mask_token" | "dist_token"
    );
    shape.len() > 1 && !token && leaf != "bias"
}
