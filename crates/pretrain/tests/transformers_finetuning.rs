//! The pretrained encoder (`final/` of a tiny causal run) in transformers, loaded with no extra
//! arguments: fine-tuned with `Trainer` through `AutoModelForSequenceClassification` it tells
//! inputs apart (a copy whose config.json says `is_decoder: true` does not: the check can
//! fail), the token-classification and QA classes take it with only their head new, and
//! `BertLMHeadModel` scores text causally as `pretrain eval --text` does.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use common::{root, tiny_config};
use pretrain::Resume;

/// `final/` of a 3-step tiny causal run, trained once.
fn pretrained() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = tiny_config(tmp.path(), "export");
        c.max_steps = 3;
        let out = pretrain::train(&c, Resume::No, Arc::new(AtomicBool::new(false))).unwrap();
        let dir = out.run_dir.join("final");
        (tmp, dir)
    })
    .1
}

fn python(script: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let out = std::process::Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/parity").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn trainer_fine_tunes_the_pretrained_encoder_as_a_bidirectional_bert() {
    let tmp = tempfile::tempdir().unwrap();
    // German against Russian, 16 lines each.
    let mut rows = String::new();
    for (label, lang) in ["de", "ru"].iter().enumerate() {
        let text = std::fs::read_to_string(root().join("data/sample").join(lang).join("udhr.txt")).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()).take(16) {
            rows += &(serde_json::json!({"text": line, "label": label}).to_string() + "\n");
        }
    }
    let train = tmp.path().join("train.jsonl");
    std::fs::write(&train, rows).unwrap();

    // The negative control: the same weights declared a decoder.
    let decoder = tmp.path().join("decoder");
    std::fs::create_dir_all(&decoder).unwrap();
    for e in std::fs::read_dir(pretrained()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), decoder.join(e.file_name())).unwrap();
    }
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(decoder.join("config.json")).unwrap()).unwrap();
    config["is_decoder"] = true.into();
    std::fs::write(decoder.join("config.json"), config.to_string()).unwrap();

    let run = |dir: &Path, work: &str| {
        python("hf_trainer.py", &[dir.as_os_str(), train.as_os_str(), tmp.path().join(work).as_os_str()])
    };
    let ours = run(pretrained(), "ours");
    let control = run(&decoder, "control");
    eprintln!("ours {ours}\ncontrol {control}");
    assert_eq!((ours["is_decoder"].as_bool(), control["is_decoder"].as_bool()), (Some(false), Some(true)));
    assert!(ours["train_loss"].as_f64().unwrap().is_finite(), "{ours}");
    assert!(ours["logit_spread"].as_f64().unwrap() > 1e-3, "every input got the same logits: {ours}");
    assert!(control["logit_spread"].as_f64().unwrap() < 1e-5, "the control should be blind to its input: {control}");

    // Only the task head is new; nothing of the encoder is left out or mismatched.
    for (class, head) in
        [("AutoModelForTokenClassification", "classifier"), ("AutoModelForQuestionAnswering", "qa_outputs")]
    {
        let info = &ours["loading"][class];
        let new = [format!("{head}.bias"), format!("{head}.weight")];
        assert_eq!(info["missing_keys"], serde_json::json!(new), "{class}: {info}");
        assert_eq!(info["mismatched_keys"], serde_json::json!([]), "{class}: {info}");
        let unexpected: Vec<&str> =
            info["unexpected_keys"].as_array().unwrap().iter().filter_map(|k| k.as_str()).collect();
        assert!(
            unexpected.iter().all(|k| k.starts_with("cls.")),
            "{class}: weights other than the LM head unused: {info}"
        );
    }
}

#[test]
fn bert_lm_head_model_scores_the_causal_encoder_as_pretrain_eval_text_does() {
    let text = root().join("data/sample/de/udhr.txt");
    let want = python(
        "pretrain_eval_text.py",
        &["--score".as_ref(), pretrained().as_os_str(), text.as_os_str(), "16".as_ref()],
    );
    let got = pretrain::eval::evaluate_text(pretrained(), &text, Some(16), tch::Device::Cpu).unwrap();
    assert_eq!(got.tokens, want["tokens"].as_u64().unwrap());
    let diff = (got.loss - want["loss"].as_f64().unwrap()).abs();
    assert!(diff <= 1e-4, "ours {} vs BertLMHeadModel {} (diff {diff:.2e})", got.loss, want["loss"]);
}
