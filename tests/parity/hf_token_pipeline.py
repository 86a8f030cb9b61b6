"""`finetune predict`'s token classification against transformers on the same model directory,
loaded with no extra arguments: pipeline("token-classification", model=DIR) on each sentence
as a string (its words joined by spaces), and AutoTokenizer + AutoModelForTokenClassification.
Every word is compared at its first sub-token, the one starting where the word starts:
ignore_labels=[] keeps every tag (its default drops "O"), and the default aggregation ("none")
gives one entry per sub-token, not adjacent words of one tag merged. The pipeline cuts inputs
at the tokenizer's model_max_length by itself; a word predict left untagged (null: cut by
truncation) must have no entry in the pipeline either (cut_tagged counts those that do).

usage: hf_token_pipeline.py MODEL_DIR OURS.jsonl   (rows {"tokens", "tags", "logits"}: predict's
       tags and our model's logits per word, null where cut)
       → prints {"words", "cut", "cut_tagged", "labels_equal", "max_score_difference", "max_logit_difference",
                 "model_max_length"}
"""

import sys

from hf_defaults import read_jsonl, report

import torch  # noqa: E402
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline  # noqa: E402

model_dir, ours = sys.argv[1], read_jsonl(sys.argv[2])
tag = pipeline("token-classification", model=model_dir, device="cpu")
tokenizer = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
words = cut = cut_tagged = labels_equal = 0
max_score, max_logit = 0.0, 0.0
for row in ours:
    sentence = " ".join(row["tokens"])
    starts, at = [], 0
    for w in row["tokens"]:
        starts.append(at)
        at += len(w) + 1
    entities = {e["start"]: e for e in tag(sentence, ignore_labels=[])}
    enc = tokenizer(sentence, truncation=True, return_offsets_mapping=True, return_special_tokens_mask=True,
                    return_tensors="pt")
    first = {int(o[0]): i for i, (o, special) in enumerate(zip(enc.pop("offset_mapping")[0],
                                                                 enc.pop("special_tokens_mask")[0])) if not special}
    with torch.no_grad():
        logits = model(**enc).logits[0]
    for start, mine, mine_logits in zip(starts, row["tags"], row["logits"]):
        words += 1
        if mine is None:
            cut += 1
            cut_tagged += start in entities or start in first
            continue
        e = entities.get(start, {"entity": None, "score": -1.0})  # missing: a difference of at least 1
        labels_equal += e["entity"] == mine
        mine_logits = torch.tensor(mine_logits, dtype=torch.float64)
        max_score = max(max_score, abs(mine_logits.softmax(-1).max().item() - float(e["score"])))
        if start in first:
            max_logit = max(max_logit, (logits[first[start]].double() - mine_logits).abs().max().item())
report(words=words, cut=cut, cut_tagged=cut_tagged, labels_equal=labels_equal, max_score_difference=max_score,
       max_logit_difference=max_logit, model_max_length=tokenizer.model_max_length)
