#!/usr/bin/env bash
# Two strand builds and the PyTorch peer on the same training shapes, in one call on one GPU: whether a change
# kept (or improved) the speed of the build before it, measured side by side rather than against figures of
# another day or GPU.
#
#   bash bench/run_compare.sh [SHAPES] [PEER_MODES]     e.g.  bash bench/run_compare.sh "llama_150m llama_1b esm2_650m" "compile"
#
# The new build is the bundle .device-bundle.tar.xz (or $STRAND), the baseline .device-bundle-base.tar.xz (or
# $STRAND_BASE); each shape runs configs/bench/<shape>.yaml with both, alternating (new, base, new, base) so
# that clock and power drift hit both alike, then the peer (bench/torch_llama_peer.py or torch_esm2_peer.py on
# full-length sequences). The log goes to $OUT/compare.log; a table of tokens/s, MFU and peak memory per run,
# with new/base and new/best-peer ratios from the mean of each build's two runs, is printed last.
set -u
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SHAPES="${1:-llama_150m llama_1b esm2_650m}"
PEER_MODES="${2-compile}"
LOG="$OUT/compare.log"
: >>"$LOG"
STRAND_BASE="${STRAND_BASE:-}"
if [ -z "$STRAND_BASE" ]; then
  if [ -f .device-bundle-base.tar.xz ]; then
    [ -x /tmp/.device-bundle-base/run ] || tar xJf .device-bundle-base.tar.xz -C /tmp
    STRAND_BASE=/tmp/.device-bundle-base/run
  fi
fi

rows=()
mean() { python3 -c 'import sys; v=[float(x) for x in sys.argv[1:] if x!="nan"]; print(f"{sum(v)/len(v):.0f}" if v else "nan")' "$@"; }
ratio() { python3 -c 'import sys; a,b=map(float,sys.argv[1:]); print(f"{a/b:.3f}x" if b>0 and a==a and b==b else "n/a")' "$1" "$2"; }
for shape in $SHAPES; do
  declare -A tps=()
  for round in 1 2; do
    for build in new base; do
      bin="$STRAND"
      [ "$build" = base ] && bin="$STRAND_BASE"
      [ -z "$bin" ] && continue
      dir="/tmp/compare_${shape}_${build}_$round"
      rm -rf "$dir"
      echo "=== $shape $build round $round" >>"$LOG"
      timeout 240 "$bin" train --config-name "bench/$shape" run.dir="$dir" >>"$LOG" 2>&1
      read -r s_tps s_mfu s_mem <<<"$(last_train_record "$dir/metrics.jsonl")"
      rows+=("$shape strand-$build-$round $s_tps $s_mfu $s_mem")
      tps[$build]="${tps[$build]:-} $s_tps"
    done
  done
  new_mean="$(mean ${tps[new]:-nan})"
  base_mean="$(mean ${tps[base]:-nan})"
  best=0
  for mode in $PEER_MODES; do
    echo "=== peer $shape $mode" >>"$LOG"
    if [ "${shape#esm2}" != "$shape" ]; then
      json="$(timeout 400 python3 bench/torch_esm2_peer.py --workload full --mode "$mode" 2>>"$LOG" | tail -1)"
    else
      json="$(timeout 400 python3 bench/torch_llama_peer.py --shape "${shape#llama_}" --mbs 2 --mode "$mode" --steps 10 --warmup 3 2>>"$LOG" | tail -1)"
    fi
    echo "$json" >>"$LOG"
    read -r p_tps p_mfu p_mem <<<"$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(round(r["tokens_per_s"]), r["mfu"], r["peak_gib"])' "$json" 2>/dev/null || echo "nan nan nan")"
    rows+=("$shape torch-$mode $p_tps $p_mfu $p_mem")
    best="$(python3 -c 'import sys; a,b=sys.argv[1:]; print(max(float(a), float(b) if b!="nan" else 0))' "$best" "$p_tps")"
  done
  rows+=("$shape new/base $(ratio "$new_mean" "$base_mean") - -")
  rows+=("$shape new/best-peer $(ratio "$new_mean" "$best") - -")
  unset tps
done
{
  echo
  printf '%-12s %-18s %12s %8s %9s\n' shape run tokens/s MFU peak_GiB
  for r in "${rows[@]}"; do
    # shellcheck disable=SC2086
    printf '%-12s %-18s %12s %8s %9s\n' $r
  done
} | tee -a "$LOG"
