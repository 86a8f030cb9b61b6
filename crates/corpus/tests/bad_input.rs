//! Every kind of bad input gives a clear error naming the file and line (or key), a non-zero
//! exit, no panic, and no output directory that could look complete.

use std::path::Path;
use std::process::Command;

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Runs `corpus` with `args` (from `dir`) and returns (exit success, stderr, stdout).
fn corpus(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_corpus")).args(args).current_dir(dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    (out.status.success(), stderr, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A valid two-language input in `dir/in`.
fn good_input(dir: &Path) {
    write(&dir.join("in/en/a.txt"), b"hello world\nthe cat sat on the mat\nanother line of text\n");
    write(&dir.join("in/de/a.txt"), b"hallo welt\ndie katze sitzt\nnoch eine zeile\n");
}

/// Builds `in` → `out` and expects failure with every fragment in the message.
fn expect_build_error(dir: &Path, extra: &[&str], fragments: &[&str]) {
    let mut args = vec!["build", "--input", "in", "--output", "out", "--vocab-size", "200"];
    args.extend_from_slice(extra);
    let (ok, stderr, _) = corpus(dir, &args);
    assert!(!ok, "expected failure, got success: {stderr}");
    for f in fragments {
        assert!(stderr.contains(f), "missing {f:?} in: {stderr}");
    }
    assert!(!dir.join("out/manifest.json").exists(), "a failed build left a manifest");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

#[test]
fn invalid_utf8_is_an_error_with_line_or_skipped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    good_input(tmp.path());
    write(&tmp.path().join("in/en/b.txt"), b"fine\nbad \xff\xfe byte\nfine again\n");
    expect_build_error(tmp.path(), &[], &["in/en/b.txt:2:", "invalid UTF-8 at byte 5", "on_invalid"]);

    let (ok, stderr, stdout) = corpus(
        tmp.path(),
        &["build", "--input", "in", "--output", "out", "--vocab-size", "200", "--on-invalid", "skip"],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("1 malformed documents skipped"), "{stdout}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("out/manifest.json")).unwrap()).unwrap();
    let b =
        manifest["inputs"].as_array().unwrap().iter().find(|i| i["path"].as_str().unwrap().ends_with("b.txt")).unwrap();
    assert_eq!(b["skipped"]["invalid_utf8"], 1);
    assert_eq!(b["docs"], 2);
}

#[test]
fn nul_bytes_malformed_jsonl_and_long_lines_name_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    good_input(tmp.path());
    write(&tmp.path().join("in/en/bin.txt"), b"ok\nok\nELF\x00\x01\x02\n");
    expect_build_error(tmp.path(), &[], &["in/en/bin.txt:3:", "NUL byte"]);

    std::fs::remove_file(tmp.path().join("in/en/bin.txt")).unwrap();
    write(&tmp.path().join("in/de/rows.jsonl"), b"{\"text\": \"gut\"}\n{\"text\": \"kaputt\"\n");
    expect_build_error(tmp.path(), &[], &["in/de/rows.jsonl:2:", "malformed JSON"]);

    write(&tmp.path().join("in/de/rows.jsonl"), b"{\"text\": \"gut\"}\n{\"content\": \"anders\"}\n");
    expect_build_error(tmp.path(), &[], &["in/de/rows.jsonl:2:", "no field `text`"]);

    std::fs::remove_file(tmp.path().join("in/de/rows.jsonl")).unwrap();
    let long = format!("short\n{}\n", "x".repeat(2_000));
    write(&tmp.path().join("in/en/long.txt"), long.as_bytes());
    let config = "input = \"in\"\noutput = \"out\"\nmax_document_bytes = 1000\n[tokenizer]\nvocab_size = 200\n";
    write(&tmp.path().join("c.toml"), config.as_bytes());
    let (ok, stderr, _) = corpus(tmp.path(), &["build", "--config", "c.toml"]);
    assert!(!ok && stderr.contains("in/en/long.txt:2:") && stderr.contains("max_document_bytes"), "{stderr}");
}

#[test]
fn bad_directories_and_outputs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    expect_build_error(dir, &[], &["in", "No such file or directory"]);

    good_input(dir);
    std::fs::create_dir_all(dir.join("in/Deutsch")).unwrap();
    expect_build_error(dir, &[], &["in/Deutsch", "unknown language directory \"Deutsch\""]);
    std::fs::remove_dir_all(dir.join("in/Deutsch")).unwrap();

    std::fs::create_dir_all(dir.join("in/fr")).unwrap();
    write(&dir.join("in/fr/notes.md"), b"# not an input");
    expect_build_error(dir, &[], &["in/fr", "empty language directory"]);
    std::fs::remove_dir_all(dir.join("in/fr")).unwrap();

    write(&dir.join("in/es/empty.txt"), b"\n  \n");
    expect_build_error(dir, &[], &["in/es/empty.txt", "language \"es\" has no documents"]);
    std::fs::remove_dir_all(dir.join("in/es")).unwrap();

    write(&dir.join("in/stray.txt"), b"where am I");
    expect_build_error(dir, &[], &["in/stray.txt", "language sub-directory"]);
    std::fs::remove_file(dir.join("in/stray.txt")).unwrap();

    write(&dir.join("out/precious.txt"), b"user data");
    expect_build_error(dir, &[], &["out", "something other than a corpus"]);
    assert_eq!(std::fs::read(dir.join("out/precious.txt")).unwrap(), b"user data");
    std::fs::remove_dir_all(dir.join("out")).unwrap();

    write(&dir.join("not-a-tokenizer.json"), b"{\"hello\": 1}");
    let (ok, stderr, _) =
        corpus(dir, &["build", "--input", "in", "--output", "out", "--tokenizer", "not-a-tokenizer.json"]);
    assert!(
        !ok && stderr.contains("not-a-tokenizer.json") && stderr.contains("not a Hugging Face tokenizer.json"),
        "{stderr}"
    );

    let (ok, stderr, _) = corpus(dir, &["build", "--input", "in", "--output", "out"]);
    assert!(!ok && stderr.contains("--vocab-size"), "{stderr}");

    write(&dir.join("bad.toml"), b"output = \"out\"\ninput = \"in\"\nalpah = 0.3\n");
    let (ok, stderr, _) = corpus(dir, &["build", "--config", "bad.toml"]);
    assert!(!ok && stderr.contains("bad.toml") && stderr.contains("alpah"), "{stderr}");

    let (ok, stderr, _) = corpus(dir, &["inspect", "in"]);
    assert!(!ok && stderr.contains("not a corpus directory"), "{stderr}");
}

#[test]
fn build_then_inspect_then_corruption_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    good_input(dir);
    let (ok, stderr, _) =
        corpus(dir, &["build", "--input", "in", "--output", "out", "--vocab-size", "200", "--val-fraction", "0"]);
    assert!(ok, "{stderr}");
    let (ok, _, stdout) = corpus(dir, &["inspect", "out"]);
    assert!(ok && stdout.contains("de ") && stdout.contains("en ") && stdout.contains("tok/word"), "{stdout}");
    let (ok, _, stdout) = corpus(dir, &["inspect", "out", "--json"]);
    assert!(ok && stdout.contains("\"sampling_probability\""));

    let shard = dir.join("out/train/en/00000.bin");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 2]).unwrap();
    let (ok, stderr, _) = corpus(dir, &["inspect", "out"]);
    assert!(!ok && stderr.contains("train/en/00000.bin") && stderr.contains("truncated"), "{stderr}");
}
