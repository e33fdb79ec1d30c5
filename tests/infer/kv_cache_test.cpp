// The KV cache and the Llama cached forward: prefill k tokens and decode the rest one at a time (or in
// chunks) gives the logits of the full packed forward (F64 1e-12, F32 1e-5), tied and untied, MHA and GQA;
// the cache's bookkeeping and its errors.
#include "strand/nn/kv_cache.h"

#include "infer/tiny_llama.h"
#include "ops/gradcheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace strand {
namespace {

using infer::KVCache;
using testing::full_logits;
using testing::max_rel_error;
using testing::tiny_llama_config;

const std::vector<int32_t> kSequence = {2, 65, 67, 71, 84, 84, 65, 7, 200, 67, 67, 71, 65, 84, 0, 99, 71};

Tensor tokens_of(const std::vector<int32_t>& ids, size_t begin, size_t end) {
  Tensor t = Tensor::empty({static_cast<int64_t>(end - begin)}, DType::I32);
  std::copy(ids.begin() + static_cast<std::ptrdiff_t>(begin), ids.begin() + static_cast<std::ptrdiff_t>(end),
            t.data<int32_t>());
  return t;
}

// Logits of kSequence computed incrementally: a prefill of `prefill` tokens, then chunks of `chunk`.
Tensor cached_logits(LlamaModel& model, int64_t prefill, int64_t chunk, int64_t cache_len = 32) {
  const int64_t L = static_cast<int64_t>(kSequence.size()), V = model.vocab_size();
  Tensor logits = Tensor::empty({L, V}, model.dtype());
  KVCache cache(cache_len);
  Arena arena;
  int64_t done = 0;
  while (done < L) {
    const int64_t t = std::min(done == 0 ? prefill : chunk, L - done);
    arena.reset();
    const Tensor out = model.forward_cached(
        arena, tokens_of(kSequence, static_cast<size_t>(done), static_cast<size_t>(done + t)), cache);
    EXPECT_EQ(out.shape(), (Shape{t, V}));
    logits.narrow(0, done, t).copy_from(out);
    done += t;
    EXPECT_EQ(cache.length(), done);
  }
  return logits;
}

struct Case {
  bool tied;
  DType dtype;
};

class CachedForward : public ::testing::TestWithParam<Case> {};

TEST_P(CachedForward, PrefillThenDecodeEqualsTheFullForward) {
  const Case c = GetParam();
  LlamaModel model(tiny_llama_config(c.tied), c.dtype);
  model.init(7);
  const Tensor reference = full_logits(model, kSequence);
  const double tol = c.dtype == DType::F64 ? 1e-12 : 1e-5;
  const int64_t L = static_cast<int64_t>(kSequence.size());
  for (const int64_t prefill : {int64_t{1}, int64_t{2}, int64_t{5}, L - 1, L}) {
    SCOPED_TRACE("prefill " + std::to_string(prefill));
    EXPECT_LT(max_rel_error(cached_logits(model, prefill, 1), reference), tol);
  }
  SCOPED_TRACE("chunks of 3");
  EXPECT_LT(max_rel_error(cached_logits(model, 4, 3), reference), tol);
}

INSTANTIATE_TEST_SUITE_P(Models, CachedForward,
                         ::testing::Values(Case{false, DType::F64}, Case{true, DType::F64},
                                           Case{false, DType::F32}, Case{true, DType::F32}),
                         [](const auto& param_info) {
                           return std::string(param_info.param.tied ? "Tied" : "Untied") +
                                  (param_info.param.dtype == DType::F64 ? "F64" : "F32");
                         });

TEST(CachedForward, TruncateAndContinueAgain) {
  LlamaModel model(tiny_llama_config(), DType::F64);
  model.init(3);
  const Tensor reference = full_logits(model, kSequence);
  KVCache cache(20);
  Arena arena;
  model.forward_cached(arena, tokens_of(kSequence, 0, 10), cache);
  // Forget the last 4 tokens and feed a different continuation, then the right one.
  cache.truncate(6);
  arena.reset();
  model.forward_cached(arena, tokens_of({5, 6, 7, 8, 9}, 0, 5), cache);
  EXPECT_EQ(cache.length(), 11);
  cache.truncate(6);
  arena.reset();
  const Tensor out = model.forward_cached(arena, tokens_of(kSequence, 6, 9), cache);
  EXPECT_LT(max_rel_error(out, reference.narrow(0, 6, 3).contiguous()), 1e-12);
}

TEST(CachedForward, TooManyTokensIsAnErrorThatLeavesTheCacheAsItWas) {
  LlamaModel model(tiny_llama_config(), DType::F64);
  model.init(3);
  KVCache cache(8);
  Arena arena;
  model.forward_cached(arena, tokens_of(kSequence, 0, 6), cache);
  try {
    model.forward_cached(arena, tokens_of(kSequence, 6, 9), cache);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("KV cache of 8"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cache.length(), 6);
  EXPECT_THROW(model.forward_cached(arena, Tensor::empty({0}, DType::I32), cache), Error);
  // A token outside the vocabulary fails before anything is cached.
  EXPECT_THROW(model.forward_cached(arena, tokens_of({300}, 0, 1), cache), Error);
  EXPECT_EQ(cache.length(), 6);
}

TEST(KVCacheTest, AllocatesLayersOnFirstUseAndChecksLaterRequests) {
  KVCache cache(10);
  EXPECT_EQ(cache.num_layers(), 0);
  EXPECT_EQ(cache.nbytes(), 0u);
  const KVCache::Layer& l1 = cache.layer(1, 2, 4, DType::F32);
  EXPECT_EQ(l1.k.shape(), (Shape{10, 2, 4}));
  EXPECT_EQ(l1.v.shape(), (Shape{10, 2, 4}));
  EXPECT_EQ(cache.num_layers(), 2);
  EXPECT_EQ(cache.nbytes(), 2u * 10 * 2 * 4 * 4);
  const Tensor k = l1.k;
  EXPECT_EQ(cache.layer(1, 2, 4, DType::F32).k.raw(), k.raw());  // the same buffer, not a new one
  EXPECT_THROW(cache.layer(1, 2, 8, DType::F32), Error);
  EXPECT_THROW(cache.layer(1, 2, 4, DType::F64), Error);
  EXPECT_THROW(cache.layer(-1, 2, 4, DType::F32), Error);
}

TEST(KVCacheTest, LengthBookkeeping) {
  KVCache cache(5);
  EXPECT_EQ(cache.max_len(), 5);
  cache.advance(3);
  EXPECT_EQ(cache.length(), 3);
  EXPECT_EQ(cache.remaining(), 2);
  EXPECT_THROW(cache.advance(3), Error);
  EXPECT_THROW(cache.truncate(4), Error);
  cache.truncate(1);
  EXPECT_EQ(cache.length(), 1);
  cache.truncate(0);
  EXPECT_EQ(cache.length(), 0);
  EXPECT_THROW(KVCache(0), Error);
}

}  // namespace
}  // namespace strand
