//! The one error type of the crate. Every variant names the file (and line, key or offset) it is
//! about, so a message alone tells the user where to look.

use std::path::{Path, PathBuf};

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while building or reading a corpus.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed (the cause follows in the error chain).
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A document in an input file is malformed (invalid UTF-8, bad JSON, a NUL byte, ...).
    #[error("{}:{line}: {reason}", path.display())]
    Input {
        /// The input file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong, with a hint where one helps.
        reason: String,
    },
    /// The inputs as a whole are unusable (missing, empty, a directory laid out wrongly).
    #[error("{}: {reason}", path.display())]
    Inputs {
        /// The input path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A Parquet input file is unusable (a column missing or of the wrong type, a codec left
    /// out of this build) or holds a bad value.
    #[error(transparent)]
    Parquet(#[from] crate::parquet_file::ParquetError),
    /// A build configuration is invalid.
    #[error("{}: {reason}", origin)]
    Config {
        /// Where the setting came from: a config file path or "command line".
        origin: String,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// A tokenizer could not be loaded, trained or used.
    #[error("tokenizer {}: {reason}", path.display())]
    Tokenizer {
        /// The tokenizer file, or the output it was to be written to.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A corpus directory, manifest or shard is not what its format promises.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A token id read from a shard is not in the vocabulary: never handed on, since an
    /// embedding lookup would fail far from the cause (or not at all).
    #[error(
        "{}: token {token} (byte {byte}) of this {split} shard of {lang} is id {id}, outside the vocabulary of {vocab_size} ids: the shard is corrupted or was encoded with another tokenizer (`corpus verify` checks every shard; rebuild the corpus with the right tokenizer)",
        path.display()
    )]
    OutOfVocabulary {
        /// The shard file.
        path: PathBuf,
        /// Its language.
        lang: String,
        /// Its split.
        split: String,
        /// Index of the token in the shard (0 is the first after the header).
        token: u64,
        /// Byte offset of the token in the file.
        byte: u64,
        /// The id found.
        id: u32,
        /// The vocabulary size of the corpus tokenizer.
        vocab_size: usize,
    },
    /// The output directory cannot be written as asked.
    #[error("output {}: {reason}", path.display())]
    Output {
        /// The output directory.
        path: PathBuf,
        /// What is wrong, and what to do.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn format(path: &Path, reason: impl Into<String>) -> Self {
        Error::Format { path: path.to_path_buf(), reason: reason.into() }
    }

    pub(crate) fn tokenizer(path: &Path, reason: impl std::fmt::Display) -> Self {
        Error::Tokenizer { path: path.to_path_buf(), reason: reason.to_string() }
    }
}

/// Attaches a path to an `std::io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
