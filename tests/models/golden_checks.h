// Shared by the golden-parity tests: where the golden files are, and how far a tensor is from its golden
// value.
#pragma once

#include "strand/core/tensor.h"
#include "strand/io/safetensors.h"
#include "strand/models/language_model.h"
#include "strand/nn/parameter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace strand::testing {

// tests/golden/<name>.safetensors; STRAND_TEST_DATA in the environment points a copied test binary at the
// tests/ folder of its checkout.
inline std::string golden_path(const std::string& name) {
  const char* data_dir = std::getenv("STRAND_TEST_DATA");
  return std::string(data_dir != nullptr ? data_dir : STRAND_TEST_DATA) + "/golden/" + name + ".safetensors";
}

struct Errors {
  double max_abs = 0, max_ref = 0, sq_diff = 0, sq_ref = 0;
  void add(double a, double b) {
    max_abs = std::max(max_abs, std::abs(a - b));
    max_ref = std::max(max_ref, std::abs(b));
    sq_diff += (a - b) * (a - b);
    sq_ref += b * b;
  }
  double max_rel() const { return max_abs / max_ref; }
  double norm_rel() const { return std::sqrt(sq_diff / sq_ref); }
};

// a (any device, any float dtype) against the golden b; NaN anywhere makes both errors infinite.
inline Errors compare(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  Errors e;
  const Tensor a64 = a.to(Device::cpu()).to(DType::F64), b64 = b.to(DType::F64);
  for (int64_t i = 0; i < a.numel(); ++i) e.add(a64.data<double>()[i], b64.data<double>()[i]);
  if (std::isnan(e.sq_diff)) e.sq_diff = e.max_abs = INFINITY;
  return e;
}

// Forward, loss and backward of `batch` (the gradient of the mean loss over its `labelled` targets), checking
// the logits (max |a - b| / max |b| <= logits_tol) and the mean loss (relative loss_tol) against the golden
// file. `what` names the model and device in the printed figures.
inline LossResult expect_loss_matches(LanguageModel& model, const LMBatch& batch, int64_t labelled,
                                      const io::SafetensorsFile& golden, const std::string& what,
                                      double logits_tol, double loss_tol) {
  Arena arena(size_t{1} << 20, model.device());
  const LossResult r = lm_loss(model, arena, batch, static_cast<double>(labelled));
  EXPECT_EQ(r.sums.weight_sum, static_cast<double>(labelled));
  const Errors logits = compare(r.logits, golden.read("logits"));
  const double loss_ref = golden.read("loss").item();
  const double loss_rel = std::abs(r.mean_loss() - loss_ref) / std::abs(loss_ref);
  std::printf("%s: logits max rel err %.3g, loss %.8f vs %.8f (rel %.3g)\n", what.c_str(), logits.max_rel(),
              r.mean_loss(), loss_ref, loss_rel);
  EXPECT_LE(logits.max_rel(), logits_tol);
  EXPECT_LE(loss_rel, loss_tol);
  return r;
}

// Every parameter's gradient against the golden "grad.<name>" (||a - b|| / ||b|| <= tol, and a golden
// gradient that is not zero, or the check proves nothing); every golden gradient must belong to a parameter.
// Returns the worst relative error and the parameter it belongs to.
inline std::pair<double, std::string> expect_gradients_match(const nn::ParameterList& params,
                                                             const io::SafetensorsFile& golden, double tol) {
  double worst = 0;
  std::string worst_name;
  int unmatched = 0;
  for (const nn::Parameter* p : params) {
    EXPECT_TRUE(golden.contains("grad." + p->name)) << p->name;
    if (!golden.contains("grad." + p->name)) continue;
    const Errors g = compare(p->grad, golden.read("grad." + p->name));
    EXPECT_LE(g.norm_rel(), tol) << "gradient of " << p->name;
    EXPECT_GT(g.sq_ref, 0.0) << "golden gradient of " << p->name << " is zero; the check would prove nothing";
    if (g.norm_rel() > worst) {
      worst = g.norm_rel();
      worst_name = p->name;
    }
    ++unmatched;
  }
  for (const io::TensorInfo& t : golden.tensors())
    if (t.name.starts_with("grad.")) --unmatched;
  EXPECT_EQ(unmatched, 0) << "every golden gradient must belong to a strand parameter";
  return {worst, worst_name};
}

}  // namespace strand::testing
