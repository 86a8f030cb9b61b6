"""The timing the PyTorch sides of scripts/bench/ share: a few warm-up steps, then `steps` timed
ones (synchronised on CUDA), printed as one JSON line with seconds and tokens/s."""

import json
import time

import torch


def print_throughput(step, steps, tokens_per_step, device, warmup=3):
    for _ in range(warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - start
    print(json.dumps({"seconds": round(secs, 3), "tokens_per_s": round(steps * tokens_per_step / secs)}))
