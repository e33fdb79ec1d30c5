#!/usr/bin/env bash
# The longest sequence strand trains the 1B genomic shape on, at micro-batch 1 with every block recomputed:
#
#   bash bench/long_context.sh [LENGTHS]        default "65536 131072 262144"
#
# Each length runs a few steps of configs/bench/llama_1b.yaml with one sequence of that many tokens; the table
# printed last gives tokens/s, MFU and peak memory, or the error that stopped the run (out of memory). The full
# log goes to $OUT/long_context.log.
set -u
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LENGTHS="${1:-65536 131072 262144}"
LOG="$OUT/long_context.log"
: >>"$LOG"

rows=()
for len in $LENGTHS; do
  dir="/tmp/long_$len"
  rm -rf "$dir"
  echo "=== strand 1b seq $len" >>"$LOG"
  "$STRAND" train --config-name bench/llama_1b run.dir="$dir" model.max_position_embeddings="$len" \
    data.max_length="$len" data.mock_length="$len" data.mock_documents=4 batch.tokens="$len" \
    train.recompute_layers=16 train.max_steps=3 train.log_every=1 >>"$LOG" 2>&1
  rc=$?
  line="$(last_train_record "$dir/metrics.jsonl")"
  if [ "$rc" -eq 0 ]; then
    rows+=("$len ok $line")
  else
    rows+=("$len failed $line $(grep -E '^strand: error' "$LOG" | tail -1 | cut -c1-90)")
  fi
done
{
  echo
  echo "1B shape, micro-batch 1, all 16 blocks recomputed ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1))"
  printf '%-8s %-7s %10s %8s %9s\n' seq status tokens/s MFU peak_GiB
  for r in "${rows[@]}"; do
    # shellcheck disable=SC2086
    printf '%-8s %-7s %10s %8s %9s %s\n' $r
  done
} | tee -a "$LOG"
