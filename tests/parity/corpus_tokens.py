"""Cross-checks a corpus directory against the Python reference implementations.

Independently of the Rust code, this reads the shards as docs/formats.md describes them (numpy),
re-reads the source text, re-encodes every document with the Python `tokenizers` package and the
corpus's tokenizer.json, re-derives each document's split from its SHA-256, and asserts that the
token ids are identical, document for document.

usage: corpus_tokens.py CORPUS_DIR INPUT_DIR   (INPUT_DIR: <lang>/*.txt, one document per line)
"""

import hashlib
import json
import pathlib
import struct
import sys

import numpy as np
from tokenizers import Tokenizer

HEADER_BYTES = 1024


def read_shard(path: pathlib.Path):
    raw = path.read_bytes()
    assert raw[:8] == b"TOKSHARD", f"{path}: bad magic"
    version, width, tokens, docs, text_bytes, vocab = struct.unpack_from("<IIQQQI", raw, 8)
    assert version == 1 and width in (2, 4), (path, version, width)
    sha = raw[48:112].decode("ascii")
    lang = raw[112:144].rstrip(b"\0").decode("ascii")
    split = raw[144:160].rstrip(b"\0").decode("ascii")
    ids = np.frombuffer(raw, dtype="<u2" if width == 2 else "<u4", offset=HEADER_BYTES)
    assert len(ids) == tokens, f"{path}: {len(ids)} ids, header says {tokens}"
    return dict(ids=ids, docs=docs, text_bytes=text_bytes, vocab=vocab, sha=sha, lang=lang, split=split)


def is_validation(text: str, fraction: float) -> bool:
    word = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    return (word >> 11) / float(1 << 53) < fraction


def main(corpus_dir: str, input_dir: str) -> None:
    corpus, source = pathlib.Path(corpus_dir), pathlib.Path(input_dir)
    manifest = json.loads((corpus / "manifest.json").read_text())
    tok_path = corpus / manifest["tokenizer"]["file"]
    assert hashlib.sha256(tok_path.read_bytes()).hexdigest() == manifest["tokenizer"]["sha256"]
    tokenizer = Tokenizer.from_file(str(tok_path))
    sep = tokenizer.token_to_id("[SEP]")
    assert sep == manifest["tokenizer"]["special_ids"]["sep"]

    got = {}
    for entry in manifest["shards"]:
        shard = read_shard(corpus / entry["path"])
        assert shard["sha"] == manifest["tokenizer"]["sha256"]
        assert (shard["lang"], shard["split"]) == (entry["lang"], entry["split"])
        assert shard["docs"] == entry["docs"] and shard["text_bytes"] == entry["bytes"]
        got.setdefault((entry["split"], entry["lang"]), []).append(shard["ids"])

    checked_docs = checked_tokens = 0
    for lang_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        docs = []
        for f in sorted(lang_dir.rglob("*.txt")):
            docs += [line.rstrip("\r") for line in f.read_text("utf-8").split("\n") if line.strip()]
        encodings = tokenizer.encode_batch(docs, add_special_tokens=False)
        want = {"train": [], "validation": []}
        for doc, enc in zip(docs, encodings):
            threshold = manifest.get("val_thresholds", {}).get(lang_dir.name, manifest["val_fraction"])
            split = "validation" if is_validation(doc, threshold) else "train"
            want[split].extend(enc.ids)
            want[split].append(sep)
        for split, ids in want.items():
            have = np.concatenate(got.get((split, lang_dir.name), [np.zeros(0, np.uint32)]))
            assert have.tolist() == ids, f"{lang_dir.name}/{split}: shards differ from Python tokenizers"
            checked_tokens += len(ids)
        checked_docs += len(docs)
    print(f"parity ok: {corpus.name}: {checked_docs} documents, {checked_tokens} tokens identical to "
          f"Python tokenizers, splits identical to the documented SHA-256 rule")


if __name__ == "__main__":
    main(*sys.argv[1:])
