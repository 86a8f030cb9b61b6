"""The transformers side of scripts/bench/finetune.sh: HF `Trainer` fine-tuning
BertForSequenceClassification from the same init directory, on the same JSONL files, with the
same hyper-parameters (learning rate, batch, steps, warm-up, weight decay, max length, seed,
threads). Prints one JSON line: training samples/s and validation accuracy.

usage: finetune_hf.py INIT_DIR TRAIN_JSONL VALIDATION_JSONL STEPS BATCH LR WARMUP MAX_LEN OUT_DIR
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


def main(init, train_path, val_path, steps, batch, lr, warmup, max_len, out):
    steps, batch, warmup, max_len, lr = int(steps), int(batch), int(warmup), int(max_len), float(lr)
    train, val = rows(train_path), rows(val_path)
    labels = sorted({r["label"] for r in train})
    label2id = {l: i for i, l in enumerate(labels)}
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(init, "tokenizer.json"),
                                               pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                                               unk_token="[UNK]", mask_token="[MASK]")
    model = transformers.BertForSequenceClassification.from_pretrained(
        init, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id, is_decoder=False)

    class Data(torch.utils.data.Dataset):
        def __init__(self, rs):
            self.enc = [tok(r["text"], truncation=True, max_length=max_len) for r in rs]
            self.y = [label2id[r["label"]] for r in rs]

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return {**self.enc[i], "labels": self.y[i]}

    args = transformers.TrainingArguments(
        output_dir=out, max_steps=steps, per_device_train_batch_size=batch, per_device_eval_batch_size=64,
        learning_rate=lr, warmup_steps=warmup, weight_decay=0.01, lr_scheduler_type="linear", seed=42,
        logging_steps=50, save_strategy="no", eval_strategy="no", report_to=[], use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Data(train),
                                   data_collator=transformers.DataCollatorWithPadding(tok))
    start = time.perf_counter()
    trainer.train()
    secs = time.perf_counter() - start
    pred = trainer.predict(Data(val))
    accuracy = float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())
    print(json.dumps({"samples_per_s": round(steps * batch / secs, 1), "accuracy": accuracy, "seconds": round(secs, 2)}))


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count())))
    main(*sys.argv[1:])
