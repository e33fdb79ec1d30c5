// Explicit gradient accumulation through modules on the GPU (nn/parameter.h, Note [Pending zero]): over stale
// gradient memory marked pending zero, a fused projection, an embedding table and an LM head tied to it end
// with the gradients that the same modules on the CPU accumulate into zeros.
#include "cuda/op_compare.h"
#include "strand/nn/embedding.h"
#include "strand/nn/fused_linear.h"
#include "strand/nn/linear.h"
#include "strand/nn/parameter.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <vector>

namespace strand {
namespace {

using testing::Operand;

constexpr int64_t kTokens = 37, kVocab = 33, kWidth = 64;

// The modules of one side: an embedding, a fused q/k/v projection of its output, and an LM head tied to it.
struct Modules {
  nn::Embedding embedding;
  nn::FusedLinear fused;
  nn::Linear head;
  nn::ParameterList params;

  explicit Modules(const nn::Placement& placement)
      : embedding("embed", kVocab, kWidth, -1, placement),
        fused({{"q", 48}, {"k", 16}, {"v", 16}}, kWidth, true, placement),
        head(embedding.weight()) {
    embedding.collect(params);
    fused.collect(params);
  }

  // One forward and backward pass; the head's backward (which claims the tied weight first) runs before the
  // embedding's.
  void run(Arena& arena, const Tensor& tokens, const Tensor& dqkv, const Tensor& dlogits) {
    arena.reset();
    const Tensor h = embedding.forward(arena, tokens);
    fused.forward(arena, h);
    head.forward(arena, h);
    fused.backward(arena, dqkv, /*need_dx=*/false);
    embedding.backward(head.backward(arena, dlogits));
  }
};

class CudaPendingZero : public testing::GpuTest {};

TEST_F(CudaPendingZero, ModulesAssignStaleGradientsAsTheCpuAccumulatesIntoZeros) {
  Modules cpu(nn::Placement(DType::F32)), gpu(nn::Placement::cuda(DType::F32));
  ASSERT_EQ(cpu.params.size(), gpu.params.size());
  for (size_t i = 0; i < cpu.params.size(); ++i) {
    const Tensor values = draw_.normal(cpu.params[i]->value.shape(), 0.2);
    assign(*cpu.params[i], values);
    assign(*gpu.params[i], values);
  }
  const Operand tokens = testing::operand(draw_.integers({kTokens}, 0, 5), DType::I32);  // rows 5.. get none
  const Operand dqkv = random_input({kTokens, 80}, DType::F32),
                dlogits = random_input({kTokens, kVocab}, DType::F32);
  Arena cpu_arena(size_t{1} << 20, Device::cpu()), gpu_arena(size_t{1} << 20, Device::cuda());

  nn::zero_grads(cpu.params);
  cpu.run(cpu_arena, tokens.host, dqkv.host.to(DType::F32), dlogits.host.to(DType::F32));
  // Large stale values, so that a gradient added to rather than assigned, or left unwritten, shows.
  for (nn::Parameter* p : gpu.params) p->grad.copy_from(draw_.normal(p->grad.shape(), 100.0).to(DType::F32));
  nn::defer_zero_grads(gpu.params);
  gpu.run(gpu_arena, tokens.device, dqkv.device, dlogits.device);
  nn::flush_pending_zero_grads(gpu.params);
  for (size_t i = 0; i < cpu.params.size(); ++i) {
    SCOPED_TRACE(cpu.params[i]->name);
    const Operand grad{cpu.params[i]->grad.to(DType::F64), gpu.params[i]->grad};
    testing::expect_match("grad", grad, testing::tolerance(DType::F32));
  }
}

}  // namespace
}  // namespace strand
