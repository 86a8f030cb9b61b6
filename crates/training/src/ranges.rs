//! The range rules of numeric settings, checked once when a config is loaded (after `--set`),
//! so that a negative learning rate or a β of 1.5 is an error before anything runs, never a
//! silently odd training. Each failed rule is an [`Invalid`] naming its key; [`explain`] adds
//! where the value came from: the `--set` that gave it, or the file and line.

use crate::overrides::origin_of;

/// A setting that breaks its rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The dotted key (`objective.k`, `learning_rate`).
    pub key: String,
    /// The value and the rule it breaks.
    pub message: String,
}

impl Invalid {
    /// `key` breaks the rule `message` says.
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        Invalid { key: key.to_string(), message: message.into() }
    }
}

/// Checks.
pub type Check = Result<(), Invalid>;

fn rule(ok: bool, key: &str, value: impl std::fmt::Display, what: &str) -> Check {
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(key, format!("{key} = {value}: must be {what}")))
    }
}

/// Finite and > 0 (learning rates, ε, epochs).
pub fn positive(key: &str, v: f64) -> Check {
    rule(v.is_finite() && v > 0.0, key, v, "a finite number > 0")
}

/// Finite and ≥ 0 (weight decay, clipping with 0 = off).
pub fn non_negative(key: &str, v: f64) -> Check {
    rule(v.is_finite() && v >= 0.0, key, v, "a finite number ≥ 0")
}

/// In [0, 1) (Adam's βs, dropout probabilities).
pub fn fraction(key: &str, v: f64) -> Check {
    rule((0.0..1.0).contains(&v), key, v, "in [0, 1)")
}

/// Finite, of either sign (thresholds).
pub fn finite(key: &str, v: f64) -> Check {
    rule(v.is_finite(), key, v, "a finite number")
}

/// At least `min` (sizes and counts).
pub fn at_least<T: PartialOrd + std::fmt::Display>(key: &str, v: T, min: T) -> Check {
    let what = format!("at least {min}");
    rule(v >= min, key, v, &what)
}

/// The error text of `e` for a config read from `file` (whose text is `text`) with
/// `overrides`: `--set learning_rate=-1: learning_rate = -1: must be …`, or `run.toml:12: …`.
pub fn explain(e: &Invalid, text: &str, file: &str, overrides: &[String]) -> String {
    format!("{}: {}", origin_of(&e.key, text, file, overrides), e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_refuses_what_it_says_and_names_the_origin() {
        assert!(positive("optim.lr", 1e-3).is_ok());
        for bad in [0.0, -1e-3, f64::NAN, f64::INFINITY] {
            assert_eq!(positive("optim.lr", bad).unwrap_err().key, "optim.lr");
        }
        assert!(non_negative("optim.grad_clip", 0.0).is_ok() && non_negative("optim.grad_clip", -1.0).is_err());
        assert!(fraction("optim.beta1", 0.0).is_ok() && fraction("optim.beta1", 1.0).is_err());
        assert!(fraction("optim.beta1", 1.5).is_err() && fraction("optim.beta1", f64::NAN).is_err());
        assert!(at_least("optim.batch_size", 0, 1).is_err() && at_least("optim.batch_size", 1, 1).is_ok());

        let text = "name = \"x\"\n\n[optim]\nlr = -1.0\n";
        let e = positive("optim.lr", -1.0).unwrap_err();
        assert_eq!(explain(&e, text, "run.toml", &[]), "run.toml:4: optim.lr = -1: must be a finite number > 0");
        let set = ["optim.lr=-2".to_string()];
        assert!(explain(&e, text, "run.toml", &set).starts_with("--set optim.lr=-2: "));
        let e = fraction("optim.beta1", 1.5).unwrap_err();
        assert!(explain(&e, text, "run.toml", &[]).starts_with("run.toml (optim.beta1 not set: its default): "));
    }
}
