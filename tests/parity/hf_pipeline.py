"""`finetune predict`'s classification output against transformers' `pipeline` on the same model
directory, loaded with no extra arguments: pipeline("text-classification", model=DIR) with
truncation (inputs cut at the tokenizer's model_max_length, as predict cuts them).

usage: hf_pipeline.py MODEL_DIR INPUT.jsonl PREDICTIONS.jsonl
       → prints {"rows", "labels_equal", "max_probability_difference"}
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from transformers import pipeline  # noqa: E402

model_dir, inputs, predictions = sys.argv[1:4]
texts = [json.loads(line)["text"] for line in open(inputs, encoding="utf-8") if line.strip()]
ours = [json.loads(line) for line in open(predictions, encoding="utf-8") if line.strip()]
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
print(json.dumps({"rows": len(ours), "labels_equal": labels_equal, "max_probability_difference": max_diff}))
