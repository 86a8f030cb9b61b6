"""The pretraining acceptance table of docs/pretrain.md: for every language of the corpus, the
last evaluation's validation loss against the unigram entropy of its training split.

usage: acceptance_table.py RUN_DIR CORPUS_DIR
"""

import json
import math
import os
import sys


def main(run, corpus):
    manifest = json.load(open(os.path.join(corpus, "manifest.json")))
    rows = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    evals = [r for r in rows if r.get("split") == "validation"]
    last = max(r["step"] for r in evals)
    evals = {r["lang"]: r for r in evals if r["step"] == last}
    print("| language | train tokens | validation docs | validation tokens scored | loss (nats/token) "
          "| unigram entropy H | loss − H | perplexity | bits/byte |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    below, above, missing = 0, [], []
    for lang, stats in sorted(manifest["languages"].items()):
        e = evals.get(lang)
        if e is None:
            missing.append(lang)
            continue
        gap = e["loss"] - e["unigram_entropy"]
        mark = "" if gap < 0 else " **(above)**"
        below += gap < 0
        if gap >= 0:
            above.append(lang)
        print(f"| {lang} | {stats['train']['tokens']:,} | {stats['validation']['docs']} | {e['tokens']:,} "
              f"| {e['loss']:.3f} | {e['unigram_entropy']:.3f} | {gap:+.3f}{mark} | {math.exp(e['loss']):.1f} "
              f"| {e['bits_per_byte']:.3f} |")
    mean = sum(e["loss"] for e in evals.values()) / len(evals)
    print()
    print(f"step {last}: {below} of {len(evals)} languages below their unigram entropy; "
          f"above: {above or 'none'}; without validation data: {missing or 'none'}; mean loss {mean:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
