# Sourced by the benchmark scripts: the repository root and output folder, the strand binary to run, and the
# figures of a strand run's last logged training step.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/out}"
mkdir -p "$OUT"
cd "$ROOT" || exit 1
export PYTHONUNBUFFERED=1

# $STRAND, or the bundle carried as .device-bundle.tar.xz (unpacked once into /tmp).
STRAND="${STRAND:-}"
if [ -z "$STRAND" ]; then
  [ -x /tmp/.device-bundle/run ] || tar xJf .device-bundle.tar.xz -C /tmp
  STRAND=/tmp/.device-bundle/run
fi

# last_train_record METRICS_JSONL: "tokens/s MFU peak_GiB" of the last logged step, "nan nan nan" when the run
# logged none (its log says why).
last_train_record() {
  python3 - "$1" <<'PY'
import json, sys
try:
    last = [json.loads(l) for l in open(sys.argv[1]) if "train/tokens_per_s" in l][-1]
    print(f'{last["train/tokens_per_s"]:.0f} {last["train/mfu"]:.4f} {last["train/peak_gpu_memory_gib"]:.2f}')
except Exception:
    print("nan nan nan")
PY
}
