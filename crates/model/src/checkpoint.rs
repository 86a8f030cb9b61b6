//! Weights in safetensors files, by Hugging Face name.
//!
//! Loading matches the model's variables to a checkpoint's tensors, with the aliases that occur
//! in the wild (a `bert.` prefix or none, the tied LM decoder, TF-era `gamma`/`beta`), checks
//! every shape and dtype from the header before copying, and reports missing and unexpected keys
//! like transformers does. Only safetensors are read: a pickle can execute code.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};
use tch::nn::VarStore;
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// The base-model prefix of head models, as HF's `base_model_prefix`.
pub const BASE_PREFIX: &str = "bert.";

/// What a load matched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Model variables the checkpoint did not have (left at their initial values).
    pub missing: Vec<String>,
    /// Checkpoint tensors the model has no use for.
    pub unexpected: Vec<String>,
    /// True when the checkpoint's base-model names carry the `bert.` prefix.
    pub checkpoint_prefixed: bool,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.missing.is_empty() && self.unexpected.is_empty() {
            return write!(f, "all weights matched");
        }
        if !self.missing.is_empty() {
            write!(f, "newly initialised (not in the checkpoint): {}", self.missing.join(", "))?;
        }
        if !self.unexpected.is_empty() {
            if !self.missing.is_empty() {
                write!(f, "; ")?;
            }
            write!(f, "unused checkpoint weights: {}", self.unexpected.join(", "))?;
        }
        Ok(())
    }
}

/// Memory-mapped safetensors files, validated on open.
struct Mapped {
    path: PathBuf,
    mmap: Mmap,
}

impl Mapped {
    fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: read-only map of a checkpoint that is not modified while loading.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        SafeTensors::deserialize(&mmap).map_err(|e| {
            Error::weights(path, format!("not a valid safetensors file ({e}): truncated or corrupted?"))
        })?;
        Ok(Mapped { path: path.to_path_buf(), mmap })
    }

    fn tensors(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.mmap).unwrap_or_else(|_| unreachable!("validated in open"))
    }
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F64 => Kind::Double,
        Dtype::I64 => Kind::Int64,
        _ => return None,
    })
}

/// The checkpoint name that `var` (a model variable) is stored under, by rule.
fn renames(name: &str) -> Vec<String> {
    let mut names = vec![name.to_string()];
    if name == "cls.predictions.bias" {
        names.push("cls.predictions.decoder.bias".into());
    }
    for n in names.clone() {
        if let Some(stem) = n.strip_suffix("LayerNorm.weight") {
            names.push(format!("{stem}LayerNorm.gamma"));
        }
        if let Some(stem) = n.strip_suffix("LayerNorm.bias") {
            names.push(format!("{stem}LayerNorm.beta"));
        }
    }
    names
}

/// Checkpoint tensors that are never "unexpected": buffers, and the decoder tied to the word
/// embeddings (its bias is an alias of `cls.predictions.bias` once that is loaded).
fn ignorable(name: &str, lm_bias_loaded: bool) -> bool {
    name.ends_with("embeddings.position_ids")
        || name == "cls.predictions.decoder.weight"
        || (lm_bias_loaded && name == "cls.predictions.decoder.bias")
}

/// Loads `files` into `vs`. `bare` is true for a bare `BertModel` (names without `bert.`).
/// Shapes and dtypes are checked for every tensor before any is copied.
pub fn load(vs: &VarStore, files: &[PathBuf], bare: bool) -> Result<LoadReport> {
    let mapped: Vec<Mapped> = files.iter().map(|f| Mapped::open(f)).collect::<Result<_>>()?;
    let views: Vec<SafeTensors> = mapped.iter().map(Mapped::tensors).collect();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, st) in views.iter().enumerate() {
        for name in st.names() {
            if let Some(previous) = index.insert(name.to_string(), i) {
                return Err(Error::weights(
                    &mapped[i].path,
                    format!("tensor {name} also in {}", mapped[previous].path.display()),
                ));
            }
        }
    }
    let prefixed = index.keys().any(|k| k.starts_with(BASE_PREFIX));
    let vars = vs.variables();
    let mut plan = Vec::new();
    let mut report = LoadReport { checkpoint_prefixed: prefixed, ..LoadReport::default() };
    let mut used = BTreeSet::new();
    for (var_name, var) in vars.iter().collect::<BTreeMap<_, _>>() {
        let stored = match (bare, prefixed, var_name.strip_prefix(BASE_PREFIX)) {
            (true, true, _) => format!("{BASE_PREFIX}{var_name}"),
            (false, false, Some(base)) => base.to_string(),
            _ => var_name.clone(),
        };
        let Some((name, file)) = renames(&stored).into_iter().find_map(|n| index.get(&n).map(|&i| (n, i))) else {
            report.missing.push(var_name.clone());
            continue;
        };
        let view = views[file].tensor(&name).map_err(|e| Error::weights(&mapped[file].path, e.to_string()))?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        if shape != var.size() {
            return Err(Error::weights(
                &mapped[file].path,
                format!("tensor {name} has shape {shape:?}, the model (config.json) expects {:?}", var.size()),
            ));
        }
        let Some(kind) =
            kind_of(view.dtype()).filter(|k| matches!(k, Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double))
        else {
            return Err(Error::weights(
                &mapped[file].path,
                format!("tensor {name} has dtype {:?}; expected a float", view.dtype()),
            ));
        };
        used.insert(name.clone());
        plan.push((var, view, shape, kind));
    }
    tch::no_grad(|| -> Result<()> {
        for (var, view, shape, kind) in plan {
            let t = Tensor::f_from_data_size(view.data(), &shape, kind)?;
            var.shallow_clone().f_copy_(&t.f_to_device(var.device())?.f_to_kind(var.kind())?)?;
        }
        Ok(())
    })?;
    let bias_loaded = used.contains("cls.predictions.bias") || used.contains("cls.predictions.decoder.bias");
    report.unexpected = index.keys().filter(|k| !used.contains(*k) && !ignorable(k, bias_loaded)).cloned().collect();
    report.unexpected.sort();
    Ok(report)
}

/// Writes every variable of `vs` to `path` as f32 safetensors with HF's `{"format": "pt"}`
/// metadata (transformers requires it). Writes a temporary file and renames it.
pub fn save(vs: &VarStore, path: &Path) -> Result<()> {
    let mut tensors: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
    for (name, var) in vs.variables().into_iter().collect::<BTreeMap<_, _>>() {
        let t = var.f_to_device(tch::Device::Cpu)?.f_to_kind(Kind::Float)?.f_contiguous()?;
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let values = Vec::<f32>::try_from(t.f_flatten(0, -1)?)?;
        tensors.push((name, bytemuck::cast_slice(&values).to_vec(), shape));
    }
    let views = tensors
        .iter()
        .map(|(name, bytes, shape)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.as_str(), v))
                .map_err(|e| Error::weights(path, format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let tmp = path.with_extension("safetensors.tmp");
    safetensors::serialize_to_file(views, Some(metadata), &tmp).map_err(|e| Error::weights(&tmp, e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
