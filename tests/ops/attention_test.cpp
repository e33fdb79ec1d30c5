// Packed attention: the forward against a dense per-sequence softmax written here, the backward by finite
// differences (causal and bidirectional, MHA and GQA, default and custom scale), sequence isolation,
// causality, GQA as MHA with repeated K/V heads, determinism across thread counts, and input checks.
#include "strand/ops/attention.h"
#include "strand/ops/elementwise.h"

#include "ops/gradcheck.h"
#include "strand/ops/packed.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

namespace strand {
namespace {

using testing::bitwise_equal;
using testing::dot;
using testing::expect_grad_matches;
using testing::max_rel_error;
using testing::packed_lengths;
using testing::random_tensor;

struct Inputs {
  Tensor q, k, v;  // [T, H, D], [T, Hkv, D], [T, Hkv, D]
  SeqLayout layout;
};

Inputs make_inputs(int64_t H, int64_t Hkv, int64_t D, const std::vector<int64_t>& lengths, uint64_t seed,
                   DType dtype = DType::F64) {
  Inputs in;
  in.layout = SeqLayout::from_lengths(lengths);
  const int64_t T = in.layout.num_tokens();
  in.q = random_tensor({T, H, D}, seed, 1.0, dtype);
  in.k = random_tensor({T, Hkv, D}, seed + 1, 1.0, dtype);
  in.v = random_tensor({T, Hkv, D}, seed + 2, 1.0, dtype);
  return in;
}

// A buffer of NaNs, so an output the op forgets to assign shows up.
Tensor nan_like(const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  t.fill(NAN);
  return t;
}

struct Forward {
  Tensor out, lse;  // [T, H, D], [T, H]
};

Forward forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_seqlens,
                const AttentionOptions& options) {
  Forward f{nan_like(q.shape(), q.dtype()), nan_like({q.size(0), q.size(1)}, q.dtype())};
  attention_forward(f.out, f.lse, q, k, v, cu_seqlens, options);
  return f;
}
Forward forward(const Inputs& in, const AttentionOptions& options) {
  return forward(in.q, in.k, in.v, in.layout.cu_seqlens, options);
}

struct Grads {
  Tensor dq, dk, dv;
};

Grads backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v, const Forward& f,
               const Tensor& cu_seqlens, const AttentionOptions& options) {
  Grads g{nan_like(q.shape(), q.dtype()), nan_like(k.shape(), k.dtype()), nan_like(v.shape(), v.dtype())};
  attention_backward(g.dq, g.dk, g.dv, dout, q, k, v, f.out, f.lse, cu_seqlens, options);
  return g;
}
Grads backward(const Tensor& dout, const Inputs& in, const Forward& f, const AttentionOptions& options) {
  return backward(dout, in.q, in.k, in.v, f, in.layout.cu_seqlens, options);
}

// Dense reference in double: for every sequence and query head, the full L x L score matrix with masked
// entries set to -inf, a row softmax, then P V. Query head h reads KV head h * Hkv / H.
Forward naive_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_seqlens,
                        bool causal, double scale) {
  const int64_t T = q.size(0), H = q.size(1), D = q.size(2), Hkv = k.size(1);
  Forward r{Tensor::zeros({T, H, D}, DType::F64), Tensor::zeros({T, H}, DType::F64)};
  double* out = r.out.data<double>();
  double* lse = r.lse.data<double>();
  for (int64_t s = 0; s + 1 < cu_seqlens.numel(); ++s) {
    const int64_t b = static_cast<int64_t>(cu_seqlens.item(s)),
                  L = static_cast<int64_t>(cu_seqlens.item(s + 1)) - b;
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h * Hkv / H;
      std::vector<double> S(static_cast<size_t>(L * L));
      for (int64_t a = 0; a < L; ++a)
        for (int64_t c = 0; c < L; ++c) {
          double x = 0;
          for (int64_t d = 0; d < D; ++d)
            x += q.item(((b + a) * H + h) * D + d) * k.item(((b + c) * Hkv + g) * D + d);
          S[static_cast<size_t>(a * L + c)] = causal && c > a ? -INFINITY : scale * x;
        }
      for (int64_t a = 0; a < L; ++a) {
        const double* row = &S[static_cast<size_t>(a * L)];
        double m = -INFINITY, z = 0;
        for (int64_t c = 0; c < L; ++c) m = std::max(m, row[c]);
        for (int64_t c = 0; c < L; ++c) z += std::exp(row[c] - m);
        lse[(b + a) * H + h] = m + std::log(z);
        for (int64_t c = 0; c < L; ++c)
          for (int64_t d = 0; d < D; ++d)
            out[((b + a) * H + h) * D + d] += std::exp(row[c] - m) / z * v.item(((b + c) * Hkv + g) * D + d);
      }
    }
  }
  return r;
}

// Rows [begin, end) of the leading dimension of two same-shaped contiguous tensors have identical bits.
bool rows_equal(const Tensor& a, const Tensor& b, int64_t begin, int64_t end) {
  const size_t row = a.nbytes() / static_cast<size_t>(a.size(0));
  return std::memcmp(static_cast<const char*>(a.raw()) + static_cast<size_t>(begin) * row,
                     static_cast<const char*>(b.raw()) + static_cast<size_t>(begin) * row,
                     static_cast<size_t>(end - begin) * row) == 0;
}

int32_t cu(const Inputs& in, int64_t s) {
  return in.layout.cu_seqlens.data<int32_t>()[s];
}

// (causal, H, Hkv, scale)
using Config = std::tuple<bool, int64_t, int64_t, double>;

std::string config_name(const ::testing::TestParamInfo<Config>& info) {
  const auto& [causal, H, Hkv, scale] = info.param;
  return std::string(causal ? "Causal" : "Bidirectional") + "H" + std::to_string(H) + "Hkv" +
         std::to_string(Hkv) + (scale == 0 ? "" : "CustomScale");
}

class AttentionConfig : public ::testing::TestWithParam<Config> {};

TEST_P(AttentionConfig, ForwardMatchesNaive) {
  const auto [causal, H, Hkv, scale] = GetParam();
  const int64_t D = 5;
  const Inputs in = make_inputs(H, Hkv, D, packed_lengths(), 100);
  const AttentionOptions options{causal, scale};
  const Forward f = forward(in, options);
  const Forward ref = naive_attention(in.q, in.k, in.v, in.layout.cu_seqlens, causal,
                                      scale == 0 ? 1 / std::sqrt(static_cast<double>(D)) : scale);
  EXPECT_LT(max_rel_error(f.out, ref.out), 1e-13);
  EXPECT_LT(max_rel_error(f.lse, ref.lse), 1e-13);

  // F32 is the reference precision: it must agree with the F64 result to rounding.
  const Tensor q32 = in.q.to(DType::F32), k32 = in.k.to(DType::F32), v32 = in.v.to(DType::F32);
  const Forward f32 = forward(q32, k32, v32, in.layout.cu_seqlens, options);
  EXPECT_LT(max_rel_error(f32.out.to(DType::F64), ref.out), 1e-5);
  EXPECT_LT(max_rel_error(f32.lse.to(DType::F64), ref.lse), 1e-5);
  const Tensor dout = random_tensor(in.q.shape(), 103);
  const Grads g64 = backward(dout, in, f, options);
  const Grads g32 = backward(dout.to(DType::F32), q32, k32, v32, f32, in.layout.cu_seqlens, options);
  EXPECT_LT(max_rel_error(g32.dq.to(DType::F64), g64.dq), 1e-5);
  EXPECT_LT(max_rel_error(g32.dk.to(DType::F64), g64.dk), 1e-5);
  EXPECT_LT(max_rel_error(g32.dv.to(DType::F64), g64.dv), 1e-5);
}

TEST_P(AttentionConfig, BackwardMatchesFiniteDifferences) {
  const auto [causal, H, Hkv, scale] = GetParam();
  const Inputs in = make_inputs(H, Hkv, 5, packed_lengths(), 200);
  const AttentionOptions options{causal, scale};
  const Tensor r = random_tensor(in.q.shape(), 203);
  const Grads g = backward(r, in, forward(in, options), options);
  auto loss = [&] { return dot(forward(in, options).out, r); };
  expect_grad_matches("dq", g.dq, loss, in.q);
  expect_grad_matches("dk", g.dk, loss, in.k);
  expect_grad_matches("dv", g.dv, loss, in.v);
}

INSTANTIATE_TEST_SUITE_P(Attention, AttentionConfig,
                         ::testing::Values(Config{true, 4, 2, 0.0}, Config{false, 4, 2, 0.0},
                                           Config{true, 3, 3, 0.0}, Config{false, 3, 3, 0.0},
                                           Config{true, 4, 2, 0.7}, Config{false, 3, 3, 1.3},
                                           Config{true, 4, 1, 0.0}),
                         config_name);

TEST(Attention, LseIsRowLogSumExp) {
  const int64_t H = 2, D = 4;
  const Inputs in = make_inputs(H, 1, D, packed_lengths(), 300);
  const double scale = 0.5;
  for (const bool causal : {true, false}) {
    const Forward f = forward(in, {causal, scale});
    for (int64_t s = 0; s < in.layout.num_seqs(); ++s) {
      for (int64_t i = cu(in, s); i < cu(in, s + 1); ++i) {
        for (int64_t h = 0; h < H; ++h) {
          // sum_j exp(S_ij - lse_i) over the visible keys is 1.
          double total = 0;
          const int64_t last = causal ? i + 1 : cu(in, s + 1);
          for (int64_t j = cu(in, s); j < last; ++j) {
            double x = 0;
            for (int64_t d = 0; d < D; ++d) x += in.q.item((i * H + h) * D + d) * in.k.item(j * D + d);
            total += std::exp(scale * x - f.lse.item(i * H + h));
          }
          EXPECT_NEAR(total, 1.0, 1e-13) << "token " << i << " head " << h;
        }
      }
      // A query that sees a single key: lse is that score and the output is that value.
      const int64_t i = cu(in, s);
      if (causal || cu(in, s + 1) - i == 1) {
        for (int64_t h = 0; h < H; ++h) {
          double x = 0;
          for (int64_t d = 0; d < D; ++d) x += in.q.item((i * H + h) * D + d) * in.k.item(i * D + d);
          EXPECT_NEAR(f.lse.item(i * H + h), scale * x, 1e-14);
          for (int64_t d = 0; d < D; ++d)
            EXPECT_NEAR(f.out.item((i * H + h) * D + d), in.v.item(i * D + d), 1e-15);
        }
      }
    }
  }
}

TEST(Attention, NoLeakageAcrossSequences) {
  for (const bool causal : {true, false}) {
    const Inputs in = make_inputs(4, 2, 5, packed_lengths(), 400);
    const AttentionOptions options{causal, 0.0};
    const Tensor dout = random_tensor(in.q.shape(), 403);
    const Forward f = forward(in, options);
    const Grads g = backward(dout, in, f, options);

    // Perturb every input of sequence 2.
    Inputs p{in.q.clone(), in.k.clone(), in.v.clone(), in.layout};
    const int64_t b = cu(in, 2), e = cu(in, 3);
    for (const Tensor* t : {&p.q, &p.k, &p.v}) {
      const int64_t row = t->numel() / t->size(0);
      for (int64_t x = b * row; x < e * row; ++x) t->data<double>()[x] += 0.25;
    }
    const Forward fp = forward(p, options);
    const Grads gp = backward(dout, p, fp, options);

    for (int64_t s : {0, 1, 3}) {
      const int64_t sb = cu(in, s), se = cu(in, s + 1);
      EXPECT_TRUE(rows_equal(fp.out, f.out, sb, se)) << "out of sequence " << s;
      EXPECT_TRUE(rows_equal(fp.lse, f.lse, sb, se)) << "lse of sequence " << s;
      EXPECT_TRUE(rows_equal(gp.dq, g.dq, sb, se)) << "dq of sequence " << s;
      EXPECT_TRUE(rows_equal(gp.dk, g.dk, sb, se)) << "dk of sequence " << s;
      EXPECT_TRUE(rows_equal(gp.dv, g.dv, sb, se)) << "dv of sequence " << s;
    }
    EXPECT_FALSE(rows_equal(fp.out, f.out, b, e)) << "the perturbation must reach sequence 2's outputs";
  }
}

TEST(Attention, CausalMaskHidesLaterTokens) {
  const Inputs in = make_inputs(4, 2, 5, packed_lengths(), 500);
  const int64_t b = cu(in, 2), e = cu(in, 3);  // the sequence of length 7
  for (const bool causal : {true, false}) {
    const AttentionOptions options{causal, 0.0};
    const Forward f = forward(in, options);
    for (int64_t j = b; j < e; ++j) {
      Inputs p{in.q.clone(), in.k.clone(), in.v.clone(), in.layout};
      for (const Tensor* t : {&p.q, &p.k, &p.v}) {
        const int64_t row = t->numel() / t->size(0);
        for (int64_t x = j * row; x < (j + 1) * row; ++x) t->data<double>()[x] -= 0.5;
      }
      const Forward fp = forward(p, options);
      if (causal) {
        EXPECT_TRUE(rows_equal(fp.out, f.out, b, j))
            << "perturbing token " << j << " changed an earlier output";
        EXPECT_TRUE(rows_equal(fp.lse, f.lse, b, j)) << "perturbing token " << j << " changed an earlier lse";
      } else if (j > b) {
        EXPECT_FALSE(rows_equal(fp.out, f.out, b, j)) << "bidirectional outputs must see later token " << j;
      }
      for (int64_t i = j; i < e; ++i)
        EXPECT_FALSE(rows_equal(fp.out, f.out, i, i + 1)) << "token " << i << " must see token " << j;
    }
  }
}

TEST(Attention, GqaEqualsMhaWithRepeatedKvHeads) {
  const int64_t H = 4, Hkv = 2, D = 5, group = H / Hkv;
  const Inputs in = make_inputs(H, Hkv, D, packed_lengths(), 600);
  const int64_t T = in.layout.num_tokens();
  // k_rep[:, h] = k[:, h / group].
  Tensor k_rep = Tensor::empty({T, H, D}, DType::F64), v_rep = Tensor::empty({T, H, D}, DType::F64);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < D; ++d) {
        k_rep.data<double>()[(t * H + h) * D + d] = in.k.item((t * Hkv + h / group) * D + d);
        v_rep.data<double>()[(t * H + h) * D + d] = in.v.item((t * Hkv + h / group) * D + d);
      }
  const Tensor dout = random_tensor(in.q.shape(), 603);
  for (const bool causal : {true, false}) {
    const AttentionOptions options{causal, 0.0};
    const Forward gqa = forward(in, options);
    const Forward mha = forward(in.q, k_rep, v_rep, in.layout.cu_seqlens, options);
    EXPECT_TRUE(bitwise_equal(gqa.out, mha.out));
    EXPECT_TRUE(bitwise_equal(gqa.lse, mha.lse));

    const Grads g = backward(dout, in, gqa, options);
    const Grads m = backward(dout, in.q, k_rep, v_rep, mha, in.layout.cu_seqlens, options);
    EXPECT_TRUE(bitwise_equal(g.dq, m.dq));
    // A shared KV head's gradient is the sum over the query heads it serves.
    Tensor dk_sum = Tensor::zeros(in.k.shape(), DType::F64), dv_sum = Tensor::zeros(in.v.shape(), DType::F64);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t d = 0; d < D; ++d) {
          dk_sum.data<double>()[(t * Hkv + h / group) * D + d] += m.dk.item((t * H + h) * D + d);
          dv_sum.data<double>()[(t * Hkv + h / group) * D + d] += m.dv.item((t * H + h) * D + d);
        }
    EXPECT_LT(max_rel_error(g.dk, dk_sum), 1e-14);
    EXPECT_LT(max_rel_error(g.dv, dv_sum), 1e-14);
  }
}

// q, k, v and their gradients as row-strided slices of one [T, H + 2 Hkv, D] buffer (the fused projection's
// layout) give the same bits as contiguous copies; a gap column between the slices stays untouched.
TEST(Attention, FusedSlicesMatchContiguousTensors) {
  const int64_t H = 4, Hkv = 2, D = 5, width = H + 2 * Hkv + 1;
  const Inputs in = make_inputs(H, Hkv, D, packed_lengths(), 650);
  const int64_t T = in.layout.num_tokens();
  const Tensor fused = random_tensor({T, width, D}, 651);
  const Tensor q = fused.narrow(1, 0, H), k = fused.narrow(1, H, Hkv), v = fused.narrow(1, H + Hkv, Hkv);
  copy(q, in.q);
  copy(k, in.k);
  copy(v, in.v);
  const Tensor dout = random_tensor(in.q.shape(), 653);
  for (const bool causal : {true, false}) {
    const AttentionOptions options{causal, 0.0};
    const Forward plain = forward(in, options);
    const Forward sliced = forward(q, k, v, in.layout.cu_seqlens, options);
    EXPECT_TRUE(bitwise_equal(sliced.out, plain.out));
    EXPECT_TRUE(bitwise_equal(sliced.lse, plain.lse));

    const Grads g = backward(dout, in, plain, options);
    Tensor dfused = nan_like({T, width, D}, DType::F64);
    attention_backward(dfused.narrow(1, 0, H), dfused.narrow(1, H, Hkv), dfused.narrow(1, H + Hkv, Hkv), dout,
                       q, k, v, plain.out, plain.lse, in.layout.cu_seqlens, options);
    EXPECT_TRUE(bitwise_equal(dfused.narrow(1, 0, H).contiguous(), g.dq));
    EXPECT_TRUE(bitwise_equal(dfused.narrow(1, H, Hkv).contiguous(), g.dk));
    EXPECT_TRUE(bitwise_equal(dfused.narrow(1, H + Hkv, Hkv).contiguous(), g.dv));
    const Tensor gap = dfused.narrow(1, width - 1, 1).contiguous();
    for (int64_t i = 0; i < gap.numel(); ++i) ASSERT_TRUE(std::isnan(gap.item(i))) << "gap element " << i;
  }
}

// Rows must be contiguous within themselves: a slice across the head dimension is refused by name.
TEST(Attention, RejectsSlicesWithGapsInsideRows) {
  const Inputs in = make_inputs(2, 2, 4, {3, 2}, 660);
  const Tensor wide = random_tensor({in.layout.num_tokens(), 2, 8}, 661);
  const Tensor q = wide.narrow(2, 0, 4);
  Tensor out = nan_like(in.q.shape(), DType::F64), lse = nan_like({in.q.size(0), 2}, DType::F64);
  try {
    attention_forward(out, lse, q, in.k, in.v, in.layout.cu_seqlens, AttentionOptions{});
    FAIL() << "a q with gaps inside its rows was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("q ("), std::string::npos) << e.what();
  }
}

TEST(Attention, DeterministicAcrossThreadCounts) {
  const Inputs in = make_inputs(8, 2, 16, {37, 64, 5, 1, 20}, 700, DType::F32);
  const Tensor dout = random_tensor(in.q.shape(), 703, 1.0, DType::F32);
  const int saved = omp_get_max_threads();
  for (const bool causal : {true, false}) {
    const AttentionOptions options{causal, 0.0};
    omp_set_num_threads(1);
    const Forward f1 = forward(in, options);
    const Grads g1 = backward(dout, in, f1, options);
    for (const int threads : {2, 3, 4}) {
      omp_set_num_threads(threads);
      const Forward f = forward(in, options);
      const Grads g = backward(dout, in, f, options);
      EXPECT_TRUE(bitwise_equal(f.out, f1.out)) << threads << " threads";
      EXPECT_TRUE(bitwise_equal(f.lse, f1.lse)) << threads << " threads";
      EXPECT_TRUE(bitwise_equal(g.dq, g1.dq)) << threads << " threads";
      EXPECT_TRUE(bitwise_equal(g.dk, g1.dk)) << threads << " threads";
      EXPECT_TRUE(bitwise_equal(g.dv, g1.dv)) << threads << " threads";
    }
  }
  omp_set_num_threads(saved);
}

TEST(Attention, UnneededGradientsAreSkipped) {
  const Inputs in = make_inputs(4, 2, 5, packed_lengths(), 800);
  const AttentionOptions options;
  const Forward f = forward(in, options);
  const Tensor dout = random_tensor(in.q.shape(), 803);
  const Grads all = backward(dout, in, f, options);

  Tensor dk = nan_like(in.k.shape(), DType::F64), dv = nan_like(in.v.shape(), DType::F64);
  attention_backward(Tensor(), dk, dv, dout, in.q, in.k, in.v, f.out, f.lse, in.layout.cu_seqlens, options);
  EXPECT_TRUE(bitwise_equal(dk, all.dk));
  EXPECT_TRUE(bitwise_equal(dv, all.dv));
  Tensor dq = nan_like(in.q.shape(), DType::F64);
  attention_backward(dq, Tensor(), Tensor(), dout, in.q, in.k, in.v, f.out, f.lse, in.layout.cu_seqlens,
                     options);
  EXPECT_TRUE(bitwise_equal(dq, all.dq));
  Tensor dv_only = nan_like(in.v.shape(), DType::F64), dk_only = nan_like(in.k.shape(), DType::F64);
  attention_backward(Tensor(), Tensor(), dv_only, dout, in.q, in.k, in.v, f.out, f.lse, in.layout.cu_seqlens,
                     options);
  EXPECT_TRUE(bitwise_equal(dv_only, all.dv));
  attention_backward(Tensor(), dk_only, Tensor(), dout, in.q, in.k, in.v, f.out, f.lse, in.layout.cu_seqlens,
                     options);
  EXPECT_TRUE(bitwise_equal(dk_only, all.dk));
}

TEST(Attention, EmptySequenceInCuSeqlens) {
  const Inputs in = make_inputs(2, 2, 3, {4, 3}, 900);
  Tensor cu_seqlens = Tensor::empty({4}, DType::I32);
  const int32_t c[] = {0, 4, 4, 7};
  std::memcpy(cu_seqlens.data<int32_t>(), c, sizeof(c));
  const Forward f = forward(in.q, in.k, in.v, cu_seqlens, {});
  const Forward ref = forward(in, {});
  EXPECT_TRUE(bitwise_equal(f.out, ref.out));
  EXPECT_TRUE(bitwise_equal(f.lse, ref.lse));
}

Tensor cu_of(std::initializer_list<int32_t> values) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, DType::I32);
  std::memcpy(t.data<int32_t>(), values.begin(), values.size() * sizeof(int32_t));
  return t;
}

TEST(Attention, RejectsBadInputs) {
  const Inputs in = make_inputs(4, 2, 5, {6, 10}, 1000);
  const int64_t T = 16;
  const Tensor& cu_seqlens = in.layout.cu_seqlens;
  const Forward f = forward(in, {});
  auto fwd = [&](const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu) {
    attention_forward(nan_like(q.shape(), q.dtype()), nan_like({q.size(0), q.size(1)}, q.dtype()), q, k, v,
                      cu, {});
  };
  EXPECT_NO_THROW(fwd(in.q, in.k, in.v, cu_seqlens));

  // Query heads not a multiple of KV heads, with a message that says so.
  const Tensor q3 = random_tensor({T, 3, 5}, 1);
  try {
    fwd(q3, in.k, in.v, cu_seqlens);
    ADD_FAILURE() << "H = 3, Hkv = 2 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple"), std::string::npos) << e.what();
  }
  EXPECT_THROW(fwd(in.q, random_tensor({T, 2, 4}, 2), in.v, cu_seqlens), Error);      // head dim
  EXPECT_THROW(fwd(in.q, random_tensor({T - 1, 2, 5}, 2), in.v, cu_seqlens), Error);  // tokens
  EXPECT_THROW(fwd(in.q, in.k, random_tensor({T, 1, 5}, 2), cu_seqlens), Error);      // v heads
  EXPECT_THROW(fwd(in.q, in.k, in.v.to(DType::F32), cu_seqlens), Error);              // dtype
  EXPECT_THROW(fwd(in.q.view({T, 20}), in.k, in.v, cu_seqlens), Error);               // rank
  EXPECT_THROW(fwd(in.q.transpose(0, 1).contiguous().transpose(0, 1), in.k, in.v, cu_seqlens),
               Error);  // strided
  EXPECT_THROW(fwd(in.q, in.k, in.v, cu_of({1, 16})), Error);
  EXPECT_THROW(fwd(in.q, in.k, in.v, cu_of({0, 10, 5, 16})), Error);
  EXPECT_THROW(fwd(in.q, in.k, in.v, cu_of({0, 6, 15})), Error);
  EXPECT_THROW(fwd(in.q, in.k, in.v, cu_of({0, 6, 17})), Error);
  Tensor cu64 = Tensor::empty({3}, DType::I64);
  cu64.data<int64_t>()[0] = 0;
  cu64.data<int64_t>()[1] = 6;
  cu64.data<int64_t>()[2] = 16;
  EXPECT_THROW(fwd(in.q, in.k, in.v, cu64), Error);
  EXPECT_THROW(fwd(in.q, in.k, in.v, Tensor::empty({0}, DType::I32)), Error);
  EXPECT_THROW(attention_forward(nan_like({T, 4}, DType::F64), nan_like({T, 4}, DType::F64), in.q, in.k, in.v,
                                 cu_seqlens, {}),
               Error);  // out shape
  EXPECT_THROW(attention_forward(nan_like({T, 4, 5}, DType::F64), nan_like({T, 2}, DType::F64), in.q, in.k,
                                 in.v, cu_seqlens, {}),
               Error);  // lse shape
  EXPECT_THROW(attention_forward(nan_like({T, 4, 5}, DType::F64), nan_like({T, 4}, DType::F64), in.q, in.k,
                                 in.v, cu_seqlens, {true, NAN}),
               Error);  // scale

  const Tensor dout = random_tensor(in.q.shape(), 3);
  auto bwd = [&](const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dy) {
    attention_backward(dq, dk, dv, dy, in.q, in.k, in.v, f.out, f.lse, cu_seqlens, {});
  };
  const Tensor dq = nan_like(in.q.shape(), DType::F64), dk = nan_like(in.k.shape(), DType::F64),
               dv = nan_like(in.v.shape(), DType::F64);
  EXPECT_NO_THROW(bwd(dq, dk, dv, dout));
  EXPECT_THROW(bwd(dq, dk, dv, random_tensor({T, 4, 4}, 4)), Error);
  EXPECT_THROW(bwd(nan_like({T, 2, 5}, DType::F64), dk, dv, dout), Error);
  EXPECT_THROW(bwd(dq, nan_like({T, 4, 5}, DType::F64), dv, dout), Error);
  EXPECT_THROW(bwd(dq, dk, nan_like(in.v.shape(), DType::F32), dout), Error);
  EXPECT_THROW(attention_backward(dq, dk, dv, dout, in.q, in.k, in.v, f.out, f.lse, cu_of({0, 6, 15}), {}),
               Error);
  EXPECT_THROW(attention_backward(dq, dk, dv, dout, q3, in.k, in.v, f.out, f.lse, cu_seqlens, {}), Error);
}

}  // namespace
}  // namespace strand
