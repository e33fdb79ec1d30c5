#include "strand/nn/linear_precision.h"

#include "strand/core/error.h"

namespace strand::nn {
namespace {

bool is_fp8(DType t) {
  return t == DType::F8E4M3 || t == DType::F8E5M2;
}

}  // namespace

LinearPrecision LinearPrecision::of(const Placement& placement) {
  LinearPrecision p;
  p.input = p.weight = p.grad_output = placement.compute;
  p.accumulate = placement.compute == DType::F64 ? DType::F64 : DType::F32;
  return p;
}

void check_supported(const LinearPrecision& precision, const Placement& placement,
                     const std::string& module) {
  for (auto [dtype, operand] : {std::pair{precision.input, "input"},
                                {precision.weight, "weight"},
                                {precision.grad_output, "output gradient"}})
    STRAND_CHECK(!is_fp8(dtype),
                 "linear {}: the precision recipe reads the {} as {}, but FP8 products are not "
                 "implemented yet",
                 module, operand, dtype_name(dtype));
  STRAND_CHECK(precision.scaling == FP8Scaling::none,
               "linear {}: the precision recipe scales its operands, which only FP8 products do (not "
               "implemented yet)",
               module);
  const LinearPrecision expected = LinearPrecision::of(placement);
  STRAND_CHECK(
      precision == expected,
      "linear {}: the precision recipe reads input {}, weight {}, output gradient {} and accumulates in "
      "{}; the products run only in the placement's compute dtype {} with {} accumulation",
      module, dtype_name(precision.input), dtype_name(precision.weight), dtype_name(precision.grad_output),
      dtype_name(precision.accumulate), dtype_name(expected.input), dtype_name(expected.accumulate));
}

}  // namespace strand::nn
