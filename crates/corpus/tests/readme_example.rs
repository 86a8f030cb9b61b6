//! The README's first `corpus build` example, run as written (output redirected to a temporary
//! directory): every language of `data/sample` gets validation documents, so a first
//! pretraining reports a validation loss for each (with the default settings 16 of 17 got none).

use std::path::Path;
use std::process::Command;

#[test]
fn the_readme_sample_corpus_holds_out_validation_text_for_every_language() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("cargo run --release -p corpus -- build --input data/sample "))
        .expect("README has a `corpus build --input data/sample` example");
    let mut args: Vec<String> = line.split_once(" -- ").unwrap().1.split_whitespace().map(String::from).collect();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sample");
    let at = args.iter().position(|a| a == "--output").expect("the example names --output") + 1;
    args[at] = out.display().to_string();
    let run = Command::new(env!("CARGO_BIN_EXE_corpus")).args(&args).current_dir(&root).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!stderr.contains("no validation documents"), "{stderr}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let languages = manifest["languages"].as_object().unwrap();
    assert_eq!(languages.len(), 17);
    let without: Vec<&String> =
        languages.iter().filter(|(_, s)| s["validation"]["docs"].as_u64() == Some(0)).map(|(l, _)| l).collect();
    assert!(without.is_empty(), "no validation documents for {without:?}");
}
