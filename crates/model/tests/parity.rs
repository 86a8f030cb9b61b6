//! Parity with Python transformers (the reference): tiny random BERTs of every head, the real
//! all-MiniLM-L6-v2 checkpoint (hidden states and tokenization), and checkpoints we save loading
//! in transformers with identical outputs. The Python side runs from the project's .venv; if it
//! is missing the tests fail and say how to create it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use model::{
    AttentionMask, BertConfig, BertForLM, BertForQuestionAnswering, BertForSequenceClassification,
    BertForTokenClassification, BertModel, Inputs, ModelDir,
};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

const TOLERANCE: f64 = 1e-4;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn python() -> PathBuf {
    let python = root().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run ./scripts/setup.sh (it installs transformers)", python.display());
    python
}

fn run_python(args: &[&str]) {
    let out = Command::new(python()).args(args).current_dir(root()).output().unwrap();
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The reference outputs, generated once per test binary into target/ (they take seconds).
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = root().join("target/parity-fixtures");
        let tmp = root().join(format!("target/parity-fixtures.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        run_python(&["tests/parity/bert_fixtures.py", tmp.to_str().unwrap()]);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir).unwrap();
        dir
    })
}

fn read(path: &Path) -> std::collections::HashMap<String, Tensor> {
    Tensor::read_safetensors(path).unwrap().into_iter().collect()
}

/// Max |a − b| over the positions where `mask` is 1 ([B, T, ...] tensors) or everywhere.
fn max_diff(a: &Tensor, b: &Tensor, mask: &Tensor) -> f64 {
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    assert_eq!(a.size(), b.size());
    let (a, b) = if a.dim() >= 2 && a.size()[..2] == mask.size()[..] {
        let m = mask.to_kind(Kind::Bool);
        (a.index(&[Some(&m)]), b.index(&[Some(&m)]))
    } else {
        (a, b)
    };
    (a - b).abs().max().double_value(&[])
}

fn check(name: &str, got: &Tensor, want: &Tensor, mask: &Tensor) {
    let d = max_diff(got, want, mask);
    assert!(d <= TOLERANCE, "{name}: max |ours − transformers| = {d:.2e} > {TOLERANCE:e}");
    eprintln!("{name}: max |diff| = {d:.1e}");
}

#[test]
fn tiny_models_of_every_head_match_transformers() {
    for arch in [
        "BertLMHeadModel",
        "BertForMaskedLM",
        "BertForSequenceClassification",
        "BertForTokenClassification",
        "BertForQuestionAnswering",
        "BertModel",
    ] {
        let dir = ModelDir::open(&fixtures().join("tiny").join(arch)).unwrap();
        let c = &dir.config;
        let e = read(&dir.path.join("expected.safetensors"));
        let inputs = Inputs {
            input_ids: &e["input_ids"],
            attention_mask: Some(&e["attention_mask"]),
            token_type_ids: Some(&e["token_type_ids"]),
        };
        let mask = &e["attention_mask"];
        let vs = VarStore::new(Device::Cpu);
        let root = vs.root();
        let labels = c.num_labels().unwrap_or(2);
        let bidi = AttentionMask::Bidirectional;
        let outputs: Vec<(&str, Tensor)> = match arch {
            "BertLMHeadModel" | "BertForMaskedLM" => {
                let m = BertForLM::new(&root, c);
                let kind = if c.is_decoder { AttentionMask::Causal } else { bidi };
                let report = dir.load_weights(&vs, false).unwrap();
                assert!(report.missing.is_empty() && report.unexpected.is_empty(), "{arch}: {report}");
                vec![("logits", m.forward_t(inputs, kind, false).unwrap())]
            }
            "BertForSequenceClassification" => {
                let m = BertForSequenceClassification::new(&root, c, labels);
                let report = dir.load_weights(&vs, false).unwrap();
                assert!(report.missing.is_empty() && report.unexpected.is_empty(), "{arch}: {report}");
                vec![("logits", m.forward_t(inputs, bidi, false).unwrap())]
            }
            "BertForTokenClassification" => {
                let m = BertForTokenClassification::new(&root, c, labels);
                let report = dir.load_weights(&vs, false).unwrap();
                assert!(report.missing.is_empty() && report.unexpected.is_empty(), "{arch}: {report}");
                vec![("logits", m.forward_t(inputs, bidi, false).unwrap())]
            }
            "BertForQuestionAnswering" => {
                let m = BertForQuestionAnswering::new(&root, c);
                let report = dir.load_weights(&vs, false).unwrap();
                assert!(report.missing.is_empty() && report.unexpected.is_empty(), "{arch}: {report}");
                let (s, e) = m.forward_t(inputs, bidi, false).unwrap();
                vec![("start_logits", s), ("end_logits", e)]
            }
            _ => {
                let m = BertModel::new(root, c, true);
                let report = dir.load_weights(&vs, true).unwrap();
                assert!(report.missing.is_empty() && report.unexpected.is_empty(), "{arch}: {report}");
                let out = m.forward_t(inputs, bidi, false).unwrap();
                vec![("last_hidden_state", out.last_hidden_state), ("pooler_output", out.pooler_output.unwrap())]
            }
        };
        for (key, got) in outputs {
            check(&format!("{arch}.{key}"), &got, &e[key], mask);
        }
    }
}

#[test]
fn minilm_hidden_states_and_tokenization_match_transformers() {
    let fx = fixtures().join("minilm");
    let model_dir = PathBuf::from(std::fs::read_to_string(fx.join("model_dir.txt")).unwrap().trim());
    let sentences: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(fx.join("sentences.json")).unwrap()).unwrap();
    let e = read(&fx.join("expected.safetensors"));
    let dir = ModelDir::open(&model_dir).unwrap();

    // Our tokenizers: the shipped tokenizer.json, and one built from vocab.txt alone.
    let from_json = dir.tokenizer().unwrap();
    let from_vocab = model::tokenizer::from_vocab_txt(&model_dir.join("vocab.txt")).unwrap();
    let want_ids = &e["input_ids"];
    let mask = &e["attention_mask"];
    for (i, s) in sentences.iter().enumerate() {
        let n = mask.get(i as i64).sum(Kind::Int64).int64_value(&[]);
        let want: Vec<i64> = Vec::try_from(want_ids.get(i as i64).narrow(0, 0, n)).unwrap();
        for (name, tok) in [("tokenizer.json", &from_json), ("vocab.txt", &from_vocab)] {
            let got: Vec<i64> = tok.encode(s.as_str(), true).unwrap().get_ids().iter().map(|&x| i64::from(x)).collect();
            assert_eq!(got, want, "{name} tokenizes {s:?} differently from transformers");
        }
    }

    let vs = VarStore::new(Device::Cpu);
    let bert = BertModel::new(vs.root(), &dir.config, true);
    let report = dir.load_weights(&vs, true).unwrap();
    assert!(report.missing.is_empty() && report.unexpected.is_empty(), "{report}");
    assert!(!report.checkpoint_prefixed);
    let inputs = Inputs { input_ids: want_ids, attention_mask: Some(mask), token_type_ids: Some(&e["token_type_ids"]) };
    let h = bert.forward_t(inputs, AttentionMask::Bidirectional, false).unwrap().last_hidden_state;
    check("all-MiniLM-L6-v2 last_hidden_state", &h, &e["last_hidden_state"], mask);

    // Head models read the same bare checkpoint; the new head is reported, not an error.
    let vs = VarStore::new(Device::Cpu);
    let _ = BertForSequenceClassification::new(&vs.root(), &dir.config, 3);
    let report = dir.load_weights(&vs, false).unwrap();
    let mut missing = report.missing.clone();
    missing.sort();
    assert_eq!(missing, ["classifier.bias", "classifier.weight"]);
    assert!(report.unexpected.is_empty(), "{report}");
}

/// Adds noise to LayerNorms and biases so that a mis-wired load cannot pass by accident.
fn perturb(vs: &VarStore) {
    tch::no_grad(|| {
        for (name, var) in vs.variables() {
            if name.contains("LayerNorm") || name.ends_with("bias") {
                let _ = var.shallow_clone().g_add_(&(Tensor::randn_like(&var) * 0.5));
            }
        }
    });
}

#[test]
fn checkpoints_we_save_load_in_transformers_with_the_same_outputs() {
    let mut config = BertConfig {
        vocab_size: 150,
        hidden_size: 48,
        num_hidden_layers: 2,
        num_attention_heads: 6,
        intermediate_size: 64,
        max_position_embeddings: 32,
        ..BertConfig::default()
    };
    config.set_labels(&["NEG".into(), "NEU".into(), "POS".into()]);
    tch::manual_seed(3);
    let input_ids = Tensor::randint_low(5, 150, [2, 7], (Kind::Int64, Device::Cpu));
    let attention_mask = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]).view([2, 7]);
    let token_type_ids = Tensor::zeros([2, 7], (Kind::Int64, Device::Cpu));
    let inputs =
        Inputs { input_ids: &input_ids, attention_mask: Some(&attention_mask), token_type_ids: Some(&token_type_ids) };
    let tmp = tempfile::tempdir().unwrap();
    for arch in
        ["BertLMHeadModel", "BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering"]
    {
        let mut c = config.clone();
        c.architectures = Some(vec![arch.to_string()]);
        c.is_decoder = arch == "BertLMHeadModel";
        if matches!(arch, "BertLMHeadModel" | "BertForQuestionAnswering") {
            // HF sizes qa_outputs by num_labels (2: start, end); labels belong to classifiers.
            c.id2label = None;
            c.label2id = None;
        }
        let vs = VarStore::new(Device::Cpu);
        let root = vs.root();
        let bidi = AttentionMask::Bidirectional;
        let outputs: Vec<(&str, Tensor)> = match arch {
            "BertLMHeadModel" => {
                let m = BertForLM::new(&root, &c);
                perturb(&vs);
                vec![("logits", m.forward_t(inputs, AttentionMask::Causal, false).unwrap())]
            }
            "BertForSequenceClassification" => {
                let m = BertForSequenceClassification::new(&root, &c, 3);
                perturb(&vs);
                vec![("logits", m.forward_t(inputs, bidi, false).unwrap())]
            }
            "BertForTokenClassification" => {
                let m = BertForTokenClassification::new(&root, &c, 3);
                perturb(&vs);
                vec![("logits", m.forward_t(inputs, bidi, false).unwrap())]
            }
            _ => {
                let m = BertForQuestionAnswering::new(&root, &c);
                perturb(&vs);
                let (s, e) = m.forward_t(inputs, bidi, false).unwrap();
                vec![("start_logits", s), ("end_logits", e)]
            }
        };
        let dir = tmp.path().join(arch);
        model::model_dir::save(&dir, &c, &vs, None).unwrap();
        let mut tensors = vec![
            ("input_ids", input_ids.shallow_clone()),
            ("attention_mask", attention_mask.shallow_clone()),
            ("token_type_ids", token_type_ids.shallow_clone()),
        ];
        tensors.extend(outputs);
        Tensor::write_safetensors(&tensors, dir.join("expected.safetensors")).unwrap();
        run_python(&["tests/parity/check_roundtrip.py", dir.to_str().unwrap(), arch]);

        // And it loads back here with every weight matched.
        let reopened = ModelDir::open(&dir).unwrap();
        assert_eq!(reopened.config, c);
    }
}
