"""The transformers side of scripts/bench/finetune.sh: HF `Trainer` fine-tuning from the same init
directory, on the same files, with the same hyper-parameters (learning rate, batch, steps,
warm-up, weight decay, max length, seed, threads). TASK is `classification`
(BertForSequenceClassification on JSONL text/label; accuracy) or `token-classification`
(BertForTokenClassification on CoNLL-U UPOS, labels on first sub-tokens as run_ner.py does; word
accuracy). Prints one JSON line: training samples/s and validation accuracy.

usage: finetune_hf.py TASK INIT_DIR TRAIN VALIDATION STEPS BATCH LR WARMUP MAX_LEN OUT_DIR
"""

import json
import os
import sys
import time

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402


def rows(path):
    return [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]


def conllu(path):
    """Sentences of (word, UPOS) from the syntactic-word rows (multi-word ranges skipped)."""
    sentences, words = [], []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip():
            if words:
                sentences.append(words)
            words = []
        elif not line.startswith("#"):
            cols = line.split("\t")
            if cols[0].isdigit():
                words.append((cols[1], cols[3]))
    if words:
        sentences.append(words)
    return sentences


def main(task, init, train_path, val_path, steps, batch, lr, warmup, max_len, out):
    steps, batch, warmup, max_len, lr = int(steps), int(batch), int(warmup), int(max_len), float(lr)
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(init, "tokenizer.json"),
                                               pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                                               unk_token="[UNK]", mask_token="[MASK]")
    if task == "classification":
        train, val = rows(train_path), rows(val_path)
        labels = sorted({r["label"] for r in train})
        architecture, collator = transformers.BertForSequenceClassification, transformers.DataCollatorWithPadding(tok)
    else:
        train, val = conllu(train_path), conllu(val_path)
        labels = sorted({tag for s in train for _, tag in s})
        architecture = transformers.BertForTokenClassification
        collator = transformers.DataCollatorForTokenClassification(tok)
    label2id = {l: i for i, l in enumerate(labels)}
    model = architecture.from_pretrained(
        init, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id, is_decoder=False)

    def encode(r):
        if task == "classification":
            return {**tok(r["text"], truncation=True, max_length=max_len), "labels": label2id[r["label"]]}
        enc = tok([w for w, _ in r], is_split_into_words=True, truncation=True, max_length=max_len)
        previous, y = None, []
        for w in enc.word_ids():
            y.append(-100 if w is None or w == previous else label2id[r[w][1]])
            previous = w
        return {**enc, "labels": y}

    class Data(torch.utils.data.Dataset):
        def __init__(self, rs):
            self.items = [encode(r) for r in rs]

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i]

    args = transformers.TrainingArguments(
        output_dir=out, max_steps=steps, per_device_train_batch_size=batch, per_device_eval_batch_size=64,
        learning_rate=lr, warmup_steps=warmup, weight_decay=0.01, lr_scheduler_type="linear", seed=42,
        logging_steps=50, save_strategy="no", eval_strategy="no", report_to=[], use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Data(train), data_collator=collator)
    start = time.perf_counter()
    trainer.train()
    secs = time.perf_counter() - start
    pred = trainer.predict(Data(val))
    scored = pred.label_ids != -100  # classification: every example; tagging: word starts
    accuracy = float((np.argmax(pred.predictions, -1) == pred.label_ids)[scored].mean())
    print(json.dumps({"samples_per_s": round(steps * batch / secs, 1), "accuracy": accuracy, "seconds": round(secs, 2)}))


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count())))
    main(*sys.argv[1:])
