#!/usr/bin/env bash
# `make test`'s summary of skipped tests (scripts/skip-reasons.sh) on a ctest log holding three skipped tests
# with two reasons: one line per reason, with the count and the suites.
#   usage: tests/scripts/skip_reasons_test.sh SCRIPT LOG
set -euo pipefail
want=$'skipped 1: no script(1) to give strand a terminal (ProgressCliTest)\nskipped 2: no CUDA device on this machine (CudaOptimizer, Act/CudaDecodeAct)'
got="$(bash "$1" "$2")"
if [ "$got" != "$want" ]; then
  printf 'expected:\n%s\ngot:\n%s\n' "$want" "$got"
  exit 1
fi
[ -z "$(bash "$1" /nonexistent/LastTest.log)" ] || { echo "a missing log must print nothing"; exit 1; }
