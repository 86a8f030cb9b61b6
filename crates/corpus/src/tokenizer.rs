//! The corpus tokenizer: any Hugging Face `tokenizer.json` loaded as is, or one trained here with
//! the `tokenizers` crate (WordPiece by default, BPE or Unigram), with BERT's special tokens and
//! post-processor so that the model stages and `transformers` read it the same way.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::bpe::{BpeTrainer, BPE};
use tokenizers::models::unigram::{Unigram, UnigramTrainer};
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainer};
use tokenizers::models::TrainerWrapper;
use tokenizers::normalizers::{BertNormalizer, NFC, NFKC};
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

use crate::alphabet::CharacterCounts;
use crate::config::{TokenizerConfig, TokenizerKind};
use crate::error::{Error, Result};

/// BERT's special tokens, in the id order a trained tokenizer gives them (0..=4).
pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Ids of the special tokens a tokenizer has. `sep` ends every document in the shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialIds {
    /// `[PAD]` (or `<pad>`).
    pub pad: Option<u32>,
    /// `[UNK]` (or `<unk>`).
    pub unk: Option<u32>,
    /// `[CLS]` (or `<s>`).
    pub cls: Option<u32>,
    /// `[SEP]` (or `</s>`): the document boundary.
    pub sep: u32,
    /// `[MASK]` (or `<mask>`).
    pub mask: Option<u32>,
}

impl SpecialIds {
    /// Finds the special tokens by their BERT names, then by their RoBERTa/XLM-R names.
    pub fn find(tokenizer: &Tokenizer, path: &Path) -> Result<Self> {
        let id = |bert: &str, roberta: &str| tokenizer.token_to_id(bert).or_else(|| tokenizer.token_to_id(roberta));
        let sep = id("[SEP]", "</s>").ok_or_else(|| {
            Error::tokenizer(
                path,
                "has neither [SEP] nor </s>; a separator token is needed to mark document boundaries",
            )
        })?;
        Ok(SpecialIds {
            pad: id("[PAD]", "<pad>"),
            unk: id("[UNK]", "<unk>"),
            cls: id("[CLS]", "<s>"),
            sep,
            mask: id("[MASK]", "<mask>"),
        })
    }
}

/// Loads a `tokenizer.json`, refusing anything else with a clear error; stored padding and
/// truncation are cleared (and the returned bytes are then the cleared tokenizer's).
pub fn load(path: &Path) -> Result<(Tokenizer, Vec<u8>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let tokenizer = Tokenizer::from_bytes(&bytes).map_err(|e| {
        Error::tokenizer(
            path,
            format!("not a Hugging Face tokenizer.json ({e}); pass the tokenizer.json of a model directory"),
        )
    })?;
    if tokenizer.get_vocab_size(true) == 0 {
        return Err(Error::tokenizer(path, "has an empty vocabulary"));
    }
    // A model's tokenizer.json often stores the padding and truncation of its training batches
    // (all-MiniLM-L6-v2's: fixed 128): kept, every document would be cut or padded to that.
    if tokenizer.get_padding().is_some() || tokenizer.get_truncation().is_some() {
        tracing::warn!(
            "{}: clearing the padding and truncation stored in it, so that documents are encoded whole",
            path.display()
        );
        let mut tokenizer = tokenizer;
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(|e| Error::tokenizer(path, e))?;
        let bytes = to_json_bytes(&tokenizer, path)?;
        return Ok((tokenizer, bytes));
    }
    Ok((tokenizer, bytes))
}

/// Trains a tokenizer of `config.kind` on `sample`, then adds BERT's post-processor.
/// `characters` (the training text's, per language) extends a WordPiece alphabet by
/// `config.character_coverage`; see [`crate::alphabet`].
pub fn train<I, S>(
    config: &TokenizerConfig,
    sample: I,
    characters: Option<&CharacterCounts>,
    output: &Path,
) -> Result<Tokenizer>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    let specials: Vec<AddedToken> = SPECIAL_TOKENS.iter().map(|t| AddedToken::from(*t, true)).collect();
    let vocab_size = config.vocab_size;
    let limit_alphabet = config.limit_alphabet.unwrap_or(vocab_size / 4);
    let mut tokenizer = match config.kind {
        TokenizerKind::Wordpiece => {
            let mut t = Tokenizer::new(
                WordPiece::builder().unk_token("[UNK]".into()).build().map_err(|e| Error::tokenizer(output, e))?,
            );
            // mBERT: clean text, split CJK characters; case and accents kept unless lowercase.
            t.with_normalizer(Some(BertNormalizer::new(true, true, Some(config.lowercase), config.lowercase)))
                .map_err(|e| Error::tokenizer(output, e))?;
            t.with_pre_tokenizer(Some(BertPreTokenizer));
            t.with_decoder(Some(WordPieceDecoder::default()));
            t
        }
        TokenizerKind::Bpe => {
            let mut t = Tokenizer::new(BPE::default());
            t.with_normalizer(Some(NFC)).map_err(|e| Error::tokenizer(output, e))?;
            t.with_pre_tokenizer(Some(ByteLevel::default()));
            t.with_decoder(Some(ByteLevel::default()));
            t
        }
        TokenizerKind::Unigram => {
            let mut t = Tokenizer::new(Unigram::default());
            t.with_normalizer(Some(NFKC)).map_err(|e| Error::tokenizer(output, e))?;
            t.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::Always, true)));
            t.with_decoder(Some(Metaspace::new('▁', PrependScheme::Always, true)));
            t
        }
    };
    let mut trainer: TrainerWrapper = match config.kind {
        TokenizerKind::Wordpiece => {
            let required = characters.map(|c| c.covering(config.character_coverage)).unwrap_or_default();
            // The trainer ranks the initial alphabet first, within the limit: raise the limit by
            // the characters the global ranking would not have kept anyway.
            let extra = characters.map_or(0, |c| required.difference(&c.most_frequent(limit_alphabet)).count());
            if extra > 0 {
                tracing::info!(
                    "alphabet: {limit_alphabet} most frequent characters + {extra} for character_coverage = {}",
                    config.character_coverage
                );
            }
            WordPieceTrainer::builder()
                .vocab_size(vocab_size)
                .min_frequency(config.min_frequency)
                .limit_alphabet(limit_alphabet + extra)
                .initial_alphabet(required.into_iter().collect())
                .special_tokens(specials)
                .show_progress(false)
                .build()
                .into()
        }
        TokenizerKind::Bpe => BpeTrainer::builder()
            .vocab_size(vocab_size)
            .min_frequency(config.min_frequency)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .special_tokens(specials)
            .show_progress(false)
            .build()
            .into(),
        TokenizerKind::Unigram => UnigramTrainer::builder()
            .vocab_size(vocab_size as u32)
            .special_tokens(specials)
            .unk_token(Some("[UNK]".into()))
            .show_progress(false)
            .build()
            .map_err(|e| Error::tokenizer(output, e))?
            .into(),
    };
    tokenizer.train(&mut trainer, sample).map_err(|e| Error::tokenizer(output, format!("training failed: {e}")))?;
    let ids = SpecialIds::find(&tokenizer, output)?;
    let cls = ids.cls.ok_or_else(|| Error::tokenizer(output, "training lost [CLS]"))?;
    let post = TemplateProcessing::builder()
        .try_single("[CLS] $A [SEP]")
        .and_then(|b| b.try_pair("[CLS] $A [SEP] $B:1 [SEP]:1"))
        .map_err(|e| Error::tokenizer(output, e))?
        .special_tokens(vec![("[CLS]", cls), ("[SEP]", ids.sep)])
        .build()
        .map_err(|e| Error::tokenizer(output, e))?;
    tokenizer.with_post_processor(Some(post));
    Ok(tokenizer)
}

/// Serialises a tokenizer to the bytes written as `tokenizer.json`.
pub fn to_json_bytes(tokenizer: &Tokenizer, path: &Path) -> Result<Vec<u8>> {
    tokenizer.to_string(true).map(String::into_bytes).map_err(|e| Error::tokenizer(path, e))
}

/// Lower-case hex SHA-256 of some bytes (of `tokenizer.json`, of a fingerprint).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::with_capacity(2 * digest.len()), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
