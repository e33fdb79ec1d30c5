#!/usr/bin/env python3
"""Compares the training-loss curves of two strand runs (metrics.jsonl), step by step.

    python3 tools/compare_curves.py CPU_RUN/metrics.jsonl GPU_RUN/metrics.jsonl --after 50 --tol 0.02

Prints both curves side by side and one summary line, `curves: OK|FAIL ...`; exits 1 when a logged step after
--after differs by more than --tol relative to the first run, or when the runs logged different steps.
"""

import argparse
import json
import sys


def losses(path, key):
    out = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if key in record:
                out[record["step"]] = record[key]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("reference")
    parser.add_argument("candidate")
    parser.add_argument("--key", default="train/loss")
    parser.add_argument("--after", type=int, default=50)
    parser.add_argument("--tol", type=float, default=0.02)
    args = parser.parse_args()
    ref, cand = losses(args.reference, args.key), losses(args.candidate, args.key)
    if not ref or sorted(ref) != sorted(cand):
        print(f"curves: FAIL logged steps differ: {sorted(ref)} vs {sorted(cand)}")
        return 1
    print(f"{'step':>6} {'reference':>10} {'candidate':>10} {'rel diff':>9}")
    worst, worst_step = 0.0, None
    for step in sorted(ref):
        rel = abs(cand[step] - ref[step]) / abs(ref[step])
        print(f"{step:>6} {ref[step]:>10.5f} {cand[step]:>10.5f} {rel:>9.2e}")
        if step > args.after and (rel > worst or rel != rel):
            worst, worst_step = rel, step
    ok = worst <= args.tol
    print(f"curves: {'OK' if ok else 'FAIL'} {args.key} at {len(ref)} steps, max rel diff after step "
          f"{args.after} {worst:.2e} (step {worst_step}), tolerance {args.tol}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
