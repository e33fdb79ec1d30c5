// The precision recipe of one linear module: in which dtypes its products read their operands and accumulate.
//
// Every Linear and FusedLinear carries one, so that precision can later be chosen per module (an FP8 MLP
// with BF16 attention projections and LM head, say) without another code path per model. Today every
// product reads the placement's compute dtype and accumulates in F32 (F64 for F64 gradient checks), which is
// the only recipe that runs: anything else is refused at construction, never quietly run in the compute
// dtype.
//
// Where FP8 goes (not implemented): the forward product reads the input and the weight as E4M3 and the
// backward products read the output gradient as E5M2 (with the weight, resp. the input, as E4M3), each with
// one F32 scale per tensor. With delayed scaling the module keeps a short history of each operand's amax
// and derives this step's scale from it (the product writes the new amax, cuda::GemmOutput::amax); with
// current scaling it measures the operand's amax before quantising it (one more pass over the operand). The
// module quantises in FusedLinear::forward and FusedLinear::backward and hands the scales to the products
// through cuda::GemmOperand::scale; accumulation stays F32.
#pragma once

#include "strand/core/dtype.h"
#include "strand/nn/parameter.h"

#include <cstdint>
#include <string>

namespace strand::nn {

// How an FP8 operand's per-tensor scale is chosen; none for operands in a wider dtype.
enum class FP8Scaling : uint8_t {
  none,
  delayed,  // from the amax history of earlier steps
  current,  // from this tensor's own amax
};

struct LinearPrecision {
  DType input = DType::F32;        // x, as the forward and weight-gradient products read it
  DType weight = DType::F32;       // W, as the forward and input-gradient products read it
  DType grad_output = DType::F32;  // dy, as both backward products read it
  DType accumulate = DType::F32;   // the products' accumulator
  FP8Scaling scaling = FP8Scaling::none;

  // The recipe of modules built on `placement`: every operand in its compute dtype, accumulation in F32
  // (F64 for F64 placements, whose gradient checks need it).
  static LinearPrecision of(const Placement& placement);

  bool operator==(const LinearPrecision&) const = default;
};

// Throws, naming `module`, unless `precision` is a recipe the products run on `placement`: today only
// LinearPrecision::of(placement) (FP8 operands and scaling are refused as not implemented yet).
void check_supported(const LinearPrecision& precision, const Placement& placement, const std::string& module);

}  // namespace strand::nn
