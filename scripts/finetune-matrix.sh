#!/usr/bin/env bash
# Fine-tunes every real-data task (configs/finetune/real/*.toml) from each initialisation
# (from scratch, the causally pretrained tiny encoder, the MLM-pretrained one) with each encoder
# attention (bidirectional, causal), then prints the table of docs/results.md.
#
#   ./scripts/finetune-matrix.sh [TASK...]      default: every config in configs/finetune/real/
#   SEEDS="42 43 44" ./scripts/finetune-matrix.sh   several seeds (the table shows mean and range)
#
# Needs: ./scripts/make-tasks.sh (data/tasks-full/), the tiny corpus (corpora/tiny) and the two
# pretrained encoders:
#   target/release/pretrain --config configs/pretrain/tiny.toml                       # runs/tiny
#   target/release/pretrain --config configs/pretrain/tiny.toml \
#       --set output_dir=runs/tiny-mlm --set objective.kind=mlm                        # runs/tiny-mlm
# Finished runs (runs/real/<task>/<init>-<attention>[-seedN]/eval_results.json) are not redone.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FINETUNE=target/release/finetune
[[ -x $FINETUNE ]] || cargo build --release -p finetune
for need in data/tasks-full corpora/tiny/tokenizer.json runs/tiny/final runs/tiny-mlm/final; do
    [[ -e $need ]] || { echo "finetune-matrix: $need is missing (see the header of $0)" >&2; exit 1; }
done

tasks=("$@")
if ((${#tasks[@]} == 0)); then
    for f in configs/finetune/real/*.toml; do tasks+=("$(basename "$f" .toml)"); done
fi

declare -A INIT=(
    [scratch]="--set model_name_or_path= --set scratch_tokenizer=corpora/tiny/tokenizer.json"
    [causal-lm]="--set model_name_or_path=runs/tiny/final"
    [mlm]="--set model_name_or_path=runs/tiny-mlm/final"
)
for task in "${tasks[@]}"; do
    config=configs/finetune/real/$task.toml
    [[ -f $config ]] || { echo "finetune-matrix: no $config" >&2; exit 1; }
    for seed in ${SEEDS:-42}; do
    for init in scratch causal-lm mlm; do
        for attention in bidirectional causal; do
            out=runs/real/$task/$init-$attention
            [[ $seed == 42 ]] || out+=-seed$seed
            [[ -f $out/eval_results.json ]] && continue
            # A causal encoder's [CLS] sees only itself: classify from the last token instead.
            pooling=cls
            [[ $attention == causal ]] && pooling=last
            echo "== $task: $init, $attention attention, seed $seed" >&2
            # shellcheck disable=SC2086
            $FINETUNE --config "$config" ${INIT[$init]} --set attention=$attention --set pooling=$pooling \
                --set seed="$seed" --set output_dir="$out" --set overwrite_output_dir=true > /dev/null
        done
    done
    done
done
.venv/bin/python scripts/results_table.py runs/real "${tasks[@]}"
