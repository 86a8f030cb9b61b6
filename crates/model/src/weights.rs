//! Weights in safetensors files, by Hugging Face name.
//!
//! Loading matches the model's variables to a checkpoint's tensors, with the aliases that occur
//! in the wild (a `bert.` prefix or none, the tied LM decoder, TF-era `gamma`/`beta`), checks
//! every shape and dtype from the header before copying, and reports missing and unexpected keys
//! like transformers does. Only safetensors are read: a pickle can execute code.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::Write;
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
    /// Whether the directory's files were checked against their recorded hashes (`None` when
    /// loaded from bare files, not a model directory).
    pub integrity: Option<crate::checksums::Integrity>,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.integrity {
            Some(crate::checksums::Integrity::Verified { files }) => write!(f, "{files} files verified; ")?,
            Some(crate::checksums::Integrity::Unrecorded) => {
                write!(f, "no {} (written elsewhere): not verified; ", crate::checksums::CHECKSUMS_FILE)?
            }
            None => {}
        }
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
/// metadata (transformers requires it); returns the file's SHA-256. See [`save_tensors`].
pub fn save(vs: &VarStore, path: &Path) -> Result<String> {
    let variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    save_tensors(&variables, path)
}

/// A tensor as the header sees it: dtype and shape, no data (the data is streamed after).
struct HeaderOnly {
    dtype: Dtype,
    shape: Vec<usize>,
}

impl safetensors::View for HeaderOnly {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&[])
    }
    fn data_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.bitsize() / 8
    }
}

/// Writes `tensors` (on any device; floats stored as f32, integers as i64) to `path` as
/// safetensors with HF's `{"format": "pt"}` metadata, one tensor in memory at a time, through a
/// temporary file that is synced and renamed. Returns the file's SHA-256, computed while
/// writing. A tensor holding NaN or infinity is refused, naming it: nothing non-finite is ever
/// written as a checkpoint.
pub fn save_tensors(tensors: &[(String, Tensor)], path: &Path) -> Result<String> {
    let by_name: BTreeMap<&str, &Tensor> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let stored_kind = |t: &Tensor| if t.is_floating_point() { Kind::Float } else { Kind::Int64 };
    let header_views: Vec<(&str, HeaderOnly)> = by_name
        .iter()
        .map(|(name, t)| {
            let dtype = if stored_kind(t) == Kind::Float { Dtype::F32 } else { Dtype::I64 };
            (*name, HeaderOnly { dtype, shape: t.size().iter().map(|&d| d as usize).collect() })
        })
        .collect();
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    // The 8-byte length and the JSON header, exactly as safetensors lays them out; the tensors
    // follow in the order of their offsets in that header.
    let header =
        safetensors::serialize(header_views, Some(metadata)).map_err(|e| Error::weights(path, e.to_string()))?;
    let order = data_order(&header).map_err(|e| Error::weights(path, format!("safetensors header: {e}")))?;

    let tmp = path.with_extension("safetensors.tmp");
    let written = (|| -> Result<String> {
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = crate::checksums::HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
        w.write_all(&header).map_err(|e| Error::io(&tmp, e))?;
        let mut bytes = Vec::new();
        for name in order {
            let t =
                by_name.get(name.as_str()).ok_or_else(|| Error::weights(path, format!("tensor {name} vanished")))?;
            let t = tch::no_grad(|| t.f_to_device(tch::Device::Cpu)?.f_to_kind(stored_kind(t))?.f_contiguous())?;
            if t.is_floating_point() && !bool::try_from(t.f_isfinite()?.f_all()?)? {
                return Err(Error::weights(
                    path,
                    format!("tensor {name} holds NaN or infinite values; refusing to write it"),
                ));
            }
            let numel = t.numel();
            bytes.resize(numel * t.kind().elt_size_in_bytes(), 0);
            t.f_copy_data_u8(&mut bytes, numel)?;
            w.write_all(&bytes).map_err(|e| Error::io(&tmp, e))?;
        }
        let (digest, buffered) = w.finish();
        let file = buffered.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        Ok(digest)
    })();
    match written {
        Ok(digest) => {
            std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
            Ok(digest)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The tensor names of a serialized safetensors header, in the order of their data.
fn data_order(header: &[u8]) -> std::result::Result<Vec<String>, String> {
    let json = header.get(8..).ok_or("shorter than 8 bytes")?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let mut named: Vec<(u64, String)> = map
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| v["data_offsets"][0].as_u64().map(|o| (o, k.clone())).ok_or(format!("{k}: no data_offsets")))
        .collect::<std::result::Result<_, _>>()?;
    named.sort();
    Ok(named.into_iter().map(|(_, k)| k).collect())
}
