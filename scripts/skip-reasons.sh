#!/usr/bin/env bash
# Why tests were skipped, from a ctest log (Testing/Temporary/LastTest.log): one line per GTEST_SKIP reason,
# with how many tests gave it and which suites (three named, then a count), sorted. Nothing when none were
# skipped or the log is missing.
#   usage: scripts/skip-reasons.sh LOG
set -uo pipefail
log="${1:?usage: $0 LOG}"
[ -f "$log" ] || exit 0
awk '
  /^[0-9]+\/[0-9]+ Test: / { test = $0; sub(/^[0-9]+\/[0-9]+ Test: /, "", test); reason = ""; grab = 0; next }
  grab { reason = $0; grab = 0; next }
  /: Skipped$/ { grab = 1; next }
  /^Skip regular expression found in output/ {
    if (reason == "") reason = "(no reason given)"
    n[reason]++
    suite = test; sub(/\..*/, "", suite)
    if (index(" " suites[reason] " ", " " suite " ") == 0) suites[reason] = suites[reason] (suites[reason] == "" ? "" : " ") suite
  }
  END {
    for (r in n) {
      k = split(suites[r], s, " ")
      list = s[1]; for (i = 2; i <= k && i <= 3; ++i) list = list ", " s[i]
      if (k > 3) list = list sprintf(" and %d more suites", k - 3)
      printf "skipped %d: %s (%s)\n", n[r], r, list
    }
  }
' "$log" | sort
