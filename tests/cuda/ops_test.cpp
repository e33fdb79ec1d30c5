// Every public op's CUDA path against its CPU reference, in F32 (the exact kernels) and BF16 (the fast ones:
// BF16 GEMMs, cuDNN attention), on realistic small shapes: odd token counts, widths that are not multiples
// of 8, packed sequences of unequal lengths. Also the device checks at the ops' boundary.
#include "cuda/op_compare.h"
#include "expect_error.h"
#include "ops/gradcheck.h"
#include "strand/cuda/runtime.h"
#include "strand/ops/activation.h"
#include "strand/ops/attention.h"
#include "strand/ops/cuda/fingerprint.h"
#include "strand/ops/cuda/gemm.h"
#include "strand/ops/elementwise.h"
#include "strand/ops/embedding.h"
#include "strand/ops/linear.h"
#include "strand/ops/loss.h"
#include "strand/ops/norm.h"
#include "strand/ops/optimizer.h"
#include "strand/ops/packed.h"
#include "strand/ops/rope.h"
#include "strand/ops/token_dropout.h"
#include "strand/ops/work_profile.h"
#include "strand/train/optimizer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
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

// The op tests of one activation dtype, the test parameter.
class CudaOps : public testing::GpuTest, public ::testing::WithParamInterface<DType> {
 protected:
  DType act() const { return GetParam(); }
  double tol() const { return testing::tolerance(act()); }
  Operand input(const Shape& shape, double scale = 1.0) { return random_input(shape, act(), scale); }
  Operand act_output(const Shape& shape) { return output(shape, act()); }
  // An F32 gradient accumulator (+=) holding values as large as the gradient a sum over `rows` rows adds,
  // so an op that assigns instead of adding fails.
  Operand accumulator(const Shape& shape, int64_t rows) {
    return random_input(shape, DType::F32, std::sqrt(static_cast<double>(rows)));
  }
};

std::string act_name(const ::testing::TestParamInfo<DType>& param) {
  return std::string(dtype_name(param.param));
}

INSTANTIATE_TEST_SUITE_P(Act, CudaOps, ::testing::Values(DType::F32, DType::BF16), act_name);

TEST_P(CudaOps, LinearMatchesCpu) {
  struct Case {
    int64_t tokens, in, out;
    bool bias, residual;
  };
  // The last is a protein LM head: 33 outputs, a leading dimension that is not a multiple of 8.
  for (const Case& c : {Case{299, 256, 768, true, false}, Case{1000, 768, 1024, false, true},
                        Case{33, 1024, 256, true, true}, Case{257, 768, 33, true, false}}) {
    SCOPED_TRACE(fmt::format("x [{}, {}], w [{}, {}], bias {}, residual {}", c.tokens, c.in, c.out, c.in,
                             c.bias, c.residual));
    const Operand x = input({c.tokens, c.in});
    const Operand w = input({c.out, c.in}, 1.0 / std::sqrt(static_cast<double>(c.in)));
    const Operand b = c.bias ? input({c.out}) : Operand{};
    const Operand residual = c.residual ? input({c.tokens, c.out}) : Operand{};
    const Operand y = act_output({c.tokens, c.out});
    for (Side s : kSides) linear_forward(y.*s, x.*s, w.*s, b.*s, residual.*s);
    expect_match("y", y, tol());

    const Operand dy = input({c.tokens, c.out});
    const Operand dx = act_output({c.tokens, c.in});
    const Operand dw = accumulator({c.out, c.in}, c.tokens);
    const Operand db = c.bias ? accumulator({c.out}, c.tokens) : Operand{};
    for (Side s : kSides)
      linear_backward(dx.*s, dw.*s, db.*s, dy.*s, x.*s, w.*s, GradWrite::accumulate, GradWrite::accumulate);
    expect_match("dx", dx, tol());
    expect_match("dw (+=)", dw, tol());
    if (c.bias) expect_match("db (+=)", db, tol());
  }
}

TEST_P(CudaOps, RmsNormMatchesCpu) {
  struct Case {
    int64_t rows, cols;
    bool dresidual;
  };
  constexpr double kEps = 1e-5;
  // A hidden size, narrow rows that share a block, an odd width that rules out 16-byte accesses, a row too
  // wide to keep in registers, and more rows than the dw reduction has workers (at most 2^20 / cols).
  for (const Case& c : {Case{513, 768, false}, Case{300, 101, true}, Case{1001, 64, false},
                        Case{40, 9000, true}, Case{6000, 1024, true}}) {
    SCOPED_TRACE(fmt::format("x [{}, {}], dresidual {}", c.rows, c.cols, c.dresidual));
    const Operand x = input({c.rows, c.cols}, 2.0);
    const Operand w = input({c.cols});
    const Operand y = act_output({c.rows, c.cols});
    const Operand rstd = output({c.rows}, DType::F32);
    for (Side s : kSides) rmsnorm_forward(y.*s, rstd.*s, x.*s, w.*s, kEps);
    expect_match("y", y, tol());
    expect_match("rstd", rstd, tol());

    // Both backwards read the reference's rstd as the GPU stores it, so they compare on equal inputs.
    const Operand saved_rstd = testing::operand(rstd.host, DType::F32);
    const Operand dy = input({c.rows, c.cols});
    const Operand dresidual = c.dresidual ? input({c.rows, c.cols}) : Operand{};
    const Operand dx = act_output({c.rows, c.cols});
    const Operand dw = accumulator({c.cols}, c.rows);
    for (Side s : kSides)
      rmsnorm_backward(dx.*s, dw.*s, dy.*s, x.*s, w.*s, saved_rstd.*s, dresidual.*s, GradWrite::accumulate);
    expect_match("dx", dx, tol());
    expect_match("dw (+=)", dw, tol());
  }
}

TEST_P(CudaOps, LayerNormMatchesCpu) {
  struct Case {
    int64_t rows, cols;
    bool dresidual, db;
  };
  constexpr double kEps = 1e-5;
  // ESM-2 widths (320, 1280, and 5120, which keeps 4 vectors a thread in F32), narrow rows that share a
  // block, an odd width that rules out 16-byte accesses, and a row too wide to keep in registers; more rows
  // than the dw/db reduction has workers (at most 2^20 / cols, and one wave of the GPU) in the 1280, 5120 and
  // 9000 cases.
  for (const Case& c :
       {Case{1001, 320, true, true}, Case{1000, 1280, false, true}, Case{300, 5120, true, true},
        Case{300, 101, true, false}, Case{1001, 64, false, true}, Case{200, 9000, true, true}}) {
    SCOPED_TRACE(fmt::format("x [{}, {}], dresidual {}, db {}", c.rows, c.cols, c.dresidual, c.db));
    // Rows with a mean well away from zero, as the embeddings and residual streams are: the mean then
    // compares by relative error (a mean near zero is rounding noise), and the variance must not cancel.
    Tensor values = draw_.normal({c.rows, c.cols}, 2.0);
    for (int64_t i = 0; i < values.numel(); ++i) values.data<double>()[i] += 3.0;
    const Operand x = testing::operand(values, act());
    const Operand w = input({c.cols}), b = input({c.cols});
    const Operand y = act_output({c.rows, c.cols});
    const Operand mean = output({c.rows}, DType::F32), rstd = output({c.rows}, DType::F32);
    for (Side s : kSides) layernorm_forward(y.*s, mean.*s, rstd.*s, x.*s, w.*s, b.*s, kEps);
    expect_match("y", y, tol());
    expect_match("mean", mean, tol());
    expect_match("rstd", rstd, tol());

    // Both backwards read the reference's mean and rstd as the GPU stores them, so they compare on equal
    // inputs.
    const Operand saved_mean = testing::operand(mean.host, DType::F32);
    const Operand saved_rstd = testing::operand(rstd.host, DType::F32);
    const Operand dy = input({c.rows, c.cols});
    const Operand dresidual = c.dresidual ? input({c.rows, c.cols}) : Operand{};
    const Operand dx = act_output({c.rows, c.cols});
    const Operand dw = accumulator({c.cols}, c.rows);
    const Operand db = c.db ? accumulator({c.cols}, c.rows) : Operand{};
    for (Side s : kSides)
      layernorm_backward(dx.*s, dw.*s, db.*s, dy.*s, x.*s, w.*s, saved_mean.*s, saved_rstd.*s, dresidual.*s,
                         GradWrite::accumulate, GradWrite::accumulate);
    expect_match("dx", dx, tol());
    expect_match("dw (+=)", dw, tol());
    if (c.db) expect_match("db (+=)", db, tol());
  }
}

TEST_P(CudaOps, RopeMatchesCpu) {
  struct Case {
    std::vector<int64_t> lengths;
    int64_t heads, head_dim;
    double llama3_factor;  // 0: plain RoPE
  };
  // Head dim 36 has 18 pairs, not a multiple of the 4 (F32) or 8 (BF16) pairs one 16-byte access holds.
  const std::vector<Case> cases = {
      {{37, 1, 200, 64, 129, 1500}, 8, 64, 0.0}, {{2000}, 2, 128, 8.0}, {{300, 77}, 3, 36, 0.0}};
  for (const Case& c : cases) {
    SCOPED_TRACE(fmt::format("lengths {{{}}}, {} heads of {}, llama3 factor {}", fmt::join(c.lengths, ", "),
                             c.heads, c.head_dim, c.llama3_factor));
    RopeOptions options;
    options.rotary_dim = c.head_dim;
    options.factor = c.llama3_factor;
    const std::vector<double> inv_freq = rope_inv_freq(options);
    const SeqLayout layout = SeqLayout::from_lengths(c.lengths);
    const Operand positions = testing::operand(layout.positions, DType::I32);
    const Shape shape{layout.num_tokens(), c.heads, c.head_dim};
    const Operand x = input(shape);
    const Operand out = act_output(shape);
    for (Side s : kSides) rope_forward(out.*s, x.*s, positions.*s, inv_freq);
    expect_match("out", out, tol());

    // The backward in place (dx aliasing dy, which the op allows), so both aliasing modes run.
    const Operand grad = input(shape);
    for (Side s : kSides) rope_backward(grad.*s, grad.*s, positions.*s, inv_freq);
    expect_match("dx (in place)", grad, tol());
  }
}

TEST_P(CudaOps, AttentionMatchesCpu) {
  struct Case {
    std::vector<int64_t> lengths;
    int64_t heads, kv_heads, head_dim;
    bool causal;
  };
  // Packed unequal lengths (one of a single token), one long sequence, and equal lengths at cuDNN's bucket
  // sizes (which take its dense plan); each with GQA and MHA, both head dims and both masks.
  const std::vector<int64_t> packed = {37, 1, 200, 64, 129}, equal = {256, 256, 256, 256};
  const std::vector<Case> cases = {{packed, 8, 2, 64, true},  {packed, 8, 8, 128, false},
                                   {{1000}, 8, 2, 128, true}, {{1000}, 8, 8, 64, false},
                                   {equal, 8, 2, 64, true},   {equal, 8, 8, 128, false},
                                   {{1024}, 8, 8, 64, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(fmt::format("lengths {{{}}}, H {}, Hkv {}, D {}, {}", fmt::join(c.lengths, ", "), c.heads,
                             c.kv_heads, c.head_dim, c.causal ? "causal" : "bidirectional"));
    const SeqLayout layout = SeqLayout::from_lengths(c.lengths);
    const int64_t tokens = layout.num_tokens();
    AttentionOptions options;
    options.causal = c.causal;
    options.max_seqlen = layout.max_seqlen;
    const Operand cu_seqlens = testing::operand(layout.cu_seqlens, DType::I32);
    const Shape q_shape{tokens, c.heads, c.head_dim}, kv_shape{tokens, c.kv_heads, c.head_dim};
    const Operand q = input(q_shape), k = input(kv_shape), v = input(kv_shape);
    const Operand out = act_output(q_shape);
    const Operand lse = output({tokens, c.heads}, DType::F32);
    for (Side s : kSides) attention_forward(out.*s, lse.*s, q.*s, k.*s, v.*s, cu_seqlens.*s, options);
    expect_match("out", out, tol());
    expect_match("lse", lse, tol());

    // Both backwards read the reference's out and lse as the GPU stores them, so they compare on equal
    // inputs.
    const Operand saved_out = testing::operand(out.host, act());
    const Operand saved_lse = testing::operand(lse.host, DType::F32);
    const Operand dout = input(q_shape);
    const Operand dq = act_output(q_shape), dk = act_output(kv_shape), dv = act_output(kv_shape);
    for (Side s : kSides)
      attention_backward(dq.*s, dk.*s, dv.*s, dout.*s, q.*s, k.*s, v.*s, saved_out.*s, saved_lse.*s,
                         cu_seqlens.*s, options);
    expect_match("dq", dq, tol());
    expect_match("dk", dk, tol());
    expect_match("dv", dv, tol());
  }
}

// q, k and v as row-strided slices of one fused [T, H + 2 Hkv, D] buffer, as the attention module lays them
// out: the rotation of q and k in one call, the attention reading the slices and its backward filling one
// fused gradient buffer (every element of which it must write). Packed unequal lengths take cuDNN's ragged
// plan, equal lengths at bucket sizes its dense one.
TEST_P(CudaOps, AttentionAndRopeOnFusedSlices) {
  for (const auto& [lengths, kv_heads] : {std::pair{std::vector<int64_t>{37, 1, 200, 64, 129}, int64_t{2}},
                                          std::pair{std::vector<int64_t>{37, 1, 200, 64, 129}, int64_t{8}},
                                          std::pair{std::vector<int64_t>{128, 128, 128, 128}, int64_t{2}},
                                          std::pair{std::vector<int64_t>{128, 128, 128, 128}, int64_t{8}}}) {
    const int64_t heads = 8, dim = 64, width = heads + 2 * kv_heads;
    SCOPED_TRACE(fmt::format("lengths {{{}}}, H {}, Hkv {}", fmt::join(lengths, ", "), heads, kv_heads));
    const SeqLayout layout = SeqLayout::from_lengths(lengths);
    const int64_t tokens = layout.num_tokens();
    AttentionOptions options;
    options.causal = false;
    options.max_seqlen = layout.max_seqlen;
    RopeOptions rope;
    rope.rotary_dim = dim;
    const std::vector<double> inv_freq = rope_inv_freq(rope);
    const Operand positions = testing::operand(layout.positions, DType::I32);
    const Operand cu_seqlens = testing::operand(layout.cu_seqlens, DType::I32);
    const Operand qkv = input({tokens, width, dim});
    for (Side s : kSides) {
      const Tensor qk = (qkv.*s).narrow(1, 0, heads + kv_heads);
      rope_forward(qk, qk, positions.*s, inv_freq);
    }
    expect_match("rotated qkv", qkv, tol());

    const Operand saved_qkv = testing::operand(qkv.host, act());
    const auto q = [&](Side s) { return (saved_qkv.*s).narrow(1, 0, heads); };
    const auto k = [&](Side s) { return (saved_qkv.*s).narrow(1, heads, kv_heads); };
    const auto v = [&](Side s) { return (saved_qkv.*s).narrow(1, heads + kv_heads, kv_heads); };
    const Operand out = act_output({tokens, heads, dim});
    const Operand lse = output({tokens, heads}, DType::F32);
    for (Side s : kSides) attention_forward(out.*s, lse.*s, q(s), k(s), v(s), cu_seqlens.*s, options);
    expect_match("out", out, tol());

    const Operand saved_out = testing::operand(out.host, act());
    const Operand saved_lse = testing::operand(lse.host, DType::F32);
    const Operand dout = input({tokens, heads, dim});
    const Operand dqkv = act_output({tokens, width, dim});
    for (Side s : kSides) {
      const Tensor d = dqkv.*s;
      attention_backward(d.narrow(1, 0, heads), d.narrow(1, heads, kv_heads),
                         d.narrow(1, heads + kv_heads, kv_heads), dout.*s, q(s), k(s), v(s), saved_out.*s,
                         saved_lse.*s, cu_seqlens.*s, options);
    }
    expect_match("dqkv", dqkv, tol());
  }
}

// 101 columns rule out 16-byte accesses.
TEST_P(CudaOps, SwiGluMatchesCpu) {
  for (const Shape& shape : {Shape{513, 1024}, Shape{300, 101}}) {
    SCOPED_TRACE(shape.str());
    const Operand gate = input(shape, 3.0), up = input(shape);
    const Operand out = act_output(shape);
    for (Side s : kSides) swiglu_forward(out.*s, gate.*s, up.*s);
    expect_match("out", out, tol());

    const Operand dout = input(shape);
    const Operand dgate = act_output(shape), dup = act_output(shape);
    for (Side s : kSides) swiglu_backward(dgate.*s, dup.*s, dout.*s, gate.*s, up.*s);
    expect_match("dgate", dgate, tol());
    expect_match("dup", dup, tol());
  }
}

// gate and up as the halves of one fused [T, 2F] product and their gradients written into one [T, 2F]
// buffer, as the gated MLP runs them (the NaN-filled output fails any element left unwritten). F = 101 puts
// rows off 16-byte boundaries, so the kernels take their one-element path.
TEST_P(CudaOps, SwiGluOnFusedHalvesMatchesCpu) {
  const int64_t rows = 300;
  for (const int64_t f : {int64_t{1024}, int64_t{101}}) {
    SCOPED_TRACE(fmt::format("gate/up [{}, 2 x {}]", rows, f));
    const auto gate = [f](const Tensor& t) { return t.narrow(1, 0, f); };
    const auto up = [f](const Tensor& t) { return t.narrow(1, f, f); };
    const Operand gate_up = input({rows, 2 * f}, 3.0);
    const Operand out = act_output({rows, f});
    for (Side s : kSides) swiglu_forward(out.*s, gate(gate_up.*s), up(gate_up.*s));
    expect_match("out", out, tol());

    const Operand dout = input({rows, f});
    const Operand dgate_up = act_output({rows, 2 * f});
    for (Side s : kSides)
      swiglu_backward(gate(dgate_up.*s), up(dgate_up.*s), dout.*s, gate(gate_up.*s), up(gate_up.*s));
    expect_match("dgate_up", dgate_up, tol());
  }
}

// 37 x 101 elements end in a remainder shorter than one 16-byte access.
TEST_P(CudaOps, GeluMatchesCpu) {
  for (const Shape& shape : {Shape{512, 1024}, Shape{37, 101}}) {
    SCOPED_TRACE(shape.str());
    const Operand x = input(shape, 3.0);
    const Operand out = act_output(shape);
    for (Side s : kSides) gelu_forward(out.*s, x.*s);
    expect_match("out", out, tol());

    const Operand dout = input(shape);
    const Operand dx = act_output(shape);
    for (Side s : kSides) gelu_backward(dx.*s, dout.*s, x.*s);
    expect_match("dx", dx, tol());
  }
}

TEST_P(CudaOps, EmbeddingMatchesCpu) {
  struct Case {
    int64_t vocab, cols, tokens, padding_idx;
  };
  // Small vocabularies repeat tokens many times over, which the deterministic scatter-add must sum; 101
  // columns rule out 16-byte accesses.
  for (const Case& c : {Case{33, 101, 1000, 1}, Case{4000, 768, 700, -1}, Case{256, 256, 1500, 0}}) {
    SCOPED_TRACE(
        fmt::format("table [{}, {}], {} tokens, padding_idx {}", c.vocab, c.cols, c.tokens, c.padding_idx));
    const Operand tokens =
        testing::operand(draw_.integers({c.tokens}, 0, static_cast<int32_t>(c.vocab)), DType::I32);
    const Operand table = input({c.vocab, c.cols});
    const Operand y = act_output({c.tokens, c.cols});
    for (Side s : kSides) embedding_forward(y.*s, tokens.*s, table.*s);
    expect_match("y", y, tol());

    const Operand dy = input({c.tokens, c.cols});
    const Operand dtable = accumulator({c.vocab, c.cols}, c.tokens / c.vocab + 1);
    for (Side s : kSides)
      embedding_backward(dtable.*s, dy.*s, tokens.*s, c.padding_idx, GradWrite::accumulate);
    expect_match("dtable (+=)", dtable, tol());
  }
}

// Labels uniform over the vocabulary, about one in ten ignored.
Tensor labels_with_ignored(testing::Draw& draw, int64_t rows, int64_t vocab) {
  Tensor labels = draw.integers({rows}, 0, static_cast<int32_t>(vocab));
  for (int64_t t = 0; t < rows; ++t)
    if (draw.chance(0.1)) labels.data<int32_t>()[t] = kIgnoreIndex;
  return labels;
}

// Per-token loss weights |N(0, 1)|, about one in ten exactly zero (which the op counts as ignored).
Tensor loss_weights(testing::Draw& draw, int64_t rows) {
  Tensor weights = draw.normal({rows});
  for (int64_t t = 0; t < rows; ++t) {
    double& w = weights.data<double>()[t];
    w = draw.chance(0.1) ? 0.0 : std::abs(w);
  }
  return weights;
}

TEST_P(CudaOps, CrossEntropyMatchesCpu) {
  struct Case {
    int64_t rows, vocab;
    bool weighted;
  };
  // The protein vocabulary (33: rows unfit for 16-byte accesses), a byte vocabulary, and one near the CUDA
  // kernel's limit of 4096.
  for (const Case& c : {Case{1000, 33, true}, Case{513, 256, false}, Case{300, 4000, true}}) {
    SCOPED_TRACE(fmt::format("logits [{}, {}], weighted {}", c.rows, c.vocab, c.weighted));
    const Operand logits = input({c.rows, c.vocab}, 3.0);
    const Operand labels = testing::operand(labels_with_ignored(draw_, c.rows, c.vocab), DType::I32);
    const Operand weights =
        c.weighted ? testing::operand(loss_weights(draw_, c.rows), DType::F32) : Operand{};
    const Operand losses = output({c.rows}, DType::F32), lse = output({c.rows}, DType::F32);
    const auto forward = [&](Side s) {
      return cross_entropy_forward(losses.*s, lse.*s, logits.*s, labels.*s, weights.*s);
    };
    const LossSums want = forward(&Operand::host), got = forward(&Operand::device);
    expect_match("losses", losses, tol());
    expect_match("lse", lse, tol());
    expect_match("loss_sum", got.loss_sum, want.loss_sum, tol());
    expect_match("weight_sum", got.weight_sum, want.weight_sum, tol());
    EXPECT_EQ(got.tokens, want.tokens);

    // The overload that leaves the sums on the logits' device adds them to what is there.
    const Operand sums = random_input({3}, DType::F64, static_cast<double>(c.rows));
    const Operand sums_losses = output({c.rows}, DType::F32), sums_lse = output({c.rows}, DType::F32);
    for (Side s : kSides)
      cross_entropy_forward(sums_losses.*s, sums_lse.*s, sums.*s, logits.*s, labels.*s, weights.*s);
    expect_match("losses (device sums)", sums_losses, tol());
    expect_match("lse (device sums)", sums_lse, tol());
    expect_match("sums (+=)", sums, tol());

    // Both backwards read the reference's lse as the GPU stores it, so they compare on equal inputs.
    const Operand saved_lse = testing::operand(lse.host, DType::F32);
    const Operand dlogits = act_output({c.rows, c.vocab});
    const double scale = 1.0 / want.weight_sum;
    for (Side s : kSides)
      cross_entropy_backward(dlogits.*s, logits.*s, labels.*s, weights.*s, saved_lse.*s, scale);
    expect_match("dlogits", dlogits, tol());
  }
}

// 37 x 101 elements end in a remainder shorter than one 16-byte access.
TEST_P(CudaOps, AddInplaceMatchesCpu) {
  for (const Shape& shape : {Shape{1000, 768}, Shape{37, 101}}) {
    SCOPED_TRACE(shape.str());
    const Operand dst = input(shape), src = input(shape);
    for (Side s : kSides) add_inplace(dst.*s, src.*s);
    expect_match("dst", dst, tol());
  }
}

// ESM-2's token dropout over packed sequences of unequal lengths (one longer than a block of the factors
// kernel), tokens drawn from the residues with about 15% masks; one sequence is a single mask (no token takes
// the scale), one ends in pads, the last is pads only. The factors are F32 whatever the activations.
TEST_P(CudaOps, TokenDropoutMatchesCpu) {
  constexpr int32_t kMask = 32, kPad = 1;  // ESM-2's vocabulary: residues in [4, 32)
  const SeqLayout layout = SeqLayout::from_lengths(std::vector<int64_t>{37, 1, 700, 64, 129, 5});
  const int64_t tokens = layout.num_tokens();
  const int32_t* cu = layout.cu_seqlens.data<int32_t>();
  Tensor ids = draw_.integers({tokens}, 4, 32);
  int32_t* id = ids.data<int32_t>();
  for (int64_t t = 0; t < tokens; ++t)
    if (draw_.chance(0.15)) id[t] = kMask;
  id[cu[1]] = kMask;
  for (int32_t t = cu[3] + 40; t < cu[4]; ++t) id[t] = kPad;
  for (int32_t t = cu[5]; t < cu[6]; ++t) id[t] = kPad;
  const Operand token_ids = testing::operand(ids, DType::I32);
  const Operand cu_seqlens = testing::operand(layout.cu_seqlens, DType::I32);
  const Operand scales = output({tokens}, DType::F32);
  for (Side s : kSides) token_dropout_scales(scales.*s, token_ids.*s, cu_seqlens.*s, kMask, kPad);
  expect_match("scales", scales, testing::tolerance(DType::F32));

  // scale_rows reads the reference's factors as the GPU stores them. 101 columns rule out 16-byte accesses.
  const Operand saved_scales = testing::operand(scales.host, DType::F32);
  for (const int64_t width : {320, 101}) {
    SCOPED_TRACE(fmt::format("width {}", width));
    const Operand x = input({tokens, width});
    const Operand y = act_output({tokens, width});
    for (Side s : kSides) scale_rows(y.*s, x.*s, saved_scales.*s);
    expect_match("y", y, tol());

    // The backward in place (dx aliasing dy, which the op allows), so both aliasing modes run.
    const Operand grad = input({tokens, width});
    for (Side s : kSides) scale_rows(grad.*s, grad.*s, saved_scales.*s);
    expect_match("dx (in place)", grad, tol());
  }
}

// An assigned gradient (GradWrite::assign) on the GPU still holds the last step's values: each op must
// overwrite it (a product with beta 0, a reduction that stores), or zero it first (the embedding's scatter),
// and so match the reference, which assigns over zeros.
TEST_P(CudaOps, AssignedGradientsAreOverwritten) {
  constexpr int64_t kRowsIn = 37, kIn = 24, kOut = 48, kVocab = 9;
  constexpr double kEps = 1e-5;
  constexpr GradWrite kAssign = GradWrite::assign;
  const auto stale = [&](int64_t rows, int64_t cols) {
    Operand g = random_input(cols > 0 ? Shape{rows, cols} : Shape{rows}, DType::F32, 100.0);
    g.host = Tensor::zeros(g.host.shape(), DType::F64);
    return g;
  };
  const Operand x = input({kRowsIn, kIn}), dy = input({kRowsIn, kOut}), w = input({kOut, kIn});
  const Operand dx = act_output({kRowsIn, kIn});
  const Operand dw = stale(kOut, kIn), db = stale(kOut, 0);
  for (Side s : kSides) linear_backward(dx.*s, dw.*s, db.*s, dy.*s, x.*s, w.*s, kAssign, kAssign);
  expect_match("linear dw", dw, tol());
  expect_match("linear db", db, tol());

  const Operand nw = input({kIn}), nb = input({kIn}), dn = input({kRowsIn, kIn});
  const Operand y = act_output({kRowsIn, kIn}), dnx = act_output({kRowsIn, kIn});
  const Operand mean = output({kRowsIn}, DType::F32), rstd = output({kRowsIn}, DType::F32);
  for (Side s : kSides) layernorm_forward(y.*s, mean.*s, rstd.*s, x.*s, nw.*s, nb.*s, kEps);
  const Operand ln_dw = stale(kIn, 0), ln_db = stale(kIn, 0);
  for (Side s : kSides)
    layernorm_backward(dnx.*s, ln_dw.*s, ln_db.*s, dn.*s, x.*s, nw.*s, mean.*s, rstd.*s, Tensor(), kAssign,
                       kAssign);
  expect_match("layernorm dw", ln_dw, tol());
  expect_match("layernorm db", ln_db, tol());
  for (Side s : kSides) rmsnorm_forward(y.*s, rstd.*s, x.*s, nw.*s, kEps);
  const Operand rms_dw = stale(kIn, 0);
  for (Side s : kSides) rmsnorm_backward(dnx.*s, rms_dw.*s, dn.*s, x.*s, nw.*s, rstd.*s, Tensor(), kAssign);
  expect_match("rmsnorm dw", rms_dw, tol());

  // Tokens below 5 only: the table's other rows get no gradient and must read zero.
  const Operand tokens = testing::operand(draw_.integers({kRowsIn}, 0, 5), DType::I32);
  const Operand dtable = stale(kVocab, kIn);
  for (Side s : kSides) embedding_backward(dtable.*s, dn.*s, tokens.*s, -1, kAssign);
  expect_match("embedding dtable", dtable, tol());

  // With no rows an assigned gradient is zero.
  const Operand no_x = input({0, kIn}), no_dy = input({0, kOut});
  const Operand empty_dw = stale(kOut, kIn), empty_db = stale(kOut, 0);
  for (Side s : kSides)
    linear_backward(Tensor(), empty_dw.*s, empty_db.*s, no_dy.*s, no_x.*s, w.*s, kAssign, kAssign);
  expect_match("linear dw, no rows", empty_dw, 0.0);
  expect_match("linear db, no rows", empty_db, 0.0);
}

class CudaOptimizer : public testing::GpuTest {};

// The multi-tensor optimizer ops (ops/optimizer.h) over one group on each side: tensors of several sizes
// (one chunk, many, a remainder, a tensor shorter than one vector; a view that starts off the 16-byte grid,
// which takes the scalar path), each with its own weight decay, BF16 compute copies on all but one; the norm
// in its two parts, a clip factor that clips, and an update at a late step, all without leaving the GPU.
TEST_F(CudaOptimizer, MultiTensorAdamWMatchesCpu) {
  struct Case {
    Shape shape;
    double weight_decay;
    bool compute;
  };
  const std::vector<Case> cases = {{{1000, 768}, 0.1, true},
                                   {{33}, 0.0, true},
                                   {{70000}, 0.01, false},
                                   {{5}, 0.1, true},
                                   {{2, 1001}, 0.1, true}};
  struct Param {
    Operand value, grad, exp_avg, exp_avg_sq, compute;
  };
  std::vector<Param> params;
  for (const Case& c : cases) {
    Param p;
    p.value = random_input(c.shape, DType::F32);
    p.grad = random_input(c.shape, DType::F32);
    p.exp_avg = random_input(c.shape, DType::F32, 0.1);
    // Second moments well above (1 - beta2) g^2, as after many steps: 1 - beta2 in F32 is off by 1.3e-5
    // relative, which would otherwise show in v at the F32 tolerance.
    Tensor second_moment = draw_.normal(c.shape, 0.3);
    for (int64_t i = 0; i < second_moment.numel(); ++i) {
      double& x = second_moment.data<double>()[i];
      x *= x;  // a second moment is non-negative
    }
    p.exp_avg_sq = testing::operand(second_moment, DType::F32);
    if (c.compute) p.compute = output(c.shape, DType::BF16);
    params.push_back(p);
  }
  // The last tensor as a view one element into its buffers, so its rows start off the 16-byte grid.
  Param& offset = params.back();
  for (Operand* o : {&offset.value, &offset.grad, &offset.exp_avg, &offset.exp_avg_sq, &offset.compute}) {
    const int64_t n = o->host.numel();
    for (Side s : kSides) o->*s = (o->*s).view({-1}).narrow(0, 1, n - 1);
  }
  const auto group = [&](Side s) {
    std::vector<AdamWTensors> tensors;
    for (size_t i = 0; i < params.size(); ++i) {
      const Param& p = params[i];
      tensors.push_back(
          {p.value.*s, p.grad.*s, p.exp_avg.*s, p.exp_avg_sq.*s, p.compute.*s, cases[i].weight_decay});
    }
    return std::make_unique<AdamWGroup>(tensors);
  };
  const auto host_group = group(&Operand::host), device_group = group(&Operand::device);
  const auto group_of = [&](Side s) -> const AdamWGroup& {
    return s == &Operand::host ? *host_group : *device_group;
  };

  const double tol = testing::tolerance(DType::F32);
  const Operand sum = output({1}, DType::F64), norm = output({1}, DType::F32),
                factor = output({1}, DType::F32);
  for (Side s : kSides) grad_sum_of_squares(sum.*s, group_of(s));
  expect_match("sum of squares", sum, tol);
  for (Side s : kSides) grad_norm(norm.*s, sum.*s);
  expect_match("norm", norm, tol);
  const double max_norm = norm.host.item(0) / 3;  // so that the factor clips
  for (Side s : kSides) clip_factor(factor.*s, norm.*s, max_norm);
  expect_match("clip factor", factor, tol);
  EXPECT_LT(factor.host.item(0), 1.0);

  AdamWOptions options;
  options.lr = 1e-2;  // large enough that the update shows above F32 rounding of the parameters
  options.beta2 = 0.95;
  for (Side s : kSides) adamw_step(group_of(s), options, 10, factor.*s);
  for (size_t i = 0; i < params.size(); ++i) {
    SCOPED_TRACE(fmt::format("tensor {}: {}", i, cases[i].shape.str()));
    expect_match("value", params[i].value, tol);
    expect_match("exp_avg", params[i].exp_avg, tol);
    expect_match("exp_avg_sq", params[i].exp_avg_sq, tol);
    if (cases[i].compute) expect_match("compute (BF16)", params[i].compute, testing::tolerance(DType::BF16));
  }
}

// On CUDA too, the optimizer only marks the gradients pending zero, and its step zeroes those no backward
// pass wrote, on the GPU; so does its destructor.
// A NaN gradient makes the norm NaN and the clip factor NaN, and the update reading it leaves every tensor as
// it was: the skip is decided on the device, without a read-back.
TEST_F(CudaOptimizer, NonFiniteNormSkipsTheUpdateOnTheDevice) {
  const Shape shape{3, 700};
  const Operand value = random_input(shape, DType::F32), exp_avg = random_input(shape, DType::F32, 0.1);
  const Operand exp_avg_sq = random_input(shape, DType::F32, 0.1), compute = output(shape, DType::BF16);
  Tensor grad_host = draw_.normal(shape, 1.0);
  grad_host.data<double>()[17] = std::nan("");
  const Operand grad = testing::operand(grad_host, DType::F32);
  const Tensor value_before = value.device.to(Device::cpu()), m_before = exp_avg.device.to(Device::cpu());
  const Tensor compute_before = compute.device.to(Device::cpu());
  const AdamWGroup group(
      {{value.device, grad.device, exp_avg.device, exp_avg_sq.device, compute.device, 0.1}});
  const Operand sum = output({1}, DType::F64), norm = output({1}, DType::F32),
                factor = output({1}, DType::F32);
  grad_sum_of_squares(sum.device, group);
  grad_norm(norm.device, sum.device);
  for (const double max_norm : {1.0, 0.0}) {
    clip_factor(factor.device, norm.device, max_norm);
    EXPECT_TRUE(std::isnan(factor.device.to(Device::cpu()).item(0))) << "max_norm " << max_norm;
  }
  adamw_step(group, {}, 5, factor.device);
  const Tensor value_after = value.device.to(Device::cpu()), m_after = exp_avg.device.to(Device::cpu());
  const Tensor compute_after = compute.device.to(Device::cpu());
  for (int64_t i = 0; i < value_after.numel(); ++i) {
    ASSERT_EQ(value_after.data<float>()[i], value_before.data<float>()[i]) << "value " << i;
    ASSERT_EQ(m_after.data<float>()[i], m_before.data<float>()[i]) << "exp_avg " << i;
  }
  EXPECT_EQ(std::memcmp(compute_after.raw(), compute_before.raw(), compute_after.nbytes()), 0);
}

TEST_F(CudaOptimizer, ZeroGradsDefersAndStepZeroesUnwrittenGradients) {
  std::vector<std::unique_ptr<nn::Parameter>> owned;
  nn::ParameterList params;
  for (const Shape& shape : {Shape{1000, 768}, Shape{33}, Shape{70000}, Shape{5}}) {
    owned.push_back(std::make_unique<nn::Parameter>(fmt::format("p{}", owned.size()), shape,
                                                    nn::Placement::cuda(), true));
    Tensor ones = Tensor::zeros(shape, DType::F32);
    ones.fill(1.5);
    owned.back()->grad.copy_from(ones);
    params.push_back(owned.back().get());
  }
  AdamWSettings settings;
  settings.weight_decay = 0;
  AdamW optimizer(params, settings);
  optimizer.zero_grads();
  for (const nn::Parameter* p : params) EXPECT_TRUE(p->grad_pending_zero) << p->name;
  const Tensor before = params[0]->value.to(Device::cpu());
  optimizer.step(1e-2, 1);
  EXPECT_EQ(optimizer.last_grad_norm(), 0.0);
  for (const nn::Parameter* p : params) {
    EXPECT_FALSE(p->grad_pending_zero) << p->name;
    const Tensor g = p->grad.to(Device::cpu());
    for (int64_t i = 0; i < g.numel(); ++i) ASSERT_EQ(g.data<float>()[i], 0.0f) << p->name << " at " << i;
  }
  // Zero gradients and no decay: AdamW leaves the values as they were.
  const Tensor after = params[0]->value.to(Device::cpu());
  for (int64_t i = 0; i < after.numel(); ++i) ASSERT_EQ(after.data<float>()[i], before.data<float>()[i]);

  // An optimizer that goes away zeroes what it left pending.
  Tensor stale = Tensor::zeros({33}, DType::F32);
  stale.fill(2.5);
  params[1]->grad.copy_from(stale);
  {
    AdamW last(params, settings);
    last.zero_grads();
  }
  EXPECT_FALSE(params[1]->grad_pending_zero);
  const Tensor g = params[1]->grad.to(Device::cpu());
  for (int64_t i = 0; i < g.numel(); ++i)
    ASSERT_EQ(g.data<float>()[i], 0.0f) << "after the destructor at " << i;
}

// Argument checks at the ops' boundary with CUDA tensors.
class CudaOpChecks : public testing::GpuTest {};

Tensor on_gpu(const Shape& shape, DType dtype = DType::F32) {
  return Tensor::zeros(shape, dtype, Device::cuda());
}
Tensor on_cpu(const Shape& shape, DType dtype = DType::F32) {
  return Tensor::zeros(shape, dtype);
}

// Small valid arguments: 4 tokens, width 8, 2 heads of dim 8, a vocabulary of 5, one sequence.
constexpr int64_t kRows = 4, kCols = 8, kHeads = 2, kVocab = 5;
const Shape kQkv{kRows, kHeads, kCols};

Tensor one_sequence_cu_seqlens() {
  return SeqLayout::from_lengths(std::vector<int64_t>{kRows}).cu_seqlens;
}

TEST_F(CudaOpChecks, MixedDevicesNameTheMisplacedArgument) {
  const Tensor host_cu_seqlens = one_sequence_cu_seqlens();
  AttentionOptions options;
  options.max_seqlen = kRows;
  RopeOptions rope;
  rope.rotary_dim = kCols;
  const std::vector<double> inv_freq = rope_inv_freq(rope);
  struct Case {
    const char* misplaced;
    std::function<void()> call;
  };
  // One argument on the other device each, never the first one the op looks at, so the message must name
  // it rather than the device the op settled on.
  const std::vector<Case> cases = {
      {"dw",
       [] {
         linear_backward(on_gpu({kRows, kCols}), on_cpu({kCols, kCols}), Tensor(), on_gpu({kRows, kCols}),
                         on_gpu({kRows, kCols}), on_gpu({kCols, kCols}), GradWrite::accumulate,
                         GradWrite::accumulate);
       }},
      {"rstd",
       [] {
         rmsnorm_forward(on_gpu({kRows, kCols}), on_cpu({kRows}), on_gpu({kRows, kCols}), on_gpu({kCols}),
                         1e-5);
       }},
      {"mean",
       [] {
         layernorm_forward(on_gpu({kRows, kCols}), on_cpu({kRows}), on_gpu({kRows}), on_gpu({kRows, kCols}),
                           on_gpu({kCols}), on_gpu({kCols}), 1e-5);
       }},
      {"dresidual",
       [] {
         layernorm_backward(on_gpu({kRows, kCols}), on_gpu({kCols}), on_gpu({kCols}), on_gpu({kRows, kCols}),
                            on_gpu({kRows, kCols}), on_gpu({kCols}), on_gpu({kRows}), on_gpu({kRows}),
                            on_cpu({kRows, kCols}), GradWrite::accumulate, GradWrite::accumulate);
       }},
      {"positions", [&] { rope_forward(on_gpu(kQkv), on_gpu(kQkv), on_cpu({kRows}, DType::I32), inv_freq); }},
      {"cu_seqlens",
       [&] {
         attention_forward(on_gpu(kQkv), on_gpu({kRows, kHeads}), on_gpu(kQkv), on_gpu(kQkv), on_gpu(kQkv),
                           host_cu_seqlens, options);
       }},
      {"cu_seqlens",
       [&] { token_dropout_scales(on_gpu({kRows}), on_gpu({kRows}, DType::I32), host_cu_seqlens, 32, 1); }},
      {"scales",
       [] {
         scale_rows(on_gpu({kRows, kCols}), on_gpu({kRows, kCols}), on_cpu({kRows}));
       }},
      {"labels",
       [] {
         cross_entropy_forward(on_gpu({kRows}), on_gpu({kRows}), on_gpu({kRows, kVocab}),
                               on_cpu({kRows}, DType::I32), Tensor());
       }},
      {"tokens",
       [] {
         embedding_backward(on_gpu({kVocab, kCols}), on_gpu({kRows, kCols}), on_cpu({kRows}, DType::I32), -1,
                            GradWrite::accumulate);
       }},
      {"tensors[0]: grad",
       [] {
         AdamWGroup({{on_cpu({kCols}), on_gpu({kCols}), on_cpu({kCols}), on_cpu({kCols}), Tensor(), 0.0}});
       }},
      {"grad_scale",
       [] {
         const AdamWGroup group(
             {{on_gpu({kCols}), on_gpu({kCols}), on_gpu({kCols}), on_gpu({kCols}), Tensor(), 0.0}});
         adamw_step(group, {}, 1, on_cpu({1}));
       }},
      {"sum_of_squares", [] { grad_norm(on_gpu({1}), on_cpu({1}, DType::F64)); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.misplaced);
    EXPECT_CONTAINS(testing::error_of(c.call), c.misplaced);
  }
}

// A product shape is timed over cuBLASLt's candidate algorithms on its 200th use, and only candidates whose
// results match the first candidate's bit for bit may win, so the 250th product of a shape equals its first.
// The backward's weight gradient runs on the side stream, overlapping dx; it too must not change.
TEST_P(CudaOps, GemmTuningKeepsResultsBitIdentical) {
  if (act() != DType::BF16) GTEST_SKIP() << "the BF16 products are the ones with many candidates";
  const int64_t rows = 2000, in = 1280, out = 3072;  // a shape no other test uses, so its count starts here
  const Tensor x = input({rows, in}).device, w = input({out, in}, 0.03).device, b = input({out}).device;
  const Tensor dy = input({rows, out}).device;
  Tensor y = act_output({rows, out}).device, dx = act_output({rows, in}).device;
  const auto run = [&] {
    Tensor dw = Tensor::zeros({out, in}, DType::F32, Device::cuda());
    linear_forward(y, x, w, b, {});
    linear_backward(dx, dw, {}, dy, x, w, GradWrite::assign, GradWrite::assign);
    return std::array{y.to(Device::cpu()), dx.to(Device::cpu()), dw.to(Device::cpu())};
  };
  const auto first = run();
  for (int i = 1; i < 249; ++i) run();
  const auto last = run();
  EXPECT_TRUE(testing::bitwise_equal(first[0], last[0])) << "y";
  EXPECT_TRUE(testing::bitwise_equal(first[1], last[1])) << "dx";
  EXPECT_TRUE(testing::bitwise_equal(first[2], last[2])) << "dw";
}

// cuda::gemm reads each operand's dtype from its own descriptor: operands in the test's dtype into an output
// of that dtype and, for BF16 operands, into F32 (as weight gradients accumulate).
TEST_P(CudaOps, GemmTakesEachOperandsDtype) {
  const int64_t m = 129, n = 72, k = 264;
  const Operand a = input({m, k}), b = input({n, k}, 1.0 / std::sqrt(static_cast<double>(k)));
  std::vector<DType> outputs = {act()};
  if (act() != DType::F32) outputs.push_back(DType::F32);
  for (const DType c_dtype : outputs) {
    SCOPED_TRACE(fmt::format("{} x {} into {}", dtype_name(act()), dtype_name(act()), dtype_name(c_dtype)));
    const Operand c = output({m, n}, c_dtype);
    linear_forward(c.host, a.host, b.host, Tensor());
    cuda::Gemm g;
    g.trans_b = true;
    g.m = m;
    g.n = n;
    g.k = k;
    g.a = {a.device.raw(), k, act()};
    g.b = {b.device.raw(), k, act()};
    g.c = {c.device.raw(), n, c_dtype};
    cuda::gemm(g, cuda::stream());
    expect_match("c", c, tol());
  }
}

TEST_F(CudaOpChecks, FingerprintTellsBuffersApart) {
  Tensor a = Tensor::zeros({1000, 257}, DType::F32);
  for (int64_t i = 0; i < a.numel(); ++i) a.data<float>()[i] = static_cast<float>(i % 977) * 0.5f;
  Tensor b = a.clone();
  const Tensor sum = on_gpu({2}, DType::I32);  // 8 bytes: the accumulator
  const auto print = [&](const Tensor& t) {
    const Tensor d = t.to(Device::cuda());
    return cuda::fingerprint(d.raw(), d.nbytes(), static_cast<unsigned long long*>(sum.raw()),
                             cuda::stream());
  };
  EXPECT_EQ(print(a), print(b));
  b.data<float>()[123456] = std::nextafter(b.data<float>()[123456], 1e9f);  // one bit
  EXPECT_NE(print(a), print(b));
  Tensor swapped = a.clone();  // equal words at other places
  std::swap(swapped.data<float>()[0], swapped.data<float>()[1]);
  EXPECT_NE(print(a), print(swapped));
}

// Descriptors gemm() cannot run yet are refused, naming the operand, before anything reaches the GPU (so this
// runs without one): FP8 dtypes, scales and amax (FP8 products to come), mixed operand dtypes (cuBLASLt mixes
// them only in FP8 products) and a BF16 output of F32 operands.
TEST(CudaGemmChecks, RefusesDescriptorsItCannotRun) {
  float scale = 1, amax = 0;
  const auto valid = [] {
    cuda::Gemm g;
    g.m = g.n = g.k = 8;
    g.a = {nullptr, 8, DType::BF16};
    g.b = {nullptr, 8, DType::BF16};
    g.c = {nullptr, 8, DType::F32};
    return g;
  };
  EXPECT_NO_THROW(cuda::check_gemm(valid()));
  struct Case {
    const char* what;
    std::function<void(cuda::Gemm&)> change;
    std::vector<std::string> message;
  };
  const std::vector<Case> cases = {
      {"E4M3 A", [](cuda::Gemm& g) { g.a.dtype = DType::F8E4M3; }, {"operand A", "F8_E4M3", "FP8"}},
      {"E5M2 B", [](cuda::Gemm& g) { g.b.dtype = DType::F8E5M2; }, {"operand B", "F8_E5M2", "FP8"}},
      {"E4M3 C", [](cuda::Gemm& g) { g.c.dtype = DType::F8E4M3; }, {"operand C", "FP8"}},
      {"scale on A", [&](cuda::Gemm& g) { g.a.scale = &scale; }, {"operand A", "scale"}},
      {"scale on B", [&](cuda::Gemm& g) { g.b.scale = &scale; }, {"operand B", "scale"}},
      {"scale on C", [&](cuda::Gemm& g) { g.c.scale = &scale; }, {"operand C", "scale"}},
      {"amax of C", [&](cuda::Gemm& g) { g.c.amax = &amax; }, {"output C", "amax"}},
      {"F32 A, BF16 B", [](cuda::Gemm& g) { g.a.dtype = DType::F32; }, {"A (F32)", "B (BF16)"}},
      {"F32 into BF16",
       [](cuda::Gemm& g) {
         g.a.dtype = g.b.dtype = DType::F32;
         g.c.dtype = DType::BF16;
       },
       {"output C is BF16"}},
      {"F16 operands", [](cuda::Gemm& g) { g.a.dtype = g.b.dtype = DType::F16; }, {"operand A", "F16"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    cuda::Gemm g = valid();
    c.change(g);
    const std::string message = testing::error_of([&] { cuda::check_gemm(g); });
    for (const std::string& part : c.message) EXPECT_CONTAINS(message, part);
    EXPECT_THROW(cuda::gemm(g, nullptr), Error);  // gemm() checks first
  }
}

TEST_F(CudaOpChecks, AttentionNeedsMaxSeqlen) {
  const Tensor cu_seqlens = one_sequence_cu_seqlens().to(Device::cuda());
  const Tensor q = on_gpu(kQkv), out = on_gpu(kQkv), lse = on_gpu({kRows, kHeads});
  const AttentionOptions unset;  // max_seqlen 0, which the host cannot work out from cu_seqlens on the GPU
  EXPECT_CONTAINS(testing::error_of([&] { attention_forward(out, lse, q, q, q, cu_seqlens, unset); }),
                  "max_seqlen");
  EXPECT_CONTAINS(testing::error_of([&] {
                    attention_backward(on_gpu(kQkv), on_gpu(kQkv), on_gpu(kQkv), on_gpu(kQkv), q, q, q, out,
                                       lse, cu_seqlens, unset);
                  }),
                  "max_seqlen");
}

// On a GPU the profiler times ops with events on the ops' stream: a GEMM's span lands under gemm and a
// cast's under elementwise, and nothing is recorded once profiling ends.
TEST_F(CudaOpChecks, WorkProfileTimesOpsOnTheStream) {
  const Tensor x = on_gpu({512, 512}), w = on_gpu({512, 512}), y = on_gpu({512, 512});
  const Tensor y_bf16 = on_gpu({512, 512}, DType::BF16);
  {
    const WorkProfiling on(true);
    for (int i = 0; i < 10; ++i) linear_forward(y, x, w, Tensor());
    convert(y_bf16, y);
    const auto ms = take_work_times().by_kind;
    EXPECT_GT(ms[static_cast<size_t>(WorkKind::gemm)], 0);
    EXPECT_GT(ms[static_cast<size_t>(WorkKind::elementwise)], 0);
    EXPECT_EQ(ms[static_cast<size_t>(WorkKind::attention)], 0);
  }
  linear_forward(y, x, w, Tensor());
  EXPECT_EQ(take_work_times().by_kind, (std::array<double, kWorkKinds>{}));
}

}  // namespace
}  // namespace strand
