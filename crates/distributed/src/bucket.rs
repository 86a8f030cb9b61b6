//! DDP-style buckets: consecutive tensors of one dtype and device, up to a byte limit, travel as
//! one flat buffer, so a model's ~200 gradients take a few large collectives instead of ~200
//! small ones.

use std::ops::Range;

/// The bucket size PyTorch DDP uses by default (`bucket_cap_mb=25`).
pub const DEFAULT_BUCKET_BYTES: usize = 25 * 1024 * 1024;

/// Splits tensors, given as (group key, size in bytes), into runs of consecutive tensors with the
/// same key whose sizes add up to at most `limit` bytes. A tensor larger than `limit` forms a run
/// of its own.
pub(crate) fn plan<K: PartialEq>(tensors: &[(K, usize)], limit: usize) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, (key, size)) in tensors.iter().enumerate() {
        let same_key = i > start && tensors[start].0 == *key;
        if i > start && (!same_key || bytes + size > limit) {
            runs.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < tensors.len() {
        runs.push(start..tensors.len());
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_respect_the_limit_and_the_key() {
        let t = [(0, 4), (0, 4), (0, 4), (0, 20), (0, 1), (1, 1), (1, 1)];
        assert_eq!(plan(&t, 8), vec![0..2, 2..3, 3..4, 4..5, 5..7]);
        assert_eq!(plan(&t, 100), vec![0..5, 5..7]);
        assert_eq!(plan::<u8>(&[], 8), Vec::<Range<usize>>::new());
        assert_eq!(plan(&[(0, 9)], 8), vec![0..1]);
    }
}
