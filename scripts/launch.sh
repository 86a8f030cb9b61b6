#!/usr/bin/env bash
# Data-parallel launch on one node, like `torchrun --standalone --no-python`: N processes of a
# command, with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set. If one process
# fails, the others are stopped and its exit code is returned; SIGINT/SIGTERM are passed on to
# every process (pretrain then writes a checkpoint and exits 0).
#
#   scripts/launch.sh N COMMAND [ARGS...]
#   scripts/launch.sh 8 target/release/pretrain --config configs/pretrain/base.toml
#   scripts/launch.sh 2 target/release/pretrain --config configs/pretrain/tiny.toml --set device=cpu
#
# Environment: MASTER_PORT (default 29500), MASTER_ADDR (default 127.0.0.1).
set -euo pipefail
if (($# < 2)) || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
world=$1
shift
export WORLD_SIZE=$world MASTER_ADDR=${MASTER_ADDR:-127.0.0.1} MASTER_PORT=${MASTER_PORT:-29500}
unset TORCHELASTIC_USE_AGENT_STORE   # rank 0 serves the rendezvous store itself

pids=()
signalled=0
forward() { kill -s "$1" "${pids[@]}" 2>/dev/null || true; }
trap 'signalled=1; forward INT' INT
trap 'signalled=1; forward TERM' TERM
for ((rank = 0; rank < world; rank++)); do
    RANK=$rank LOCAL_RANK=$rank "$@" &
    pids+=($!)
done

status=0
left=$world
while ((left > 0)); do
    code=0
    wait -n || code=$?
    if ((code == 0)); then
        left=$((left - 1))
        continue
    fi
    if ((signalled && code > 128)); then
        signalled=0   # `wait` was interrupted by the signal we passed on, not ended by a rank
        continue
    fi
    left=$((left - 1))
    # The first failure decides: the other ranks are stopped at once instead of timing out.
    if ((status == 0)); then
        status=$code
        echo "launch: a rank exited with status $code; stopping the others" >&2
        forward TERM
    fi
done
exit "$status"
