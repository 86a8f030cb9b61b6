//! The pretraining configuration (`configs/pretrain/*.toml`): every key has a default, unknown
//! keys are refused, and `--set section.key=value` overrides are typed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use training::ranges::Invalid;

/// The training objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// L_pre: each token predicted from at most its k previous tokens.
    Causal,
    /// BERT/XLM-R masked LM: 15% of tokens, 80% [MASK] / 10% random / 10% kept.
    Mlm,
}

/// Settings that a resumed run may change, as Trainer lets them change between runs: the
/// learning-rate schedule, the length of the run, and how often it evaluates, logs and
/// checkpoints (each change is logged). A key ending in `.` stands for its whole section.
pub const RESUMABLE: &[&str] = &[
    "optim.lr",
    "optim.min_lr",
    "optim.warmup_steps",
    "optim.decay",
    "optim.max_steps",
    "eval.",
    "log.",
    "checkpoint.",
];

/// Keys that say where and how a run is placed, not what it trains.
const NOT_SETTINGS: &[&str] = &["name", "out_dir", "device", "data.verify", "distributed."];

fn key_matches(key: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('.') {
        Some(section) => key.strip_prefix(section).is_some_and(|rest| rest.starts_with('.')),
        None => key == pattern,
    }
}

/// True for the keys of [`RESUMABLE`].
pub fn may_change_on_resume(key: &str) -> bool {
    RESUMABLE.iter().any(|p| key_matches(key, p))
}

/// Everything `pretrain` reads from its TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PretrainConfig {
    /// Run name: the run directory is `<out_dir>/<name>`.
    pub name: String,
    /// Corpus directory from `corpus build`.
    pub corpus: PathBuf,
    /// Where run directories go.
    pub out_dir: PathBuf,
    /// A model directory to continue from ("" = from scratch).
    pub init: String,
    /// Seed of initialisation, data draws, masks and dropout.
    pub seed: u64,
    /// `cpu`, `cuda`, `cuda:N` or `auto`.
    pub device: String,
    /// `f32`, `bf16` (matmuls in bf16, parameters f32), or `auto` (bf16 on CUDA, f32 on CPU).
    pub dtype: String,
    /// Model shape when training from scratch (the vocabulary comes from the corpus).
    pub model: ModelSection,
    /// Objective and context.
    pub objective: ObjectiveSection,
    /// Data sampling.
    pub data: DataSection,
    /// Optimisation.
    pub optim: OptimSection,
    /// Evaluation.
    pub eval: EvalSection,
    /// Checkpoints.
    pub checkpoint: CheckpointSection,
    /// Logging.
    pub log: LogSection,
    /// Data parallelism (several processes, one per GPU; see docs/distributed.md).
    pub distributed: DistributedSection,
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

/// Optimisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimSection {
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate.
    pub min_lr: f64,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
    /// `cosine`, `linear` or `constant`.
    pub decay: training::Decay,
    /// AdamW β1.
    pub beta1: f64,
    /// AdamW β2.
    pub beta2: f64,
    /// AdamW ε.
    pub eps: f64,
    /// Decoupled weight decay (not on biases and LayerNorm).
    pub weight_decay: f64,
    /// Gradient-norm clipping (0 = off).
    pub grad_clip: f64,
    /// Rows per micro-batch.
    pub batch_size: i64,
    /// Micro-batches per optimizer step.
    pub grad_accum: u32,
    /// Optimizer steps.
    pub max_steps: u64,
}

/// Evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// Evaluate every this many steps (0 = only at the end).
    pub every: u64,
    /// At most this many windows per language (0 = the whole validation stream).
    pub max_windows: usize,
    /// Rows per evaluation batch.
    pub batch_size: i64,
}

/// Checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointSection {
    /// Write one every this many steps (0 = only at the end).
    pub every: u64,
    /// Keep the newest this many.
    pub keep_last: usize,
    /// Also keep this many with the lowest validation loss.
    pub keep_best: usize,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// Write a metrics row every this many steps.
    pub every: u64,
    /// Peak dense TFLOP/s of one device in the compute dtype (H100/H200 bf16: 989); when set,
    /// rows carry the model FLOPs utilisation `mfu`. 0 = not logged.
    pub peak_tflops: f64,
}

/// Data parallelism. The world (rank, size, rendezvous) comes from the launcher's environment:
/// torchrun, SLURM or `scripts/launch.sh`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistributedSection {
    /// `auto` (NCCL on CUDA, Gloo on CPU), `nccl` or `gloo`.
    pub backend: String,
    /// Seconds a rank waits for the others (rendezvous and every collective) before it gives up
    /// with an error; longer than the slowest evaluation or checkpoint, which rank 0 does alone.
    pub timeout_s: u64,
    /// Gradients are all-reduced in flat buckets of at most this many MiB (DDP: 25).
    pub bucket_mb: usize,
}

impl Default for DistributedSection {
    fn default() -> Self {
        DistributedSection { backend: "auto".into(), timeout_s: 1800, bucket_mb: 25 }
    }
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig {
            name: "pretrain".into(),
            corpus: "corpora/sample".into(),
            out_dir: "runs".into(),
            init: String::new(),
            seed: 42,
            device: "auto".into(),
            dtype: "auto".into(),
            model: ModelSection::default(),
            objective: ObjectiveSection::default(),
            data: DataSection::default(),
            optim: OptimSection::default(),
            eval: EvalSection::default(),
            checkpoint: CheckpointSection::default(),
            log: LogSection::default(),
            distributed: DistributedSection::default(),
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

impl Default for OptimSection {
    fn default() -> Self {
        OptimSection {
            lr: 1e-3,
            min_lr: 1e-4,
            warmup_steps: 100,
            decay: training::Decay::Cosine,
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-6,
            weight_decay: 0.01,
            grad_clip: 1.0,
            batch_size: 32,
            grad_accum: 1,
            max_steps: 1000,
        }
    }
}

impl Default for EvalSection {
    fn default() -> Self {
        EvalSection { every: 200, max_windows: 64, batch_size: 32 }
    }
}

impl Default for CheckpointSection {
    fn default() -> Self {
        CheckpointSection { every: 200, keep_last: 2, keep_best: 1 }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection { every: 10, peak_tflops: 0.0 }
    }
}

impl PretrainConfig {
    /// Reads `path` and applies `overrides` (`section.key=value`).
    pub fn load(path: &Path, overrides: &[String]) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let config: PretrainConfig =
            training::overrides::load_with_overrides(&text, &path.display().to_string(), overrides)?;
        let file = path.display().to_string();
        config.validate().map_err(|e| anyhow::anyhow!("{}", training::ranges::explain(&e, &text, &file, overrides)))?;
        if config.optim.warmup_steps > config.optim.max_steps {
            tracing::warn!(
                "optim.warmup_steps = {} exceeds optim.max_steps = {}: the learning rate never reaches optim.lr",
                config.optim.warmup_steps,
                config.optim.max_steps
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
        if !["auto", "nccl", "gloo"].contains(&self.distributed.backend.as_str()) {
            return Err(Invalid::new(
                "distributed.backend",
                format!(
                    "distributed.backend = {:?}: expected \"auto\", \"nccl\" or \"gloo\"",
                    self.distributed.backend
                ),
            ));
        }
        if !["auto", "f32", "bf16"].contains(&self.dtype.as_str()) {
            return Err(Invalid::new(
                "dtype",
                format!("dtype = {:?}: expected \"auto\", \"f32\" or \"bf16\"", self.dtype),
            ));
        }
        if self.name.is_empty() || self.name.contains('/') {
            return Err(Invalid::new("name", format!("name = {:?}: must be a non-empty directory name", self.name)));
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
        let p = &self.optim;
        positive("optim.lr", p.lr)?;
        non_negative("optim.min_lr", p.min_lr)?;
        if p.min_lr > p.lr {
            return Err(Invalid::new(
                "optim.min_lr",
                format!(
                    "optim.min_lr = {} is above optim.lr = {}: the schedule decays from lr to min_lr",
                    p.min_lr, p.lr
                ),
            ));
        }
        fraction("optim.beta1", p.beta1)?;
        fraction("optim.beta2", p.beta2)?;
        positive("optim.eps", p.eps)?;
        non_negative("optim.weight_decay", p.weight_decay)?;
        non_negative("optim.grad_clip", p.grad_clip)?;
        at_least("optim.batch_size", p.batch_size, 1)?;
        at_least("optim.grad_accum", p.grad_accum, 1)?;
        at_least("optim.max_steps", p.max_steps, 1)?;
        at_least("eval.batch_size", self.eval.batch_size, 1)?;
        non_negative("log.peak_tflops", self.log.peak_tflops)?;
        Ok(())
    }

    /// Every setting by dotted key, as a resumed run compares them: the corpus by its
    /// fingerprint (not its path) and the number of ranks (it sets the global batch, hence the
    /// data of every step) included; the run's name and place, device and launcher settings left
    /// out.
    pub fn resume_settings(&self, corpus_fingerprint: &str, world_size: usize) -> BTreeMap<String, String> {
        let mut c = self.clone();
        c.corpus = PathBuf::from(corpus_fingerprint);
        let mut settings = training::overrides::flatten(&c);
        settings.retain(|k, _| !NOT_SETTINGS.iter().any(|p| key_matches(k, p)));
        settings.insert("world_size".into(), world_size.to_string());
        settings
    }

    /// SHA-256 of what a resumed run must share with the run that wrote the checkpoint: every
    /// setting of [`Self::resume_settings`] except those in [`RESUMABLE`].
    pub fn resume_hash(&self, corpus_fingerprint: &str, world_size: usize) -> String {
        let text: String = self
            .resume_settings(corpus_fingerprint, world_size)
            .into_iter()
            .filter(|(k, _)| !may_change_on_resume(k))
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect();
        Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}
