//! docs/configs.md against `PretrainConfig`: the keys documented under `## pretrain` must be the
//! keys the config accepts, and a default written there as a TOML value must be the code's.
//!
//! The accepted keys come from serialising the default config (every key has a default; none is
//! an `Option` or a list); tables are walked with their prefix (`optim.lr`).

use pretrain::PretrainConfig;

const SECTION: &str = "pretrain";

#[test]
fn documented_keys_are_the_accepted_keys() {
    doc::assert_documented(SECTION, "PretrainConfig", &PretrainConfig::default());
}

#[test]
fn documented_defaults_are_the_code_defaults() {
    // Every key has a default: the base file is empty.
    doc::assert_defaults::<PretrainConfig>(SECTION, "");
}

#[path = "../../../tests/config_doc.rs"]
mod doc;
