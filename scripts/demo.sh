#!/usr/bin/env bash
# The embedded default, end to end: train the demo recipe on the shipped E. coli excerpt (validated on V. cholerae),
# show the validation curve, then generate from the exported model. Run from the repository root: `make demo`.
set -euo pipefail
strand=${STRAND:-build/strand}
run=${DEMO_RUN_DIR:-runs/demo}

rm -rf "$run"
start=$(date +%s)
"$strand" train --config-name llama_demo "run.dir=$run" "$@"
echo "training took $(( $(date +%s) - start )) s"

echo
echo "validation curve (nats per base; unigram entropy of the validation bases alongside):"
grep '"val/loss"' "$run/metrics.jsonl" |
  sed -E 's|.*"step":([0-9]+).*"val/loss":([0-9.eE+-]+).*"val/unigram_entropy":([0-9.eE+-]+).*|\1 \2 \3|' |
  awk '{ printf "  step %5d  val/loss %.4f  unigram %.4f  %s\n", $1, $2, $3, ($2 < $3 ? "below" : "not below") }'

echo
echo "generated from the exported model (prompt ATGAAACGC, 120 new bases, temperature 0.8):"
"$strand" generate --model "$run/hf" --prompt ATGAAACGC --max-new-tokens 120 --temperature 0.8 --top-k 4 --seed 7
echo
echo "outputs: $run/checkpoints (resumable), $run/hf (HF export), $run/metrics.jsonl, $run/tensorboard"
