//! The pretraining configuration (`configs/pretrain/*.toml`): every key has a default, unknown
//! keys are refused, and `--set section.key=value` overrides are typed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use training::overrides::Renamed;
use training::ranges::Invalid;
use training::resume::key_matches;
use training::ResumeSettings;

/// The training objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// L_pre: each token predicted from at most its k previous tokens.
    Causal,
    /// BERT/XLM-R masked LM: 15% of tokens, 80% [MASK] / 10% random / 10% kept.
    Mlm,
}

/// `ddp_backend`: the collectives' backend, `"auto"` choosing it from the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DdpBackend {
    /// NCCL on GPUs, Gloo on the CPU.
    Auto,
    /// This backend, whatever the device.
    Fixed(distributed::Backend),
}

impl DdpBackend {
    /// The backend for tensors on `device`.
    pub fn for_device(self, device: tch::Device) -> distributed::Backend {
        match self {
            DdpBackend::Auto => distributed::Backend::for_device(device),
            DdpBackend::Fixed(backend) => backend,
        }
    }
}

impl TryFrom<String> for DdpBackend {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        match name.as_str() {
            "auto" => Ok(DdpBackend::Auto),
            other => other
                .parse()
                .map(DdpBackend::Fixed)
                .map_err(|_| format!("ddp_backend = {other:?}: expected \"auto\", \"nccl\" or \"gloo\"")),
        }
    }
}

impl From<DdpBackend> for String {
    fn from(b: DdpBackend) -> String {
        match b {
            DdpBackend::Auto => "auto".into(),
            DdpBackend::Fixed(backend) => backend.name().into(),
        }
    }
}

/// Settings that a resumed run may change, as Trainer lets them change between runs: the
/// learning-rate schedule, the length of the run, and how often it evaluates, logs and
/// checkpoints (each change is logged). A key ending in `.` stands for its whole section.
pub const RESUMABLE: &[&str] = &[
    "learning_rate",
    "min_lr",
    "warmup_steps",
    "lr_scheduler_type",
    "max_steps",
    "eval_steps",
    "per_device_eval_batch_size",
    "eval.",
    "logging_steps",
    "log.",
    "save_steps",
    "save_total_limit",
    "checkpoint.",
    "report_to",
];

/// Keys that say where and how a run is placed, not what it trains.
const NOT_SETTINGS: &[&str] =
    &["output_dir", "device", "data.verify", "ddp_backend", "ddp_timeout", "ddp_bucket_cap_mb"];

/// The keys renamed to transformers' `TrainingArguments` names. A file or `--set` that uses an
/// old one is refused, naming the new one; the settings of a checkpoint written before the
/// rename are read through this table, so that it still resumes.
pub const RENAMED: &[Renamed] = &[
    Renamed {
        old: "name",
        new: "output_dir",
        note: ": `output_dir` is the run directory itself, `<out_dir>/<name>` before (e.g. output_dir = \"runs/tiny\")",
    },
    Renamed {
        old: "out_dir",
        new: "output_dir",
        note: ": `output_dir` is the run directory itself, `<out_dir>/<name>` before (e.g. output_dir = \"runs/tiny\")",
    },
    Renamed {
        old: "dtype",
        new: "bf16",
        note: ", a bool as transformers' (`bf16 = true`: bf16 matmuls, f32 parameters; dtype = \"auto\" meant true on CUDA, false on CPU)",
    },
    Renamed { old: "init", new: "model_name_or_path", note: "" },
    Renamed { old: "optim.lr", new: "learning_rate", note: "" },
    Renamed { old: "optim.min_lr", new: "min_lr", note: "" },
    Renamed { old: "optim.warmup_steps", new: "warmup_steps", note: "" },
    Renamed { old: "optim.decay", new: "lr_scheduler_type", note: "" },
    Renamed { old: "optim.beta1", new: "adam_beta1", note: "" },
    Renamed { old: "optim.beta2", new: "adam_beta2", note: "" },
    Renamed { old: "optim.eps", new: "adam_epsilon", note: "" },
    Renamed { old: "optim.weight_decay", new: "weight_decay", note: "" },
    Renamed { old: "optim.grad_clip", new: "max_grad_norm", note: "" },
    Renamed { old: "optim.batch_size", new: "per_device_train_batch_size", note: "" },
    Renamed { old: "optim.grad_accum", new: "gradient_accumulation_steps", note: "" },
    Renamed { old: "optim.max_steps", new: "max_steps", note: "" },
    Renamed { old: "eval.every", new: "eval_steps", note: "" },
    Renamed { old: "eval.batch_size", new: "per_device_eval_batch_size", note: "" },
    Renamed { old: "checkpoint.every", new: "save_steps", note: "" },
    Renamed {
        old: "checkpoint.keep_last",
        new: "save_total_limit",
        note: " (0 now keeps every checkpoint, as transformers'; it was taken as 1)",
    },
    Renamed { old: "log.every", new: "logging_steps", note: "" },
    Renamed { old: "distributed.backend", new: "ddp_backend", note: "" },
    Renamed { old: "distributed.timeout_s", new: "ddp_timeout", note: "" },
    Renamed { old: "distributed.bucket_mb", new: "ddp_bucket_cap_mb", note: "" },
];

/// Everything `pretrain` reads from its TOML file. Where transformers' `TrainingArguments` has a
/// counterpart, the key has its name and meaning (top-level keys, as `finetune`'s); the tables
/// hold what it has none for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PretrainConfig {
    /// The run directory (`config.toml`, `metrics.jsonl`, plots, `checkpoints/`, `final/`).
    pub output_dir: PathBuf,
    /// Corpus directory from `corpus build`.
    pub corpus: PathBuf,
    /// A model directory to continue pretraining from ("" = from scratch with `[model]`).
    #[serde(with = "training::overrides::empty_is_none")]
    pub model_name_or_path: Option<PathBuf>,
    /// Seed of initialisation, data draws, masks and dropout.
    pub seed: u64,
    /// `cpu`, `cuda`, `cuda:N` or `auto`.
    pub device: model::DeviceSetting,
    /// Matmuls in bf16 with f32 parameters (transformers' `bf16`); for GPUs.
    pub bf16: bool,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Learning rate reached at `max_steps` (transformers: `lr_scheduler_kwargs` `min_lr`).
    pub min_lr: f64,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
    /// Decay after warm-up: `cosine`, `linear` or `constant`.
    pub lr_scheduler_type: training::Decay,
    /// AdamW β1.
    pub adam_beta1: f64,
    /// AdamW β2.
    pub adam_beta2: f64,
    /// AdamW ε.
    pub adam_epsilon: f64,
    /// Decoupled weight decay (not on biases and LayerNorm).
    pub weight_decay: f64,
    /// Gradient-norm clipping (0 = off).
    pub max_grad_norm: f64,
    /// Rows per micro-batch, per rank.
    pub per_device_train_batch_size: i64,
    /// Micro-batches per optimizer step.
    pub gradient_accumulation_steps: u32,
    /// Optimizer steps.
    pub max_steps: u64,
    /// Rows per evaluation batch.
    pub per_device_eval_batch_size: i64,
    /// Evaluate every this many steps (0 = only at the end).
    pub eval_steps: u64,
    /// Write a metrics row every this many steps.
    pub logging_steps: u64,
    /// Write a checkpoint every this many steps (0 = only at the end).
    pub save_steps: u64,
    /// Keep the newest this many checkpoints (0 = all).
    pub save_total_limit: usize,
    /// Where the metrics go besides `metrics.jsonl`: `["tensorboard"]` or none.
    pub report_to: Vec<training::ReportTo>,
    /// Data parallelism: `auto` (NCCL on CUDA, Gloo on CPU), `nccl` or `gloo`.
    pub ddp_backend: DdpBackend,
    /// Seconds a rank waits for the others (rendezvous and every collective) before it gives up
    /// with an error; longer than the slowest evaluation or checkpoint, which rank 0 does alone.
    pub ddp_timeout: u64,
    /// Gradients are all-reduced in flat buckets of at most this many MiB (DDP: 25).
    pub ddp_bucket_cap_mb: usize,
    /// Model shape when training from scratch (the vocabulary comes from the corpus).
    pub model: ModelSection,
    /// Objective and context.
    pub objective: ObjectiveSection,
    /// Data sampling.
    pub data: DataSection,
    /// Evaluation.
    pub eval: EvalSection,
    /// Checkpoints.
    pub checkpoint: CheckpointSection,
    /// Logging.
    pub log: LogSection,
}

/// Model shape (BertConfig names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// Width.
    pub hidden_size: i64,
    /// Layers.
    pub num_hidden_layers: i64,
    /// Heads.
    pub num_attention_heads: i64,
    /// Feed-forward width.
    pub intermediate_size: i64,
    /// Dropout after sub-layers.
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    pub attention_probs_dropout_prob: f64,
    /// Position embeddings: at least `seq_len` + 1 for `causal` (a row holds k + 1 tokens), `seq_len` for `mlm`.
    pub max_position_embeddings: i64,
}

/// Objective and context window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectiveSection {
    /// `causal` (L_pre) or `mlm`.
    pub kind: Objective,
    /// Context window k: a token is predicted from at most k previous tokens.
    pub k: i64,
    /// Sequence length per row (0 = k). Longer than k: attention is causal and limited to the
    /// previous k tokens in every layer.
    pub seq_len: i64,
    /// MLM: share of tokens selected for prediction.
    pub mlm_probability: f64,
}

/// Data sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSection {
    /// Language sampling exponent: p_i ∝ n_i^alpha.
    pub alpha: f64,
    /// Re-hash every shard against the manifest before training (see `corpus verify`).
    pub verify: bool,
}

/// Evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// At most this many windows per language (0 = the whole validation stream).
    pub max_windows: usize,
}

/// Checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointSection {
    /// Also keep this many with the lowest validation loss.
    pub keep_best: usize,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// Peak dense TFLOP/s of one device in the compute dtype (H100/H200 bf16: 989); when set,
    /// rows carry the model FLOPs utilisation `mfu`. 0 = not logged.
    pub peak_tflops: f64,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig {
            output_dir: "runs/pretrain".into(),
            corpus: "corpora/sample".into(),
            model_name_or_path: None,
            seed: 42,
            device: model::DeviceSetting::Auto,
            bf16: false,
            learning_rate: 1e-3,
            min_lr: 0.0,
            warmup_steps: 100,
            lr_scheduler_type: training::Decay::Cosine,
            adam_beta1: 0.9,
            adam_beta2: 0.98,
            adam_epsilon: 1e-6,
            weight_decay: 0.01,
            max_grad_norm: 1.0,
            per_device_train_batch_size: 32,
            gradient_accumulation_steps: 1,
            max_steps: 1000,
            per_device_eval_batch_size: 32,
            eval_steps: 200,
            logging_steps: 10,
            save_steps: 200,
            save_total_limit: 2,
            report_to: Vec::new(),
            ddp_backend: DdpBackend::Auto,
            ddp_timeout: 1800,
            ddp_bucket_cap_mb: 25,
            model: ModelSection::default(),
            objective: ObjectiveSection::default(),
            data: DataSection::default(),
            eval: EvalSection::default(),
            checkpoint: CheckpointSection::default(),
            log: LogSection::default(),
        }
    }
}

impl Default for ModelSection {
    fn default() -> Self {
        ModelSection {
            hidden_size: 128,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 512,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
        }
    }
}

impl Default for ObjectiveSection {
    fn default() -> Self {
        ObjectiveSection { kind: Objective::Causal, k: 128, seq_len: 0, mlm_probability: 0.15 }
    }
}

impl Default for DataSection {
    fn default() -> Self {
        DataSection { alpha: 0.3, verify: true }
    }
}

impl Default for EvalSection {
    fn default() -> Self {
        EvalSection { max_windows: 64 }
    }
}

impl Default for CheckpointSection {
    fn default() -> Self {
        CheckpointSection { keep_best: 1 }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection { peak_tflops: 0.0 }
    }
}

impl PretrainConfig {
    /// Reads `path` and applies `overrides` (`key=value`). An old key name (see [`RENAMED`]) is
    /// an error naming the new one and where the old one was given.
    pub fn load(path: &Path, overrides: &[String]) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let file = path.display().to_string();
        let renamed = training::overrides::renamed_keys(&text, &file, overrides, RENAMED);
        if !renamed.is_empty() {
            anyhow::bail!(
                "{}\npretrain's keys are transformers' TrainingArguments names where it has one (see docs/configs.md)",
                renamed.join("\n")
            );
        }
        let config: PretrainConfig = training::overrides::load_with_overrides(&text, &file, overrides)?;
        config.validate().map_err(|e| anyhow::anyhow!("{}", training::ranges::explain(&e, &text, &file, overrides)))?;
        if config.warmup_steps > config.max_steps {
            tracing::warn!(
                "warmup_steps = {} exceeds max_steps = {}: the learning rate never reaches learning_rate",
                config.warmup_steps,
                config.max_steps
            );
        }
        Ok(config)
    }

    /// The sequence length of a row.
    pub fn seq_len(&self) -> i64 {
        if self.objective.seq_len > 0 {
            self.objective.seq_len
        } else {
            self.objective.k
        }
    }

    /// Checks what the types do not, with the rules of docs/configs.md; the error names the key.
    pub fn validate(&self) -> Result<(), Invalid> {
        use training::ranges::{at_least, fraction, non_negative, positive};
        if self.output_dir.as_os_str().is_empty() {
            return Err(Invalid::new("output_dir", "output_dir = \"\": must name the run directory"));
        }
        let m = &self.model;
        at_least("model.hidden_size", m.hidden_size, 1)?;
        at_least("model.num_hidden_layers", m.num_hidden_layers, 1)?;
        at_least("model.num_attention_heads", m.num_attention_heads, 1)?;
        at_least("model.intermediate_size", m.intermediate_size, 1)?;
        at_least("model.max_position_embeddings", m.max_position_embeddings, 1)?;
        if m.hidden_size % m.num_attention_heads != 0 {
            return Err(Invalid::new(
                "model.hidden_size",
                format!(
                    "model.hidden_size = {} is not a multiple of model.num_attention_heads = {}",
                    m.hidden_size, m.num_attention_heads
                ),
            ));
        }
        fraction("model.hidden_dropout_prob", m.hidden_dropout_prob)?;
        fraction("model.attention_probs_dropout_prob", m.attention_probs_dropout_prob)?;
        let o = &self.objective;
        at_least("objective.k", o.k, 1)?;
        if o.seq_len != 0 && o.seq_len < o.k {
            return Err(Invalid::new(
                "objective.seq_len",
                format!("objective.seq_len = {} is shorter than objective.k = {}", o.seq_len, o.k),
            ));
        }
        if !(o.mlm_probability > 0.0 && o.mlm_probability < 1.0) {
            return Err(Invalid::new(
                "objective.mlm_probability",
                format!("objective.mlm_probability = {}: must be in (0, 1)", o.mlm_probability),
            ));
        }
        non_negative("data.alpha", self.data.alpha)?;
        positive("learning_rate", self.learning_rate)?;
        non_negative("min_lr", self.min_lr)?;
        if self.min_lr > self.learning_rate {
            return Err(Invalid::new(
                "min_lr",
                format!(
                    "min_lr = {} is above learning_rate = {}: the schedule decays from learning_rate to min_lr",
                    self.min_lr, self.learning_rate
                ),
            ));
        }
        fraction("adam_beta1", self.adam_beta1)?;
        fraction("adam_beta2", self.adam_beta2)?;
        positive("adam_epsilon", self.adam_epsilon)?;
        non_negative("weight_decay", self.weight_decay)?;
        non_negative("max_grad_norm", self.max_grad_norm)?;
        at_least("per_device_train_batch_size", self.per_device_train_batch_size, 1)?;
        at_least("gradient_accumulation_steps", self.gradient_accumulation_steps, 1)?;
        at_least("max_steps", self.max_steps, 1)?;
        at_least("per_device_eval_batch_size", self.per_device_eval_batch_size, 1)?;
        non_negative("log.peak_tflops", self.log.peak_tflops)?;
        Ok(())
    }

    /// Every setting by dotted key, as a resumed run compares them: the corpus by its
    /// fingerprint (not its path) and the number of ranks (it sets the global batch, hence the
    /// data of every step) included; the run's place, device and launcher settings left out.
    pub fn resume_settings(&self, corpus_fingerprint: &str, world_size: usize) -> ResumeSettings {
        let mut c = self.clone();
        c.corpus = PathBuf::from(corpus_fingerprint);
        let mut values = training::overrides::flatten(&c);
        values.retain(|k, _| !NOT_SETTINGS.iter().any(|p| key_matches(k, p)));
        values.insert("world_size".into(), world_size.to_string());
        ResumeSettings { values, resumable: RESUMABLE }
    }
}

/// The settings a checkpoint recorded, in today's key names, when it was written before the
/// rename to transformers' names (`None` otherwise): renamed through [`RENAMED`], `dtype`
/// becoming `bf16` as it resolved on this run's device (`"auto"`: bf16 on CUDA).
pub fn settings_in_current_names(
    recorded: &BTreeMap<String, String>,
    on_cuda: bool,
) -> Option<BTreeMap<String, String>> {
    let old = |k: &str| RENAMED.iter().find(|r| r.old == k);
    if !recorded.keys().any(|k| old(k).is_some()) {
        return None;
    }
    let renamed = recorded
        .iter()
        .map(|(k, v)| match (k.as_str(), old(k)) {
            ("dtype", _) => {
                let bf16 = v == "\"bf16\"" || (v == "\"auto\"" && on_cuda);
                ("bf16".to_string(), bf16.to_string())
            }
            (_, Some(r)) => (r.new.to_string(), v.clone()),
            (_, None) => (k.clone(), v.clone()),
        })
        .filter(|(k, _)| !NOT_SETTINGS.iter().any(|p| key_matches(k, p)))
        .collect();
    Some(renamed)
}
