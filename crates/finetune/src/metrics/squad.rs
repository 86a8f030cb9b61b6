//! Extractive-QA scores: exact match and F1 as the official SQuAD script computes them, with two
//! changes that make them meaningful beyond English (as MLQA's evaluation does): punctuation is
//! any Unicode punctuation, and characters of scripts written without spaces (Han, kana, Thai,
//! ...) are tokens of their own, so F1 becomes character-level there.

/// True for characters of scripts written without spaces between words.
fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0E7F   // Thai
        | 0x0E80..=0x0EFF // Lao
        | 0x1000..=0x109F // Myanmar
        | 0x1780..=0x17FF // Khmer
        | 0x3040..=0x30FF // Hiragana, Katakana
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xF900..=0xFAFF // CJK compatibility ideographs
        | 0x20000..=0x2FA1F)
}

/// Unicode general category P* (what `unicodedata.category(c).startswith("P")` selects), plus
/// the ASCII punctuation of `string.punctuation` (some of which Unicode files under symbols).
fn punctuation(c: char) -> bool {
    use unicode_general_category::{get_general_category, GeneralCategory as G};
    c.is_ascii_punctuation()
        || matches!(
            get_general_category(c),
            G::ConnectorPunctuation
                | G::DashPunctuation
                | G::OpenPunctuation
                | G::ClosePunctuation
                | G::InitialPunctuation
                | G::FinalPunctuation
                | G::OtherPunctuation
        )
}

/// SQuAD's `normalize_answer`: lower case, drop punctuation and English articles, collapse
/// whitespace; then split into tokens (unspaced-script characters on their own).
pub fn normalized_tokens(text: &str) -> Vec<String> {
    let lowered: String = text.to_lowercase().chars().map(|c| if punctuation(c) { ' ' } else { c }).collect();
    let mut tokens = Vec::new();
    for word in lowered.split_whitespace() {
        if matches!(word, "a" | "an" | "the") {
            continue;
        }
        let mut run = String::new();
        for c in word.chars() {
            if unspaced(c) {
                if !run.is_empty() {
                    tokens.push(std::mem::take(&mut run));
                }
                tokens.push(c.to_string());
            } else {
                run.push(c);
            }
        }
        if !run.is_empty() {
            tokens.push(run);
        }
    }
    tokens
}

/// 1.0 when the normalised prediction equals the normalised answer.
pub fn exact_match(prediction: &str, answer: &str) -> f64 {
    f64::from(u8::from(normalized_tokens(prediction) == normalized_tokens(answer)))
}

/// Token-overlap F1 (bag of tokens); both empty (an unanswerable question answered with
/// nothing) is 1.
pub fn f1(prediction: &str, answer: &str) -> f64 {
    let p = normalized_tokens(prediction);
    let a = normalized_tokens(answer);
    if p.is_empty() || a.is_empty() {
        return f64::from(u8::from(p.is_empty() && a.is_empty()));
    }
    let mut counts: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for t in &a {
        *counts.entry(t).or_default() += 1;
    }
    let mut common = 0;
    for t in &p {
        if let Some(c) = counts.get_mut(t.as_str()) {
            if *c > 0 {
                *c -= 1;
                common += 1;
            }
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / p.len() as f64;
    let recall = common as f64 / a.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// The best score of `prediction` over the gold `answers` (no answers: unanswerable).
pub fn best_over(answers: &[String], prediction: &str, metric: fn(&str, &str) -> f64) -> f64 {
    if answers.is_empty() {
        return metric(prediction, "");
    }
    answers.iter().map(|a| metric(prediction, a)).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squad_normalisation_and_scores() {
        assert_eq!(exact_match("The Eiffel Tower!", "eiffel tower"), 1.0);
        assert_eq!(f1("in the year 1889", "1889"), 0.5);
        assert!((f1("Denver Broncos", "the Denver Broncos won") - 0.8).abs() < 1e-12);
        assert_eq!(f1("", ""), 1.0);
        assert_eq!(f1("something", ""), 0.0);
        let answers = vec!["Paris".to_string(), "the city of Paris".to_string()];
        assert_eq!(best_over(&answers, "city of Paris", exact_match), 1.0);
    }

    #[test]
    fn unspaced_scripts_are_scored_per_character_and_non_latin_kept() {
        // 东京都 vs 东京: 2 of 3 characters → P 1, R 2/3, F1 0.8.
        assert!((f1("东京", "东京都") - 0.8).abs() < 1e-12);
        assert_eq!(exact_match("「東京」", "東京"), 1.0, "CJK punctuation is removed");
        assert_eq!(normalized_tokens("Москва, 1147 г."), vec!["москва", "1147", "г"]);
        assert_eq!(normalized_tokens("नमस्ते दुनिया"), vec!["नमस्ते", "दुनिया"], "Devanagari signs are kept");
        assert_eq!(normalized_tokens("القاهرة."), vec!["القاهرة"]);
        assert_eq!(normalized_tokens("100 € ©"), vec!["100", "€", "©"], "symbols are not punctuation");
    }
}
