// cuDNN's fused flash attention for packed (THD) batches, driven through the backend graph API.
//
// Layout. cuDNN sees the packed batch as a padded [b, heads, s, D] problem whose sequences start at ragged
// offsets. q, k, v, out (and dout, dq, dk, dv) keep their token-major rows: dims [b, h, s, D], strides
// [s * ld, D, ld, 1], plus an I64 tensor [b + 1] of element offsets cu_seqlens[i] * ld locating sequence i
// (tensors with equal row strides share one). I32 lengths [b] feed the padding mask, so no query sees a key
// of another sequence and padding positions are neither read nor written. The causal mask is aligned
// top-left: within a sequence, key j is visible to query i when j <= i. b and s are rounded up to coarse
// buckets (the extra sequences are empty) so one plan serves many batches. A batch of equal-length sequences
// that fills its buckets exactly gets a dense plan: the same strides without offsets, lengths or padding
// mask. Grouped-query attention is the matmuls' broadcast of each k/v head over its query heads; the
// backward sums the group's dk and dv with a reduction.
//
// Statistics. Fused attention writes and reads the log-sum-exp as a padded F32 [b, h, s, 1] tensor; kernels
// in attention_cudnn_offsets.cu convert it from and to our [tokens, heads] layout.
//
// Plans. build_forward and build_backward lay out the operation graphs in the form cuDNN's fused attention
// engines recognise (matmul, scale, masks, softmax, matmul; and the FlashAttention backward). A plan is built
// once per (direction, b, s, H, Hkv, D, causal, row strides) and kept; the softmax scale is a by-value scalar
// bound at execution, so it is not part of the key. Steady-state calls build nothing: they fill a variant
// pack and execute, with every device buffer (offsets, statistics, cuDNN's workspace) carved out of
// cuda::scratch.
//
// Debugging. STRAND_CUDNN_DEBUG=1 prints to stderr every failed cuDNN call (step, descriptor, attribute,
// status and cuDNN's own last error message), each engine configuration tried, and the plan chosen.
#include "strand/ops/cuda/attention.h"

#include "strand/core/error.h"

#if defined(STRAND_WITH_CUDNN)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/attention_cudnn_offsets.h"

#include <cudnn_graph.h>
#include <fmt/format.h>

#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#endif

namespace strand::cuda {

#if defined(STRAND_WITH_CUDNN)
namespace {

// Passes a backend attribute together with its name, for messages.
#define STRAND_ATTR(attribute) attribute, #attribute

bool debug_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("STRAND_CUDNN_DEBUG");
    return value != nullptr && *value != '\0' && std::string_view(value) != "0";
  }();
  return enabled;
}

void debug_log(const std::string& message) {
  if (debug_enabled()) fmt::print(stderr, "[strand cudnn] {}\n", message);
}

// "CUDNN_STATUS_BAD_PARAM (2000): <cuDNN's last error message>".
std::string describe_status(cudnnStatus_t status) {
  std::string text = fmt::format("{} ({})", cudnnGetErrorString(status), static_cast<int>(status));
  std::array<char, 1024> detail{};
  cudnnGetLastErrorString(detail.data(), detail.size());
  if (detail[0] != '\0') text += fmt::format(": {}", detail.data());
  return text;
}

bool is_not_supported(cudnnStatus_t status) {
  return CUDNN_STATUS_CATEGORY(static_cast<int>(status)) == static_cast<int>(CUDNN_STATUS_NOT_SUPPORTED);
}

enum class Step { kGraphBuild, kHeuristics, kFinalize, kExecute };

const char* step_name(Step step) {
  switch (step) {
    case Step::kGraphBuild:
      return "graph build";
    case Step::kHeuristics:
      return "heuristics";
    case Step::kFinalize:
      return "plan finalize";
    case Step::kExecute:
      return "execute";
  }
  return "unknown step";
}

// Thrown while planning when cuDNN answers NOT_SUPPORTED: the graph is well formed but no engine takes it, so
// cudnn_attention_supported answers false rather than failing.
class Unsupported : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(Step step, const std::string& call, const std::string& target, cudnnStatus_t status) {
  const std::string message =
      fmt::format("{}: {} on {} failed with {}", step_name(step), call, target, describe_status(status));
  debug_log(message);
  if (step != Step::kExecute && is_not_supported(status)) throw Unsupported(message);
  throw Error(message);
}

// An owned backend descriptor, labelled for messages; every failing call throws (see fail).
class Descriptor {
 public:
  Descriptor(cudnnBackendDescriptorType_t type, std::string label, Step step)
      : label_(std::move(label)), step_(step) {
    const cudnnStatus_t status = cudnnBackendCreateDescriptor(type, &raw_);
    if (status != CUDNN_STATUS_SUCCESS) {
      raw_ = nullptr;
      fail(step_, "cudnnBackendCreateDescriptor", label_, status);
    }
  }
  Descriptor(Descriptor&& other) noexcept
      : raw_(std::exchange(other.raw_, nullptr)), label_(std::move(other.label_)), step_(other.step_) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  Descriptor& operator=(Descriptor&&) = delete;
  ~Descriptor() {
    if (raw_ != nullptr) cudnnBackendDestroyDescriptor(raw_);
  }

  cudnnBackendDescriptor_t raw() const { return raw_; }

  void set(cudnnBackendAttributeName_t attribute, const char* attribute_name,
           cudnnBackendAttributeType_t type, int64_t count, const void* values) {
    const cudnnStatus_t status = cudnnBackendSetAttribute(raw_, attribute, type, count, values);
    if (status != CUDNN_STATUS_SUCCESS)
      fail(step_, fmt::format("cudnnBackendSetAttribute({})", attribute_name), label_, status);
  }
  void set(cudnnBackendAttributeName_t attribute, const char* attribute_name, const Descriptor& value) {
    const cudnnBackendDescriptor_t raw_value = value.raw();
    set(attribute, attribute_name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw_value);
  }

  void get(cudnnBackendAttributeName_t attribute, const char* attribute_name,
           cudnnBackendAttributeType_t type, int64_t requested, int64_t* count, void* values) const {
    const cudnnStatus_t status = cudnnBackendGetAttribute(raw_, attribute, type, requested, count, values);
    if (status != CUDNN_STATUS_SUCCESS)
      fail(step_, fmt::format("cudnnBackendGetAttribute({})", attribute_name), label_, status);
  }

  cudnnStatus_t try_finalize() { return cudnnBackendFinalize(raw_); }
  void finalize() {
    const cudnnStatus_t status = try_finalize();
    if (status != CUDNN_STATUS_SUCCESS) fail(step_, "cudnnBackendFinalize", label_, status);
  }

 private:
  cudnnBackendDescriptor_t raw_ = nullptr;
  std::string label_;
  Step step_;
};

using Dims = std::array<int64_t, 4>;

struct TensorLayout {
  cudnnDataType_t type;
  Dims dims;
  Dims strides;
};

const char* type_name(cudnnDataType_t type) {
  switch (type) {
    case CUDNN_DATA_FLOAT:
      return "F32";
    case CUDNN_DATA_BFLOAT16:
      return "BF16";
    case CUDNN_DATA_INT32:
      return "I32";
    case CUDNN_DATA_INT64:
      return "I64";
    case CUDNN_DATA_BOOLEAN:
      return "BOOL";
    default:
      return "other";
  }
}

// Unique ids of the tensors bound at execution; virtual tensors are numbered from kUidFirstVirtual.
enum : int64_t {
  kUidQ = 1,
  kUidK,
  kUidV,
  kUidO,
  kUidStats,
  kUidDout,
  kUidDq,
  kUidDk,
  kUidDv,
  kUidSeqLenQ,
  kUidSeqLenKv,
  kUidScale,
  kUidOne,
  kUidPaddingFill,
  kUidCausalFill,
  kUidRowDelta,
  kUidDqAccumulator,
  kUidRaggedOffsets = 100,  // + index of the distinct row stride
  kUidBoundEnd = kUidRaggedOffsets + kMaxRaggedStrides,
  kUidFirstVirtual = 1000,
};

// Everything an execution plan refers to, kept alive with it.
struct Plan {
  std::deque<Descriptor> descriptors;
  std::vector<int64_t> bound_uids;  // the non-virtual tensors a variant pack must bind
  cudnnBackendDescriptor_t execution_plan = nullptr;
  int64_t workspace_bytes = 0;
};

std::string dims_text(const Dims& dims) {
  return fmt::format("[{}, {}, {}, {}]", dims[0], dims[1], dims[2], dims[3]);
}

// The plan's finalize mode (SDPA_FWD / SDPA_BWD when the fused attention engines took the graph), engine and
// kernel names, read from its JSON description.
std::string plan_summary(const Descriptor& plan) {
  int64_t size = 0;
  if (cudnnBackendGetAttribute(plan.raw(), CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, 0,
                               &size, nullptr) != CUDNN_STATUS_SUCCESS ||
      size <= 0)
    return " no description";
  std::string json(static_cast<size_t>(size), '\0');
  if (cudnnBackendGetAttribute(plan.raw(), CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION, CUDNN_TYPE_CHAR,
                               size, &size, json.data()) != CUDNN_STATUS_SUCCESS)
    return " no description";
  std::string summary;
  for (const std::string_view field : {"\"finalizeMode\":", "\"engineId\":", "\"kernelName\":"}) {
    for (size_t at = json.find(field); at != std::string::npos; at = json.find(field, at + 1)) {
      const size_t start = at + field.size();
      summary += fmt::format(" {}{}", field, json.substr(start, json.find_first_of(",}", start) - start));
    }
  }
  return summary;
}

// Builds an operation graph one tensor and operation at a time, then an execution plan for it.
class PlanBuilder {
 public:
  PlanBuilder() : plan_(std::make_unique<Plan>()) {}

  // A tensor bound to memory at execution.
  const Descriptor& tensor(const std::string& name, int64_t uid, const TensorLayout& layout,
                           const Descriptor* ragged_offsets = nullptr) {
    plan_->bound_uids.push_back(uid);
    return make_tensor(name, uid, layout, Kind::kBound, ragged_offsets);
  }
  // An intermediate that only lives inside the fused kernels.
  const Descriptor& virtual_tensor(const std::string& name, const TensorLayout& layout,
                                   const Descriptor* ragged_offsets = nullptr) {
    return make_tensor(name, next_virtual_uid_++, layout, Kind::kVirtual, ragged_offsets);
  }
  // An F32 scalar passed by value (host memory) in the variant pack.
  const Descriptor& scalar(const std::string& name, int64_t uid) {
    plan_->bound_uids.push_back(uid);
    return make_tensor(name, uid, {CUDNN_DATA_FLOAT, {1, 1, 1, 1}, {1, 1, 1, 1}}, Kind::kByValue, nullptr);
  }

  const Descriptor& unary(const std::string& name, cudnnPointwiseMode_t mode, const Descriptor& x,
                          const Descriptor& y) {
    return pointwise(name, mode, CUDNN_DATA_FLOAT, 0, x, nullptr, nullptr, y);
  }
  const Descriptor& binary(const std::string& name, cudnnPointwiseMode_t mode, const Descriptor& x,
                           const Descriptor& b, const Descriptor& y,
                           cudnnDataType_t compute = CUDNN_DATA_FLOAT) {
    return pointwise(name, mode, compute, 0, x, &b, nullptr, y);
  }
  // y = mask ? x : fill.
  const Descriptor& select(const std::string& name, const Descriptor& x, const Descriptor& fill,
                           const Descriptor& mask, const Descriptor& y) {
    return pointwise(name, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, 0, x, &fill, &mask, y);
  }
  // y = the index of each element of x along `axis`.
  const Descriptor& gen_index(const std::string& name, const Descriptor& x, int64_t axis,
                              cudnnDataType_t compute, const Descriptor& y) {
    return pointwise(name, CUDNN_POINTWISE_GEN_INDEX, compute, axis, x, nullptr, nullptr, y);
  }

  // c = a b over the last two dims, batched (and broadcast) over the first two; the overrides give the actual
  // per-sequence extent of the padded m, n or k dimension.
  const Descriptor& matmul(const std::string& name, const Descriptor& a, const Descriptor& b,
                           const Descriptor& c, const Descriptor* m_override, const Descriptor* n_override,
                           const Descriptor* k_override) {
    Descriptor& desc = add(CUDNN_BACKEND_MATMUL_DESCRIPTOR, name + " (matmul descriptor)");
    const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
    const double padding = 0.0;
    desc.set(STRAND_ATTR(CUDNN_ATTR_MATMUL_COMP_TYPE), CUDNN_TYPE_DATA_TYPE, 1, &compute);
    desc.set(STRAND_ATTR(CUDNN_ATTR_MATMUL_PADDING_VALUE), CUDNN_TYPE_DOUBLE, 1, &padding);
    desc.finalize();
    Descriptor& op = add(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, name);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_MATMUL_ADESC), a);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_MATMUL_BDESC), b);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_MATMUL_CDESC), c);
    if (m_override != nullptr)
      op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_MATMUL_GEMM_M_OVERRIDE_DESC), *m_override);
    if (n_override != nullptr)
      op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_MATMUL_GEMM_N_OVERRIDE_DESC), *n_override);
    if (k_override != nullptr)
      op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_MATMUL_GEMM_K_OVERRIDE_DESC), *k_override);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_MATMUL_DESC), desc);
    return add_operation(op, c);
  }

  // y = x reduced with `reduce_op` over the dims where y has extent 1 (or a group of heads).
  const Descriptor& reduction(const std::string& name, cudnnReduceTensorOp_t reduce_op, const Descriptor& x,
                              const Descriptor& y) {
    Descriptor& desc = add(CUDNN_BACKEND_REDUCTION_DESCRIPTOR, name + " (reduction descriptor)");
    const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
    desc.set(STRAND_ATTR(CUDNN_ATTR_REDUCTION_COMP_TYPE), CUDNN_TYPE_DATA_TYPE, 1, &compute);
    desc.set(STRAND_ATTR(CUDNN_ATTR_REDUCTION_OPERATOR), CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &reduce_op);
    desc.finalize();
    Descriptor& op = add(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, name);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_REDUCTION_DESC), desc);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_REDUCTION_XDESC), x);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_REDUCTION_YDESC), y);
    return add_operation(op, y);
  }

  // y = x seen through another layout (a transpose, here).
  const Descriptor& reshape(const std::string& name, const Descriptor& x, const Descriptor& y) {
    Descriptor& op = add(CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR, name);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_RESHAPE_XDESC), x);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_RESHAPE_YDESC), y);
    return add_operation(op, y);
  }

  // Finalizes the operation graph and returns a plan from the first engine configuration, in the heuristics'
  // order, that finalizes. Throws Unsupported when none does.
  std::unique_ptr<Plan> finish(cudnnHandle_t handle) {
    Descriptor& graph = add(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph");
    graph.set(STRAND_ATTR(CUDNN_ATTR_OPERATIONGRAPH_HANDLE), CUDNN_TYPE_HANDLE, 1, &handle);
    graph.set(STRAND_ATTR(CUDNN_ATTR_OPERATIONGRAPH_OPS), CUDNN_TYPE_BACKEND_DESCRIPTOR,
              static_cast<int64_t>(operations_.size()), operations_.data());
    graph.finalize();

    std::vector<std::string> failures;
    const std::array<std::pair<cudnnBackendHeurMode_t, const char*>, 2> modes{
        {{CUDNN_HEUR_MODE_A, "A"}, {CUDNN_HEUR_MODE_FALLBACK, "fallback"}}};
    for (const auto& [mode, mode_name] : modes) {
      std::vector<Descriptor> configs = engine_configs(graph, mode, mode_name, failures);
      for (size_t i = 0; i < configs.size(); ++i) {
        const std::string label =
            fmt::format("execution plan (heuristics {}, configuration {})", mode_name, i);
        Descriptor plan(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, label, Step::kFinalize);
        plan.set(STRAND_ATTR(CUDNN_ATTR_EXECUTION_PLAN_HANDLE), CUDNN_TYPE_HANDLE, 1, &handle);
        plan.set(STRAND_ATTR(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG), configs[i]);
        const cudnnStatus_t status = plan.try_finalize();
        if (status != CUDNN_STATUS_SUCCESS) {
          failures.push_back(fmt::format("{}: {}", label, describe_status(status)));
          debug_log(failures.back());
          continue;
        }
        int64_t count = 0;
        plan.get(STRAND_ATTR(CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE), CUDNN_TYPE_INT64, 1, &count,
                 &plan_->workspace_bytes);
        if (debug_enabled())
          debug_log(fmt::format("chose {}, workspace {} bytes:{}", label, plan_->workspace_bytes,
                                plan_summary(plan)));
        plan_->descriptors.push_back(std::move(configs[i]));
        plan_->execution_plan = plan_->descriptors.emplace_back(std::move(plan)).raw();
        return std::move(plan_);
      }
    }
    constexpr size_t kReasonsShown = 3;
    std::string reasons;
    for (size_t i = 0; i < failures.size() && i < kReasonsShown; ++i) reasons += "; " + failures[i];
    if (failures.size() > kReasonsShown)
      reasons += fmt::format("; and {} more", failures.size() - kReasonsShown);
    throw Unsupported("no engine configuration finalizes" + reasons);
  }

 private:
  enum class Kind { kBound, kVirtual, kByValue };

  Descriptor& add(cudnnBackendDescriptorType_t type, std::string label, Step step = Step::kGraphBuild) {
    return plan_->descriptors.emplace_back(type, std::move(label), step);
  }

  const Descriptor& make_tensor(const std::string& name, int64_t uid, const TensorLayout& layout, Kind kind,
                                const Descriptor* ragged_offsets) {
    Descriptor& t =
        add(CUDNN_BACKEND_TENSOR_DESCRIPTOR,
            fmt::format("tensor '{}' (uid {}, {} {} strides {})", name, uid, type_name(layout.type),
                        dims_text(layout.dims), dims_text(layout.strides)));
    const int64_t alignment = 16;
    const bool yes = true;
    t.set(STRAND_ATTR(CUDNN_ATTR_TENSOR_DATA_TYPE), CUDNN_TYPE_DATA_TYPE, 1, &layout.type);
    t.set(STRAND_ATTR(CUDNN_ATTR_TENSOR_DIMENSIONS), CUDNN_TYPE_INT64, 4, layout.dims.data());
    t.set(STRAND_ATTR(CUDNN_ATTR_TENSOR_STRIDES), CUDNN_TYPE_INT64, 4, layout.strides.data());
    t.set(STRAND_ATTR(CUDNN_ATTR_TENSOR_UNIQUE_ID), CUDNN_TYPE_INT64, 1, &uid);
    t.set(STRAND_ATTR(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT), CUDNN_TYPE_INT64, 1, &alignment);
    if (kind == Kind::kVirtual) t.set(STRAND_ATTR(CUDNN_ATTR_TENSOR_IS_VIRTUAL), CUDNN_TYPE_BOOLEAN, 1, &yes);
    if (kind == Kind::kByValue)
      t.set(STRAND_ATTR(CUDNN_ATTR_TENSOR_IS_BY_VALUE), CUDNN_TYPE_BOOLEAN, 1, &yes);
    if (ragged_offsets != nullptr) t.set(STRAND_ATTR(CUDNN_ATTR_TENSOR_RAGGED_OFFSET_DESC), *ragged_offsets);
    t.finalize();
    return t;
  }

  // Pointwise operation: x (and b, and t for a select) to y, in `compute` precision.
  const Descriptor& pointwise(const std::string& name, cudnnPointwiseMode_t mode, cudnnDataType_t compute,
                              int64_t axis, const Descriptor& x, const Descriptor* b, const Descriptor* t,
                              const Descriptor& y) {
    Descriptor& desc = add(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, name + " (pointwise descriptor)");
    desc.set(STRAND_ATTR(CUDNN_ATTR_POINTWISE_MODE), CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    desc.set(STRAND_ATTR(CUDNN_ATTR_POINTWISE_MATH_PREC), CUDNN_TYPE_DATA_TYPE, 1, &compute);
    if (mode == CUDNN_POINTWISE_GEN_INDEX)
      desc.set(STRAND_ATTR(CUDNN_ATTR_POINTWISE_AXIS), CUDNN_TYPE_INT64, 1, &axis);
    desc.finalize();
    Descriptor& op = add(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, name);
    const float one = 1.0f;
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR), desc);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_POINTWISE_XDESC), x);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_POINTWISE_YDESC), y);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1), CUDNN_TYPE_FLOAT, 1, &one);
    op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2), CUDNN_TYPE_FLOAT, 1, &one);
    if (b != nullptr) op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_POINTWISE_BDESC), *b);
    if (t != nullptr) op.set(STRAND_ATTR(CUDNN_ATTR_OPERATION_POINTWISE_TDESC), *t);
    return add_operation(op, y);
  }

  const Descriptor& add_operation(Descriptor& op, const Descriptor& output) {
    op.finalize();
    operations_.push_back(op.raw());
    return output;
  }

  // The engine configurations the heuristics propose in `mode`, best first; none when the heuristics reject
  // the graph as unsupported (recorded in `failures`).
  std::vector<Descriptor> engine_configs(const Descriptor& graph, cudnnBackendHeurMode_t mode,
                                         const char* mode_name, std::vector<std::string>& failures) {
    const std::string label = fmt::format("engine heuristics (mode {})", mode_name);
    Descriptor heuristics(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, label, Step::kHeuristics);
    heuristics.set(STRAND_ATTR(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH), graph);
    heuristics.set(STRAND_ATTR(CUDNN_ATTR_ENGINEHEUR_MODE), CUDNN_TYPE_HEUR_MODE, 1, &mode);
    const cudnnStatus_t status = heuristics.try_finalize();
    if (status != CUDNN_STATUS_SUCCESS) {
      if (!is_not_supported(status)) fail(Step::kHeuristics, "cudnnBackendFinalize", label, status);
      failures.push_back(fmt::format("{}: {}", label, describe_status(status)));
      debug_log(failures.back());
      return {};
    }
    int64_t count = 0;
    heuristics.get(STRAND_ATTR(CUDNN_ATTR_ENGINEHEUR_RESULTS), CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count,
                   nullptr);
    std::vector<Descriptor> configs;
    std::vector<cudnnBackendDescriptor_t> raw;
    configs.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      raw.push_back(configs
                        .emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR,
                                      fmt::format("engine configuration {} (mode {})", i, mode_name),
                                      Step::kHeuristics)
                        .raw());
    }
    int64_t returned = 0;
    if (count > 0)
      heuristics.get(STRAND_ATTR(CUDNN_ATTR_ENGINEHEUR_RESULTS), CUDNN_TYPE_BACKEND_DESCRIPTOR, count,
                     &returned, raw.data());
    while (static_cast<int64_t>(configs.size()) > returned) configs.pop_back();
    debug_log(fmt::format("{} proposed {} engine configurations", label, returned));
    if (returned == 0) failures.push_back(label + " proposed no engine configuration");
    return configs;
  }

  std::unique_ptr<Plan> plan_;
  std::vector<cudnnBackendDescriptor_t> operations_;
  int64_t next_virtual_uid_ = kUidFirstVirtual;
};

// The tensors that carry a ragged layout, in the order their row strides appear in a PlanKey.
enum Role { kRoleQ, kRoleK, kRoleV, kRoleO, kRoleDout, kRoleDq, kRoleDk, kRoleDv, kRoleCount };
static_assert(kRoleCount <= kMaxRaggedStrides, "every role may have its own row stride");

using RowStrides = std::array<int64_t, kRoleCount>;

enum class Direction { kForward, kBackward };

// Everything an execution plan depends on. The softmax scale is bound by value at execution, so it is absent.
struct PlanKey {
  Direction direction;
  int64_t batch;   // sequence slots (num_seqs rounded up)
  int64_t seqlen;  // padded sequence length (max_seqlen rounded up)
  int64_t heads, kv_heads, dim;
  bool causal;
  bool ragged;             // false: every sequence fills all seqlen rows (no offsets, lengths or padding)
  RowStrides row_strides;  // 0 for the gradient roles of a forward plan
  auto operator<=>(const PlanKey&) const = default;
};

std::string describe(const PlanKey& key) {
  std::string strides;
  for (const int64_t ld : key.row_strides) strides += fmt::format("{}{}", strides.empty() ? "" : " ", ld);
  return fmt::format("{} {} b={} s={} H={} Hkv={} D={} {}, row strides of q k v o dout dq dk dv: {}",
                     key.ragged ? "ragged" : "dense",
                     key.direction == Direction::kForward ? "forward" : "backward", key.batch, key.seqlen,
                     key.heads, key.kv_heads, key.dim, key.causal ? "causal" : "non-causal", strides);
}

// The distinct row strides of a key's tensors (each gets one ragged offset tensor), and which one each role
// uses.
struct RaggedPlan {
  RaggedStrides strides;
  std::array<int, kRoleCount> index_of_role{};
};

RaggedPlan ragged_plan(const PlanKey& key) {
  RaggedPlan r;
  for (int role = 0; role < kRoleCount; ++role) {
    const int64_t ld = key.row_strides[role];
    if (ld == 0) continue;
    int i = 0;
    while (i < r.strides.count && r.strides.values[i] != ld) ++i;
    if (i == r.strides.count) r.strides.values[r.strides.count++] = ld;
    r.index_of_role[role] = i;
  }
  return r;
}

// Token-major rows of one role: dims [b, heads, s, D], strides [s * ld, D, ld, 1].
TensorLayout token_rows(const PlanKey& key, int64_t heads, int64_t ld,
                        cudnnDataType_t type = CUDNN_DATA_BFLOAT16) {
  return {type, {key.batch, heads, key.seqlen, key.dim}, {key.seqlen * ld, key.dim, ld, 1}};
}
// The same rows as [b, heads, D, s]: k and v enter the matmuls transposed.
TensorLayout token_columns(const PlanKey& key, int64_t heads, int64_t ld) {
  return {CUDNN_DATA_BFLOAT16, {key.batch, heads, key.dim, key.seqlen}, {key.seqlen * ld, key.dim, 1, ld}};
}
// Dense [b, heads, s, D] (packed strides).
TensorLayout dense_rows(const PlanKey& key, int64_t heads, cudnnDataType_t type) {
  const int64_t s = key.seqlen, d = key.dim;
  return {type, {key.batch, heads, s, d}, {heads * s * d, s * d, d, 1}};
}
// The [b, H, s, s] score matrix, and its transpose as the [b, H, s_kv, s_q] view of the same elements.
TensorLayout scores(const PlanKey& key, cudnnDataType_t type) {
  const int64_t h = key.heads, s = key.seqlen;
  return {type, {key.batch, h, s, s}, {h * s * s, s * s, s, 1}};
}
TensorLayout scores_transposed(const PlanKey& key, cudnnDataType_t type) {
  const int64_t h = key.heads, s = key.seqlen;
  return {type, {key.batch, h, s, s}, {h * s * s, s * s, 1, s}};
}
// One F32 per query row, [b, H, s, 1]: the layout of the saved statistics.
TensorLayout per_row(const PlanKey& key) {
  const int64_t h = key.heads, s = key.seqlen;
  return {CUDNN_DATA_FLOAT, {key.batch, h, s, 1}, {h * s, s, 1, 1}};
}

// The ragged offset tensor of each role.
std::array<const Descriptor*, kRoleCount> ragged_offsets(PlanBuilder& g, const PlanKey& key) {
  if (!key.ragged) return {};
  const RaggedPlan ragged = ragged_plan(key);
  std::array<const Descriptor*, kMaxRaggedStrides> by_index{};
  for (int i = 0; i < ragged.strides.count; ++i) {
    by_index[i] =
        &g.tensor(fmt::format("ragged offsets (row stride {})", ragged.strides.values[i]),
                  kUidRaggedOffsets + i, {CUDNN_DATA_INT64, {key.batch + 1, 1, 1, 1}, {1, 1, 1, 1}});
  }
  std::array<const Descriptor*, kRoleCount> of_role{};
  for (int role = 0; role < kRoleCount; ++role)
    if (key.row_strides[role] != 0) of_role[role] = by_index[ragged.index_of_role[role]];
  return of_role;
}

// The per-sequence lengths a ragged plan masks and overrides its matmuls with; null in a dense plan, whose
// sequences fill every row.
struct SequenceLengths {
  const Descriptor* q = nullptr;
  const Descriptor* kv = nullptr;
};

SequenceLengths sequence_lengths(PlanBuilder& g, const PlanKey& key) {
  if (!key.ragged) return {};
  const TensorLayout lengths{CUDNN_DATA_INT32, {key.batch, 1, 1, 1}, {1, 1, 1, 1}};
  return {&g.tensor("seq_len_q", kUidSeqLenQ, lengths), &g.tensor("seq_len_kv", kUidSeqLenKv, lengths)};
}

// Scores outside each sequence's [seq_len_q, seq_len_kv] block become -inf.
const Descriptor& mask_padding(PlanBuilder& g, const PlanKey& key, const Descriptor& x,
                               const SequenceLengths& len) {
  const TensorLayout values = scores(key, CUDNN_DATA_FLOAT), index = scores(key, CUDNN_DATA_INT32),
                     flag = scores(key, CUDNN_DATA_BOOLEAN);
  const Descriptor& row = g.gen_index("padding: row index", x, 2, CUDNN_DATA_INT32,
                                      g.virtual_tensor("padding: row index", index));
  const Descriptor& col = g.gen_index("padding: column index", x, 3, CUDNN_DATA_INT32,
                                      g.virtual_tensor("padding: column index", index));
  const Descriptor& row_in = g.binary("padding: row < seq_len_q", CUDNN_POINTWISE_CMP_LT, row, *len.q,
                                      g.virtual_tensor("padding: row < seq_len_q", flag), CUDNN_DATA_BOOLEAN);
  const Descriptor& col_in =
      g.binary("padding: column < seq_len_kv", CUDNN_POINTWISE_CMP_LT, col, *len.kv,
               g.virtual_tensor("padding: column < seq_len_kv", flag), CUDNN_DATA_BOOLEAN);
  const Descriptor& inside = g.binary("padding: inside", CUDNN_POINTWISE_LOGICAL_AND, row_in, col_in,
                                      g.virtual_tensor("padding: inside", flag), CUDNN_DATA_BOOLEAN);
  return g.select("padding: mask", x, g.scalar("padding fill", kUidPaddingFill), inside,
                  g.virtual_tensor("padding: masked scores", values));
}

// The padding mask (ragged plans), then (causal) scores of keys after the query become -inf: key index >
// query index, both counted from the sequence start (top-left alignment).
const Descriptor& mask_scores(PlanBuilder& g, const PlanKey& key, const Descriptor& x,
                              const SequenceLengths& len) {
  const TensorLayout values = scores(key, CUDNN_DATA_FLOAT), index = scores(key, CUDNN_DATA_INT32),
                     flag = scores(key, CUDNN_DATA_BOOLEAN);
  const Descriptor& padded = len.q != nullptr ? mask_padding(g, key, x, len) : x;
  if (!key.causal) return padded;
  const Descriptor& q_pos = g.gen_index("causal: row index", padded, 2, CUDNN_DATA_FLOAT,
                                        g.virtual_tensor("causal: row index", index));
  const Descriptor& k_pos = g.gen_index("causal: column index", padded, 3, CUDNN_DATA_FLOAT,
                                        g.virtual_tensor("causal: column index", index));
  const Descriptor& visible = g.binary("causal: row >= column", CUDNN_POINTWISE_CMP_GE, q_pos, k_pos,
                                       g.virtual_tensor("causal: row >= column", flag), CUDNN_DATA_BOOLEAN);
  return g.select("causal: mask", padded, g.scalar("causal fill", kUidCausalFill), visible,
                  g.virtual_tensor("causal: masked scores", values));
}

// out = softmax(mask(scale q k^T)) v, saving stats = log-sum-exp of each row of the masked, scaled scores.
void build_forward(PlanBuilder& g, const PlanKey& key) {
  const int64_t h = key.heads, hkv = key.kv_heads;
  const RowStrides& ld = key.row_strides;
  const auto ragged = ragged_offsets(g, key);
  const Descriptor& q = g.tensor("q", kUidQ, token_rows(key, h, ld[kRoleQ]), ragged[kRoleQ]);
  const Descriptor& k = g.tensor("k^T", kUidK, token_columns(key, hkv, ld[kRoleK]), ragged[kRoleK]);
  const Descriptor& v = g.tensor("v", kUidV, token_rows(key, hkv, ld[kRoleV]), ragged[kRoleV]);
  const Descriptor& o = g.tensor("o", kUidO, token_rows(key, h, ld[kRoleO]), ragged[kRoleO]);
  const Descriptor& stats = g.tensor("stats", kUidStats, per_row(key));
  const SequenceLengths len = sequence_lengths(g, key);
  const Descriptor& scale = g.scalar("softmax scale", kUidScale);
  const TensorLayout s_f32 = scores(key, CUDNN_DATA_FLOAT);

  const Descriptor& qk = g.matmul("q k^T", q, k, g.virtual_tensor("q k^T", s_f32), len.q, len.kv, nullptr);
  const Descriptor& scaled =
      g.binary("scale", CUDNN_POINTWISE_MUL, qk, scale, g.virtual_tensor("scaled", s_f32));
  const Descriptor& logits = mask_scores(g, key, scaled, len);

  const Descriptor& row_max =
      g.reduction("row max", CUDNN_REDUCE_TENSOR_MAX, logits, g.virtual_tensor("row max", per_row(key)));
  const Descriptor& shifted =
      g.binary("logits - row max", CUDNN_POINTWISE_SUB, logits, row_max, g.virtual_tensor("shifted", s_f32));
  const Descriptor& exps = g.unary("exp", CUDNN_POINTWISE_EXP, shifted, g.virtual_tensor("exp", s_f32));
  const Descriptor& row_sum =
      g.reduction("row sum", CUDNN_REDUCE_TENSOR_ADD, exps, g.virtual_tensor("row sum", per_row(key)));
  const Descriptor& log_sum =
      g.unary("log row sum", CUDNN_POINTWISE_LOG, row_sum, g.virtual_tensor("log row sum", per_row(key)));
  g.binary("log-sum-exp", CUDNN_POINTWISE_ADD, row_max, log_sum, stats);
  // The second matmul takes the probabilities in the I/O type.
  const Descriptor& probs = g.binary("softmax", CUDNN_POINTWISE_DIV, exps, row_sum,
                                     g.virtual_tensor("probabilities", scores(key, CUDNN_DATA_BFLOAT16)));
  g.matmul("p v", probs, v, o, len.q, nullptr, len.kv);
}

// The FlashAttention backward: with P recomputed from the saved stats and delta_i = dout_i . o_i,
// dv = P^T dout, dS = P * (dout v^T - delta) * scale, dk = dS^T q, dq = dS k (accumulated in F32).
void build_backward(PlanBuilder& g, const PlanKey& key) {
  const int64_t h = key.heads, hkv = key.kv_heads;
  const RowStrides& ld = key.row_strides;
  const auto ragged = ragged_offsets(g, key);
  const Descriptor& q = g.tensor("q", kUidQ, token_rows(key, h, ld[kRoleQ]), ragged[kRoleQ]);
  const Descriptor& k = g.tensor("k^T", kUidK, token_columns(key, hkv, ld[kRoleK]), ragged[kRoleK]);
  const Descriptor& v = g.tensor("v^T", kUidV, token_columns(key, hkv, ld[kRoleV]), ragged[kRoleV]);
  const Descriptor& o = g.tensor("o", kUidO, token_rows(key, h, ld[kRoleO]), ragged[kRoleO]);
  const Descriptor& dout = g.tensor("dout", kUidDout, token_rows(key, h, ld[kRoleDout]), ragged[kRoleDout]);
  const Descriptor& stats = g.tensor("stats", kUidStats, per_row(key));
  const Descriptor& dq = g.tensor("dq", kUidDq, token_rows(key, h, ld[kRoleDq]), ragged[kRoleDq]);
  const Descriptor& dk = g.tensor("dk", kUidDk, token_rows(key, hkv, ld[kRoleDk]), ragged[kRoleDk]);
  const Descriptor& dv = g.tensor("dv", kUidDv, token_rows(key, hkv, ld[kRoleDv]), ragged[kRoleDv]);
  const SequenceLengths len = sequence_lengths(g, key);
  const Descriptor& scale = g.scalar("softmax scale", kUidScale);
  const TensorLayout s_f32 = scores(key, CUDNN_DATA_FLOAT),
                     st_bf16 = scores_transposed(key, CUDNN_DATA_BFLOAT16);
  const int64_t s = key.seqlen, d = key.dim;

  // delta, materialised in memory for the dS pass.
  const Descriptor& dout_o = g.binary(
      "dout * o", CUDNN_POINTWISE_MUL, dout, o,
      g.virtual_tensor("dout * o", {CUDNN_DATA_FLOAT, {key.batch, h, s, d}, {h * s * d, s * d, h * d, 1}}));
  const Descriptor& row_dot = g.reduction("sum(dout * o)", CUDNN_REDUCE_TENSOR_ADD, dout_o,
                                          g.virtual_tensor("sum(dout * o)", per_row(key)));
  const Descriptor& delta = g.binary("delta", CUDNN_POINTWISE_MUL, row_dot, g.scalar("one", kUidOne),
                                     g.tensor("delta", kUidRowDelta, per_row(key)));

  // P from the saved log-sum-exp.
  const Descriptor& qk = g.matmul("q k^T", q, k, g.virtual_tensor("q k^T", s_f32), len.q, len.kv, nullptr);
  const Descriptor& scaled =
      g.binary("scale", CUDNN_POINTWISE_MUL, qk, scale, g.virtual_tensor("scaled", s_f32));
  const Descriptor& shifted =
      g.binary("scaled - stats", CUDNN_POINTWISE_SUB, scaled, stats, g.virtual_tensor("shifted", s_f32));
  const Descriptor& logits = mask_scores(g, key, shifted, len);
  const Descriptor& probs =
      g.unary("exp", CUDNN_POINTWISE_EXP, logits, g.virtual_tensor("probabilities", s_f32));

  // dv = P^T dout; with grouped heads per query head first, then summed over each group.
  const Descriptor& probs_t = g.reshape("P^T", probs, g.virtual_tensor("P^T", st_bf16));
  if (h == hkv) {
    g.matmul("P^T dout", probs_t, dout, dv, len.kv, nullptr, len.q);
  } else {
    const Descriptor& dv_heads =
        g.matmul("P^T dout", probs_t, dout,
                 g.virtual_tensor("dv per query head", dense_rows(key, h, CUDNN_DATA_BFLOAT16)), len.kv,
                 nullptr, len.q);
    g.reduction("dv: sum over group", CUDNN_REDUCE_TENSOR_ADD, dv_heads, dv);
  }

  // dS = P * (dout v^T - delta) * scale.
  const Descriptor& dp = g.matmul("dout v^T", dout, v, g.virtual_tensor("dP", s_f32), len.q, len.kv, nullptr);
  const Descriptor& dp_centered =
      g.binary("dP - delta", CUDNN_POINTWISE_SUB, dp, delta, g.virtual_tensor("dP - delta", s_f32));
  const Descriptor& ds_unscaled = g.binary("P * (dP - delta)", CUDNN_POINTWISE_MUL, dp_centered, probs,
                                           g.virtual_tensor("dS unscaled", s_f32));
  const Descriptor& ds =
      g.binary("dS", CUDNN_POINTWISE_MUL, ds_unscaled, scale, g.virtual_tensor("dS", s_f32));

  // dk = dS^T q.
  const Descriptor& ds_t = g.reshape("dS^T", ds, g.virtual_tensor("dS^T", st_bf16));
  if (h == hkv) {
    g.matmul("dS^T q", ds_t, q, dk, len.kv, nullptr, len.q);
  } else {
    const Descriptor& dk_heads = g.matmul(
        "dS^T q", ds_t, q, g.virtual_tensor("dk per query head", dense_rows(key, h, CUDNN_DATA_BFLOAT16)),
        len.kv, nullptr, len.q);
    g.reduction("dk: sum over group", CUDNN_REDUCE_TENSOR_ADD, dk_heads, dk);
  }

  // dq = dS k, accumulated in an F32 buffer and then converted.
  const Descriptor& k_rows = g.reshape(
      "k", k, g.virtual_tensor("k", token_rows(key, hkv, ld[kRoleK], CUDNN_DATA_FLOAT), ragged[kRoleK]));
  const Descriptor& dq_accumulator = g.matmul(
      "dS k", ds, k_rows, g.tensor("dq accumulator", kUidDqAccumulator, dense_rows(key, h, CUDNN_DATA_FLOAT)),
      len.q, nullptr, len.kv);
  g.unary("dq", CUDNN_POINTWISE_IDENTITY, dq_accumulator, dq);
}

struct PlanEntry {
  std::unique_ptr<Plan> plan;  // null when cuDNN has no engine for the key
  std::string unsupported_reason;
};

// Whether the current device runs ragged layouts with grouped-query heads and I64 offsets: cuDNN 9.6 and a
// Hopper or newer GPU.
bool device_supports_packed_attention() {
  if (cudnnGetVersion() < 90600) return false;
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());  // clear it, or the next launch check would report it
    return false;
  }
  return major >= 9;
}

// One device's cuDNN state (cuda::per_device: built on the device's first use, released with the process);
// ops run on one thread, the mutex only keeps concurrent callers correct.
struct CudnnState {
  std::mutex mutex;
  cudnnHandle_t handle = nullptr;  // created on first use
  std::map<PlanKey, PlanEntry> plans;
  bool packed_supported = device_supports_packed_attention();
};

CudnnState& state() {
  return per_device<CudnnState>();
}

cudnnHandle_t cudnn_handle(CudnnState& s) {
  if (s.handle == nullptr) {
    const cudnnStatus_t status = cudnnCreate(&s.handle);
    if (status != CUDNN_STATUS_SUCCESS) {
      s.handle = nullptr;
      throw Error("cudnnCreate failed with " + describe_status(status));
    }
  }
  return s.handle;
}

// The cached plan for `key`, built on first use. The caller holds the state's mutex.
const PlanEntry& plan_entry(CudnnState& s, const PlanKey& key) {
  if (const auto it = s.plans.find(key); it != s.plans.end()) return it->second;
  debug_log("building the " + describe(key) + " plan");
  PlanEntry entry;
  try {
    PlanBuilder g;
    if (key.direction == Direction::kForward) {
      build_forward(g, key);
    } else {
      build_backward(g, key);
    }
    entry.plan = g.finish(cudnn_handle(s));
  } catch (const Unsupported& e) {
    entry.unsupported_reason = e.what();
    debug_log(describe(key) + " is unsupported: " + entry.unsupported_reason);
  }
  return s.plans.emplace(key, std::move(entry)).first->second;
}

const Plan& require_plan(CudnnState& s, const PlanKey& key) {
  const PlanEntry& entry = plan_entry(s, key);
  if (entry.plan == nullptr)
    throw Error("cuDNN has no engine for this configuration: " + entry.unsupported_reason);
  return *entry.plan;
}

// Rounds a count up to a coarse bucket (at most 25% above the count; small counts stay exact, since cuDNN's
// workspace grows with the batch) so that few plans serve batches whose sequence count and longest sequence
// vary.
int64_t bucket(int64_t n) {
  if (n <= 4) return n;
  if (n <= 8) return 8;
  const auto step = static_cast<int64_t>(std::bit_floor(static_cast<uint64_t>(n)) / 4);
  return (n + step - 1) / step * step;
}

// A batch of equal-length sequences whose count and length are bucket sizes (full-length training crops,
// say) is a plain [b, heads, s, D] problem: its dense plan needs no offsets, lengths or padding mask, and
// cuDNN runs it faster. Other batches take the ragged plan of their buckets. Requiring bucket sizes keeps the
// number of dense plans as small as the number of ragged ones.
PlanKey make_key(Direction direction, const AttentionShape& shape, const RowStrides& row_strides) {
  const int64_t batch = bucket(shape.num_seqs), seqlen = bucket(shape.max_seqlen);
  const bool dense = batch == shape.num_seqs && seqlen == shape.max_seqlen && shape.tokens == batch * seqlen;
  return {direction,      batch,        seqlen, shape.heads, shape.kv_heads,
          shape.head_dim, shape.causal, !dense, row_strides};
}

// What fused attention takes at all: BF16, head_dim a multiple of 8 up to 256, whole query-head groups.
bool shape_fits(DType act, const AttentionShape& shape) {
  return act == DType::BF16 && shape.head_dim > 0 && shape.head_dim % 8 == 0 && shape.head_dim <= 256 &&
         shape.heads > 0 && shape.kv_heads > 0 && shape.heads % shape.kv_heads == 0;
}

bool runtime_supports_packed_attention() {
  return state().packed_supported;
}

void require_fit(const char* op, DType act, const AttentionShape& shape) {
  if (!shape_fits(act, shape))
    throw Error(
        fmt::format("{}: cuDNN fused attention needs BF16 activations, head_dim a multiple of 8 up to 256 "
                    "and heads a multiple of kv_heads; got {} with heads={} kv_heads={} head_dim={}",
                    op, dtype_name(act), shape.heads, shape.kv_heads, shape.head_dim));
  if (!runtime_supports_packed_attention())
    throw Error(
        fmt::format("{}: packed fused attention needs cuDNN >= 9.6 (this is {}) and a GPU of compute "
                    "capability 9.0 or newer",
                    op, cudnnGetVersion()));
  if (shape.num_seqs <= 0 || shape.max_seqlen <= 0)
    throw Error(fmt::format("{}: {} tokens need at least one sequence and max_seqlen > 0, got {} and {}", op,
                            shape.tokens, shape.num_seqs, shape.max_seqlen));
}

// Fused attention loads rows as 16-byte vectors.
void require_aligned_rows(const char* op, const char* name, const void* ptr, int64_t ld) {
  if (reinterpret_cast<std::uintptr_t>(ptr) % 16 != 0 || ld % 8 != 0)
    throw Error(
        fmt::format("{}: cuDNN needs 16-byte aligned rows, but {} starts at {} with a row stride of {} "
                    "elements",
                    op, name, ptr, ld));
}

// The value masked scores take: -inf, which cuDNN before 9.10 preferred as the lowest finite float.
float masked_score_fill() {
  return cudnnGetVersion() >= 91000 ? -std::numeric_limits<float>::infinity()
                                    : std::numeric_limits<float>::lowest();
}

// Carves one cuda::scratch allocation into 256-byte aligned regions.
class ScratchLayout {
 public:
  size_t add(size_t bytes) {
    const size_t at = (bytes_ + 255) / 256 * 256;
    bytes_ = at + bytes;
    return at;
  }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_ = 0;
};

// Addresses of a plan's bound tensors by uid: device memory, or host memory for by-value scalars.
class Bindings {
 public:
  // The variant pack takes mutable pointers even for inputs; cuDNN does not write them.
  void bind(int64_t uid, const void* address) {
    addresses_[static_cast<size_t>(uid)] = const_cast<void*>(address);
  }
  void* at(int64_t uid) const { return addresses_[static_cast<size_t>(uid)]; }

 private:
  std::array<void*, kUidBoundEnd> addresses_{};
};

void execute(cudnnHandle_t cudnn, const Plan& plan, const Bindings& bindings, void* workspace,
             cudaStream_t stream) {
  constexpr size_t kMaxBound = 32;
  std::array<int64_t, kMaxBound> uids{};
  std::array<void*, kMaxBound> addresses{};
  size_t count = 0;
  for (const int64_t uid : plan.bound_uids) {
    if (uid >= kUidBoundEnd || count == kMaxBound || bindings.at(uid) == nullptr)
      throw Error(fmt::format("internal error: no address bound for the tensor with uid {}", uid));
    uids[count] = uid;
    addresses[count] = bindings.at(uid);
    ++count;
  }
  const cudnnStatus_t stream_status = cudnnSetStream(cudnn, stream);
  if (stream_status != CUDNN_STATUS_SUCCESS)
    fail(Step::kExecute, "cudnnSetStream", "the handle", stream_status);
  Descriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack", Step::kExecute);
  pack.set(STRAND_ATTR(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS), CUDNN_TYPE_INT64, static_cast<int64_t>(count),
           uids.data());
  pack.set(STRAND_ATTR(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS), CUDNN_TYPE_VOID_PTR,
           static_cast<int64_t>(count), addresses.data());
  pack.set(STRAND_ATTR(CUDNN_ATTR_VARIANT_PACK_WORKSPACE), CUDNN_TYPE_VOID_PTR, 1, &workspace);
  pack.finalize();
  const cudnnStatus_t status = cudnnBackendExecute(cudnn, plan.execution_plan, pack.raw());
  if (status != CUDNN_STATUS_SUCCESS)
    fail(Step::kExecute, "cudnnBackendExecute", "the execution plan", status);
}

// Fills the sequence lengths (at base + lengths_at, [batch] I32) and the ragged offsets (at base +
// offsets_at, [strides.count][batch + 1] I64) from cu_seqlens, and binds them.
void layout_sequences(char* base, size_t lengths_at, size_t offsets_at, const PlanKey& key,
                      const RaggedStrides& strides, const AttentionShape& shape, const int32_t* cu_seqlens,
                      Bindings& bindings, cudaStream_t stream) {
  auto* lengths = reinterpret_cast<int32_t*>(base + lengths_at);
  auto* offsets = reinterpret_cast<int64_t*>(base + offsets_at);
  cudnn_attention_layout(cu_seqlens, shape.num_seqs, key.batch, strides, lengths, offsets, stream);
  bindings.bind(kUidSeqLenQ, lengths);
  bindings.bind(kUidSeqLenKv, lengths);
  for (int i = 0; i < strides.count; ++i) bindings.bind(kUidRaggedOffsets + i, offsets + i * (key.batch + 1));
}

size_t offsets_bytes(const PlanKey& key, const RaggedStrides& strides) {
  return static_cast<size_t>(strides.count * (key.batch + 1)) * sizeof(int64_t);
}

size_t per_row_bytes(const PlanKey& key) {
  return static_cast<size_t>(key.batch * key.heads * key.seqlen) * sizeof(float);
}

#undef STRAND_ATTR

}  // namespace

bool cudnn_attention_supported(DType act, const AttentionShape& shape) {
  if (!shape_fits(act, shape)) return false;
  if (shape.tokens == 0) return true;
  if (shape.num_seqs <= 0 || shape.max_seqlen <= 0 || !runtime_supports_packed_attention()) return false;
  // Probed with the strides of separate contiguous q, k, v and out buffers: support depends on the shape, not
  // on the strides (alignment aside), and these plans serve the calls whose strides match.
  const int64_t q_ld = shape.heads * shape.head_dim, kv_ld = shape.kv_heads * shape.head_dim;
  const PlanKey forward = make_key(Direction::kForward, shape, {q_ld, kv_ld, kv_ld, q_ld, 0, 0, 0, 0});
  const PlanKey backward =
      make_key(Direction::kBackward, shape, {q_ld, kv_ld, kv_ld, q_ld, q_ld, q_ld, kv_ld, kv_ld});
  CudnnState& s = state();
  const std::lock_guard lock(s.mutex);
  try {
    return plan_entry(s, forward).plan != nullptr && plan_entry(s, backward).plan != nullptr;
  } catch (const Error& e) {
    rethrow_with_context(e, "cudnn_attention_supported (" + describe(forward) + ")");
  }
}

void cudnn_attention_forward(DType act, const AttentionShape& shape, const AttentionTensors& t,
                             cudaStream_t stream) {
  const char* op = "cudnn_attention_forward";
  if (shape.tokens == 0) return;
  require_fit(op, act, shape);
  require_aligned_rows(op, "q", t.q, t.ld_q);
  require_aligned_rows(op, "k", t.k, t.ld_k);
  require_aligned_rows(op, "v", t.v, t.ld_v);
  require_aligned_rows(op, "out", t.out, t.ld_out);
  const PlanKey key = make_key(Direction::kForward, shape, {t.ld_q, t.ld_k, t.ld_v, t.ld_out, 0, 0, 0, 0});
  CudnnState& s = state();
  const std::lock_guard lock(s.mutex);
  try {
    const Plan& plan = require_plan(s, key);
    const RaggedPlan ragged = ragged_plan(key);
    ScratchLayout layout;
    const size_t offsets_at = layout.add(offsets_bytes(key, ragged.strides));
    const size_t lengths_at = layout.add(static_cast<size_t>(key.batch) * sizeof(int32_t));
    const size_t stats_at = layout.add(per_row_bytes(key));
    const size_t workspace_at = layout.add(static_cast<size_t>(plan.workspace_bytes));
    auto* base = static_cast<char*>(scratch(layout.bytes()));
    auto* stats = reinterpret_cast<float*>(base + stats_at);

    Bindings bindings;
    if (key.ragged)
      layout_sequences(base, lengths_at, offsets_at, key, ragged.strides, shape, t.cu_seqlens, bindings,
                       stream);
    const float scale = shape.scale, fill = masked_score_fill();
    bindings.bind(kUidQ, t.q);
    bindings.bind(kUidK, t.k);
    bindings.bind(kUidV, t.v);
    bindings.bind(kUidO, t.out);
    bindings.bind(kUidStats, stats);
    bindings.bind(kUidScale, &scale);
    bindings.bind(kUidPaddingFill, &fill);
    bindings.bind(kUidCausalFill, &fill);
    execute(cudnn_handle(s), plan, bindings, base + workspace_at, stream);
    cudnn_attention_stats_to_lse(stats, t.lse, t.cu_seqlens, shape.num_seqs, shape.tokens, shape.heads,
                                 key.seqlen, stream);
  } catch (const Error& e) {
    rethrow_with_context(e, fmt::format("{} ({})", op, describe(key)));
  }
}

void cudnn_attention_backward(DType act, const AttentionShape& shape, const AttentionTensors& t,
                              const AttentionGrads& g, cudaStream_t stream) {
  const char* op = "cudnn_attention_backward";
  if (shape.tokens == 0) return;
  require_fit(op, act, shape);
  require_aligned_rows(op, "q", t.q, t.ld_q);
  require_aligned_rows(op, "k", t.k, t.ld_k);
  require_aligned_rows(op, "v", t.v, t.ld_v);
  require_aligned_rows(op, "out", t.out, t.ld_out);
  require_aligned_rows(op, "dout", g.dout, g.ld_dout);
  // The graph writes all three gradients: one nobody wants goes to scratch, with contiguous rows.
  const int64_t q_ld = shape.heads * shape.head_dim, kv_ld = shape.kv_heads * shape.head_dim;
  const int64_t dq_ld = g.dq != nullptr ? g.ld_dq : q_ld, dk_ld = g.dk != nullptr ? g.ld_dk : kv_ld,
                dv_ld = g.dv != nullptr ? g.ld_dv : kv_ld;
  if (g.dq != nullptr) require_aligned_rows(op, "dq", g.dq, g.ld_dq);
  if (g.dk != nullptr) require_aligned_rows(op, "dk", g.dk, g.ld_dk);
  if (g.dv != nullptr) require_aligned_rows(op, "dv", g.dv, g.ld_dv);
  const PlanKey key = make_key(Direction::kBackward, shape,
                               {t.ld_q, t.ld_k, t.ld_v, t.ld_out, g.ld_dout, dq_ld, dk_ld, dv_ld});
  CudnnState& s = state();
  const std::lock_guard lock(s.mutex);
  try {
    const Plan& plan = require_plan(s, key);
    const RaggedPlan ragged = ragged_plan(key);
    const auto unwanted_bytes = [&](const void* grad, int64_t ld) {
      return grad != nullptr ? size_t{0} : static_cast<size_t>(shape.tokens * ld) * 2;  // BF16
    };
    ScratchLayout layout;
    const size_t offsets_at = layout.add(offsets_bytes(key, ragged.strides));
    const size_t lengths_at = layout.add(static_cast<size_t>(key.batch) * sizeof(int32_t));
    const size_t stats_at = layout.add(per_row_bytes(key));
    const size_t delta_at = layout.add(per_row_bytes(key));
    const size_t accumulator_at = layout.add(per_row_bytes(key) * static_cast<size_t>(key.dim));
    const size_t dq_at = layout.add(unwanted_bytes(g.dq, dq_ld));
    const size_t dk_at = layout.add(unwanted_bytes(g.dk, dk_ld));
    const size_t dv_at = layout.add(unwanted_bytes(g.dv, dv_ld));
    const size_t workspace_at = layout.add(static_cast<size_t>(plan.workspace_bytes));
    auto* base = static_cast<char*>(scratch(layout.bytes()));
    auto* stats = reinterpret_cast<float*>(base + stats_at);

    Bindings bindings;
    if (key.ragged)
      layout_sequences(base, lengths_at, offsets_at, key, ragged.strides, shape, t.cu_seqlens, bindings,
                       stream);
    cudnn_attention_lse_to_stats(t.lse, stats, t.cu_seqlens, shape.num_seqs, key.batch, shape.heads,
                                 key.seqlen, stream);
    const float scale = shape.scale, fill = masked_score_fill(), one = 1.0f;
    bindings.bind(kUidQ, t.q);
    bindings.bind(kUidK, t.k);
    bindings.bind(kUidV, t.v);
    bindings.bind(kUidO, t.out);
    bindings.bind(kUidDout, g.dout);
    bindings.bind(kUidStats, stats);
    bindings.bind(kUidDq, g.dq != nullptr ? g.dq : base + dq_at);
    bindings.bind(kUidDk, g.dk != nullptr ? g.dk : base + dk_at);
    bindings.bind(kUidDv, g.dv != nullptr ? g.dv : base + dv_at);
    bindings.bind(kUidRowDelta, base + delta_at);
    bindings.bind(kUidDqAccumulator, base + accumulator_at);
    bindings.bind(kUidScale, &scale);
    bindings.bind(kUidOne, &one);
    bindings.bind(kUidPaddingFill, &fill);
    bindings.bind(kUidCausalFill, &fill);
    execute(cudnn_handle(s), plan, bindings, base + workspace_at, stream);
  } catch (const Error& e) {
    rethrow_with_context(e, fmt::format("{} ({})", op, describe(key)));
  }
}

#else  // !defined(STRAND_WITH_CUDNN)

bool cudnn_attention_supported(DType, const AttentionShape&) {
  return false;
}

void cudnn_attention_forward(DType, const AttentionShape&, const AttentionTensors&, cudaStream_t) {
  throw Error("cudnn_attention_forward: strand was built without cuDNN");
}

void cudnn_attention_backward(DType, const AttentionShape&, const AttentionTensors&, const AttentionGrads&,
                              cudaStream_t) {
  throw Error("cudnn_attention_backward: strand was built without cuDNN");
}

#endif  // defined(STRAND_WITH_CUDNN)

}  // namespace strand::cuda
