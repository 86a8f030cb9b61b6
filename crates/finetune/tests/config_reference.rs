//! docs/configs.md against `FinetuneConfig`: the keys documented under `## finetune` must be the
//! keys the config accepts (including `[fields]`), and a default written there as a TOML value
//! must be the code's.
//!
//! The accepted keys come from serialising the default config (every key has a default; none is
//! an `Option` or a list); tables are walked with their prefix (`fields.text`), and a map that is
//! empty by default (`validation_files`, whose keys are language codes) is one key.

use finetune::FinetuneConfig;

const SECTION: &str = "finetune";

#[test]
fn documented_keys_are_the_accepted_keys() {
    doc::assert_documented(SECTION, "FinetuneConfig", &FinetuneConfig::default());
}

#[test]
fn documented_defaults_are_the_code_defaults() {
    // Every key has a default: the base file is empty.
    doc::assert_defaults::<FinetuneConfig>(SECTION, "");
}

#[path = "../../../tests/config_doc.rs"]
mod doc;
