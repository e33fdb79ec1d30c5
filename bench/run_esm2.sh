#!/usr/bin/env bash
# The ESM-2 training benchmarks of bench/README.md, strand and its PyTorch peer in one call on one GPU:
#
#   bash bench/run_esm2.sh [WORKLOADS] [PEER_MODES]      e.g.  bash bench/run_esm2.sh "full uniprot" "eager compile"
#
#   full     650M shape, every sequence 1024 tokens, micro-batch 16 (strand: 16 x 1024 tokens per packed batch)
#   uniprot  650M shape on the proteins of $UNIPROT (default .bench-data/uniprot_20k.fa.gz, carried to the GPU
#            machine), truncated to 1024 tokens: strand packs them into 16,384-token batches, the peer pads 16 per
#            batch to the longest; both count real (unpadded) tokens
#
# strand runs configs/bench/esm2_650m.yaml from the bundle carried as .device-bundle.tar.xz (or $STRAND), the
# peer bench/torch_esm2_peer.py. The full log goes to $OUT/esm2_bench.log; a table of tokens/s, MFU and peak
# memory, with strand's speed-up over the best peer of each workload, is printed last.
set -u
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
WORKLOADS="${1:-full uniprot}"
PEER_MODES="${2-eager compile}"
UNIPROT="${UNIPROT:-$ROOT/.bench-data/uniprot_20k.fa.gz}"
LOG="$OUT/esm2_bench.log"
: >>"$LOG"


rows=()
for workload in $WORKLOADS; do
  dir="/tmp/esm2_bench_$workload"
  rm -rf "$dir"
  overrides=()
  if [ "$workload" = uniprot ]; then
    overrides=(data.mock=false "data.train=[$UNIPROT]" data.val=[])
  fi
  echo "=== strand $workload" >>"$LOG"
  "$STRAND" train --config-name bench/esm2_650m run.dir="$dir" "${overrides[@]}" ${STRAND_BENCH_OVERRIDES:-} \
    >>"$LOG" 2>&1
  strand_line="$(last_train_record "$dir/metrics.jsonl")"
  read -r s_tps s_mfu s_mem <<<"$strand_line"
  rows+=("$workload strand $s_tps $s_mfu $s_mem")
  best=0
  # Padded UniProt batches come in four widths under compile: warm up long enough to compile each.
  warmup=3
  [ "$workload" = uniprot ] && warmup=8
  for mode in $PEER_MODES; do
    echo "=== peer $workload $mode" >>"$LOG"
    json="$(python3 bench/torch_esm2_peer.py --workload "$workload" --fasta "$UNIPROT" --mbs 16 --mode "$mode" --warmup "$warmup" \
      --steps 10 2>>"$LOG" | tail -1)"
    echo "$json" >>"$LOG"
    peer_line="$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["tokens_per_s"], r["mfu"], r["peak_gib"])' "$json" 2>/dev/null || echo "nan nan nan")"
    read -r p_tps p_mfu p_mem <<<"$peer_line"
    rows+=("$workload torch-$mode $p_tps $p_mfu $p_mem")
    best="$(python3 -c 'import sys; a,b=sys.argv[1:]; print(max(float(a), float(b) if b!="nan" else 0))' "$best" "$p_tps")"
  done
  ratio="$(python3 -c 'import sys; s,b=map(float,sys.argv[1:]); print(f"{s/b:.2f}x" if b>0 and s==s else "n/a")' "$s_tps" "$best")"
  rows+=("$workload speedup $ratio - -")
done

{
  echo
  echo "ESM-2 650M training benchmark ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), seq 1024, 16 sequences or 16,384 tokens per batch; real tokens/s)"
  printf '%-8s %-14s %12s %8s %10s\n' workload run tokens/s MFU peak_GiB
  for r in "${rows[@]}"; do
    # shellcheck disable=SC2086
    printf '%-8s %-14s %12s %8s %10s\n' $r
  done
} | tee -a "$LOG"
