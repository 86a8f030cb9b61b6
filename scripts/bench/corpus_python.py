"""The Python baseline for scripts/bench/corpus.sh, in the style of nanoGPT's prepare.py: read
the documents, encode them with the Python `tokenizers` package (`encode_batch`, parallel in Rust
underneath), append the separator, and write uint16/uint32 token arrays per language with
numpy.memmap. Prints one JSON line.

usage: corpus_python.py INPUT_DIR TOKENIZER_JSON OUTPUT_DIR
"""

import json
import pathlib
import sys
import time

import numpy as np
from tokenizers import Tokenizer

BATCH = 10_000


def main(input_dir: str, tokenizer_json: str, output_dir: str) -> None:
    start = time.perf_counter()
    tokenizer = Tokenizer.from_file(tokenizer_json)
    sep = tokenizer.token_to_id("[SEP]")
    dtype = np.uint16 if tokenizer.get_vocab_size() <= 1 << 16 else np.uint32
    out = pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    total_docs = total_tokens = 0
    for lang_dir in sorted(p for p in pathlib.Path(input_dir).iterdir() if p.is_dir()):
        chunks = []
        batch = []

        def flush():
            for enc in tokenizer.encode_batch(batch, add_special_tokens=False):
                ids = enc.ids
                ids.append(sep)
                chunks.append(np.array(ids, dtype=dtype))
            batch.clear()

        for f in sorted(lang_dir.rglob("*.txt")):
            with open(f, encoding="utf-8") as fh:
                for line in fh:
                    line = line.rstrip("\n").rstrip("\r")
                    if line.strip():
                        batch.append(line)
                        total_docs += 1
                        if len(batch) == BATCH:
                            flush()
        flush()
        arr_len = sum(len(c) for c in chunks)
        arr = np.memmap(out / f"{lang_dir.name}.bin", dtype=dtype, mode="w+", shape=(arr_len,))
        idx = 0
        for c in chunks:
            arr[idx : idx + len(c)] = c
            idx += len(c)
        arr.flush()
        total_tokens += arr_len
    secs = time.perf_counter() - start
    print(json.dumps({"docs": total_docs, "tokens": total_tokens, "seconds": round(secs, 3),
                      "tokens_per_s": round(total_tokens / secs)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
