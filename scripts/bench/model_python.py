"""The PyTorch side of scripts/bench/model.sh: forward + backward of transformers' BertModel in
eager mode, same config, inputs, loss and thread count as the Rust example. Prints one JSON line.

usage: model_python.py LAYERS HIDDEN HEADS SEQ BATCH STEPS DEVICE(cpu|cuda) DTYPE(f32|bf16)
"""

import os
import sys

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import torch  # noqa: E402
import transformers  # noqa: E402
from timing import print_throughput  # noqa: E402


def main(layers, hidden, heads, seq, batch, steps, device, dtype):
    layers, hidden, heads, seq, batch, steps = map(int, (layers, hidden, heads, seq, batch, steps))
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                                     num_attention_heads=heads, intermediate_size=4 * hidden,
                                     max_position_embeddings=512, attn_implementation="sdpa")
    model = transformers.BertModel(config).to(device).train()
    ids = torch.randint(0, config.vocab_size, (batch, seq), device=device)
    mask = torch.ones(batch, seq, dtype=torch.long, device=device)

    def step():
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=dtype == "bf16"):
            h = model(input_ids=ids, attention_mask=mask).last_hidden_state
        loss = h.float().square().mean()
        loss.backward()
        model.zero_grad(set_to_none=False)

    print_throughput(step, steps, batch * seq, device)


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count())))
    main(*sys.argv[1:])
