"""`finetune predict`'s classification output against transformers' `pipeline` on the same model
directory, loaded with no extra arguments: pipeline("text-classification", model=DIR) with
truncation=True, which this pipeline needs by transformers' design (it passes the call's
tokenizer arguments only, so a row longer than the position table fails without it); it then
cuts inputs at the tokenizer's model_max_length, as predict cuts them.

usage: hf_pipeline.py MODEL_DIR INPUT.jsonl PREDICTIONS.jsonl
       → prints {"rows", "labels_equal", "max_probability_difference", "model_max_length",
                 "rows_longer"} (rows_longer: rows of more tokens than model_max_length)
"""

import sys

from hf_defaults import read_jsonl, report

import torch  # noqa: E402
from transformers import pipeline  # noqa: E402

model_dir, inputs, predictions = sys.argv[1:4]
texts = [row["text"] for row in read_jsonl(inputs)]
ours = read_jsonl(predictions)
classify = pipeline("text-classification", model=model_dir, device="cpu")
theirs = classify(texts, truncation=True, top_k=None)
labels_equal, max_diff = 0, 0.0
for mine, scores in zip(ours, theirs):
    by_label = {s["label"]: s["score"] for s in scores}
    best = max(scores, key=lambda s: s["score"])["label"]
    labels_equal += best == mine["label"]
    probabilities = torch.tensor(mine["logits"], dtype=torch.float64).softmax(-1)
    labels = classify.model.config.id2label
    for i, p in enumerate(probabilities.tolist()):
        max_diff = max(max_diff, abs(p - by_label[labels[i]]))
max_length = classify.tokenizer.model_max_length
longer = sum(len(ids) > max_length for ids in classify.tokenizer(texts)["input_ids"])
report(rows=len(ours), labels_equal=labels_equal, max_probability_difference=max_diff,
       model_max_length=max_length, rows_longer=longer)
