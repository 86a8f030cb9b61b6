//! Token shard files: a fixed 1024-byte header, then the raw little-endian token ids.
//!
//! | bytes     | field                                                        |
//! |-----------|--------------------------------------------------------------|
//! | 0..8      | magic `TOKSHARD` (ASCII)                                     |
//! | 8..12     | format version, u32 (1)                                      |
//! | 12..16    | bytes per token, u32: 2 (`u16`) or 4 (`u32`)                 |
//! | 16..24    | token count, u64                                             |
//! | 24..32    | document count, u64                                          |
//! | 32..40    | UTF-8 bytes of the documents' text, u64                      |
//! | 40..44    | vocabulary size, u32                                         |
//! | 48..112   | SHA-256 of `tokenizer.json`, 64 lower-case hex ASCII chars   |
//! | 112..144  | language code, ASCII, NUL-padded                             |
//! | 144..160  | split (`train`/`validation`), ASCII, NUL-padded              |
//! | 160..1024 | zero                                                         |
//!
//! All integers are little-endian. Documents are stored whole (never split across shards), each
//! followed by the separator token.
//!
//! The manifest records, per shard, the SHA-256 of the token data (bytes 1024..end) and the
//! largest id, both computed by [`ShardWriter`] as it writes. The header is not hashed: it is
//! written last, and every byte of it is checked on open (the fields against the manifest, the
//! padding for zeros).

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::tokenizer::hex;

#[cfg(target_endian = "big")]
compile_error!("token shards are little-endian and read zero-copy; big-endian hosts are not supported");

/// Size of the header before the token array.
pub const HEADER_BYTES: usize = 1024;
/// First bytes of every shard.
pub const MAGIC: &[u8; 8] = b"TOKSHARD";
/// Version of the shard layout written here.
pub const FORMAT_VERSION: u32 = 1;

/// Width of the stored token ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 2 bytes per token: vocabularies up to 65,536 ids.
    U16,
    /// 4 bytes per token.
    U32,
}

impl Dtype {
    /// The narrowest width that holds every id of a vocabulary.
    pub fn for_vocab(vocab_size: usize) -> Dtype {
        if vocab_size <= 1 << 16 {
            Dtype::U16
        } else {
            Dtype::U32
        }
    }

    /// Bytes per token.
    pub fn width(self) -> usize {
        match self {
            Dtype::U16 => 2,
            Dtype::U32 => 4,
        }
    }
}

/// What a shard header records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardHeader {
    /// Token width.
    pub dtype: Dtype,
    /// Tokens in the file.
    pub tokens: u64,
    /// Documents in the file.
    pub docs: u64,
    /// UTF-8 bytes of those documents.
    pub text_bytes: u64,
    /// Vocabulary size of the tokenizer.
    pub vocab_size: u32,
    /// SHA-256 (hex) of the `tokenizer.json` that produced the ids.
    pub tokenizer_sha256: String,
    /// Language code.
    pub lang: String,
    /// Split name.
    pub split: String,
}

fn put_ascii(dst: &mut [u8], value: &str, path: &Path, what: &str) -> Result<()> {
    if value.len() > dst.len() || !value.is_ascii() {
        return Err(Error::format(
            path,
            format!("{what} {value:?} does not fit the shard header ({} ASCII bytes)", dst.len()),
        ));
    }
    dst[..value.len()].copy_from_slice(value.as_bytes());
    Ok(())
}

fn get_ascii(src: &[u8]) -> String {
    let end = src.iter().position(|&b| b == 0).unwrap_or(src.len());
    String::from_utf8_lossy(&src[..end]).into_owned()
}

/// The first header byte that should be zero and is not: the reserved ranges, and the NUL
/// padding after each string. The hash does not cover the header, so this is what catches a
/// flipped byte there that no field comparison would.
fn nonzero_padding(h: &[u8]) -> Option<usize> {
    let padding_of = |range: std::ops::Range<usize>| {
        let field = &h[range.clone()];
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        range.start + end..range.end
    };
    [44..48, padding_of(48..112), padding_of(112..144), padding_of(144..160), 160..HEADER_BYTES]
        .into_iter()
        .flat_map(|r| r.into_iter())
        .find(|&i| h[i] != 0)
}

impl ShardHeader {
    fn encode(&self, path: &Path) -> Result<[u8; HEADER_BYTES]> {
        let mut h = [0u8; HEADER_BYTES];
        h[0..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(self.dtype.width() as u32).to_le_bytes());
        h[16..24].copy_from_slice(&self.tokens.to_le_bytes());
        h[24..32].copy_from_slice(&self.docs.to_le_bytes());
        h[32..40].copy_from_slice(&self.text_bytes.to_le_bytes());
        h[40..44].copy_from_slice(&self.vocab_size.to_le_bytes());
        put_ascii(&mut h[48..112], &self.tokenizer_sha256, path, "tokenizer hash")?;
        put_ascii(&mut h[112..144], &self.lang, path, "language code")?;
        put_ascii(&mut h[144..160], &self.split, path, "split")?;
        Ok(h)
    }

    pub(crate) fn decode(h: &[u8], path: &Path) -> Result<Self> {
        if h.len() < HEADER_BYTES || &h[0..8] != MAGIC {
            return Err(Error::format(path, "not a token shard (no TOKSHARD header)"));
        }
        let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap_or_default());
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap_or_default());
        let version = u32_at(8);
        if version != FORMAT_VERSION {
            return Err(Error::format(
                path,
                format!("shard format version {version}; this build reads version {FORMAT_VERSION}"),
            ));
        }
        let dtype = match u32_at(12) {
            2 => Dtype::U16,
            4 => Dtype::U32,
            w => return Err(Error::format(path, format!("token width {w} bytes; expected 2 or 4"))),
        };
        if let Some(at) = nonzero_padding(h) {
            return Err(Error::format(
                path,
                format!("header byte {at} is {:#04x} where the format has zero padding: corrupted", h[at]),
            ));
        }
        Ok(ShardHeader {
            dtype,
            tokens: u64_at(16),
            docs: u64_at(24),
            text_bytes: u64_at(32),
            vocab_size: u32_at(40),
            tokenizer_sha256: get_ascii(&h[48..112]),
            lang: get_ascii(&h[112..144]),
            split: get_ascii(&h[144..160]),
        })
    }
}

/// What the manifest records about a shard's token data, computed while it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardDigest {
    /// SHA-256 (lower-case hex) of the token data: the bytes after the header.
    pub sha256: String,
    /// The largest id in the shard (0 for a shard without tokens).
    pub max_token_id: u32,
}

/// Writes one shard: a placeholder header, the tokens, then the real header.
pub struct ShardWriter {
    path: PathBuf,
    out: BufWriter<File>,
    header: ShardHeader,
    scratch: Vec<u8>,
    hasher: Sha256,
    max_token_id: u32,
}

impl ShardWriter {
    /// Creates the file; `header` gives everything but the counts.
    pub fn create(path: PathBuf, mut header: ShardHeader) -> Result<Self> {
        header.tokens = 0;
        header.docs = 0;
        header.text_bytes = 0;
        // Fails on fields that do not fit before anything is written.
        header.encode(&path)?;
        let file = File::create(&path).at(&path)?;
        // One writer is open per (split, language): the buffer bounds memory with many languages.
        let mut out = BufWriter::with_capacity(512 << 10, file);
        // The placeholder carries no magic: a shard cut short by a crash is never mistaken
        // for a complete one.
        out.write_all(&[0u8; HEADER_BYTES]).at(&path)?;
        Ok(ShardWriter { path, out, header, scratch: Vec::new(), hasher: Sha256::new(), max_token_id: 0 })
    }

    /// Tokens written so far.
    pub fn tokens(&self) -> u64 {
        self.header.tokens
    }

    /// Appends one document's ids (separator included) and its text size.
    pub fn append(&mut self, ids: &[u32], text_bytes: u64) -> Result<()> {
        self.scratch.clear();
        match self.header.dtype {
            Dtype::U16 => {
                for &id in ids {
                    let id = u16::try_from(id).map_err(|_| {
                        Error::format(
                            &self.path,
                            format!("token id {id} does not fit u16 (vocabulary {})", self.header.vocab_size),
                        )
                    })?;
                    self.scratch.extend_from_slice(&id.to_le_bytes());
                }
            }
            Dtype::U32 => ids.iter().for_each(|id| self.scratch.extend_from_slice(&id.to_le_bytes())),
        }
        self.out.write_all(&self.scratch).at(&self.path)?;
        // The bytes are in hand and hot in cache: hashing them here saves reading the shard back.
        self.hasher.update(&self.scratch);
        self.max_token_id = ids.iter().copied().fold(self.max_token_id, u32::max);
        self.header.tokens += ids.len() as u64;
        self.header.docs += 1;
        self.header.text_bytes += text_bytes;
        Ok(())
    }

    /// Writes the header, flushes and syncs; returns the path, the final header and the digest of
    /// the token data.
    pub fn finish(mut self) -> Result<(PathBuf, ShardHeader, ShardDigest)> {
        let header = self.header.encode(&self.path)?;
        self.out.flush().at(&self.path)?;
        let mut file = self.out.into_inner().map_err(|e| Error::io(&self.path, e.into_error()))?;
        file.seek(SeekFrom::Start(0)).at(&self.path)?;
        file.write_all(&header).at(&self.path)?;
        file.sync_all().at(&self.path)?;
        let digest = ShardDigest { sha256: hex(&self.hasher.finalize()), max_token_id: self.max_token_id };
        Ok((self.path, self.header, digest))
    }
}

/// Token ids of a shard, borrowed from the memory map.
#[derive(Debug, Clone, Copy)]
pub enum Tokens<'a> {
    /// 2-byte ids.
    U16(&'a [u16]),
    /// 4-byte ids.
    U32(&'a [u32]),
}

impl Tokens<'_> {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        match self {
            Tokens::U16(t) => t.len(),
            Tokens::U32(t) => t.len(),
        }
    }

    /// True when there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id at `i`.
    pub fn get(&self, i: usize) -> Option<u32> {
        match self {
            Tokens::U16(t) => t.get(i).map(|&x| u32::from(x)),
            Tokens::U32(t) => t.get(i).copied(),
        }
    }

    /// Appends ids `range` to `out`, widened to `i64` (libtorch's index type), unchecked: the
    /// training stages read through [`crate::TokenStream::window_into`], which checks.
    pub fn extend_i64(&self, range: std::ops::Range<usize>, out: &mut Vec<i64>) {
        match self {
            Tokens::U16(t) => out.extend(t[range].iter().map(|&x| i64::from(x))),
            Tokens::U32(t) => out.extend(t[range].iter().map(|&x| i64::from(x))),
        }
    }

    /// The largest id in `range` (0 when empty).
    pub fn max_in(&self, range: std::ops::Range<usize>) -> u32 {
        // A plain max over the slice: it vectorises, unlike a search that stops early.
        match self {
            Tokens::U16(t) => t[range].iter().copied().max().map_or(0, u32::from),
            Tokens::U32(t) => t[range].iter().copied().max().unwrap_or(0),
        }
    }

    /// The index of the first id in `range` that is `limit` or more.
    pub fn first_at_or_above(&self, range: std::ops::Range<usize>, limit: u32) -> Option<usize> {
        let start = range.start;
        let found = match self {
            Tokens::U16(t) => t[range].iter().position(|&x| u32::from(x) >= limit),
            Tokens::U32(t) => t[range].iter().position(|&x| x >= limit),
        };
        found.map(|i| start + i)
    }

    /// Appends ids `range` to `out` as [`Tokens::extend_i64`] does if every one is below
    /// `limit`; otherwise appends nothing and returns the index of the first that is not.
    pub fn extend_i64_below(
        &self,
        range: std::ops::Range<usize>,
        limit: u32,
        out: &mut Vec<i64>,
    ) -> std::result::Result<(), usize> {
        // The common case costs one vectorised pass over a slice that is about to be copied anyway;
        // the search for the offending position runs only on failure.
        if self.max_in(range.clone()) >= limit {
            return Err(self.first_at_or_above(range.clone(), limit).unwrap_or(range.start));
        }
        self.extend_i64(range, out);
        Ok(())
    }
}

/// A shard opened for reading through a memory map.
#[derive(Debug)]
pub struct Shard {
    path: PathBuf,
    header: ShardHeader,
    mmap: Mmap,
}

impl Shard {
    /// Opens and validates a shard: magic, version, width, and a length that matches the count.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).at(path)?;
        // SAFETY: the map is read-only and corpus directories are written once (built in a
        // temporary directory, then renamed). Truncating a shard while it is mapped is outside
        // the contract, as with any memory-mapped dataset.
        let mmap = unsafe { Mmap::map(&file) }.at(path)?;
        let header = ShardHeader::decode(&mmap, path)?;
        let expected = HEADER_BYTES as u64 + header.tokens * header.dtype.width() as u64;
        if mmap.len() as u64 != expected {
            return Err(Error::format(
                path,
                format!(
                    "holds {} bytes but its header promises {expected} ({} tokens): truncated or corrupted",
                    mmap.len(),
                    header.tokens
                ),
            ));
        }
        Ok(Shard { path: path.to_path_buf(), header, mmap })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header.
    pub fn header(&self) -> &ShardHeader {
        &self.header
    }

    /// The token ids, zero-copy and unchecked (see [`crate::TokenStream::window_into`]).
    pub fn tokens(&self) -> Tokens<'_> {
        let body = &self.mmap[HEADER_BYTES..];
        // The map is page-aligned and the header is 1024 bytes, so the body is aligned for u32.
        match self.header.dtype {
            Dtype::U16 => Tokens::U16(bytemuck::cast_slice(body)),
            Dtype::U32 => Tokens::U32(bytemuck::cast_slice(body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(dtype: Dtype) -> ShardHeader {
        ShardHeader {
            dtype,
            tokens: 0,
            docs: 0,
            text_bytes: 0,
            vocab_size: 70_000,
            tokenizer_sha256: "ab".repeat(32),
            lang: "zh-Hans".into(),
            split: "train".into(),
        }
    }

    #[test]
    fn write_then_read_back_both_widths() {
        let dir = tempfile::tempdir().unwrap();
        for dtype in [Dtype::U16, Dtype::U32] {
            let path = dir.path().join(format!("{dtype:?}.bin"));
            let mut w = ShardWriter::create(path.clone(), header(dtype)).unwrap();
            w.append(&[5, 6, 3], 10).unwrap();
            w.append(&[65_535, 3], 4).unwrap();
            let (_, h, digest) = w.finish().unwrap();
            assert_eq!((h.tokens, h.docs, h.text_bytes), (5, 2, 14));
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(digest.sha256, crate::tokenizer::sha256_hex(&bytes[HEADER_BYTES..]));
            assert_eq!(digest.max_token_id, 65_535);
            let shard = Shard::open(&path).unwrap();
            assert_eq!(shard.header(), &h);
            let mut ids = Vec::new();
            shard.tokens().extend_i64(0..5, &mut ids);
            assert_eq!(ids, vec![5, 6, 3, 65_535, 3]);
        }
    }

    #[test]
    fn overflow_truncation_and_garbage_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        let mut w = ShardWriter::create(path.clone(), header(Dtype::U16)).unwrap();
        assert!(w.append(&[70_000], 1).unwrap_err().to_string().contains("does not fit u16"));
        w.append(&[1, 2, 3], 3).unwrap();
        w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let err = Shard::open(&path).unwrap_err().to_string();
        assert!(err.contains("truncated") && err.contains("a.bin"), "{err}");
        std::fs::write(&path, b"hello").unwrap();
        assert!(Shard::open(&path).unwrap_err().to_string().contains("not a token shard"));
    }

    #[test]
    fn a_flipped_header_byte_outside_the_fields_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        let mut w = ShardWriter::create(path.clone(), header(Dtype::U16)).unwrap();
        w.append(&[1, 2, 3], 3).unwrap();
        w.finish().unwrap();
        let clean = std::fs::read(&path).unwrap();
        // Reserved bytes, the padding after "zh-Hans" and after "train" (past the terminating
        // NUL: a flip there changes the string, which the manifest comparison catches), the tail.
        for at in [45, 112 + 9, 144 + 6, 700, 1023] {
            let mut bytes = clean.clone();
            bytes[at] ^= 0x20;
            std::fs::write(&path, &bytes).unwrap();
            let err = Shard::open(&path).unwrap_err().to_string();
            assert!(err.contains(&format!("header byte {at} ")) && err.contains("a.bin"), "{err}");
        }
    }
}
