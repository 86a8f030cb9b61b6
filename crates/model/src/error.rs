//! The error type of the model crate: every variant names the file, key or tensor concerned.

use std::path::{Path, PathBuf};

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong building, loading or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed (the cause follows in the chain).
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `config.json` is missing a usable value.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// A weights file is malformed, or a tensor does not fit the model.
    #[error("{}: {reason}", path.display())]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What is wrong, naming the tensor.
        reason: String,
    },
    /// A model directory lacks something, or holds something refused.
    #[error("{}: {reason}", path.display())]
    ModelDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The tokenizer files could not be read or built.
    #[error("tokenizer {}: {reason}", path.display())]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file differs from the hash recorded when it was written, or is not listed.
    #[error("{}: {reason}", path.display())]
    Integrity {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// An input does not fit the model (sequence too long, wrong shape).
    #[error("{0}")]
    Input(String),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn weights(path: &Path, reason: impl Into<String>) -> Self {
        Error::Weights { path: path.to_path_buf(), reason: reason.into() }
    }
}
