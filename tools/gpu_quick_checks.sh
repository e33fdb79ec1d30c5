#!/usr/bin/env bash
# The GPU checks that fit a short device call (tools/gpu_checks.sh runs the full set): every GPU test, the
# golden models on CUDA, and the demo recipe trained on CUDA with its greedy generation on CUDA against the
# CPU's. Run as `bash tools/gpu_quick_checks.sh` from the repository root with the bundles carried:
#   .device-bundle.tar.xz         strand          (bundle-for-device build/strand)
#   .device-bundle-tests.tar.xz   cuda_test       (bundle-for-device build/tests/cuda_test .device-bundle-tests)
#   .device-bundle-golden.tar.xz  golden_test     (bundle-for-device build/tests/golden_test .device-bundle-golden)
# Logs go to $OUT (default ./out); a table of the steps is printed last. Exit status 0 when none failed.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/out}"
mkdir -p "$OUT"
cd "$ROOT" || exit 1
for b in .device-bundle .device-bundle-tests .device-bundle-golden; do
  [ -f "$b.tar.xz" ] && tar xJf "$b.tar.xz" -C /tmp
done
STRAND=/tmp/.device-bundle/run
rows=()
failed=0
record() {
  rows+=("$(printf '%-16s %-5s %s' "$1" "$2" "$3")")
  [ "$2" = FAIL ] && failed=1
}
gtest_summary() {
  local log="$1"
  echo "$(grep -cE '^\[       OK \]' "$log") passed, $(grep -cE '^\[  FAILED  \] .* \([0-9]+ ms\)$' "$log") failed, $(grep -cE '^\[  SKIPPED \] .* \([0-9]+ ms\)$' "$log") skipped"
}

# GPU tests: each CUDA op against the CPU, decoding, the optimizer, per-device state, zero allocations in
# steady steps (the test runs strand itself, so it is told where the binary is).
if [ -x /tmp/.device-bundle-tests/run ]; then
  STRAND_BINARY="$STRAND" STRAND_TEST_DATA="$ROOT/tests" timeout 420 /tmp/.device-bundle-tests/run >"$OUT/gpu_tests.log" 2>&1
  rc=$?
  record "cuda-tests" "$([ $rc = 0 ] && echo ok || echo FAIL)" "$(gtest_summary "$OUT/gpu_tests.log"); $(grep -E '^\[  FAILED  \] [A-Za-z]' "$OUT/gpu_tests.log" | head -4 | awk '{print $4}' | paste -sd' ')"
fi
if [ -x /tmp/.device-bundle-golden/run ]; then
  (STRAND_TEST_DATA="$ROOT/tests" timeout 300 /tmp/.device-bundle-golden/run --gtest_filter='*cuda*' >"$OUT/golden_cuda.log" 2>&1)
  rc=$?
  record "golden-cuda" "$([ $rc = 0 ] && echo ok || echo FAIL)" "$(gtest_summary "$OUT/golden_cuda.log")"
fi

# The demo recipe on CUDA, then greedy generation from its export on the CPU and on CUDA.
rm -rf /tmp/demo_cuda
if timeout 300 "$STRAND" train --config-name llama_demo train.device=cuda run.dir=/tmp/demo_cuda >"$OUT/demo_cuda.log" 2>&1; then
  record "demo-cuda" ok "$(grep -E '^strand train: ' "$OUT/demo_cuda.log" | tail -1 | cut -c1-120)"
  prompt=ATGAAACGCATTAGCACCACCATTACCACCACCATCACCATTACCACAGGTAACGGTGCGGGCTGA
  gen() { timeout 120 "$STRAND" generate --model /tmp/demo_cuda/hf --prompt "$prompt" --max-new-tokens 200 --temperature 0 "$@" 2>>"$OUT/generate.log"; }
  cpu="$(gen)"
  fp32="$(gen --device cuda --precision fp32)"
  bf16="$(gen --device cuda --precision bf16)"
  sampled_a="$(gen --device cuda --temperature 1 --seed 5 --num-samples 2 | md5sum | cut -c1-8)"
  sampled_b="$(gen --device cuda --temperature 1 --seed 5 --num-samples 2 | md5sum | cut -c1-8)"
  printf 'cpu  %s\nfp32 %s\nbf16 %s\n' "$cpu" "$fp32" "$bf16" >>"$OUT/generate.log"
  same_bf16="$(python3 -c 'import sys; a,b=sys.argv[1:]; n=next((i for i,(x,y) in enumerate(zip(a,b)) if x!=y), min(len(a),len(b))); print(n)' "$cpu" "$bf16")"
  if [ -n "$cpu" ] && [ "$cpu" = "$fp32" ] && [ "$sampled_a" = "$sampled_b" ]; then st=ok; else st=FAIL; fi
  record "generate-cuda" "$st" "greedy fp32 identical to CPU: $([ "$cpu" = "$fp32" ] && echo yes || echo no) (${#cpu} chars); bf16 agrees for the first $same_bf16 chars; seeded sampling repeats: $([ "$sampled_a" = "$sampled_b" ] && echo yes || echo no)"
else
  record "demo-cuda" FAIL "$(tail -1 "$OUT/demo_cuda.log")"
fi

# optimizer.eps=0 makes the weights NaN where a gradient is 0 (embeddings of ids the data lacks): on CUDA too
# the run must stop with an error and write no checkpoint after the good one.
rm -rf /tmp/nonfinite_cuda
tiny=(train.device=cuda model.hidden_size=64 model.num_hidden_layers=1 model.intermediate_size=128 train.log_every=1
      data.max_length=64 batch.tokens=512 train.eval_every=0 checkpoint.save_every=1 schedule.warmup_steps=0
      run.dir=/tmp/nonfinite_cuda)
timeout 120 "$STRAND" train --config-name llama_demo "${tiny[@]}" train.max_steps=2 >"$OUT/nonfinite.log" 2>&1
timeout 120 "$STRAND" train --config-name llama_demo "${tiny[@]}" train.max_steps=4 checkpoint.resume=true \
  optimizer.eps=0 >>"$OUT/nonfinite.log" 2>&1
rc=$?
if [ $rc != 0 ] && grep -q "training diverged" "$OUT/nonfinite.log" && [ ! -e /tmp/nonfinite_cuda/checkpoints/step_3 ] &&
  [ -e /tmp/nonfinite_cuda/checkpoints/step_2/MANIFEST.json ]; then st=ok; else st=FAIL; fi
record "nonfinite-cuda" "$st" "exit $rc: $(grep -o 'strand: error: .\{0,90\}' "$OUT/nonfinite.log" | head -1)"

echo
printf '%-16s %-5s %s\n' step state figures
for r in "${rows[@]}"; do echo "$r"; done
exit $failed
