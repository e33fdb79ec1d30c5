#include "strand/train/work_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace strand {
namespace {

struct Row {
  const OpTime* op;
  double ms_per_step;
  double share;
  double tflops;  // 0 where the op is not a product
};

// Floating-point operations of one call: 2 m n k per product; a backward pass with dx does two.
double flops_per_call(const OpTime& o) {
  if (o.kind != WorkKind::gemm || o.shape.k == 0) return 0;
  const double product =
      2.0 * static_cast<double>(o.shape.m) * static_cast<double>(o.shape.n) * static_cast<double>(o.shape.k);
  return o.op == "linear_backward" ? 2 * product : product;
}

std::vector<Row> rows_by_time(const WorkTimes& times, int64_t steps, double seconds) {
  const double per_step = static_cast<double>(std::max<int64_t>(steps, 1));
  const double step_ms = seconds * 1e3 / per_step;
  std::vector<Row> rows;
  for (const OpTime& o : times.by_op) {
    const double flops = flops_per_call(o) * static_cast<double>(o.calls);
    rows.push_back({&o, o.ms / per_step, step_ms > 0 ? o.ms / per_step / step_ms : 0,
                    o.ms > 0 ? flops / (o.ms * 1e-3) / 1e12 : 0});
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.ms_per_step > b.ms_per_step; });
  return rows;
}

std::string tflops_text(const Row& r) {
  return r.tflops > 0 ? fmt::format("{:.3g}", r.tflops) : "";
}

}  // namespace

std::string work_report_tsv(const WorkTimes& times, int64_t steps, double seconds) {
  const double per_step = static_cast<double>(std::max<int64_t>(steps, 1));
  std::string out = "op\tshape\tkind\tcalls_per_step\tms_per_step\tshare\ttflops\n";
  for (const Row& r : rows_by_time(times, steps, seconds))
    out += fmt::format("{}\t{}\t{}\t{:.2f}\t{:.4f}\t{:.4f}\t{}\n", r.op->op, op_shape_text(r.op->shape),
                       work_kind_name(r.op->kind), static_cast<double>(r.op->calls) / per_step, r.ms_per_step,
                       r.share, tflops_text(r));
  return out;
}

std::string work_report_table(const WorkTimes& times, int64_t steps, double seconds, size_t top) {
  const double per_step = static_cast<double>(std::max<int64_t>(steps, 1));
  const std::vector<Row> rows = rows_by_time(times, steps, seconds);
  std::string out = fmt::format("{:<26} {:<18} {:>7} {:>9} {:>6} {:>7}\n", "op", "shape", "calls", "ms/step",
                                "share", "TFLOP/s");
  double timed_ms = 0;
  for (const Row& r : rows) timed_ms += r.ms_per_step;
  for (size_t i = 0; i < std::min(top, rows.size()); ++i) {
    const Row& r = rows[i];
    out += fmt::format("{:<26} {:<18} {:>7.1f} {:>9.2f} {:>5.1f}% {:>7}\n", r.op->op,
                       op_shape_text(r.op->shape), static_cast<double>(r.op->calls) / per_step, r.ms_per_step,
                       100 * r.share, tflops_text(r));
  }
  if (rows.size() > top) {
    double rest_ms = 0;
    for (size_t i = top; i < rows.size(); ++i) rest_ms += rows[i].ms_per_step;
    out += fmt::format("{:<26} {:<18} {:>7} {:>9.2f}\n", fmt::format("({} more ops)", rows.size() - top), "",
                       "", rest_ms);
  }
  const double step_ms = seconds * 1e3 / per_step;
  out += fmt::format("{:<26} {:<18} {:>7} {:>9.2f} {:>5.1f}%\n", "(outside every op)", "", "",
                     step_ms - timed_ms, step_ms > 0 ? 100 * (step_ms - timed_ms) / step_ms : 0);
  return out;
}

}  // namespace strand
