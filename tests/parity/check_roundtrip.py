"""Loads a model directory written by the Rust model crate with transformers' from_pretrained,
requires that every weight matched (no missing, unexpected or mismatched keys), runs it on the
inputs in DIR/expected.safetensors and compares with the outputs the Rust model computed.

usage: check_roundtrip.py MODEL_DIR ARCH   (exit 0 = same outputs within 1e-4)
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file  # noqa: E402


def main(model_dir: str, arch: str) -> None:
    model, info = getattr(transformers, arch).from_pretrained(model_dir, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v and k != "error_msgs"} | (
        {"error_msgs": info["error_msgs"]} if info.get("error_msgs") else {})
    assert not problems, f"{arch}: transformers did not load every weight: {problems}"
    model.eval()
    expected = load_file(os.path.join(model_dir, "expected.safetensors"))
    inputs = {k: expected.pop(k) for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        out = model(**inputs)
    mask = inputs["attention_mask"].bool()
    worst = 0.0
    for key, want in expected.items():
        got = out[key]
        if got.dim() >= 2 and got.shape[:2] == mask.shape:
            got, want = got[mask], want[mask]  # padding positions are not compared
        worst = max(worst, (got - want).abs().max().item())
    assert worst <= 1e-4, f"{arch}: outputs differ by {worst:.2e}"
    print(f"round trip ok: {arch} loads in transformers {transformers.__version__}, max |diff| {worst:.1e}")


if __name__ == "__main__":
    main(*sys.argv[1:])
