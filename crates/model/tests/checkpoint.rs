//! Loading and saving model directories: refusals and corruptions give clear errors naming the
//! file or tensor; sharded checkpoints, seeds, masks, bf16 compute and gradients behave.

mod common;
use common::tiny;
use std::path::Path;

use model::{AttentionMask, BertConfig, BertForLM, BertForSequenceClassification, BertModel, Inputs, ModelDir};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// A saved sequence classifier and its logits on fixed inputs.
fn saved_classifier(dir: &Path) -> (Tensor, Tensor) {
    tch::manual_seed(11);
    let mut c = tiny();
    c.set_labels(&["a".into(), "b".into()]);
    let vs = VarStore::new(Device::Cpu);
    let m = BertForSequenceClassification::new(&vs.root(), &c, 2);
    let ids = Tensor::randint_low(1, 100, [3, 10], (Kind::Int64, Device::Cpu));
    let logits = m.forward_t(Inputs::ids(&ids), AttentionMask::Bidirectional, false).unwrap();
    model::model_dir::save(dir, &c, &vs, None).unwrap();
    (ids, logits)
}

fn load_classifier(dir: &Path, ids: &Tensor) -> model::Result<Tensor> {
    let d = ModelDir::open(dir)?;
    let vs = VarStore::new(Device::Cpu);
    let m = BertForSequenceClassification::new(&vs.root(), &d.config, 2);
    let report = d.load_weights(&vs, false)?;
    assert!(report.missing.is_empty() && report.unexpected.is_empty(), "{report}");
    m.forward_t(Inputs::ids(ids), AttentionMask::Bidirectional, false)
}

#[test]
fn pickle_weights_are_refused_and_missing_pieces_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    std::fs::create_dir_all(&dir).unwrap();
    let err = ModelDir::open(&dir).unwrap_err().to_string();
    assert!(err.contains("no config.json"), "{err}");
    tiny().to_file(&dir.join("config.json")).unwrap();
    std::fs::write(dir.join("pytorch_model.bin"), b"PK\x03\x04 pickle").unwrap();
    let err = ModelDir::open(&dir).unwrap_err().to_string();
    assert!(err.contains("pickle") && err.contains("refused") && err.contains("safe_serialization"), "{err}");
    std::fs::remove_file(dir.join("pytorch_model.bin")).unwrap();
    let err = ModelDir::open(&dir).unwrap_err().to_string();
    assert!(err.contains("no model.safetensors"), "{err}");
    let err = ModelDir::open(&tmp.path().join("nope")).unwrap_err().to_string();
    assert!(err.contains("not a directory"), "{err}");
    std::fs::write(dir.join("config.json"), br#"{"hidden_size": 30, "num_attention_heads": 4}"#).unwrap();
    let err = ModelDir::open(&dir).unwrap_err().to_string();
    assert!(err.contains("config.json") && err.contains("num_attention_heads"), "{err}");
}

#[test]
fn corrupted_or_mismatched_weights_are_errors_naming_file_and_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    let (ids, logits) = saved_classifier(&dir);
    assert!(load_classifier(&dir, &ids).unwrap().allclose(&logits, 1e-6, 1e-6, false));

    let weights = dir.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    // A flipped byte in the tensor data: caught by the hash recorded when it was written.
    let mut flipped = bytes.clone();
    let at = bytes.len() - 10;
    flipped[at] ^= 1;
    std::fs::write(&weights, &flipped).unwrap();
    let err = load_classifier(&dir, &ids).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("differs from its SHA-256"), "{err}");

    // Without recorded hashes (a directory from elsewhere) the loader's own checks remain.
    std::fs::remove_file(dir.join(model::checksums::CHECKSUMS_FILE)).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 100]).unwrap();
    let err = load_classifier(&dir, &ids).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("truncated or corrupted"), "{err}");

    let mut garbage = u64::MAX.to_le_bytes().to_vec();
    garbage.extend_from_slice(b"{}");
    std::fs::write(&weights, garbage).unwrap();
    let err = load_classifier(&dir, &ids).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("not a valid safetensors file"), "{err}");

    std::fs::write(&weights, &bytes).unwrap();
    let mut bigger = ModelDir::open(&dir).unwrap().config;
    bigger.intermediate_size = 48;
    bigger.to_file(&dir.join("config.json")).unwrap();
    let err = load_classifier(&dir, &ids).unwrap_err().to_string();
    assert!(err.contains("intermediate.dense") && err.contains("[40") && err.contains("[48"), "{err}");
}

#[test]
fn sharded_checkpoints_load_like_single_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    let (ids, logits) = saved_classifier(&dir);
    let tensors = Tensor::read_safetensors(dir.join("model.safetensors")).unwrap();
    let (a, b) = tensors.split_at(tensors.len() / 2);
    Tensor::write_safetensors(a, dir.join("model-00001-of-00002.safetensors")).unwrap();
    Tensor::write_safetensors(b, dir.join("model-00002-of-00002.safetensors")).unwrap();
    let map: serde_json::Map<String, serde_json::Value> = a
        .iter()
        .map(|(n, _)| (n.clone(), "model-00001-of-00002.safetensors".into()))
        .chain(b.iter().map(|(n, _)| (n.clone(), "model-00002-of-00002.safetensors".into())))
        .collect();
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    // Re-sharded by hand: the recorded hashes are of the single file.
    std::fs::remove_file(dir.join(model::checksums::CHECKSUMS_FILE)).unwrap();
    assert_eq!(ModelDir::open(&dir).unwrap().weights.len(), 2);
    assert!(load_classifier(&dir, &ids).unwrap().allclose(&logits, 1e-6, 1e-6, false));
}

#[test]
fn head_checkpoints_load_into_a_bare_encoder_with_the_head_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    let _ = saved_classifier(&dir);
    let d = ModelDir::open(&dir).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let _ = BertModel::new(vs.root(), &d.config, true);
    let report = d.load_weights(&vs, true).unwrap();
    assert!(report.checkpoint_prefixed && report.missing.is_empty());
    assert_eq!(report.unexpected, ["classifier.bias", "classifier.weight"]);
}

#[test]
fn a_causal_window_bounds_what_each_position_sees() {
    // With L layers of attention over the previous k tokens, position i depends on tokens
    // i − L(k − 1) .. i: changing token 0 leaves every later position unchanged.
    let k = 3;
    let c = BertConfig { num_hidden_layers: 2, ..tiny() };
    tch::manual_seed(1);
    let vs = VarStore::new(Device::Cpu);
    let m = BertForLM::new(&vs.root(), &c);
    let a = Tensor::randint_low(5, 100, [1, 12], (Kind::Int64, Device::Cpu));
    let b = a.copy();
    let _ = b.get(0).get(0).fill_(4);
    let run = |ids: &Tensor| m.forward_t(Inputs::ids(ids), AttentionMask::CausalWindow(k), false).unwrap();
    let (ya, yb) = (run(&a), run(&b));
    let reach = 2 * (k - 1);
    for i in 0..12 {
        let same = ya.get(0).get(i).allclose(&yb.get(0).get(i), 1e-6, 1e-6, false);
        assert_eq!(same, i > reach, "position {i}");
    }
    // Causal: no position sees the future.
    let c2 = b.copy();
    let _ = c2.get(0).get(11).fill_(7);
    let yc = run(&c2);
    assert!(yb.narrow(1, 0, 11).allclose(&yc.narrow(1, 0, 11), 1e-6, 1e-6, false));
}

#[test]
fn bf16_compute_keeps_f32_parameters_and_close_outputs() {
    tch::manual_seed(2);
    let vs = VarStore::new(Device::Cpu);
    let mut m = BertForLM::new(&vs.root(), &tiny());
    let ids = Tensor::randint_low(5, 100, [2, 16], (Kind::Int64, Device::Cpu));
    let f32_logits = m.forward_t(Inputs::ids(&ids), AttentionMask::Causal, false).unwrap();
    m.bert.compute_kind = Kind::BFloat16;
    let bf16_logits = m.forward_t(Inputs::ids(&ids), AttentionMask::Causal, false).unwrap();
    assert_eq!(bf16_logits.kind(), Kind::BFloat16);
    let train_logits = m.forward_t(Inputs::ids(&ids), AttentionMask::Causal, true).unwrap();
    let loss = train_logits.to_kind(Kind::Float).view([-1, 100]).cross_entropy_for_logits(&ids.view([-1]));
    loss.backward();
    for (name, var) in vs.variables() {
        assert_eq!(var.kind(), Kind::Float, "{name}");
        assert!(var.grad().defined(), "{name} got no gradient");
    }
    m.bert.compute_kind = Kind::Float;
    let again = m.forward_t(Inputs::ids(&ids), AttentionMask::Causal, false).unwrap();
    assert!(again.allclose(&f32_logits, 1e-6, 1e-6, false));
    let rel = (bf16_logits.to_kind(Kind::Float) - &f32_logits).abs().max().double_value(&[])
        / f32_logits.abs().max().double_value(&[]);
    assert!(rel < 0.05, "bf16 relative error {rel}");
}

#[test]
fn inputs_that_do_not_fit_are_errors() {
    let vs = VarStore::new(Device::Cpu);
    let m = BertModel::new(vs.root(), &tiny(), false);
    let long = Tensor::zeros([1, 65], (Kind::Int64, Device::Cpu));
    let err = m.forward_t(Inputs::ids(&long), AttentionMask::Bidirectional, false).unwrap_err().to_string();
    assert!(err.contains("max_position_embeddings = 64"), "{err}");
    let ids = Tensor::zeros([2, 5], (Kind::Int64, Device::Cpu));
    let mask = Tensor::ones([2, 4], (Kind::Int64, Device::Cpu));
    let inputs = Inputs { input_ids: &ids, attention_mask: Some(&mask), token_type_ids: None };
    let err = m.forward_t(inputs, AttentionMask::Bidirectional, false).unwrap_err().to_string();
    assert!(err.contains("attention_mask"), "{err}");
}

#[test]
fn a_tokenizer_larger_than_the_vocabulary_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    let _ = saved_classifier(&dir);
    // tiny() has 100 ids; a vocab.txt of 150 tokens belongs to another model.
    let _ = std::fs::remove_file(dir.join("tokenizer.json"));
    let vocab: String = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|t| t.to_string())
        .chain((0..145).map(|i| format!("w{i}")))
        .map(|t| t + "\n")
        .collect();
    std::fs::write(dir.join("vocab.txt"), vocab).unwrap();
    let err = ModelDir::open(&dir).unwrap().tokenizer().unwrap_err().to_string();
    assert!(err.contains("vocab.txt has 150 tokens but config.json has vocab_size = 100"), "{err}");
}
