"""The PyTorch side of scripts/bench/pretrain.sh: the equivalent eager training loop, as a user of
transformers would write it. HF BertLMHeadModel (is_decoder=True, attn_implementation="sdpa"),
torch.optim.AdamW (no decay on biases/LayerNorm), clip_grad_norm_, the same model shape, batch,
k, data (random windows of k + 1 tokens from the corpus shards, languages drawn with the
manifest's probabilities) and thread count. Prints one JSON line with target tokens per second.

usage: pretrain_python.py CORPUS_DIR K BATCH STEPS HIDDEN LAYERS HEADS INTERMEDIATE
       (BENCH_DEVICE=cuda: on the GPU with bf16 autocast)
"""

import json
import os
import sys

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from timing import print_throughput  # noqa: E402


def main(corpus, k, batch, steps, hidden, layers, heads, inter):
    k, batch, steps, hidden, layers, heads, inter = map(int, (k, batch, steps, hidden, layers, heads, inter))
    manifest = json.load(open(os.path.join(corpus, "manifest.json")))
    streams, probs = [], []
    for lang, stats in manifest["languages"].items():
        parts = [np.memmap(os.path.join(corpus, s["path"]), dtype="<u2" if s["dtype"] == "u16" else "<u4",
                           mode="r", offset=s["header_bytes"])
                 for s in manifest["shards"] if s["lang"] == lang and s["split"] == "train"]
        if parts and sum(len(p) for p in parts) > k + 1:
            streams.append(np.concatenate(parts))
            probs.append(stats["sampling_probability"])
    probs = np.array(probs) / sum(probs)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=manifest["tokenizer"]["vocab_size"], hidden_size=hidden,
                                     num_hidden_layers=layers, num_attention_heads=heads,
                                     intermediate_size=inter, max_position_embeddings=k + 1, is_decoder=True,
                                     attn_implementation="sdpa")
    device = os.environ.get("BENCH_DEVICE", "cpu")
    bf16 = device == "cuda"
    model = transformers.BertLMHeadModel(config).to(device).train()
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.98), eps=1e-6)

    def step():
        rows = []
        for lang in rng.choice(len(streams), size=batch, p=probs):
            s = rng.integers(0, len(streams[lang]) - k)
            rows.append(streams[lang][s:s + k + 1].astype(np.int64))
        x = torch.from_numpy(np.stack(rows)).to(device)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=x[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    print_throughput(step, steps, batch * k, device)


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count())))
    main(*sys.argv[1:])
