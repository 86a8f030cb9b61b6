"""Shared by the parity scripts that load our model directories the way a transformers user
does, with no extra arguments: offline, quiet, JSONL in, one JSON object out. Import it before
transformers."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def read_jsonl(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def report(**values) -> None:
    print(json.dumps(values))
