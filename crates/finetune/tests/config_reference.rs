//! docs/configs.md against `FinetuneConfig`: the keys documented under `## finetune` must be the
//! keys the config accepts (including `[fields]`), and a default written there as a TOML value
//! must be the code's.
//!
//! The accepted keys come from serialising the default config (every key has a default; none is
//! an `Option` or a list); tables are walked with their prefix (`fields.text`), and a map that is
//! empty by default (`validation_files`, whose keys are language codes) is one key.

use std::collections::BTreeSet;

use finetune::FinetuneConfig;

const SECTION: &str = "finetune";

#[test]
fn documented_keys_are_the_accepted_keys() {
    let config = FinetuneConfig::default();
    // Every serialised key is one the deserialiser accepts: the round trip is exact.
    let text = toml::to_string(&config).unwrap();
    assert_eq!(toml::from_str::<FinetuneConfig>(&text).unwrap(), config, "round trip through\n{text}");
    let mut accepted = BTreeSet::new();
    doc::leaf_keys(&serde_json::to_value(&config).unwrap(), "", &mut accepted);
    doc::assert_same_keys(SECTION, "FinetuneConfig", &accepted);
}

#[test]
fn documented_defaults_are_the_code_defaults() {
    // Every key has a default: the base file is empty.
    doc::assert_defaults::<FinetuneConfig>(SECTION, "");
}

#[path = "../../../tests/config_doc.rs"]
mod doc;
