// Llama's decode state (its per-layer KV caches) and decode forward: prefill k tokens and decode the rest one
// at a time (or in chunks) gives the logits of the full packed forward (F64 1e-12, F32 1e-5), tied and
// untied, MHA and GQA, for one sequence and for a batch of different sequences advancing together; the
// caches' shapes and the state's bookkeeping, and their errors.
#include "strand/models/llama/decode_state.h"

#include "infer/tiny_llama.h"
#include "ops/gradcheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace strand {
namespace {

using testing::full_logits;
using testing::max_rel_error;
using testing::tiny_llama_config;

using Sequence = std::vector<int32_t>;
const Sequence kSequence = {2, 65, 67, 71, 84, 84, 65, 7, 200, 67, 67, 71, 65, 84, 0, 99, 71};
// Sequences of kSequence's length for the batched decode, each with tokens of its own.
const std::vector<Sequence> kBatch = {kSequence,
                                      {2, 84, 84, 84, 65, 67, 71, 9, 13, 65, 65, 65, 67, 0, 71, 5, 84},
                                      {2, 71, 67, 65, 250, 3, 84, 71, 67, 65, 71, 71, 84, 84, 65, 67, 1}};

// Tokens [begin, end) of every sequence, sequence after sequence: the decode forward's [batch * t] layout.
Tensor tokens_of(const std::vector<Sequence>& seqs, size_t begin, size_t end) {
  Tensor t = Tensor::empty({static_cast<int64_t>(seqs.size() * (end - begin))}, DType::I32);
  int32_t* out = t.data<int32_t>();
  for (const Sequence& s : seqs)
    out = std::copy(s.begin() + static_cast<std::ptrdiff_t>(begin),
                    s.begin() + static_cast<std::ptrdiff_t>(end), out);
  return t;
}
Tensor tokens_of(const Sequence& ids, size_t begin, size_t end) {
  return tokens_of(std::vector<Sequence>{ids}, begin, end);
}

// Logits [L, V] of each sequence computed incrementally, all sequences in one batch: a prefill of `prefill`
// tokens, then chunks of `chunk`.
std::vector<Tensor> decoded_logits(LlamaModel& model, const std::vector<Sequence>& seqs, int64_t prefill,
                                   int64_t chunk, int64_t cache_len = 32) {
  const int64_t B = static_cast<int64_t>(seqs.size());
  const int64_t L = static_cast<int64_t>(seqs[0].size()), V = model.vocab_size();
  std::vector<Tensor> logits;
  for (int64_t b = 0; b < B; ++b) logits.push_back(Tensor::empty({L, V}, model.dtype()));
  const std::unique_ptr<DecodeState> state = model.new_decode_state(B, cache_len);
  Arena arena;
  int64_t done = 0;
  while (done < L) {
    const int64_t t = std::min(done == 0 ? prefill : chunk, L - done);
    arena.reset();
    const Tensor out = model.forward_decode(
        arena, tokens_of(seqs, static_cast<size_t>(done), static_cast<size_t>(done + t)), *state);
    EXPECT_EQ(out.shape(), (Shape{B * t, V}));
    for (int64_t b = 0; b < B; ++b)
      logits[static_cast<size_t>(b)].narrow(0, done, t).copy_from(out.narrow(0, b * t, t));
    done += t;
    EXPECT_EQ(state->length(), done);
  }
  return logits;
}

Tensor decoded_logits(LlamaModel& model, const Sequence& seq, int64_t prefill, int64_t chunk,
                      int64_t cache_len = 32) {
  return decoded_logits(model, std::vector<Sequence>{seq}, prefill, chunk, cache_len).front();
}

struct Case {
  bool tied;
  DType dtype;
};

class DecodeForward : public ::testing::TestWithParam<Case> {};

TEST_P(DecodeForward, PrefillThenDecodeEqualsTheFullForward) {
  const Case c = GetParam();
  LlamaModel model(tiny_llama_config(c.tied), c.dtype);
  model.init(7);
  const Tensor reference = full_logits(model, kSequence);
  const double tol = c.dtype == DType::F64 ? 1e-12 : 1e-5;
  const int64_t L = static_cast<int64_t>(kSequence.size());
  for (const int64_t prefill : {int64_t{1}, int64_t{2}, int64_t{5}, L - 1, L}) {
    SCOPED_TRACE("prefill " + std::to_string(prefill));
    EXPECT_LT(max_rel_error(decoded_logits(model, kSequence, prefill, 1), reference), tol);
  }
  SCOPED_TRACE("chunks of 3");
  EXPECT_LT(max_rel_error(decoded_logits(model, kSequence, 4, 3), reference), tol);
}

TEST_P(DecodeForward, BatchedSequencesEachEqualTheirFullForward) {
  const Case c = GetParam();
  LlamaModel model(tiny_llama_config(c.tied), c.dtype);
  model.init(7);
  const double tol = c.dtype == DType::F64 ? 1e-12 : 1e-5;
  for (const auto& [prefill, chunk] : {std::pair<int64_t, int64_t>{1, 1}, {5, 1}, {4, 3}}) {
    SCOPED_TRACE("prefill " + std::to_string(prefill) + ", chunks of " + std::to_string(chunk));
    const std::vector<Tensor> decoded = decoded_logits(model, kBatch, prefill, chunk);
    for (size_t b = 0; b < kBatch.size(); ++b) {
      SCOPED_TRACE("sequence " + std::to_string(b));
      EXPECT_LT(max_rel_error(decoded[b], full_logits(model, kBatch[b])), tol);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, DecodeForward,
                         ::testing::Values(Case{false, DType::F64}, Case{true, DType::F64},
                                           Case{false, DType::F32}, Case{true, DType::F32}),
                         [](const auto& param_info) {
                           return std::string(param_info.param.tied ? "Tied" : "Untied") +
                                  (param_info.param.dtype == DType::F64 ? "F64" : "F32");
                         });

TEST(DecodeForwardState, TruncateAndContinueAgain) {
  LlamaModel model(tiny_llama_config(), DType::F64);
  model.init(3);
  const Tensor reference = full_logits(model, kSequence);
  const std::unique_ptr<DecodeState> state = model.new_decode_state(1, 20);
  Arena arena;
  model.forward_decode(arena, tokens_of(kSequence, 0, 10), *state);
  // Forget the last 4 tokens and feed a different continuation, then the right one.
  state->truncate(6);
  arena.reset();
  model.forward_decode(arena, tokens_of(Sequence{5, 6, 7, 8, 9}, 0, 5), *state);
  EXPECT_EQ(state->length(), 11);
  state->truncate(6);
  arena.reset();
  const Tensor out = model.forward_decode(arena, tokens_of(kSequence, 6, 9), *state);
  EXPECT_LT(max_rel_error(out, reference.narrow(0, 6, 3).contiguous()), 1e-12);
  // reset() starts over: the same state decodes the sequence from its first token.
  state->reset();
  arena.reset();
  EXPECT_LT(max_rel_error(model.forward_decode(arena, tokens_of(kSequence, 0, 9), *state),
                          reference.narrow(0, 0, 9).contiguous()),
            1e-12);
}

TEST(DecodeForwardState, BadStepsAreErrorsThatLeaveTheStateAsItWas) {
  LlamaModel model(tiny_llama_config(), DType::F64);
  model.init(3);
  const std::unique_ptr<DecodeState> state = model.new_decode_state(1, 8);
  Arena arena;
  model.forward_decode(arena, tokens_of(kSequence, 0, 6), *state);
  try {
    model.forward_decode(arena, tokens_of(kSequence, 6, 9), *state);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("decode state of 8"), std::string::npos) << e.what();
  }
  EXPECT_EQ(state->length(), 6);
  EXPECT_THROW(model.forward_decode(arena, Tensor::empty({0}, DType::I32), *state), Error);
  // A token outside the vocabulary fails before anything is taken.
  EXPECT_THROW(model.forward_decode(arena, tokens_of(Sequence{300}, 0, 1), *state), Error);
  EXPECT_EQ(state->length(), 6);

  // A batch of 2 takes the same number of tokens for each sequence.
  const std::unique_ptr<DecodeState> pair = model.new_decode_state(2, 8);
  EXPECT_THROW(model.forward_decode(arena, tokens_of(kSequence, 0, 3), *pair), Error);
  EXPECT_EQ(pair->length(), 0);
  // A state made by a model of other shapes (here 4 key-value heads, not 2) is rejected.
  LlamaModel other(tiny_llama_config(true), DType::F64);
  const std::unique_ptr<DecodeState> foreign = other.new_decode_state(1, 8);
  EXPECT_THROW(model.forward_decode(arena, tokens_of(kSequence, 0, 2), *foreign), Error);
  EXPECT_EQ(foreign->length(), 0);
  const std::unique_ptr<DecodeState> f32 = LlamaModel(tiny_llama_config(), DType::F32).new_decode_state(1, 8);
  EXPECT_THROW(model.forward_decode(arena, tokens_of(kSequence, 0, 2), *f32), Error);
}

TEST(LlamaDecodeStateTest, AllocatesOneZeroedCachePerLayerUpFront) {
  LlamaModel model(tiny_llama_config(), DType::F32);  // 2 layers, 2 KV heads of 4
  model.init(1);
  const std::unique_ptr<DecodeState> state = model.new_decode_state(3, 10);
  auto& llama = dynamic_cast<LlamaDecodeState&>(*state);
  ASSERT_EQ(llama.num_layers(), 2);
  for (size_t i = 0; i < 2; ++i) {
    const nn::AttentionCache& l = llama.layer(i);
    EXPECT_EQ(l.k().shape(), (Shape{3, 10, 2, 4}));
    EXPECT_EQ(l.v().shape(), (Shape{3, 10, 2, 4}));
    EXPECT_EQ(l.k().dtype(), DType::F32);
    EXPECT_TRUE(l.k().is_cpu());
    for (int64_t e = 0; e < l.k().numel(); ++e) ASSERT_EQ(l.k().item(e), 0.0);
  }
  EXPECT_NE(llama.layer(0).k().raw(), llama.layer(1).k().raw());
  EXPECT_EQ(state->nbytes(), 2u * 2 * 3 * 10 * 2 * 4 * 4);
  EXPECT_EQ(state->batch(), 3);
  // Decoding writes into those buffers; it allocates no new ones.
  const void* k0 = llama.layer(0).k().raw();
  Arena arena;
  model.forward_decode(arena, tokens_of(kBatch, 0, 2), *state);
  EXPECT_EQ(llama.layer(0).k().raw(), k0);
  EXPECT_THROW(nn::AttentionCache(0, 10, 2, 4, DType::F32, Device::cpu()), Error);
  EXPECT_THROW(nn::AttentionCache(1, 10, 0, 4, DType::F32, Device::cpu()), Error);
  // Longer than the model's positions.
  EXPECT_THROW(model.new_decode_state(1, 257), Error);
}

TEST(LlamaDecodeStateTest, LengthBookkeeping) {
  LlamaModel model(tiny_llama_config(), DType::F32);
  const std::unique_ptr<DecodeState> state = model.new_decode_state(1, 5);
  EXPECT_EQ(state->max_len(), 5);
  state->advance(3);
  EXPECT_EQ(state->length(), 3);
  EXPECT_EQ(state->remaining(), 2);
  EXPECT_THROW(state->advance(3), Error);
  EXPECT_THROW(state->truncate(4), Error);
  state->truncate(1);
  EXPECT_EQ(state->length(), 1);
  state->truncate(0);
  EXPECT_EQ(state->length(), 0);
  state->advance(2);
  state->reset();
  EXPECT_EQ(state->length(), 0);
  EXPECT_THROW(model.new_decode_state(1, 0), Error);
  EXPECT_THROW(model.new_decode_state(0, 5), Error);
}

}  // namespace
}  // namespace strand
