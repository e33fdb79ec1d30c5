#!/usr/bin/env bash
# `make test`: every test through ctest (output of failing tests shown), one short line per test (ctest's dot
# leaders dropped), then one line per reason that tests were skipped, with how many and which suites; the
# reason is the GTEST_SKIP message, read from ctest's log of the run. Exits with ctest's status.
#   usage: scripts/run-tests.sh BUILD_DIR JOBS [LABEL]
set -uo pipefail
build="${1:?usage: $0 BUILD_DIR JOBS [LABEL]}"
jobs="${2:-2}"
label="${3:-}"

ctest --test-dir "$build" --output-on-failure -j "$jobs" ${label:+-L "$label"} 2>&1 |
  grep -v -e '^Internal ctest changing into directory' -e '^ *Start  *[0-9]*: ' |
  sed -E 's/ \.{2,}(\*{3})?/ /; s/  # GetParam\(\) = .* (Passed|Skipped|Failed|Exception|Timeout|Not Run)/ \1/' |
  awk '/^The following tests did not run:/ { skipping = 1; next } skipping && /^\t/ { next } { skipping = 0; print }'
status=${PIPESTATUS[0]}

"$(dirname "$0")/skip-reasons.sh" "$build/Testing/Temporary/LastTest.log"
exit "$status"
