"""Prints the fine-tuning matrix of scripts/finetune-matrix.sh as Markdown: for every task, the
best validation score (the config's metric_for_best_model) of each initialisation × attention,
as the mean over the seeds run (with the range when there are several), and the per-language
means underneath when a task has several languages.

usage: results_table.py RUNS_DIR TASK...
"""

import glob
import json
import os
import statistics
import sys

INITS = ["scratch", "causal-lm", "mlm"]
ATTENTIONS = ["bidirectional", "causal"]


def runs_of(runs, task, init, attention):
    """eval_results.json of every seed of one cell (seed 42 has no suffix)."""
    base = os.path.join(runs, task, f"{init}-{attention}")
    paths = [base] + sorted(glob.glob(base + "-seed*"))
    out = []
    for p in paths:
        f = os.path.join(p, "eval_results.json")
        if os.path.exists(f):
            with open(f, encoding="utf-8") as fh:
                out.append(json.load(fh))
    return out


def cell(values):
    if not values:
        return "–"
    mean = 100 * statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ({100 * min(values):.1f}–{100 * max(values):.1f})"


def main(runs, *tasks):
    print("| task | metric | init | bidirectional | causal | seeds |")
    print("|---|---|---|---|---|---|")
    per_lang = []
    for task in tasks:
        for init in INITS:
            cells, metric, seeds = [], "?", 0
            for attention in ATTENTIONS:
                results = runs_of(runs, task, init, attention)
                if results:
                    metric = results[0]["metric"]
                seeds = max(seeds, len(results))
                cells.append(cell([r["scores"]["all"][metric] for r in results]))
                langs = sorted({k for r in results for k in r["scores"] if k != "all"})
                if len(langs) > 1:
                    means = {l: statistics.mean(r["scores"][l][metric] for r in results if l in r["scores"])
                             for l in langs}
                    per_lang.append((task, init, attention, means))
            print(f"| {task} | {metric} | {init} | {cells[0]} | {cells[1]} | {seeds} |")
    if per_lang:
        print()
        print("Per language (mean over seeds of the best checkpoint's score):")
        print()
        for task, init, attention, means in per_lang:
            scores = ", ".join(f"{k} {100 * v:.1f}" for k, v in means.items())
            print(f"- {task}, {init}, {attention}: {scores}")


if __name__ == "__main__":
    main(*sys.argv[1:])
