// The op-by-op report of a profiled training run (train.profile=true): where a steady-state step's time goes.
#pragma once

#include "strand/ops/work_profile.h"

#include <cstdint>
#include <string>

namespace strand {

// TSV with a header row, one row per (op, shape), largest time first: op, shape, kind, calls and milliseconds
// per step, share of the step's wall time, and for products the TFLOP/s they ran at (empty for other ops).
// `times` covers `steps` steps that took `seconds` of wall time in all.
std::string work_report_tsv(const WorkTimes& times, int64_t steps, double seconds);

// The `top` largest rows of the same report as an aligned text table, closed by a row for the time spent
// outside every op (host gaps, uploads, synchronisation).
std::string work_report_table(const WorkTimes& times, int64_t steps, double seconds, size_t top);

}  // namespace strand
