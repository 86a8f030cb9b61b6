//! Sequence-classification scores: accuracy and macro-F1 (the mean of per-label F1 over every
//! label that occurs in the truth or the predictions, as scikit-learn's `f1_score(average="macro")`).

use std::collections::BTreeSet;

/// Share of right predictions.
pub fn accuracy(truth: &[usize], predicted: &[usize]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    truth.iter().zip(predicted).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64
}

/// Macro-averaged F1.
pub fn macro_f1(truth: &[usize], predicted: &[usize]) -> f64 {
    let labels: BTreeSet<usize> = truth.iter().chain(predicted).copied().collect();
    if labels.is_empty() {
        return 0.0;
    }
    let per_label = labels.iter().map(|&l| {
        let tp = truth.iter().zip(predicted).filter(|(a, b)| **a == l && **b == l).count() as f64;
        let fp = predicted.iter().filter(|&&p| p == l).count() as f64 - tp;
        let fn_ = truth.iter().filter(|&&t| t == l).count() as f64 - tp;
        if tp == 0.0 {
            0.0
        } else {
            2.0 * tp / (2.0 * tp + fp + fn_)
        }
    });
    per_label.sum::<f64>() / labels.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_macro_f1_as_scikit_learn() {
        // sklearn: f1_score([0,1,2,0,1,2], [0,2,1,0,0,1], average="macro") = 0.2666…
        let (t, p) = ([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1]);
        assert!((macro_f1(&t, &p) - 0.8 / 3.0).abs() < 1e-12);
        assert!((accuracy(&t, &p) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(macro_f1(&[1, 1], &[1, 1]), 1.0);
    }
}
