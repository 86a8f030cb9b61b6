//! The fine-tuned model of a task: a BERT encoder with the head transformers names after the
//! task, what its checkpoint records about how it was trained (labels, attention, pooling), and
//! its scores flattened to one row per target so that one cross-entropy serves every task.

use std::path::Path;

use anyhow::{bail, Context};
use model::{
    AttentionMask, BertConfig, BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification,
    Inputs, ModelDir, Pooling,
};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tokenizers::Tokenizer;

use crate::config::{Attention, Task};

/// The model of one task.
pub(crate) enum TaskModel {
    Sequence(BertForSequenceClassification),
    Token(BertForTokenClassification),
    Span(BertForQuestionAnswering),
}

impl TaskModel {
    /// A new model under `vs` (head freshly initialised; load weights afterwards).
    pub(crate) fn new(vs: &VarStore, task: Task, c: &BertConfig, n_labels: i64, pooling: Pooling) -> Self {
        match task {
            Task::Classification => {
                let mut m = BertForSequenceClassification::new(&vs.root(), c, n_labels);
                m.pooling = pooling;
                TaskModel::Sequence(m)
            }
            Task::TokenClassification => TaskModel::Token(BertForTokenClassification::new(&vs.root(), c, n_labels)),
            Task::QuestionAnswering => TaskModel::Span(BertForQuestionAnswering::new(&vs.root(), c)),
        }
    }

    /// Runs the encoder's matmuls in `kind` (bf16 on GPU), parameters staying f32.
    pub(crate) fn set_compute_kind(&mut self, kind: Kind) {
        match self {
            TaskModel::Sequence(m) => m.bert.compute_kind = kind,
            TaskModel::Token(m) => m.bert.compute_kind = kind,
            TaskModel::Span(m) => m.bert.compute_kind = kind,
        }
    }

    /// Scores with one row per target: [B, labels] (sequence), [B·T, labels] (token), or
    /// [B·2, T] (span: the start row, then the end row of each example, over positions).
    pub(crate) fn flat_scores(&self, inputs: Inputs, mask: AttentionMask, train: bool) -> model::Result<Tensor> {
        let scores = match self {
            TaskModel::Sequence(m) => m.forward_t(inputs, mask, train)?,
            TaskModel::Token(m) => m.forward_t(inputs, mask, train)?,
            TaskModel::Span(m) => {
                let (start, end) = m.forward_t(inputs, mask, train)?;
                Tensor::stack(&[start, end], 1)
            }
        };
        let width = scores.size()[scores.dim() - 1];
        Ok(scores.to_kind(Kind::Float).reshape([-1, width]))
    }
}

/// The transformers architecture name of a task.
pub(crate) fn architecture(task: Task) -> &'static str {
    match task {
        Task::Classification => "BertForSequenceClassification",
        Task::TokenClassification => "BertForTokenClassification",
        Task::QuestionAnswering => "BertForQuestionAnswering",
    }
}

/// The attention mask of an attention setting.
pub(crate) fn mask_of(attention: Attention) -> AttentionMask {
    match attention {
        Attention::Causal => AttentionMask::Causal,
        Attention::Bidirectional => AttentionMask::Bidirectional,
    }
}

/// Records how the head was trained, for `eval` and `predict` (transformers ignores unknown
/// config fields and keeps them).
pub(crate) fn record_training(
    c: &mut BertConfig,
    attention: Attention,
    pooling: Pooling,
    max_seq_length: usize,
) -> anyhow::Result<()> {
    c.extra.insert("finetune_attention".into(), serde_json::to_value(attention)?);
    c.extra.insert("finetune_pooling".into(), serde_json::to_value(pooling)?);
    c.extra.insert("finetune_max_seq_length".into(), serde_json::to_value(max_seq_length)?);
    Ok(())
}

impl Finetuned {
    /// Where inputs are cut: the length it was fine-tuned with (else `fallback`), within its
    /// positions.
    pub(crate) fn input_length(&self, fallback: usize) -> usize {
        self.max_seq_length.unwrap_or(fallback).min(self.config.max_position_embeddings as usize)
    }
}

/// A fine-tuned checkpoint, loaded.
pub(crate) struct Finetuned {
    pub(crate) model: TaskModel,
    pub(crate) task: Task,
    pub(crate) tokenizer: Tokenizer,
    /// Label names in id order (empty for QA).
    pub(crate) labels: Vec<String>,
    pub(crate) mask: AttentionMask,
    pub(crate) pad: i64,
    pub(crate) config: BertConfig,
    /// The input length it was fine-tuned with (`eval` and `predict` cut inputs there too).
    pub(crate) max_seq_length: Option<usize>,
    /// Keeps the weights alive.
    _vs: VarStore,
}

/// Opens a checkpoint written by `finetune` (or any transformers `BertFor{Sequence,Token}
/// Classification` / `BertForQuestionAnswering` directory).
pub(crate) fn load_finetuned(checkpoint: &Path, device: Device) -> anyhow::Result<Finetuned> {
    let dir = ModelDir::open(checkpoint)?;
    let c = dir.config.clone();
    let arch = c.architectures.as_ref().and_then(|a| a.first()).map(String::as_str).unwrap_or("");
    let task = match arch {
        "BertForSequenceClassification" => Task::Classification,
        "BertForTokenClassification" => Task::TokenClassification,
        "BertForQuestionAnswering" => Task::QuestionAnswering,
        other => bail!(
            "{}: architectures = {other:?}; expected a fine-tuned BertForSequenceClassification, \
             BertForTokenClassification or BertForQuestionAnswering",
            checkpoint.display()
        ),
    };
    let labels = match task {
        Task::QuestionAnswering => Vec::new(),
        _ => c.labels().with_context(|| format!("{}: config.json has no id2label", checkpoint.display()))?,
    };
    let recorded = |key: &str| c.extra.get(key).cloned();
    let attention: Attention =
        recorded("finetune_attention").map(serde_json::from_value).transpose()?.unwrap_or(Attention::Bidirectional);
    let pooling: Pooling =
        recorded("finetune_pooling").map(serde_json::from_value).transpose()?.unwrap_or(Pooling::Cls);
    let max_seq_length: Option<usize> = recorded("finetune_max_seq_length").map(serde_json::from_value).transpose()?;
    let vs = VarStore::new(device);
    let model = TaskModel::new(&vs, task, &c, labels.len() as i64, pooling);
    let report = dir.load_weights(&vs, false)?;
    if !report.missing.is_empty() {
        bail!("{}: {report}", checkpoint.display());
    }
    let tokenizer = dir.tokenizer()?;
    let pad = tokenizer.token_to_id("[PAD]").map_or(c.pad_token_id, i64::from);
    Ok(Finetuned { model, task, tokenizer, labels, mask: mask_of(attention), pad, config: c, max_seq_length, _vs: vs })
}
