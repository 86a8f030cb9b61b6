"""Reads a run directory's TensorBoard event files with TensorBoard's own reader and checks that
they hold exactly the numeric values of its metrics.jsonl, tagged as transformers' Trainer tags
them: train/<key> (lr as train/learning_rate), eval/<lang>/<key>; fine-tuning's scores as
eval/<lang>/<metric>. Prints the tags read; exits non-zero on any difference.

usage: tensorboard_events.py RUN_DIR [REQUIRED_TAG ...]
"""
import json
import math
import os
import sys

from tensorboard.backend.event_processing import event_accumulator

NOT_SCALARS = {"step", "time", "split", "lang"}


def flatten(tag, value, out):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if math.isfinite(value):
            out[tag] = float(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{tag}/{k}", v, out)


def expected(rows):
    want = {}
    for row in rows:
        split, lang = row.get("split"), row.get("lang")
        prefix = "train" if split is None else ("eval" if split == "validation" else split)
        if split is not None and lang is not None:
            prefix += f"/{lang}"
        values = {}
        for key, value in row.items():
            if key in NOT_SCALARS:
                continue
            if key == "scores":
                flatten(prefix, value, values)
            else:
                flatten(f"{prefix}/{'learning_rate' if key == 'lr' else key}", value, values)
        for tag, v in values.items():
            want.setdefault(tag, []).append((row["step"], v))
    return want


def main():
    run, required = sys.argv[1], sys.argv[2:]
    files = [f for f in os.listdir(run) if f.startswith("events.out.tfevents.")]
    if len(files) != 1:
        sys.exit(f"{run}: expected one event file, found {files}")
    acc = event_accumulator.EventAccumulator(run, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    got = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    rows = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    want = expected(rows)
    if set(got) != set(want):
        sys.exit(f"tags differ: only in events {sorted(set(got) - set(want))}, only in metrics.jsonl {sorted(set(want) - set(got))}")
    for tag, points in want.items():
        steps = [s for s, _ in got[tag]]
        if steps != [s for s, _ in points]:
            sys.exit(f"{tag}: steps {steps} in the events, {[s for s, _ in points]} in metrics.jsonl")
        for (s, v), (_, g) in zip(points, got[tag]):
            if not math.isclose(v, g, rel_tol=1e-6, abs_tol=1e-30) and abs(v - g) > 1e-7 * max(1.0, abs(v)):
                sys.exit(f"{tag} at step {s}: {g} in the events, {v} in metrics.jsonl")
    missing = [t for t in required if t not in got]
    if missing:
        sys.exit(f"required tags missing: {missing} (have {sorted(got)})")
    print(" ".join(sorted(got)))


if __name__ == "__main__":
    main()
