"""A model directory we wrote, loaded the way a transformers user does, with no extra arguments:
AutoTokenizer (must run tokenizer.json as is: no lower-casing or accent stripping, inputs cut
at model_max_length) and AutoModelForSequenceClassification (must be a bidirectional encoder:
is_decoder false, so [CLS] sees the whole input and its state differs between inputs).

usage: hf_roundtrip.py MODEL_DIR TEXT...   → prints {"tokenizer_class", "ids", "model_max_length",
       "truncated_length", "is_decoder", "cls_states_differ"}
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

model_dir, texts = sys.argv[1], sys.argv[2:]
tokenizer = AutoTokenizer.from_pretrained(model_dir)
ids = [tokenizer(t)["input_ids"] for t in texts]
long = tokenizer(" ".join(texts) * 200, truncation=True)["input_ids"]
config = AutoConfig.from_pretrained(model_dir)
torch.manual_seed(0)
model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3).eval()
with torch.no_grad():
    batch = tokenizer(texts[:2], padding=True, return_tensors="pt")
    # Under causal attention [CLS] would see only itself: its state the same for every input.
    cls = model.bert(**batch).last_hidden_state[:, 0]
print(json.dumps({
    "tokenizer_class": type(tokenizer).__name__,
    "ids": ids,
    "model_max_length": tokenizer.model_max_length,
    "truncated_length": len(long),
    "is_decoder": config.is_decoder,
    "cls_states_differ": bool((cls[0] - cls[1]).abs().max() > 1e-3),
}))
