//! Model directories in the Hugging Face layout: `config.json`, `model.safetensors` (or a sharded
//! `model.safetensors.index.json`), and `tokenizer.json` (or `vocab.txt`). What we save loads
//! in transformers with `from_pretrained`, and what the Hub serves loads here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tch::nn::VarStore;
use tokenizers::Tokenizer;

use crate::checksums::{self, Checksums, Integrity};
use crate::config::BertConfig;
use crate::error::{Error, Result};
use crate::weights::{self, LoadReport};

/// `config.json`.
pub const CONFIG_FILE: &str = "config.json";
/// Weights.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// What transformers' `AutoTokenizer` reads first: the tokenizer class, length and specials.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
/// The special tokens by role.
pub const SPECIAL_TOKENS_FILE: &str = "special_tokens_map.json";
/// Index of sharded weights.
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";
/// Tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// An opened model directory (nothing loaded yet but the config).
#[derive(Debug, Clone)]
pub struct ModelDir {
    /// The directory.
    pub path: PathBuf,
    /// Its `config.json`.
    pub config: BertConfig,
    /// Its safetensors files.
    pub weights: Vec<PathBuf>,
}

impl ModelDir {
    /// Opens `path`: reads `config.json` and finds the safetensors weights. A directory with only
    /// pickle weights (`pytorch_model.bin`) is refused.
    pub fn open(path: &Path) -> Result<Self> {
        let dir_error = |reason: String| Error::ModelDir { path: path.to_path_buf(), reason };
        if !path.is_dir() {
            return Err(dir_error(
                "not a directory; expected a model directory with config.json and model.safetensors".into(),
            ));
        }
        let config_path = path.join(CONFIG_FILE);
        if !config_path.is_file() {
            return Err(dir_error("no config.json: not a Hugging Face model directory".into()));
        }
        let config = BertConfig::from_file(&config_path)?;
        let weights = if path.join(WEIGHTS_FILE).is_file() {
            vec![path.join(WEIGHTS_FILE)]
        } else if path.join(WEIGHTS_INDEX_FILE).is_file() {
            shards_of_index(&path.join(WEIGHTS_INDEX_FILE))?
        } else if ["pytorch_model.bin", "pytorch_model.bin.index.json", "model.bin"]
            .iter()
            .any(|f| path.join(f).exists())
        {
            return Err(dir_error(
                "has only pickle weights (pytorch_model.bin), which can execute code when loaded; refused. \
                 Convert once in Python: AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)"
                    .into(),
            ));
        } else {
            return Err(dir_error("no model.safetensors or model.safetensors.index.json".into()));
        };
        Ok(ModelDir { path: path.to_path_buf(), config, weights })
    }

    /// Loads the weights into `vs` (built from `self.config`); `bare` for a `BertModel` without
    /// head. Missing head weights keep their initial values and are listed in the report.
    /// The directory's files are first checked against their recorded hashes (see [`Self::verify`]).
    pub fn load_weights(&self, vs: &VarStore, bare: bool) -> Result<LoadReport> {
        let integrity = self.verify()?;
        let mut report = weights::load(vs, &self.weights, bare)?;
        report.integrity = Some(integrity);
        Ok(report)
    }

    /// Checks every file against the SHA-256 recorded in `checksums.sha256` when the directory
    /// was written here; a directory from elsewhere has none and is reported as unrecorded.
    pub fn verify(&self) -> Result<Integrity> {
        let weights: Vec<String> =
            self.weights.iter().filter_map(|w| w.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
        let mut required: Vec<&str> = vec![CONFIG_FILE, TOKENIZER_FILE];
        required.extend(weights.iter().map(String::as_str));
        checksums::verify(&self.path, &required)
    }

    /// The tokenizer: `tokenizer.json`, else one built from `vocab.txt`. One with ids beyond the
    /// model's `vocab_size` is refused: it belongs to another model.
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        let json = self.path.join(TOKENIZER_FILE);
        let vocab = self.path.join("vocab.txt");
        let (tokenizer, file) = if json.is_file() {
            (crate::tokenizer::from_tokenizer_json(&json)?, json)
        } else if vocab.is_file() {
            (crate::tokenizer::from_vocab_txt(&vocab)?, vocab)
        } else {
            return Err(Error::ModelDir { path: self.path.clone(), reason: "no tokenizer.json or vocab.txt".into() });
        };
        let ids = tokenizer.get_vocab_size(true) as i64;
        if ids > self.config.vocab_size {
            return Err(Error::ModelDir {
                path: self.path.clone(),
                reason: format!(
                    "{} has {ids} tokens but config.json has vocab_size = {}: the tokenizer is not this model's",
                    file.display(),
                    self.config.vocab_size
                ),
            });
        }
        Ok(tokenizer)
    }
}

/// The distinct shard files named by `model.safetensors.index.json`.
fn shards_of_index(index: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::weights(index, format!("not valid JSON: {e}")))?;
    let map = json["weight_map"].as_object().ok_or_else(|| Error::weights(index, "no weight_map object"))?;
    let files: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
    let dir = index.parent().unwrap_or(Path::new("."));
    files
        .into_iter()
        .map(|f| {
            if f.contains('/') || f.contains("..") {
                return Err(Error::weights(index, format!("shard name {f:?} points outside the directory")));
            }
            Ok(dir.join(f))
        })
        .collect()
}

/// Writes a model directory's files into `dir` (which exists): `config.json`,
/// `model.safetensors`, and `tokenizer.json` (the text of one) with the `tokenizer_config.json`
/// and `special_tokens_map.json` transformers reads beside it; each synced, its hash recorded in
/// `sums`.
pub fn write_files(
    dir: &Path,
    config: &BertConfig,
    vs: &VarStore,
    tokenizer_json: Option<&[u8]>,
    sums: &mut Checksums,
) -> Result<()> {
    let config_path = dir.join(CONFIG_FILE);
    sums.insert(CONFIG_FILE, checksums::write_file(&config_path, config.to_json(&config_path)?.as_bytes())?);
    sums.insert(WEIGHTS_FILE, weights::save(vs, &dir.join(WEIGHTS_FILE))?);
    if let Some(json) = tokenizer_json {
        sums.insert(TOKENIZER_FILE, checksums::write_file(&dir.join(TOKENIZER_FILE), json)?);
        let (tokenizer_config, special_tokens) = tokenizer_settings(config, json, &dir.join(TOKENIZER_FILE))?;
        for (name, value) in [(TOKENIZER_CONFIG_FILE, tokenizer_config), (SPECIAL_TOKENS_FILE, special_tokens)] {
            let text =
                serde_json::to_string_pretty(&value).map_err(|e| Error::weights(&dir.join(name), e.to_string()))?;
            sums.insert(name, checksums::write_file(&dir.join(name), (text + "\n").as_bytes())?);
        }
    }
    Ok(())
}

/// `tokenizer_config.json` and `special_tokens_map.json` for `tokenizer.json`. Without them
/// transformers' `AutoTokenizer` falls back to a `BertTokenizer` that lower-cases and strips
/// accents, whatever `tokenizer.json` says; `PreTrainedTokenizerFast` runs `tokenizer.json` as
/// is. Inputs are cut at the length the model was trained with, else at its position table.
fn tokenizer_settings(
    config: &BertConfig,
    tokenizer_json: &[u8],
    path: &Path,
) -> Result<(serde_json::Value, serde_json::Value)> {
    let json: serde_json::Value = serde_json::from_slice(tokenizer_json)
        .map_err(|e| Error::Tokenizer { path: path.to_path_buf(), reason: e.to_string() })?;
    let specials: Vec<&str> = json["added_tokens"]
        .as_array()
        .map(|tokens| tokens.iter().filter(|t| t["special"] == true).filter_map(|t| t["content"].as_str()).collect())
        .unwrap_or_default();
    let mut map = serde_json::Map::new();
    for (key, token) in [
        ("pad_token", "[PAD]"),
        ("unk_token", "[UNK]"),
        ("cls_token", "[CLS]"),
        ("sep_token", "[SEP]"),
        ("mask_token", "[MASK]"),
    ] {
        if specials.contains(&token) {
            map.insert(key.into(), token.into());
        }
    }
    let trained = ["finetune_max_seq_length", "pretraining_max_length"]
        .iter()
        .find_map(|k| config.extra.get(*k).and_then(serde_json::Value::as_i64));
    let max_length = trained.unwrap_or(config.max_position_embeddings).min(config.max_position_embeddings);
    let mut tokenizer_config = map.clone();
    tokenizer_config.insert("tokenizer_class".into(), "PreTrainedTokenizerFast".into());
    tokenizer_config.insert("model_max_length".into(), max_length.into());
    tokenizer_config.insert("clean_up_tokenization_spaces".into(), false.into());
    Ok((serde_json::Value::Object(tokenizer_config), serde_json::Value::Object(map)))
}

/// Saves a model directory: `config.json`, `model.safetensors`, the tokenizer's
/// /// `tokenizer.json`, and their hashes in `checksums.sha256`. Everything is written into a
/// temporary sibling that is renamed into place, so a crash never leaves a directory that looks
/// complete. An existing `dir` is replaced.
pub fn save(dir: &Path, config: &BertConfig, vs: &VarStore, tokenizer: Option<&Tokenizer>) -> Result<()> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let tmp = dir.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = (|| {
        let mut sums = Checksums::default();
        let json = tokenizer
            .map(|t| t.to_string(true))
            .transpose()
            .map_err(|e| Error::Tokenizer { path: tmp.join(TOKENIZER_FILE), reason: e.to_string() })?;
        write_files(&tmp, config, vs, json.as_deref().map(str::as_bytes), &mut sums)?;
        sums.write(&tmp)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
