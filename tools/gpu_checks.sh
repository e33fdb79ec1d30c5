#!/usr/bin/env bash
# Checks run on the GPU machine: environment, golden files from transformers, the Hugging Face export round
# trip (Llama and ESM-2), strand embed/score on proteins (CUDA against the CPU), the embedded demo (trained, its
# TensorBoard events read back, its export loaded), the GPU tests (every CUDA op against the CPU, the golden
# models on CUDA) and the demo recipe's loss curve on CUDA against the CPU,
# with checkpoints crossing between the two. Run as `bash tools/gpu_checks.sh` (from any directory); results go
# to $OUT (default: ./out at the repository root):
#
#   env.log  golden.log  golden/<model>.safetensors  hf_export.log  demo.log  gpu_tests.log  curves.log
#   summary.txt
#
# (golden/ only when the golden files are made; a device call returns at most eight files). Every step runs even when an earlier one failed; the summary table
# comes last. Each step's time limit is capped so that the whole script ends within GPU_CHECKS_BUDGET seconds
# (default 540). Exit status: 0 when no step failed, 1 otherwise.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT" && OUT="$(cd "$OUT" && pwd)"
else
  OUT="$ROOT/out"
  mkdir -p "$OUT"
fi
cd "$ROOT" || exit 1

export PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
BUDGET="${GPU_CHECKS_BUDGET:-540}"
BUNDLE=/tmp/.device-bundle
TESTS_BUNDLE=/tmp/.device-bundle-tests
GOLDEN_BUNDLE=/tmp/.device-bundle-golden

NAMES=()
STATUS=()
FIGURES=()
record() {
  NAMES+=("$1")
  STATUS+=("$2")
  FIGURES+=("$3")
}

# Seconds a step may take: its own limit, capped by what is left of the budget (15 s kept for the summary).
limit_for() {
  local want="$1" left=$((BUDGET - SECONDS - 15))
  [ "$left" -lt 5 ] && left=5
  [ "$want" -gt "$left" ] && want="$left"
  echo "$want"
}

# run_logged LOG LIMIT CMD...: run CMD with a time limit, appending the command line, its output and its exit
# status to LOG; returns the command's exit status (124 on a timeout).
run_logged() {
  local log="$1" limit
  limit="$(limit_for "$2")"
  shift 2
  echo "+ $*" >>"$log"
  local start=$SECONDS rc=0
  timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1 || rc=$?
  [ "$rc" -eq 124 ] && echo "[timed out after $limit s]" >>"$log"
  echo "[exit $rc after $((SECONDS - start)) s]" >>"$log"
  return "$rc"
}

# ---- 1. environment ---------------------------------------------------------------------------------------------
LOG="$OUT/env.log"
: >"$LOG"
st=ok
run_logged "$LOG" 60 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || st=FAIL
run_logged "$LOG" 120 "$PY" -c '
import numpy, safetensors, torch, transformers
print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())
print("transformers", transformers.__version__)
print("safetensors", safetensors.__version__)
print("numpy", numpy.__version__)
' || st=FAIL
gpu="$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
vers="$(grep -E '^(torch|transformers|safetensors) ' "$LOG" | awk '{print $1 " " $2}' | paste -sd, - | sed 's/,/, /g')"
record "environment" "$st" "${gpu:-no GPU listed}; ${vers:-no python versions}"

# ---- 2. golden files from transformers (GPU_CHECKS_SKIP_GOLDEN=1 skips them) --------------------------------------
golden_step() {
  local log="$OUT/golden.log" st=ok fig
  : >"$log"
  run_logged "$log" 300 "$PY" tools/make_golden.py --out "$OUT/golden" --data tests/data/ecoli_k12_excerpt.fa || st=FAIL
  run_logged "$log" 300 "$PY" tools/make_esm2_golden.py --out "$OUT/golden" \
    --data tests/data/uniprot_query_excerpt.fa || st=FAIL
  fig="$(grep '^golden: ' "$log" | sed -E 's/^golden: name=([^ ]+) .* loss=([^ ]+) .*/\1 loss=\2/' | paste -sd';' - \
    | sed 's/;/; /g')"
  record "golden" "$st" "${fig:-no golden written}"
}
if [ "${GPU_CHECKS_SKIP_GOLDEN:-0}" = 1 ]; then
  record "golden" "skipped" "GPU_CHECKS_SKIP_GOLDEN=1"
else
  golden_step
fi

# ---- 3. Hugging Face export round trip --------------------------------------------------------------------------
LOG="$OUT/hf_export.log"
: >"$LOG"
# hf_export_check NAME CONFIG INPUT_ARGS...: strand init from CONFIG, strand forward on the inputs that
# check_hf_export.py makes with INPUT_ARGS, then transformers on the export; records "hf-export NAME".
hf_export_check() {
  local name="$1" config="$2" dir="/tmp/export_$1" inputs="/tmp/inputs_$1.safetensors" st=ok fig
  shift 2
  rm -rf "$dir" "$inputs" "/tmp/strand_logits_$name.safetensors"
  echo "=== $name" >>"$LOG"
  run_logged "$LOG" 60 "$BUNDLE/run" init --config "$config" --seed 7 --out "$dir" &&
    run_logged "$LOG" 60 "$PY" tools/check_hf_export.py --make-inputs "$inputs" "$@" &&
    run_logged "$LOG" 60 "$BUNDLE/run" forward --model "$dir" --inputs "$inputs" \
      --out "/tmp/strand_logits_$name.safetensors" &&
    run_logged "$LOG" 180 "$PY" tools/check_hf_export.py --model "$dir" \
      --strand-logits "/tmp/strand_logits_$name.safetensors" ||
    st=FAIL
  if [ -d "$dir" ]; then
    {
      echo "--- $dir"
      ls -l "$dir"
      [ -f "$dir/config.json" ] && cat "$dir/config.json"
      echo
    } >>"$LOG" 2>&1
  fi
  fig="$(sed -n "/^=== $name\$/,\$p" "$LOG" | grep -E '^hf-export: ' | tail -1)"
  if [ -z "$fig" ]; then
    fig="stopped at: $(grep '^+ ' "$LOG" | tail -1 | cut -c3- | awk '{print $1, $2, $3}') ($(grep '^\[exit' "$LOG" | tail -1 | tr -d '[]'))"
  fi
  record "hf-export $name" "$st" "$fig"
}
if [ -f .device-bundle.tar.xz ]; then
  rm -rf "$BUNDLE"
  if run_logged "$LOG" 120 tar xJf .device-bundle.tar.xz -C /tmp; then
    hf_export_check llama configs/llama_tiny.json --data tests/data/ecoli_k12_excerpt.fa
    hf_export_check esm2 configs/esm2_tiny.json --proteins tests/data/uniprot_query_excerpt.fa
    # strand embed and strand score on the held-out proteins, CUDA against the CPU, with the exported ESM-2.
    st=ok
    run_logged "$LOG" 240 "$PY" tools/check_protein_cli.py --strand "$BUNDLE/run" --model /tmp/export_esm2 \
      --proteins data/uniprot_val.fa.gz || st=FAIL
    fig="$(grep -E '^protein-cli: ' "$LOG" | tail -1)"
    record "protein-cli" "$st" "${fig:-no verdict (see hf_export.log)}"
  else
    record "hf-export" FAIL "the bundle did not unpack (see hf_export.log)"
  fi
else
  record "hf-export" skipped "no .device-bundle.tar.xz"
fi

# ---- 3b. the embedded demo: train, read its TensorBoard events, load its HF export in transformers -----------
LOG="$OUT/demo.log"
: >"$LOG"
if [ -x "$BUNDLE/run" ]; then
  rm -rf /tmp/demo
  st=ok
  run_logged "$LOG" 300 "$BUNDLE/run" train --config-name llama_demo run.dir=/tmp/demo &&
    run_logged "$LOG" 60 "$PY" tools/check_tensorboard.py /tmp/demo/tensorboard &&
    run_logged "$LOG" 60 "$BUNDLE/run" forward --model /tmp/demo/hf --inputs /tmp/inputs_llama.safetensors \
      --out /tmp/demo_logits.safetensors &&
    run_logged "$LOG" 180 "$PY" tools/check_hf_export.py --model /tmp/demo/hf \
      --strand-logits /tmp/demo_logits.safetensors &&
    run_logged "$LOG" 60 "$PY" -c 'import sys; from transformers import AutoTokenizer; t = AutoTokenizer.from_pretrained(sys.argv[1]); print("tokenizer:", type(t).__name__, t("ACGTN")["input_ids"])' /tmp/demo/hf ||
    st=FAIL
  fig="$(grep -E '^strand train: ' "$LOG" | tail -1 | cut -c1-160); $(grep -E '^hf-export: ' "$LOG" | tail -1)"
else
  st=skipped
  fig="no strand bundle"
fi
record "demo" "$st" "$fig"

# ---- 4. GPU tests: every CUDA op against the CPU reference, and the golden models on CUDA ------------------------
LOG="$OUT/gpu_tests.log"
: >"$LOG"
# gtest_counts LOG: "passed P of T, failed F, skipped S" from the last gtest summary appended to LOG.
gtest_counts() {
  local total passed failed skipped
  total="$(grep -E '^\[==========\] [0-9]+ tests? from .* ran' "$1" | tail -1 | grep -oE '[0-9]+' | head -1)"
  passed="$(grep -E '^\[  PASSED  \] [0-9]+ tests?' "$1" | tail -1 | grep -oE '[0-9]+' | head -1)"
  failed="$(grep -E '^\[  FAILED  \] [0-9]+ tests?' "$1" | tail -1 | grep -oE '[0-9]+' | head -1)"
  skipped="$(grep -E '^\[  SKIPPED \] [0-9]+ tests?' "$1" | tail -1 | grep -oE '[0-9]+' | head -1)"
  if [ -n "$total" ]; then
    echo "passed ${passed:-0} of $total, failed ${failed:-0}, skipped ${skipped:-0}"
  else
    echo "no gtest summary (see gpu_tests.log)"
  fi
}
if [ -f .device-bundle-tests.tar.xz ]; then
  rm -rf "$TESTS_BUNDLE"
  st=ok
  run_logged "$LOG" 120 tar xJf .device-bundle-tests.tar.xz -C /tmp &&
    run_logged "$LOG" 400 "$TESTS_BUNDLE/run" --gtest_brief=1 ||
    st=FAIL
  fig="$(gtest_counts "$LOG")"
else
  st=skipped
  fig="no .device-bundle-tests.tar.xz"
fi
record "cuda-ops" "$st" "$fig"

if [ -f .device-bundle-golden.tar.xz ]; then
  rm -rf "$GOLDEN_BUNDLE"
  st=ok
  echo "=== golden models" >>"$LOG"
  run_logged "$LOG" 120 tar xJf .device-bundle-golden.tar.xz -C /tmp &&
    STRAND_TEST_DATA="$ROOT/tests" run_logged "$LOG" 300 "$GOLDEN_BUNDLE/run" ||
    st=FAIL
  fig="$(grep -E ' on cuda: ' "$LOG" | sed -E 's/ on cuda:/:/; s/, loss [0-9.]+ vs [0-9.]+//; s/ \(.*\)$//' | paste -sd';' - | sed 's/;/; /g')"
else
  st=skipped
  fig="no .device-bundle-golden.tar.xz"
fi
record "cuda-golden" "$st" "${fig:-no figures (see gpu_tests.log)}"

# ---- 5. the demo recipe for 300 steps on CUDA against the CPU, and checkpoints crossing devices -----------------
LOG="$OUT/curves.log"
: >"$LOG"
if [ -x "$BUNDLE/run" ]; then
  rm -rf /tmp/curve_cpu /tmp/curve_cuda /tmp/cross_gpu_cpu /tmp/cross_cpu_gpu
  common=(--config-name llama_demo train.max_steps=300 checkpoint.save_every=0 export.hf=false run.tensorboard=false)
  st=ok
  run_logged "$LOG" 240 "$BUNDLE/run" train "${common[@]}" run.dir=/tmp/curve_cpu &&
    run_logged "$LOG" 240 "$BUNDLE/run" train "${common[@]}" run.dir=/tmp/curve_cuda train.device=cuda &&
    run_logged "$LOG" 30 "$PY" tools/compare_curves.py /tmp/curve_cpu/metrics.jsonl /tmp/curve_cuda/metrics.jsonl ||
    st=FAIL
  fig="$(grep -E '^curves: ' "$LOG" | tail -1 | sed 's/^curves: //')"
  # A GPU checkpoint resumed on the CPU, and a CPU one on the GPU: the joined curves match the CPU run too.
  cross=ok
  run_logged "$LOG" 240 "$BUNDLE/run" train "${common[@]}" run.dir=/tmp/cross_gpu_cpu train.device=cuda \
    train.stop_at_step=150 &&
    run_logged "$LOG" 240 "$BUNDLE/run" train "${common[@]}" run.dir=/tmp/cross_gpu_cpu checkpoint.resume=true &&
    run_logged "$LOG" 30 "$PY" tools/compare_curves.py /tmp/curve_cpu/metrics.jsonl \
      /tmp/cross_gpu_cpu/metrics.jsonl &&
    run_logged "$LOG" 240 "$BUNDLE/run" train "${common[@]}" run.dir=/tmp/cross_cpu_gpu train.stop_at_step=150 &&
    run_logged "$LOG" 240 "$BUNDLE/run" train "${common[@]}" run.dir=/tmp/cross_cpu_gpu train.device=cuda \
      checkpoint.resume=true &&
    run_logged "$LOG" 30 "$PY" tools/compare_curves.py /tmp/curve_cpu/metrics.jsonl \
      /tmp/cross_cpu_gpu/metrics.jsonl ||
    cross=FAIL
  [ "$cross" = FAIL ] && st=FAIL
  fig="${fig:-no comparison}; cuda->cpu and cpu->cuda resumes: $cross"
else
  st=skipped
  fig="no strand bundle"
fi
record "curves" "$st" "$fig"

# ---- 6. summary ---------------------------------------------------------------------------------------------------
{
  echo
  echo "gpu_checks summary ($SECONDS s)"
  printf '%-12s %-8s %s\n' "step" "status" "key figure"
  printf '%-12s %-8s %s\n' "----" "------" "----------"
  for i in "${!NAMES[@]}"; do
    printf '%-12s %-8s %s\n' "${NAMES[$i]}" "${STATUS[$i]}" "${FIGURES[$i]}"
  done
} | tee "$OUT/summary.txt"

for s in "${STATUS[@]}"; do
  [ "$s" = FAIL ] && exit 1
done
exit 0
