//! Keyed randomness: every random decision of a training run (shuffling, reseeding dropout per
//! step) is a pure function of (seed, position), so a resumed run replays it exactly.

/// SplitMix64's finaliser: a bijective 64-bit mix with full avalanche (the corpus sampler uses
/// the same function; the crates do not depend on each other).
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Seeds libtorch's generator (dropout) for optimizer step `step` of a run seeded `seed`.
pub fn seed_step(seed: u64, step: u64) {
    tch::manual_seed((mix(seed ^ mix(step)) >> 1) as i64);
}
