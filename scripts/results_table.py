"""Prints the fine-tuning matrix of scripts/finetune-matrix.sh as Markdown: for every task, the
best validation score (the config's metric_for_best_model) of each initialisation × attention,
with per-language scores underneath when there are several languages.

usage: results_table.py RUNS_DIR TASK...
"""

import json
import os
import sys

INITS = ["scratch", "causal-lm", "mlm"]
ATTENTIONS = ["bidirectional", "causal"]


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main(runs, *tasks):
    print("| task | metric | init | bidirectional | causal |")
    print("|---|---|---|---|---|")
    per_lang = []
    for task in tasks:
        for init in INITS:
            cells, metric = [], "?"
            for attention in ATTENTIONS:
                path = os.path.join(runs, task, f"{init}-{attention}", "eval_results.json")
                if not os.path.exists(path):
                    cells.append("–")
                    continue
                r = load(path)
                metric = r["metric"]
                cells.append(f"{100 * r['scores']['all'][metric]:.1f}")
                langs = {k: v for k, v in r["scores"].items() if k != "all"}
                if len(langs) > 1:
                    per_lang.append((task, init, attention, metric, langs))
            print(f"| {task} | {metric} | {init} | {cells[0]} | {cells[1]} |")
    if per_lang:
        print()
        print("Per language (best checkpoint of each run):")
        print()
        for task, init, attention, metric, langs in per_lang:
            scores = ", ".join(f"{k} {100 * v[metric]:.1f}" for k, v in sorted(langs.items()))
            print(f"- {task}, {init}, {attention}: {scores}")


if __name__ == "__main__":
    main(*sys.argv[1:])
