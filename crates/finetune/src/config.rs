//! The fine-tuning configuration (`configs/finetune/*.toml`). Where transformers'
//! `TrainingArguments` has a counterpart the key has its name, so an HF script translates line
//! by line; unknown keys are refused and `--set` overrides are typed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use training::ranges::Invalid;

use crate::data::Fields;

/// The task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// One label per text or text pair.
    Classification,
    /// One tag per word (NER, POS).
    TokenClassification,
    /// An answer span in a context (SQuAD).
    QuestionAnswering,
}

/// Attention of the fine-tuned encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attention {
    /// BERT's: every token sees every token.
    Bidirectional,
    /// As the causal pretraining objective: each token sees the ones before it.
    Causal,
}

/// Settings that a resumed run may change, as Trainer lets them change between runs: the
/// learning-rate schedule, the length of the run, and how often it logs and checkpoints (each
/// change is logged). What decides which weights `best/` holds (evaluation data, cadence and
/// metric) may not.
pub const RESUMABLE: &[&str] = &[
    "learning_rate",
    "warmup_steps",
    "lr_scheduler_type",
    "num_train_epochs",
    "max_steps",
    "early_stopping_patience",
    "logging_steps",
    "save_steps",
    "save_total_limit",
];

/// Keys that say where and how a run is placed, not what it trains.
const NOT_SETTINGS: &[&str] = &["output_dir", "device", "overwrite_output_dir", "report_to"];

/// Everything `finetune` reads from its TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneConfig {
    /// The task.
    pub task: Task,
    /// A model directory to start from (ours or Hugging Face's); "" = from scratch with
    /// `scratch_tokenizer` and the shape of the tiny pretraining preset (2 layers × 128).
    pub model_name_or_path: String,
    /// For from-scratch runs: the tokenizer.json to use.
    pub scratch_tokenizer: String,
    /// Run directory.
    pub output_dir: PathBuf,
    /// Training data.
    pub train_file: PathBuf,
    /// Evaluation data (rows may carry `lang`).
    pub validation_file: PathBuf,
    /// More evaluation data, one file per language (`{ de = "de.jsonl", ... }`): every row of a
    /// file counts for its language, as in XTREME's zero-shot transfer.
    pub validation_files: BTreeMap<String, PathBuf>,
    /// Field and column names (JSONL keys, CSV/TSV and Parquet columns).
    pub fields: Fields,
    /// Longest input in tokens (longer ones are truncated and counted; QA contexts are windowed).
    pub max_seq_length: usize,
    /// Token classification: also train continuation sub-tokens on the word's tag (`B-` becomes
    /// `I-`); scores stay per word.
    pub label_all_tokens: bool,
    /// QA: context tokens shared by consecutive windows of a long context.
    pub doc_stride: usize,
    /// QA: longest answer in tokens.
    pub max_answer_length: usize,
    /// QA: start and end candidates considered per window.
    pub n_best_size: usize,
    /// QA: SQuAD v2, where "no answer" is an answer.
    pub version_2_with_negative: bool,
    /// QA v2: how much the no-answer score must beat the best span's.
    pub null_score_diff_threshold: f64,
    /// Encoder attention.
    pub attention: Attention,
    /// Pooled state for the classifier: `cls`, `mean` or `last`.
    pub pooling: model::Pooling,
    /// Epochs (when `max_steps` is 0).
    pub num_train_epochs: f64,
    /// Optimizer steps; > 0 overrides `num_train_epochs`.
    pub max_steps: u64,
    /// Examples per micro-batch.
    pub per_device_train_batch_size: usize,
    /// Examples per evaluation batch.
    pub per_device_eval_batch_size: usize,
    /// Micro-batches per optimizer step.
    pub gradient_accumulation_steps: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
    /// `linear` (to 0), `cosine` or `constant`.
    pub lr_scheduler_type: training::Decay,
    /// Decoupled weight decay (not on biases and LayerNorm).
    pub weight_decay: f64,
    /// AdamW β1.
    pub adam_beta1: f64,
    /// AdamW β2.
    pub adam_beta2: f64,
    /// AdamW ε.
    pub adam_epsilon: f64,
    /// Gradient clipping (0 = off).
    pub max_grad_norm: f64,
    /// Seed of initialisation, shuffling and dropout.
    pub seed: u64,
    /// Evaluate every this many steps (0 = every epoch).
    pub eval_steps: u64,
    /// Metric that picks the best checkpoint: `accuracy`, `macro_f1`, `f1` (entity F1 for BIO
    /// tags, SQuAD F1 for QA), `exact_match` (QA) or `loss`; "" = the task's usual one.
    pub metric_for_best_model: String,
    /// Stop after this many evaluations without improvement (0 = never).
    pub early_stopping_patience: usize,
    /// Log every this many steps.
    pub logging_steps: u64,
    /// Write a checkpoint (`checkpoints/step-NNNNNNN/`: weights, optimizer moments, trainer
    /// state) every this many steps, to continue from with `--resume`; SIGINT/SIGTERM write
    /// one too (0 = only that one, besides `best/` and `final/`).
    pub save_steps: u64,
    /// Keep only the newest this many checkpoints (0 = all).
    pub save_total_limit: usize,
    /// Where the metrics go besides `metrics.jsonl`: `["tensorboard"]` or none.
    pub report_to: Vec<training::ReportTo>,
    /// `cpu`, `cuda`, `cuda:N` or `auto`.
    pub device: String,
    /// Matmuls in bf16 with f32 parameters (transformers' `bf16`); for GPUs.
    pub bf16: bool,
    /// Start over in an `output_dir` that holds an earlier run (its metrics, scores,
    /// checkpoints and plots are deleted); otherwise such a directory is refused.
    pub overwrite_output_dir: bool,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            task: Task::Classification,
            model_name_or_path: String::new(),
            scratch_tokenizer: String::new(),
            output_dir: "runs/finetune".into(),
            train_file: PathBuf::new(),
            validation_file: PathBuf::new(),
            validation_files: BTreeMap::new(),
            fields: Fields::default(),
            max_seq_length: 128,
            label_all_tokens: false,
            doc_stride: 128,
            max_answer_length: 30,
            n_best_size: 20,
            version_2_with_negative: false,
            null_score_diff_threshold: 0.0,
            attention: Attention::Bidirectional,
            pooling: model::Pooling::Cls,
            num_train_epochs: 3.0,
            max_steps: 0,
            per_device_train_batch_size: 16,
            per_device_eval_batch_size: 64,
            gradient_accumulation_steps: 1,
            learning_rate: 5e-5,
            warmup_steps: 0,
            lr_scheduler_type: training::Decay::Linear,
            weight_decay: 0.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            max_grad_norm: 1.0,
            seed: 42,
            eval_steps: 0,
            metric_for_best_model: String::new(),
            early_stopping_patience: 0,
            logging_steps: 10,
            save_steps: 0,
            save_total_limit: 0,
            report_to: Vec::new(),
            device: "auto".into(),
            bf16: false,
            overwrite_output_dir: false,
        }
    }
}

impl FinetuneConfig {
    /// Reads `path` and applies `--set` overrides.
    pub fn load(path: &Path, overrides: &[String]) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let c: FinetuneConfig =
            training::overrides::load_with_overrides(&text, &path.display().to_string(), overrides)?;
        let file = path.display().to_string();
        c.validate().map_err(|e| anyhow::anyhow!("{}", training::ranges::explain(&e, &text, &file, overrides)))?;
        Ok(c)
    }

    /// The QA decoding settings.
    pub fn decoding(&self) -> crate::extractive_qa::Decoding {
        crate::extractive_qa::Decoding {
            n_best_size: self.n_best_size,
            max_answer_length: self.max_answer_length,
            version_2_with_negative: self.version_2_with_negative,
            null_score_diff_threshold: self.null_score_diff_threshold,
        }
    }

    /// The evaluation files: `validation_file` (rows carry their language, if any), then one
    /// per language from `validation_files`.
    pub fn evaluation_files(&self) -> Vec<(PathBuf, Option<String>)> {
        let own = (!self.validation_file.as_os_str().is_empty()).then(|| (self.validation_file.clone(), None));
        own.into_iter().chain(self.validation_files.iter().map(|(l, p)| (p.clone(), Some(l.clone())))).collect()
    }

    /// Every setting by dotted key, as a resumed run compares them: data files by the SHA-256
    /// of their content (not their path); the output directory, device and overwrite flag left
    /// out.
    pub fn resume_settings(&self) -> anyhow::Result<training::ResumeSettings> {
        let mut values = training::overrides::flatten(self);
        values.retain(|k, _| !NOT_SETTINGS.iter().any(|p| training::resume::key_matches(k, p)));
        let mut data: Vec<(String, &Path)> =
            vec![("train_file".into(), &self.train_file), ("validation_file".into(), &self.validation_file)];
        data.extend(self.validation_files.iter().map(|(lang, p)| (format!("validation_files.{lang}"), p.as_path())));
        for (key, path) in data.into_iter().filter(|(_, p)| !p.as_os_str().is_empty()) {
            let digest = model::checksums::hash_file(path).with_context(|| format!("{key} = {}", path.display()))?;
            values.insert(key, format!("sha256:{digest}"));
        }
        Ok(training::ResumeSettings { values, resumable: RESUMABLE })
    }

    /// Checks what the types do not, with the rules of docs/configs.md; the error names the key.
    pub fn validate(&self) -> Result<(), Invalid> {
        use training::ranges::{at_least, finite, fraction, non_negative, positive};
        let metrics: &[&str] = match self.task {
            Task::Classification => &["", "accuracy", "macro_f1", "loss"],
            Task::TokenClassification => &["", "accuracy", "macro_f1", "f1", "loss"],
            Task::QuestionAnswering => &["", "exact_match", "f1", "loss"],
        };
        if !metrics.contains(&self.metric_for_best_model.as_str()) {
            return Err(Invalid::new(
                "metric_for_best_model",
                format!(
                    "metric_for_best_model = {:?}: for this task expected one of {:?}",
                    self.metric_for_best_model,
                    &metrics[1..]
                ),
            ));
        }
        if self.task == Task::QuestionAnswering && self.doc_stride * 2 >= self.max_seq_length {
            return Err(Invalid::new(
                "doc_stride",
                format!(
                    "doc_stride = {} must be under half of max_seq_length = {} (windows overlap by doc_stride)",
                    self.doc_stride, self.max_seq_length
                ),
            ));
        }
        at_least("per_device_train_batch_size", self.per_device_train_batch_size, 1)?;
        at_least("per_device_eval_batch_size", self.per_device_eval_batch_size, 1)?;
        at_least("gradient_accumulation_steps", self.gradient_accumulation_steps, 1)?;
        at_least("max_seq_length", self.max_seq_length, 4)?;
        at_least("max_answer_length", self.max_answer_length, 1)?;
        at_least("n_best_size", self.n_best_size, 1)?;
        if self.model_name_or_path.is_empty() && self.scratch_tokenizer.is_empty() {
            return Err(Invalid::new(
                "model_name_or_path",
                "give model_name_or_path (a model directory) or scratch_tokenizer (a tokenizer.json)",
            ));
        }
        if self.max_steps == 0 {
            positive("num_train_epochs", self.num_train_epochs)?;
        }
        positive("learning_rate", self.learning_rate)?;
        fraction("adam_beta1", self.adam_beta1)?;
        fraction("adam_beta2", self.adam_beta2)?;
        positive("adam_epsilon", self.adam_epsilon)?;
        non_negative("weight_decay", self.weight_decay)?;
        non_negative("max_grad_norm", self.max_grad_norm)?;
        finite("null_score_diff_threshold", self.null_score_diff_threshold)?;
        if self.task == Task::Classification
            && self.attention == Attention::Causal
            && self.pooling == model::Pooling::Cls
        {
            // Under causal attention [CLS] sees only itself: the classifier would be blind.
            return Err(Invalid::new(
                "pooling",
                "pooling = \"cls\" with attention = \"causal\": the first token sees only itself, so the classifier \
                 sees nothing of the input; use pooling = \"last\" (the only token that has seen the whole input) \
                 or \"mean\"",
            ));
        }
        Ok(())
    }
}
