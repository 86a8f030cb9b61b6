//! Entity-level precision, recall and F1 with seqeval's default (lenient, conlleval-like)
//! semantics for BIO / IOB2, IOB1 and BIOES tags, and token accuracy for POS.
//!
//! As `seqeval.metrics.sequence_labeling.get_entities`: sentences are joined with an `O` between
//! them; a chunk ends and starts at the transitions seqeval lists (an `I-X` after `O` starts an
//! entity; a change of type ends one), and scores are micro-averaged over (type, start, end).

use std::collections::{BTreeMap, HashSet};

/// An entity: (type, first token, last token) in the joined sequence.
pub type Entity = (String, usize, usize);

fn split(tag: &str) -> (char, &str) {
    let mut chars = tag.chars();
    let prefix = chars.next().unwrap_or('O');
    let rest = chars.as_str();
    let kind = rest.split_once('-').map_or(rest, |(_, t)| t);
    (prefix, if kind.is_empty() { "_" } else { kind })
}

fn end_of_chunk(prev: char, tag: char, prev_type: &str, kind: &str) -> bool {
    matches!(prev, 'E' | 'S')
        || (prev == 'B' && matches!(tag, 'B' | 'S' | 'O'))
        || (prev == 'I' && matches!(tag, 'B' | 'S' | 'O'))
        || (prev != 'O' && prev != '.' && prev_type != kind)
}

fn start_of_chunk(prev: char, tag: char, prev_type: &str, kind: &str) -> bool {
    matches!(tag, 'B' | 'S')
        || (matches!(prev, 'E' | 'S' | 'O') && matches!(tag, 'E' | 'I'))
        || (tag != 'O' && tag != '.' && prev_type != kind)
}

/// The entities of sentences of tags.
pub fn entities<S: AsRef<str>>(sentences: &[Vec<S>]) -> Vec<Entity> {
    let mut joined: Vec<&str> = Vec::new();
    for s in sentences {
        joined.extend(s.iter().map(AsRef::as_ref));
        joined.push("O");
    }
    joined.push("O");
    let mut chunks = Vec::new();
    let (mut prev, mut prev_type, mut begin) = ('O', "", 0usize);
    for (i, tag) in joined.iter().enumerate() {
        let (t, kind) = split(tag);
        if end_of_chunk(prev, t, prev_type, kind) {
            chunks.push((prev_type.to_string(), begin, i.saturating_sub(1)));
        }
        if start_of_chunk(prev, t, prev_type, kind) {
            begin = i;
        }
        prev = t;
        prev_type = kind;
    }
    chunks
}

/// Precision, recall, F1 and support.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Prf {
    /// Correct / predicted.
    pub precision: f64,
    /// Correct / true.
    pub recall: f64,
    /// Harmonic mean.
    pub f1: f64,
    /// True entities.
    pub support: usize,
}

fn prf(correct: usize, predicted: usize, truth: usize) -> Prf {
    let precision = if predicted == 0 { 0.0 } else { correct as f64 / predicted as f64 };
    let recall = if truth == 0 { 0.0 } else { correct as f64 / truth as f64 };
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    Prf { precision, recall, f1, support: truth }
}

/// Micro-averaged scores over all entities, and per entity type.
pub fn entity_scores<S: AsRef<str>>(truth: &[Vec<S>], predicted: &[Vec<S>]) -> (Prf, BTreeMap<String, Prf>) {
    let t: HashSet<Entity> = entities(truth).into_iter().collect();
    let p: HashSet<Entity> = entities(predicted).into_iter().collect();
    let overall = prf(t.intersection(&p).count(), p.len(), t.len());
    let types: std::collections::BTreeSet<&String> = t.iter().chain(&p).map(|e| &e.0).collect();
    let per_type = types
        .into_iter()
        .map(|kind| {
            let tk: HashSet<&Entity> = t.iter().filter(|e| &e.0 == kind).collect();
            let pk: HashSet<&Entity> = p.iter().filter(|e| &e.0 == kind).collect();
            (kind.clone(), prf(tk.intersection(&pk).count(), pk.len(), tk.len()))
        })
        .collect();
    (overall, per_type)
}

/// Share of tokens whose tag is right (POS accuracy; seqeval's `accuracy_score`).
pub fn token_accuracy<S: AsRef<str>>(truth: &[Vec<S>], predicted: &[Vec<S>]) -> f64 {
    let (mut right, mut all) = (0usize, 0usize);
    for (t, p) in truth.iter().zip(predicted) {
        for (a, b) in t.iter().zip(p) {
            right += usize::from(a.as_ref() == b.as_ref());
            all += 1;
        }
    }
    if all == 0 {
        0.0
    } else {
        right as f64 / all as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(tags: &[&[&'static str]]) -> Vec<Vec<&'static str>> {
        tags.iter().map(|s| s.to_vec()).collect()
    }

    #[test]
    fn seqeval_readme_example() {
        // seqeval's README: f1 0.50, precision 0.50, recall 0.50, accuracy 0.80.
        let truth = v(&[&["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], &["B-PER", "I-PER", "O"]]);
        let pred = v(&[&["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], &["B-PER", "I-PER", "O"]]);
        let (s, per_type) = entity_scores(&truth, &pred);
        assert_eq!((s.precision, s.recall, s.f1, s.support), (0.5, 0.5, 0.5, 2));
        assert_eq!(per_type["PER"].f1, 1.0);
        assert_eq!(per_type["MISC"].f1, 0.0);
        assert!((token_accuracy(&truth, &pred) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn lenient_chunking_as_seqeval() {
        // I- after O starts an entity; a type change ends one; BIOES singletons and ends.
        assert_eq!(
            entities(&v(&[&["O", "I-LOC", "I-LOC", "I-PER"]])),
            vec![("LOC".into(), 1, 2), ("PER".into(), 3, 3)]
        );
        assert_eq!(
            entities(&v(&[&["S-ORG", "B-PER", "E-PER", "O"]])),
            vec![("ORG".into(), 0, 0), ("PER".into(), 1, 2)]
        );
        assert_eq!(
            entities(&v(&[&["B-X", "B-X"], &["I-X"]])),
            vec![("X".into(), 0, 0), ("X".into(), 1, 1), ("X".into(), 3, 3)]
        );
        // Types with hyphens and bare tags (Japanese NER sets use "B-DATE", OntoNotes "B-WORK_OF_ART").
        assert_eq!(entities(&v(&[&["B-geo-loc", "I-geo-loc"]])), vec![("geo-loc".into(), 0, 1)]);
    }
}
