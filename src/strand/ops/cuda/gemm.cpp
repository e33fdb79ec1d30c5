// cuBLASLt is column-major; a row-major C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T, so the
// operands swap and nothing is copied. Descriptors and the heuristic's candidate algorithms are cached per
// shape, so a steady-state step queries nothing.
//
// Algorithm choice. The heuristic's first candidate is not always the fastest: timed alone on an H100, the
// ESM-2 650M weight-gradient and 5120 -> 1280 products run 6-11% faster with a later one (about 0.5% of the
// training step). A shape in steady use (its kTuneAtUse-th product) is therefore timed once over the
// candidates whose results on the live operands are bit-identical to the first's (gemm_tuning.h), and the
// fastest is kept, so tuning changes how fast a run computes, not what.
// Shapes of one-off batches (packed batches of varying length) never reach that count and keep the first
// candidate. STRAND_GEMM_TUNING=off keeps the first candidate everywhere. The trial buffer tuning writes to
// is sized when a shape is first seen, so that tuning, which happens in a steady step, allocates nothing.
#include "strand/ops/cuda/gemm.h"

#include "strand/core/device_memory.h"
#include "strand/core/error.h"
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/gemm_tuning.h"

#include <cublasLt.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

namespace strand::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // cuBLASLt's recommendation for Hopper
constexpr int kCandidates = 8;                        // heuristic results kept per shape
// A training step uses each shape once per layer and direction, so a run's shapes reach this within a few
// steps, after which tuning (about 60 products) costs little against the products still to come.
constexpr int64_t kTuneAtUse = 200;

bool tuning_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("STRAND_GEMM_TUNING");
    return env == nullptr || std::strcmp(env, "off") != 0;
  }();
  return enabled;
}

void check_lt(cublasStatus_t status, const char* what) {
  STRAND_CHECK(status == CUBLAS_STATUS_SUCCESS, "cuBLASLt {} failed with status {}", what,
               static_cast<int>(status));
}

bool is_fp8(DType t) {
  return t == DType::F8E4M3 || t == DType::F8E5M2;
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F32:
      return CUDA_R_32F;
    case DType::BF16:
      return CUDA_R_16BF;
    default:
      STRAND_CHECK(false, "gemm: unsupported dtype {}", dtype_name(t));
  }
  return CUDA_R_32F;
}

using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, DType, DType, DType,
                       bool>;  // all of Gemm but pointers and scalars

// Everything cuBLASLt needs for one shape, built once.
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  std::vector<cublasLtMatmulAlgo_t> candidates;  // the heuristic's order
  size_t chosen = 0;
  int64_t uses = 0;
};

Plan make_plan(const Gemm& g) {
  Plan p;
  // Column-major view: D^T [n, m] = op(B)^T [n, k] op(A)^T [k, m].
  check_lt(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "MatmulDescCreate");
  const cublasOperation_t op_first = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  check_lt(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof(op_first)),
           "set TRANSA");
  check_lt(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof(op_second)),
           "set TRANSB");
  if (g.bias != nullptr) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    check_lt(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
        "set EPILOGUE");
    const cudaDataType_t bias_type = cuda_type(g.c.dtype);
    check_lt(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                            sizeof(bias_type)),
             "set BIAS_DATA_TYPE");
  }
  // Stored shapes in column-major terms: a row-major [r, c] matrix with row stride ld is a column-major
  // [c, r] matrix with leading dimension ld.
  const auto rows_of = [](bool trans, int64_t outer, int64_t inner) { return trans ? inner : outer; };
  const uint64_t b_rows = static_cast<uint64_t>(rows_of(g.trans_b, g.n, g.k));
  const uint64_t b_cols = static_cast<uint64_t>(rows_of(g.trans_b, g.k, g.n));
  const uint64_t a_rows = static_cast<uint64_t>(rows_of(g.trans_a, g.k, g.m));
  const uint64_t a_cols = static_cast<uint64_t>(rows_of(g.trans_a, g.m, g.k));
  check_lt(cublasLtMatrixLayoutCreate(&p.a, cuda_type(g.b.dtype), b_rows, b_cols, g.b.ld), "layout B");
  check_lt(cublasLtMatrixLayoutCreate(&p.b, cuda_type(g.a.dtype), a_rows, a_cols, g.a.ld), "layout A");
  check_lt(cublasLtMatrixLayoutCreate(&p.c, cuda_type(g.c.dtype), static_cast<uint64_t>(g.n),
                                      static_cast<uint64_t>(g.m), g.c.ld),
           "layout C");

  cublasLtMatmulPreference_t pref = nullptr;
  check_lt(cublasLtMatmulPreferenceCreate(&pref), "PreferenceCreate");
  check_lt(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                &kWorkspaceBytes, sizeof(kWorkspaceBytes)),
           "set MAX_WORKSPACE_BYTES");
  std::vector<cublasLtMatmulHeuristicResult_t> results(kCandidates);
  int found = 0;
  check_lt(cublasLtMatmulAlgoGetHeuristic(cublaslt(), p.desc, p.a, p.b, p.c, p.c, pref, kCandidates,
                                          results.data(), &found),
           "AlgoGetHeuristic");
  cublasLtMatmulPreferenceDestroy(pref);
  STRAND_CHECK(found > 0, "cuBLASLt has no algorithm for a [{}, {}] x [{}, {}] product of {} and {} into {}",
               g.m, g.k, g.k, g.n, dtype_name(g.a.dtype), dtype_name(g.b.dtype), dtype_name(g.c.dtype));
  for (int i = 0; i < found; ++i) p.candidates.push_back(results[static_cast<size_t>(i)].algo);
  return p;
}

// Bytes of g's output, from its first element to its last (rows ldc apart).
size_t output_bytes(const Gemm& g) {
  return static_cast<size_t>((g.m - 1) * g.c.ld + g.n) * dtype_size(g.c.dtype);
}

// The trial buffer tuning g needs: its rounded-up result, then the fingerprint's word (gemm_tuning.h).
size_t trial_bytes_for(const Gemm& g) {
  return trial_result_bytes(output_bytes(g)) + kTrialSumBytes;
}

// One device's plans and buffers, kept for the process's lifetime like its cuBLASLt handle.
struct GemmState {
  Device device = current_cuda_device();
  std::mutex mutex;
  std::map<Key, Plan> plans;
  void* side_workspace = nullptr;  // created with the first product on the side stream
  void* trial = nullptr;           // large enough for every shape seen that could still be tuned
  size_t trial_bytes = 0;

  // cuBLASLt's workspace: the op scratch on the main stream, a buffer of its own on the side stream, whose
  // products overlap the main stream's.
  void* workspace_for(cudaStream_t stream) {
    if (stream != side_stream()) return scratch(kWorkspaceBytes);
    if (side_workspace == nullptr) side_workspace = device_alloc(device, kWorkspaceBytes);
    return side_workspace;
  }

  // Grows the trial buffer to `bytes` when a new shape needs more. Growth waits for the stream, which may
  // still be tuning into the old buffer. Out of memory, the buffer keeps its size and the shape will keep
  // its first candidate: a correct choice, merely untuned.
  void reserve_trial(size_t bytes, cudaStream_t stream) {
    if (bytes <= trial_bytes) return;
    void* grown = nullptr;
    try {
      grown = device_alloc(device, bytes);
    } catch (const Error&) {
      return;
    }
    if (trial != nullptr) {
      check_cuda(cudaStreamSynchronize(stream), "gemm: trial buffer resize");
      device_free(device, trial);
    }
    trial = grown;
    trial_bytes = bytes;
  }
};

// g's product with one algorithm, written to d (g.c, or a trial buffer of the same layout).
void matmul(const Gemm& g, const Plan& p, const cublasLtMatmulAlgo_t& algo, void* d, cudaStream_t stream) {
  if (g.bias != nullptr)
    check_lt(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof(g.bias)),
        "set BIAS_POINTER");
  void* workspace = per_device<GemmState>().workspace_for(stream);
  const void* c_in = g.c_in != nullptr ? g.c_in : g.c.data;
  check_lt(cublasLtMatmul(cublaslt(), p.desc, &g.alpha, g.b.data, p.a, g.a.data, p.b, &g.beta, c_in, p.c, d,
                          p.c, &algo, workspace, kWorkspaceBytes, stream),
           "Matmul");
}

void tune(const Gemm& g, Plan& p, const GemmState& s, cudaStream_t stream) {
  if (s.trial_bytes < trial_bytes_for(g)) return;  // reserve_trial found no memory for it
  p.chosen = static_cast<size_t>(fastest_identical_candidate(
      static_cast<int>(p.candidates.size()), s.trial, trial_result_bytes(output_bytes(g)),
      [&](int i, void* out) { matmul(g, p, p.candidates[static_cast<size_t>(i)], out, stream); }, stream));
}

// The plan of g's shape on the current device, counting this use and tuning the shape on its kTuneAtUse-th.
const Plan& plan_for(const Gemm& g, cudaStream_t stream) {
  GemmState& s = per_device<GemmState>();
  const Key key{g.trans_a, g.trans_b, g.m,       g.n,       g.k,       g.a.ld,
                g.b.ld,    g.c.ld,    g.a.dtype, g.b.dtype, g.c.dtype, g.bias != nullptr};
  const std::lock_guard lock(s.mutex);
  auto it = s.plans.find(key);
  if (it == s.plans.end()) {
    it = s.plans.emplace(key, make_plan(g)).first;
    if (tuning_enabled() && it->second.candidates.size() > 1) s.reserve_trial(trial_bytes_for(g), stream);
  }
  Plan& p = it->second;
  if (++p.uses == kTuneAtUse && tuning_enabled()) tune(g, p, s, stream);
  return p;
}

}  // namespace

void check_gemm(const Gemm& g) {
  for (auto [dtype, operand] : {std::pair{g.a.dtype, "A"}, {g.b.dtype, "B"}, {g.c.dtype, "C"}}) {
    STRAND_CHECK(!is_fp8(dtype), "gemm: operand {} is {}; FP8 products are not supported yet", operand,
                 dtype_name(dtype));
    STRAND_CHECK(dtype == DType::F32 || dtype == DType::BF16,
                 "gemm: operand {} is {}; products take F32 or BF16", operand, dtype_name(dtype));
  }
  for (auto [scale, operand] : {std::pair{g.a.scale, "A"}, {g.b.scale, "B"}, {g.c.scale, "C"}})
    STRAND_CHECK(
        scale == nullptr,
        "gemm: operand {} has a scale, which only FP8 operands take (FP8 products are not supported yet)",
        operand);
  STRAND_CHECK(
      g.c.amax == nullptr,
      "gemm: output C asks for its amax, which only FP8 outputs report (FP8 products are not supported "
      "yet)");
  STRAND_CHECK(g.a.dtype == g.b.dtype,
               "gemm: operands A ({}) and B ({}) differ in dtype, which cuBLASLt allows only in FP8 products",
               dtype_name(g.a.dtype), dtype_name(g.b.dtype));
  STRAND_CHECK(g.a.dtype == DType::BF16 || g.c.dtype == DType::F32,
               "gemm: output C is {}, but a product of {} operands gives F32 only", dtype_name(g.c.dtype),
               dtype_name(g.a.dtype));
}

void gemm(const Gemm& g, cudaStream_t stream) {
  check_gemm(g);
  if (g.m == 0 || g.n == 0) return;
  const Plan& p = plan_for(g, stream);
  matmul(g, p, p.candidates[p.chosen], g.c.data, stream);
}

}  // namespace strand::cuda
