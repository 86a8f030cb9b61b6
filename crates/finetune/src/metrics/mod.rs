//! Evaluation metrics of the fine-tuning tasks, each matching the reference implementation users
//! compare against: seqeval for entities, the SQuAD script (made script-aware) for QA, and
//! accuracy / macro-F1 for classification.

pub mod classification;
pub mod seqeval;
pub mod squad;
