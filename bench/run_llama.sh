#!/usr/bin/env bash
# The Llama training benchmark of bench/README.md, strand and its PyTorch peer in one call on one GPU:
#
#   bash bench/run_llama.sh [SHAPES] [PEER_MODES]     e.g.  bash bench/run_llama.sh "150m 1b" "eager compile"
#
# strand runs configs/bench/llama_<shape>.yaml from the bundle carried as .device-bundle.tar.xz (or $STRAND);
# the peer is bench/torch_llama_peer.py at the same micro-batch (2 x 8192 tokens). The full log goes to
# $OUT/bench.log (default ./out); a table of tokens/s, MFU and peak memory, with strand's speed-up over the best
# peer, is printed last, after a table of where each one's step time goes (milliseconds per step: GEMMs,
# attention, elementwise and norms, optimizer, other). strand's breakdown comes from a second, shorter run with
# train.profile=true (CUDA events around every op), the peer's from a torch.profiler trace after its timed steps,
# so neither breakdown slows the timed runs.
set -u
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SHAPES="${1:-150m 1b}"
PEER_MODES="${2-eager compile}"
LOG="$OUT/bench.log"
: >>"$LOG"


rows=()
breakdowns=()
# "gemm attention elementwise optimizer other" in ms per step from the last record of a profiled strand run.
strand_breakdown() {
  python3 - "$1" <<'PY'
import json, sys
try:
    last = [json.loads(l) for l in open(sys.argv[1]) if "time/gemm_ms" in l][-1]
    print(" ".join(f'{last[f"time/{k}_ms"]:.1f}' for k in ("gemm", "attention", "elementwise", "optimizer", "other")))
except Exception:
    print("nan nan nan nan nan")
PY
}
for shape in $SHAPES; do
  dir="/tmp/bench_$shape"
  rm -rf "$dir"
  echo "=== strand $shape" >>"$LOG"
  "$STRAND" train --config-name "bench/llama_$shape" run.dir="$dir" ${STRAND_BENCH_OVERRIDES:-} >>"$LOG" 2>&1
  strand_line="$(last_train_record "$dir/metrics.jsonl")"
  read -r s_tps s_mfu s_mem <<<"$strand_line"
  rows+=("$shape strand $s_tps $s_mfu $s_mem")
  echo "=== strand $shape profiled" >>"$LOG"
  rm -rf "$dir-profile"
  "$STRAND" train --config-name "bench/llama_$shape" run.dir="$dir-profile" train.max_steps=20 train.profile=true \
    ${STRAND_BENCH_OVERRIDES:-} >>"$LOG" 2>&1
  breakdowns+=("$shape strand $(strand_breakdown "$dir-profile/metrics.jsonl")")
  best=0
  for mode in $PEER_MODES; do
    echo "=== peer $shape $mode" >>"$LOG"
    json="$(python3 bench/torch_llama_peer.py --shape "$shape" --mbs 2 --mode "$mode" --steps 10 --warmup 3 --profile 2>>"$LOG" | tail -1)"
    echo "$json" >>"$LOG"
    peer_line="$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["tokens_per_s"], r["mfu"], r["peak_gib"])' "$json" 2>/dev/null || echo "nan nan nan")"
    read -r p_tps p_mfu p_mem <<<"$peer_line"
    rows+=("$shape torch-$mode $p_tps $p_mfu $p_mem")
    breakdowns+=("$shape torch-$mode $(python3 -c 'import json,sys; b=json.loads(sys.argv[1])["breakdown_ms"]; print(" ".join(f"{b[k]:.1f}" for k in ("gemm","attention","elementwise","optimizer","other")))' "$json" 2>/dev/null || echo "nan nan nan nan nan")")
    best="$(python3 -c 'import sys; a,b=sys.argv[1:]; print(max(float(a), float(b) if b!="nan" else 0))' "$best" "$p_tps")"
  done
  ratio="$(python3 -c 'import sys; s,b=map(float,sys.argv[1:]); print(f"{s/b:.2f}x" if b>0 and s==s else "n/a")' "$s_tps" "$best")"
  rows+=("$shape speedup $ratio - -")
done

{
  echo
  echo "step time by kind of work, ms per step"
  printf '%-6s %-14s %8s %9s %11s %9s %7s\n' shape run gemm attention elementwise optimizer other
  for r in "${breakdowns[@]}"; do
    # shellcheck disable=SC2086
    printf '%-6s %-14s %8s %9s %11s %9s %7s\n' $r
  done
  echo
  echo "llama training benchmark ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), seq 8192, micro-batch 2)"
  printf '%-6s %-14s %12s %8s %10s\n' shape run tokens/s MFU peak_GiB
  for r in "${rows[@]}"; do
    # shellcheck disable=SC2086
    printf '%-6s %-14s %12s %8s %10s\n' $r
  done
} | tee -a "$LOG"
