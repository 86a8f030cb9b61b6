//! The tokenizer of a model directory: `tokenizer.json` as is, or a WordPiece tokenizer built
//! from `vocab.txt` the way transformers' `BertTokenizerFast` converts it.

use std::path::Path;

use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::Tokenizer;

use crate::error::{Error, Result};

fn tokenizer_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Tokenizer { path: path.to_path_buf(), reason: reason.to_string() }
}

/// Loads `tokenizer.json`. Padding and truncation stored in the file are switched off, as
/// transformers' fast tokenizers do: batching decides those.
pub fn from_tokenizer_json(path: &Path) -> Result<Tokenizer> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut tokenizer = Tokenizer::from_bytes(&bytes)
        .map_err(|e| tokenizer_error(path, format!("not a Hugging Face tokenizer.json: {e}")))?;
    tokenizer.with_padding(None);
    tokenizer.with_truncation(None).map_err(|e| tokenizer_error(path, e))?;
    Ok(tokenizer)
}

/// Builds BERT's WordPiece tokenizer from `vocab.txt`, reading `do_lower_case`,
/// `tokenize_chinese_chars` and `strip_accents` from `tokenizer_config.json` next to it when
/// present (defaults as in `BertTokenizer`: lower-casing on).
pub fn from_vocab_txt(vocab: &Path) -> Result<Tokenizer> {
    let settings: serde_json::Value = match vocab.with_file_name("tokenizer_config.json") {
        p if p.is_file() => {
            let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
            serde_json::from_str(&text).map_err(|e| tokenizer_error(&p, e))?
        }
        _ => serde_json::Value::Null,
    };
    let lowercase = settings["do_lower_case"].as_bool().unwrap_or(true);
    let chinese = settings["tokenize_chinese_chars"].as_bool().unwrap_or(true);
    let strip_accents = settings["strip_accents"].as_bool();
    let vocab_str = vocab.to_str().ok_or_else(|| tokenizer_error(vocab, "path is not UTF-8"))?;
    let model = WordPiece::from_file(vocab_str)
        .unk_token("[UNK]".into())
        .continuing_subword_prefix("##".into())
        .max_input_chars_per_word(100)
        .build()
        .map_err(|e| tokenizer_error(vocab, e))?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(true, chinese, strip_accents, lowercase)))
        .map_err(|e| tokenizer_error(vocab, e))?;
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_decoder(Some(WordPieceDecoder::default()));
    let id = |t: &str| {
        tokenizer.token_to_id(t).ok_or_else(|| tokenizer_error(vocab, format!("{t} is not in the vocabulary")))
    };
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    let post = TemplateProcessing::builder()
        .try_single("[CLS] $A [SEP]")
        .and_then(|b| b.try_pair("[CLS] $A [SEP] $B:1 [SEP]:1"))
        .map_err(|e| tokenizer_error(vocab, e))?
        .special_tokens(vec![("[CLS]", cls), ("[SEP]", sep)])
        .build()
        .map_err(|e| tokenizer_error(vocab, e))?;
    tokenizer.with_post_processor(Some(post));
    Ok(tokenizer)
}
