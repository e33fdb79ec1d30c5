// Attention against cached keys/values: the last t rows of the packed forward over the whole sequence, for
// several (past, t) splits, MHA and GQA, causal and not; rows of the cache buffer past the sequence are never
// read; the same bits for any thread count; input checks.
#include "strand/ops/decode_attention.h"

#include "ops/gradcheck.h"
#include "strand/ops/attention.h"
#include "strand/ops/packed.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace strand {
namespace {

using testing::max_rel_error;
using testing::random_tensor;

struct Full {
  Tensor q, k, v;   // [L, H, D], [L, Hkv, D], [L, Hkv, D]
  Tensor out, lse;  // attention_forward over the whole sequence
};

Full full_sequence(int64_t L, int64_t H, int64_t Hkv, int64_t D, bool causal, uint64_t seed,
                   DType dtype = DType::F64) {
  Full f;
  f.q = random_tensor({L, H, D}, seed, 1.0, dtype);
  f.k = random_tensor({L, Hkv, D}, seed + 1, 1.0, dtype);
  f.v = random_tensor({L, Hkv, D}, seed + 2, 1.0, dtype);
  f.out = Tensor::empty({L, H, D}, dtype);
  f.lse = Tensor::empty({L, H}, dtype);
  const std::vector<int64_t> lengths = {L};
  attention_forward(f.out, f.lse, f.q, f.k, f.v, SeqLayout::from_lengths(lengths).cu_seqlens, {causal, 0.0});
  return f;
}

struct Decoded {
  Tensor out, lse;  // [t, H, D], [t, H]
};

// Queries past..past+t-1 against keys/values 0..past+t-1, written into NaN-filled outputs.
Decoded decode(const Full& f, int64_t past, int64_t t, bool causal) {
  const int64_t H = f.q.size(1), D = f.q.size(2);
  Decoded d{Tensor::empty({t, H, D}, f.q.dtype()), Tensor::empty({t, H}, f.q.dtype())};
  d.out.fill(NAN);
  d.lse.fill(NAN);
  decode_attention_forward(d.out, d.lse, f.q.narrow(0, past, t), f.k.narrow(0, 0, past + t),
                           f.v.narrow(0, 0, past + t), {causal, 0.0});
  return d;
}

struct Case {
  int64_t heads, kv_heads, dim, length;
  bool causal;
};

class DecodeAttention : public ::testing::TestWithParam<Case> {};

TEST_P(DecodeAttention, EqualsTheLastRowsOfTheFullForward) {
  const Case c = GetParam();
  const Full f = full_sequence(c.length, c.heads, c.kv_heads, c.dim, c.causal, 11);
  // Prefill of every length, single-token decode at every position, and chunks in between.
  std::vector<std::pair<int64_t, int64_t>> splits;
  for (int64_t past = 0; past < c.length; ++past) splits.emplace_back(past, 1);
  for (int64_t t = 2; t <= c.length; ++t) splits.emplace_back(c.length - t, t);
  splits.emplace_back(3, 4);
  for (const auto& [past, t] : splits) {
    // Without the causal mask a query sees every cached key, so only a cache holding the whole sequence
    // matches the full forward.
    if (!c.causal && past + t != c.length) continue;
    SCOPED_TRACE("past " + std::to_string(past) + ", t " + std::to_string(t));
    const Decoded d = decode(f, past, t, c.causal);
    EXPECT_LT(max_rel_error(d.out, f.out.narrow(0, past, t).contiguous()), 1e-14);
    EXPECT_LT(max_rel_error(d.lse, f.lse.narrow(0, past, t).contiguous()), 1e-14);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DecodeAttention,
                         ::testing::Values(Case{2, 2, 8, 9, true},   // MHA
                                           Case{4, 2, 8, 9, true},   // GQA, groups of 2
                                           Case{6, 1, 5, 13, true},  // MQA, odd head dim
                                           Case{4, 2, 8, 9,
                                                false}),  // bidirectional: every cached key visible
                         [](const auto& param_info) {
                           const Case& c = param_info.param;
                           return "H" + std::to_string(c.heads) + "_Hkv" + std::to_string(c.kv_heads) + "_D" +
                                  std::to_string(c.dim) + (c.causal ? "_causal" : "_full");
                         });

TEST(DecodeAttentionCache, RowsPastTheSequenceAreNotRead) {
  // A cache buffer with room for 16 tokens of which 7 are filled; the rest holds NaN.
  const Full f = full_sequence(7, 4, 2, 8, true, 21);
  Tensor k_cache = Tensor::empty({16, 2, 8}, DType::F64), v_cache = Tensor::empty({16, 2, 8}, DType::F64);
  k_cache.fill(NAN);
  v_cache.fill(NAN);
  k_cache.narrow(0, 0, 7).copy_from(f.k);
  v_cache.narrow(0, 0, 7).copy_from(f.v);
  Tensor out = Tensor::empty({2, 4, 8}, DType::F64);
  decode_attention_forward(out, Tensor(), f.q.narrow(0, 5, 2), k_cache.narrow(0, 0, 7),
                           v_cache.narrow(0, 0, 7), {});
  EXPECT_LT(max_rel_error(out, f.out.narrow(0, 5, 2).contiguous()), 1e-14);
}

TEST(DecodeAttentionCache, Float32MatchesTheFullForward) {
  const Full f = full_sequence(12, 4, 2, 16, true, 31, DType::F32);
  const Decoded d = decode(f, 8, 4, true);
  EXPECT_LT(max_rel_error(d.out, f.out.narrow(0, 8, 4).contiguous()), 1e-6);
}

TEST(DecodeAttentionCache, SameBitsForAnyThreadCount) {
  // Big enough for the kernel to run in parallel (it stays serial for tiny decode steps).
  const Full f = full_sequence(64, 8, 2, 32, true, 41);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const Decoded one = decode(f, 48, 16, true);
  omp_set_num_threads(std::max(threads, 4));
  const Decoded many = decode(f, 48, 16, true);
  omp_set_num_threads(threads);
  EXPECT_EQ(std::memcmp(one.out.raw(), many.out.raw(), one.out.nbytes()), 0);
  EXPECT_EQ(std::memcmp(one.lse.raw(), many.lse.raw(), one.lse.nbytes()), 0);
}

TEST(DecodeAttentionCache, RejectsBadInputs) {
  const Full f = full_sequence(6, 4, 2, 8, true, 51);
  Tensor out = Tensor::empty({3, 4, 8}, DType::F64);
  const Tensor q = f.q.narrow(0, 3, 3);
  // Fewer cached keys than queries.
  EXPECT_THROW(decode_attention_forward(out, Tensor(), q, f.k.narrow(0, 0, 2), f.v.narrow(0, 0, 2), {}),
               Error);
  // k and v of different lengths.
  EXPECT_THROW(decode_attention_forward(out, Tensor(), q, f.k, f.v.narrow(0, 0, 5), {}), Error);
  // Query heads not a multiple of KV heads.
  const Tensor k3 = random_tensor({6, 3, 8}, 1);
  EXPECT_THROW(decode_attention_forward(out, Tensor(), q, k3, k3, {}), Error);
  // Mixed dtypes.
  EXPECT_THROW(decode_attention_forward(out, Tensor(), q, f.k.to(DType::F32), f.v, {}), Error);
  // Wrong output shape.
  Tensor bad = Tensor::empty({2, 4, 8}, DType::F64);
  EXPECT_THROW(decode_attention_forward(bad, Tensor(), q, f.k, f.v, {}), Error);
  // Non-finite scale.
  EXPECT_THROW(decode_attention_forward(out, Tensor(), q, f.k, f.v, {true, NAN}), Error);
  try {
    decode_attention_forward(out, Tensor(), q, f.k.narrow(0, 0, 2), f.v.narrow(0, 0, 2), {});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("decode_attention_forward"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strand
