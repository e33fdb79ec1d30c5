// Incremental decoding on the GPU against the CPU: the decode attention op (F32 and BF16, batches of
// sequences in cache buffers whose unused rows hold NaN, odd head dims, grouped-query heads, with and without
// lse, both masks, outputs poisoned so an unwritten element fails); Llama's decode forward on CUDA against
// the CPU model with the same weights; and `strand generate --device cuda` against the CPU's output.
#include "cuda/op_compare.h"
#include "infer/tiny_llama.h"
#include "run_strand.h"
#include "strand/interop/hf_checkpoint.h"
#include "strand/ops/decode_attention.h"
#include "strand/ops/lm_batch.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace strand {
namespace {

using testing::expect_match;
using testing::kSides;
using testing::Operand;
using testing::output;
using testing::Side;

// GPU tests that write files: a fresh directory per test, removed afterwards.
class CudaDecode : public testing::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           fmt::format("strand_{}_{}_{}", test->test_suite_name(), test->name(), ::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

// The activation dtype is the test parameter.
class CudaDecodeAct : public CudaDecode, public ::testing::WithParamInterface<DType> {
 protected:
  DType act() const { return GetParam(); }
};

std::string act_name(const ::testing::TestParamInfo<DType>& param) {
  return std::string(dtype_name(param.param));
}

INSTANTIATE_TEST_SUITE_P(Act, CudaDecodeAct, ::testing::Values(DType::F32, DType::BF16), act_name);

TEST_P(CudaDecodeAct, DecodeAttentionMatchesCpu) {
  struct Case {
    int64_t batch, queries, keys, max_len, heads, kv_heads, dim;
    bool causal, lse;
  };
  // A first token alone; single-token steps of a batch; prefill chunks over long caches (more keys than a
  // block has threads); MQA; the largest head dim; odd head dims; a bidirectional mask.
  const std::vector<Case> cases = {
      {1, 1, 1, 4, 4, 4, 64, true, true},      {3, 1, 37, 64, 8, 2, 64, true, true},
      {2, 5, 300, 301, 6, 3, 33, true, false}, {4, 2, 129, 200, 8, 1, 128, true, true},
      {1, 7, 7, 7, 2, 2, 256, true, true},     {2, 3, 517, 600, 4, 2, 80, false, true},
      {5, 1, 1000, 1024, 12, 4, 5, true, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(fmt::format("batch {}, {} queries of {} keys (cache of {}), H {}, Hkv {}, D {}, {}{}",
                             c.batch, c.queries, c.keys, c.max_len, c.heads, c.kv_heads, c.dim,
                             c.causal ? "causal" : "bidirectional", c.lse ? "" : ", no lse"));
    const int64_t rows = c.batch * c.queries;
    // q read in place from fused [q | k | v] rows, as the attention layer does.
    const Operand fused = random_input({rows, c.heads + 2 * c.kv_heads, c.dim}, act());
    // Cache rows past the sequences hold NaN: reading one would poison the output.
    auto cache = [&] {
      Tensor values = draw_.normal({c.batch, c.max_len, c.kv_heads, c.dim});
      double* p = values.data<double>();
      for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t j = c.keys; j < c.max_len; ++j)
          for (int64_t e = 0; e < c.kv_heads * c.dim; ++e)
            p[((b * c.max_len) + j) * c.kv_heads * c.dim + e] = NAN;
      return testing::operand(values, act());
    };
    const Operand k = cache(), v = cache();
    const Operand out = output({rows, c.heads, c.dim}, act());
    const Operand lse = c.lse ? output({rows, c.heads}, DType::F32) : Operand{};
    for (Side s : kSides)
      decode_attention_forward(out.*s, lse.*s, (fused.*s).narrow(1, 0, c.heads), (k.*s).narrow(1, 0, c.keys),
                               (v.*s).narrow(1, 0, c.keys), {c.causal, 0.0});
    expect_match("out", out, testing::tolerance(act()));
    if (c.lse) expect_match("lse", lse, testing::tolerance(act()));
  }
}

TEST_P(CudaDecodeAct, LlamaDecodeForwardMatchesCpu) {
  // The CPU model and a CUDA one loaded from its export decode the same three sequences: a prefill of 5, then
  // single tokens, then a chunk of 3.
  LlamaModel cpu(testing::tiny_llama_config(), DType::F32);
  cpu.init(5);
  interop::save_hf_model(cpu, path("model"));
  const auto gpu = interop::load_hf_model_as<LlamaModel>(path("model"), nn::Placement::cuda(act()));
  const int64_t batch = 3, total = 12;
  const Tensor sequences = draw_.integers({batch, total}, 4, 256);
  const std::unique_ptr<DecodeState> cpu_state = cpu.new_decode_state(batch, 16);
  const std::unique_ptr<DecodeState> gpu_state = gpu->new_decode_state(batch, 16);
  Arena cpu_arena, gpu_arena(size_t{1} << 20, Device::cuda());
  // In F32 the decoded logits are the CPU's. In BF16 the CPU is no reference (the rounding of every
  // activation and cached key adds up over two layers and a head), so they are held against the same CUDA
  // model's full forward over each prefix, which rounds alike.
  const bool bf16 = act() == DType::BF16;
  // The decode kernel and the prefill's attention round their BF16 sums in different orders: over random
  // sequences the logits' relative error reaches 2.2e-2 (seed 9278021487212811829), so 3e-2 leaves margin.
  const double tol = bf16 ? 3e-2 : 1e-4;
  for (const auto& [begin, t] :
       std::vector<std::pair<int64_t, int64_t>>{{0, 5}, {5, 1}, {6, 1}, {7, 1}, {8, 3}}) {
    SCOPED_TRACE(fmt::format("tokens {} .. {}", begin, begin + t - 1));
    const Tensor step = sequences.narrow(1, begin, t).contiguous().view({batch * t});
    cpu_arena.reset();
    gpu_arena.reset();
    Tensor want = cpu.forward_decode(cpu_arena, step, *cpu_state);
    const Tensor got = gpu->forward_decode(gpu_arena, step.to(Device::cuda()), *gpu_state);
    if (bf16) {
      // The full forward's rows of positions begin .. begin+t-1 of each sequence, in decode order.
      std::vector<std::vector<int32_t>> prefixes;
      for (int64_t b = 0; b < batch; ++b) {
        const int32_t* row = sequences.data<int32_t>() + b * total;
        prefixes.emplace_back(row, row + begin + t);
      }
      const LMBatch packed = LMBatch::from_sequences(prefixes);
      Arena full_arena(size_t{1} << 20, Device::cuda());
      const Tensor full =
          gpu->forward(full_arena, packed.tokens.to(Device::cuda()), packed.layout.to(Device::cuda()))
              .to(Device::cpu())
              .to(DType::F64);
      want = Tensor::empty({batch * t, full.size(1)}, DType::F64);
      for (int64_t b = 0; b < batch; ++b)
        Tensor(want.narrow(0, b * t, t)).copy_from(full.narrow(0, b * (begin + t) + begin, t));
    }
    expect_match("logits", Operand{want.to(DType::F64), got}, tol);
    EXPECT_EQ(gpu_state->length(), begin + t);
  }
  // Host tokens for a CUDA model are an error naming the tensor, and take nothing.
  const Tensor host_step = sequences.narrow(1, 11, 1).contiguous().view({batch});
  EXPECT_THROW(gpu->forward_decode(gpu_arena, host_step, *gpu_state), Error);
  EXPECT_EQ(gpu_state->length(), 11);
}

// `strand generate` on a model written by `strand init`: greedy decoding on CUDA in F32 prints what the CPU
// prints, for one sample and for three decoded together; BF16 runs too.
TEST_F(CudaDecode, GenerateOnCudaPrintsTheCpusGreedyOutput) {
  const auto run = [this](std::vector<std::string> args) { return testing::run_strand(args, dir_.string()); };
  const testing::RunResult init =
      run({"init", "--config", testing::test_data_dir() + "/../configs/llama_tiny.json", "--seed", "3",
           "--out", path("model")});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  const std::vector<std::string> greedy = {"generate", "--model",       path("model"),
                                           "--prompt", "ACGTACGGTTAG",  "--max-new-tokens",
                                           "48",       "--temperature", "0"};
  const testing::RunResult on_cpu = run(greedy);
  ASSERT_EQ(on_cpu.exit_code, 0) << on_cpu.err;
  std::vector<std::string> cuda = greedy;
  cuda.insert(cuda.end(), {"--device", "cuda", "--precision", "fp32"});
  const testing::RunResult on_gpu = run(cuda);
  ASSERT_EQ(on_gpu.exit_code, 0) << on_gpu.err;
  EXPECT_EQ(on_gpu.out, on_cpu.out);
  cuda.insert(cuda.end(), {"--num-samples", "3"});
  const testing::RunResult three = run(cuda);
  ASSERT_EQ(three.exit_code, 0) << three.err;
  EXPECT_EQ(three.out, on_cpu.out + on_cpu.out + on_cpu.out);

  std::vector<std::string> bf16 = greedy;
  bf16.insert(bf16.end(), {"--device", "cuda:0", "--precision", "bf16", "--num-samples", "2"});
  const testing::RunResult in_bf16 = run(bf16);
  ASSERT_EQ(in_bf16.exit_code, 0) << in_bf16.err;
  EXPECT_EQ(in_bf16.out.rfind("ACGTACGGTTAG", 0), 0u) << in_bf16.out;
  // Two greedy samples are the same text (which a random model may fill with newline bytes).
  const size_t half = in_bf16.out.size() / 2;
  EXPECT_EQ(in_bf16.out.substr(0, half), in_bf16.out.substr(half)) << in_bf16.out;
}

}  // namespace
}  // namespace strand
