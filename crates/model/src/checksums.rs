//! Content hashes of a directory's files, so that nothing corrupted after writing is trained on,
//! resumed from or handed over. Each file's SHA-256 is computed while it is written and listed in
//! `checksums.sha256` in `sha256sum`'s format (`sha256sum -c checksums.sha256` checks it by
//! hand); [`verify`] re-hashes the files, in parallel, and names the first that differs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The list of hashes in a directory.
pub const CHECKSUMS_FILE: &str = "checksums.sha256";

/// A writer that hashes what passes through it.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new() }
    }

    /// The hex SHA-256 of everything written, and the inner writer.
    pub fn finish(self) -> (String, W) {
        (hex(&self.hasher.finalize()), self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path`, synced; returns their hex SHA-256.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<String> {
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = HashingWriter::new(file);
    w.write_all(bytes).map_err(|e| Error::io(path, e))?;
    let (digest, file) = w.finish();
    file.sync_all().map_err(|e| Error::io(path, e))?;
    Ok(digest)
}

/// The hex SHA-256 of a file's content (memory-mapped, so that large weights are not copied).
pub fn hash_file(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len == 0 {
        return Ok(hex(&Sha256::digest([])));
    }
    // SAFETY: read-only map; a file changed while hashed gives a mismatch, which is reported.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    Ok(hex(&Sha256::digest(&map[..])))
}

/// File name → hex SHA-256, as recorded at write time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checksums(pub BTreeMap<String, String>);

impl Checksums {
    /// Records `name`'s hash.
    pub fn insert(&mut self, name: &str, digest: String) {
        self.0.insert(name.to_string(), digest);
    }

    /// Writes `checksums.sha256` into `dir` (synced).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text: String = self.0.iter().map(|(name, digest)| format!("{digest}  {name}\n")).collect();
        write_file(&dir.join(CHECKSUMS_FILE), text.as_bytes()).map(|_| ())
    }

    /// Reads `dir`'s `checksums.sha256`; `None` when there is none (a directory written
    /// elsewhere).
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(CHECKSUMS_FILE);
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| corrupt(&path, "not UTF-8".into()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut sums = Checksums::default();
        for (i, line) in text.lines().enumerate() {
            let parsed = line.split_once("  ").filter(|(d, n)| {
                d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()) && !n.is_empty() && !n.contains('/')
            });
            let Some((digest, name)) = parsed else {
                return Err(corrupt(&path, format!("line {}: expected `<sha256>  <file name>`", i + 1)));
            };
            sums.insert(name, digest.to_ascii_lowercase());
        }
        Ok(Some(sums))
    }
}

fn corrupt(path: &Path, reason: String) -> Error {
    Error::Integrity { path: path.to_path_buf(), reason }
}

/// What [`verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// Every listed file is there with its recorded hash.
    Verified {
        /// Files checked.
        files: usize,
    },
    /// No `checksums.sha256`: written by another tool, nothing to check against.
    Unrecorded,
}

/// Checks every file listed in `dir`'s `checksums.sha256` against its recorded hash, and that
/// each of `required` is listed. The error names the first file that is missing or differs.
pub fn verify(dir: &Path, required: &[&str]) -> Result<Integrity> {
    let Some(sums) = Checksums::read(dir)? else { return Ok(Integrity::Unrecorded) };
    if let Some(name) = required.iter().find(|n| dir.join(n).exists() && !sums.0.contains_key(**n)) {
        return Err(corrupt(&dir.join(name), format!("not listed in {CHECKSUMS_FILE}")));
    }
    let mismatch: Option<(PathBuf, String)> = sums
        .0
        .par_iter()
        .filter_map(|(name, want)| {
            let path = dir.join(name);
            match hash_file(&path) {
                Ok(have) if &have == want => None,
                Ok(_) => Some((
                    path,
                    format!("content differs from its SHA-256 in {CHECKSUMS_FILE} (corrupted after writing)"),
                )),
                Err(e) => Some((path, format!("cannot be read: {e}"))),
            }
        })
        .min_by(|a, b| a.0.cmp(&b.0));
    match mismatch {
        Some((path, reason)) => Err(corrupt(&path, reason)),
        None => Ok(Integrity::Verified { files: sums.0.len() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flipped_byte_is_found_and_named() {
        let tmp = tempfile::tempdir().unwrap();
        let mut sums = Checksums::default();
        for (name, content) in [("a.bin", b"hello".as_slice()), ("b.json", b"{}")] {
            sums.insert(name, write_file(&tmp.path().join(name), content).unwrap());
        }
        sums.write(tmp.path()).unwrap();
        assert_eq!(sums.0["a.bin"], hex(&Sha256::digest(b"hello")));
        assert_eq!(verify(tmp.path(), &["a.bin"]).unwrap(), Integrity::Verified { files: 2 });
        std::fs::write(tmp.path().join("a.bin"), b"hellp").unwrap();
        let err = verify(tmp.path(), &[]).unwrap_err().to_string();
        assert!(err.contains("a.bin") && err.contains("differs"), "{err}");
        std::fs::remove_file(tmp.path().join("a.bin")).unwrap();
        let err = verify(tmp.path(), &[]).unwrap_err().to_string();
        assert!(err.contains("a.bin") && err.contains("cannot be read"), "{err}");
        std::fs::write(tmp.path().join("c.txt"), b"x").unwrap();
        let err = verify(tmp.path(), &["c.txt"]).unwrap_err().to_string();
        assert!(err.contains("c.txt") && err.contains("not listed"), "{err}");
        std::fs::remove_file(tmp.path().join(CHECKSUMS_FILE)).unwrap();
        assert_eq!(verify(tmp.path(), &["c.txt"]).unwrap(), Integrity::Unrecorded);
    }
}
