// Attention against cached keys/values: the last t rows of the packed forward over the whole sequence, for
// several (past, t) splits, MHA and GQA, causal and not; a batch of sequences in one cache buffer, queries
// read in place from a fused projection's rows; rows of the cache buffer past the sequence are never read;
// the same bits for any thread count; input checks.
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

// A sequence's [L, Hkv, D] keys or values as the op's batch of one, [1, L, Hkv, D].
Tensor one(const Tensor& rows) {
  return rows.view({1, rows.size(0), rows.size(1), rows.size(2)});
}

// Queries past..past+t-1 against keys/values 0..past+t-1, written into NaN-filled outputs.
Decoded decode(const Full& f, int64_t past, int64_t t, bool causal) {
  const int64_t H = f.q.size(1), D = f.q.size(2);
  Decoded d{Tensor::empty({t, H, D}, f.q.dtype()), Tensor::empty({t, H}, f.q.dtype())};
  d.out.fill(NAN);
  d.lse.fill(NAN);
  decode_attention_forward(d.out, d.lse, f.q.narrow(0, past, t), one(f.k.narrow(0, 0, past + t)),
                           one(f.v.narrow(0, 0, past + t)), {causal, 0.0});
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
  decode_attention_forward(out, Tensor(), f.q.narrow(0, 5, 2), one(k_cache.narrow(0, 0, 7)),
                           one(v_cache.narrow(0, 0, 7)), {});
  EXPECT_LT(max_rel_error(out, f.out.narrow(0, 5, 2).contiguous()), 1e-14);
}

TEST(DecodeAttentionCache, BatchedSequencesInOneCacheEachEqualTheirFullForward) {
  // 3 sequences of 9 tokens in a cache buffer with room for 16 (the rest NaN, never read); the last t = 2
  // tokens of each are queried in place from fused [q | k | v] rows, as the attention layer does.
  const int64_t B = 3, L = 9, t = 2, H = 6, Hkv = 2, D = 5, max_len = 16;
  Tensor k_cache = Tensor::empty({B, max_len, Hkv, D}, DType::F64);
  Tensor v_cache = Tensor::empty({B, max_len, Hkv, D}, DType::F64);
  k_cache.fill(NAN);
  v_cache.fill(NAN);
  Tensor fused = Tensor::empty({B * t, H + 2 * Hkv, D}, DType::F64);
  fused.fill(NAN);
  std::vector<Full> seqs;
  for (int64_t b = 0; b < B; ++b) {
    seqs.push_back(full_sequence(L, H, Hkv, D, true, 61 + 10 * static_cast<uint64_t>(b)));
    k_cache.narrow(0, b, 1).view({max_len, Hkv, D}).narrow(0, 0, L).copy_from(seqs.back().k);
    v_cache.narrow(0, b, 1).view({max_len, Hkv, D}).narrow(0, 0, L).copy_from(seqs.back().v);
    fused.narrow(0, b * t, t).narrow(1, 0, H).copy_from(seqs.back().q.narrow(0, L - t, t));
  }
  Tensor out = Tensor::empty({B * t, H, D}, DType::F64), lse = Tensor::empty({B * t, H}, DType::F64);
  out.fill(NAN);
  lse.fill(NAN);
  decode_attention_forward(out, lse, fused.narrow(1, 0, H), k_cache.narrow(1, 0, L), v_cache.narrow(1, 0, L),
                           {});
  for (int64_t b = 0; b < B; ++b) {
    SCOPED_TRACE("sequence " + std::to_string(b));
    const Full& f = seqs[static_cast<size_t>(b)];
    EXPECT_LT(max_rel_error(out.narrow(0, b * t, t).contiguous(), f.out.narrow(0, L - t, t).contiguous()),
              1e-14);
    EXPECT_LT(max_rel_error(lse.narrow(0, b * t, t).contiguous(), f.lse.narrow(0, L - t, t).contiguous()),
              1e-14);
  }
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
  const Tensor q = f.q.narrow(0, 3, 3), k = one(f.k), v = one(f.v);
  // Fewer cached keys than queries.
  EXPECT_THROW(
      decode_attention_forward(out, Tensor(), q, one(f.k.narrow(0, 0, 2)), one(f.v.narrow(0, 0, 2)), {}),
      Error);
  // k and v of different lengths.
  EXPECT_THROW(decode_attention_forward(out, Tensor(), q, k, one(f.v.narrow(0, 0, 5)), {}), Error);
  // Query heads not a multiple of KV heads.
  const Tensor k3 = one(random_tensor({6, 3, 8}, 1));
  EXPECT_THROW(decode_attention_forward(out, Tensor(), q, k3, k3, {}), Error);
  // Mixed dtypes.
  EXPECT_THROW(decode_attention_forward(out, Tensor(), q, one(f.k.to(DType::F32)), v, {}), Error);
  // Wrong output shape.
  Tensor bad = Tensor::empty({2, 4, 8}, DType::F64);
  EXPECT_THROW(decode_attention_forward(bad, Tensor(), q, k, v, {}), Error);
  // 3 query rows are not the same number of new tokens for each of 2 sequences.
  const Tensor k2 = random_tensor({2, 6, 2, 8}, 2);
  EXPECT_THROW(decode_attention_forward(out, Tensor(), q, k2, k2, {}), Error);
  // k without its batch dimension.
  EXPECT_THROW(decode_attention_forward(out, Tensor(), q, f.k, f.v, {}), Error);
  // Non-finite scale.
  EXPECT_THROW(decode_attention_forward(out, Tensor(), q, k, v, {true, NAN}), Error);
  try {
    decode_attention_forward(out, Tensor(), q, one(f.k.narrow(0, 0, 2)), one(f.v.narrow(0, 0, 2)), {});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("decode_attention_forward"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strand
