"""Our pretrained encoder fine-tuned the way a transformers user does, with no extra arguments
to from_pretrained: AutoModelForSequenceClassification + AutoTokenizer, a few steps of
Trainer, then logits for inputs that differ. Under causal attention (is_decoder true) [CLS]
sees only itself, so every input gets the same logits: their spread shows which it ran. Also
AutoModelForTokenClassification and AutoModelForQuestionAnswering loaded from it, with what
from_pretrained reports as missing (newly initialised) and unexpected.

usage: hf_trainer.py MODEL_DIR TRAIN.jsonl (rows {"text", "label": 0|1}) WORK_DIR
       → prints {"is_decoder", "train_loss", "logit_spread", "loading": {class: {"missing",
                 "unexpected", "mismatched"}}}
"""

import contextlib
import sys

from hf_defaults import read_jsonl, report

import torch  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)

model_dir, rows, work_dir = sys.argv[1], read_jsonl(sys.argv[2]), sys.argv[3]
tokenizer = AutoTokenizer.from_pretrained(model_dir)
torch.manual_seed(0)
model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
train = [dict(tokenizer(r["text"], truncation=True), labels=r["label"]) for r in rows]
args = TrainingArguments(output_dir=work_dir, max_steps=20, per_device_train_batch_size=8, learning_rate=5e-3,
                         report_to=[], save_strategy="no", use_cpu=True, seed=0)
with contextlib.redirect_stdout(sys.stderr):  # Trainer prints its logs: stdout is for the report
    result = Trainer(model=model, args=args, train_dataset=train, processing_class=tokenizer,
                     data_collator=DataCollatorWithPadding(tokenizer)).train()
model.eval()
with torch.no_grad():
    batch = tokenizer([r["text"] for r in rows], truncation=True, padding=True, return_tensors="pt")
    logits = model(**batch).logits
loading = {}
for auto in (AutoModelForTokenClassification, AutoModelForQuestionAnswering):
    _, info = auto.from_pretrained(model_dir, output_loading_info=True)
    loading[auto.__name__] = {k: sorted(info[k]) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
report(is_decoder=model.config.is_decoder, train_loss=result.training_loss,
       logit_spread=(logits - logits[0]).abs().max().item(), loading=loading)
