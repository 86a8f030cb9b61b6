//! Errors of the training machinery, each naming the file or setting concerned.

use std::path::PathBuf;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong.
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
    /// A configuration or override is invalid.
    #[error("{origin}: {reason}")]
    Config {
        /// The file or `--set`.
        origin: String,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// A checkpoint cannot be written or used.
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another run holds the run directory.
    #[error("run directory {}: {reason}", path.display())]
    Locked {
        /// The run directory.
        path: PathBuf,
        /// Who holds it and what to do.
        reason: String,
    },
    /// From the model crate.
    #[error(transparent)]
    Model(#[from] model::Error),
    /// From libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Attaches a path to an `std::io::Result`.
pub trait IoContext<T> {
    /// The result, with `path` named on error.
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::Io { path: path.to_path_buf(), source })
    }
}
