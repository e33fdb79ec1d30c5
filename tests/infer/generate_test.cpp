// Generation: greedy decoding equals the argmax chain of full forwards; a seed fixes the output and different
// seeds differ; top_k = 1 and a tiny top_p reduce to greedy; EOS stops; banned tokens are never sampled;
// several samples decoded as one batch; the sampler's top-k / top-p supports and frequencies; option and
// length checks.
#include "strand/infer/generate.h"

#include "expect_error.h"
#include "infer/tiny_llama.h"
#include "ops/gradcheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

namespace strand::infer {
namespace {

using testing::full_logits;
using testing::tiny_llama_config;

class GenerateTest : public ::testing::Test {
 protected:
  GenerateTest() : model_(tiny_llama_config(), DType::F64), tokenizer_(data::Tokenizer::nucleotide()) {
    model_.init(11);
    banned_ = banned_tokens(tokenizer_, model_.vocab_size());
  }

  GenerateResult run(double temperature, uint64_t seed = 0, int64_t top_k = 0, double top_p = 1.0,
                     int64_t max_new = 24) {
    GenerateOptions o;
    o.max_new_tokens = max_new;
    o.sampling = {temperature, top_k, top_p, seed};
    return generate(model_, tokenizer_, "ACGTTG", o).front();
  }

  LlamaModel model_;
  data::Tokenizer tokenizer_;
  std::vector<int32_t> banned_;
};

TEST_F(GenerateTest, GreedyEqualsTheArgmaxChainOfFullForwards) {
  const GenerateResult r = run(0.0);
  EXPECT_EQ(r.prompt_tokens, (std::vector<int32_t>{2, 65, 67, 71, 84, 84, 71}));
  EXPECT_EQ(r.prompt_text, "ACGTTG");
  // Reference: the whole sequence through the packed forward at every step, argmax over allowed ids.
  std::vector<int32_t> seq = r.prompt_tokens, expected;
  for (int step = 0; step < 24; ++step) {
    const Tensor logits = full_logits(model_, seq);
    const int64_t last = static_cast<int64_t>(seq.size()) - 1;
    int32_t best = -1;
    for (int32_t id = 0; id < 256; ++id) {
      if (std::find(banned_.begin(), banned_.end(), id) != banned_.end()) continue;
      if (best < 0 || logits.item(last * 256 + id) > logits.item(last * 256 + best)) best = id;
    }
    expected.push_back(best);
    seq.push_back(best);
    if (best == tokenizer_.eos()) break;
  }
  EXPECT_EQ(r.new_tokens, expected);
  EXPECT_EQ(r.text, tokenizer_.decode(r.new_tokens));
}

TEST_F(GenerateTest, SameSeedSameOutputDifferentSeedDifferentOutput) {
  const GenerateResult a = run(2.0, 1), b = run(2.0, 1), c = run(2.0, 2);
  EXPECT_EQ(a.new_tokens, b.new_tokens);
  EXPECT_EQ(a.text, b.text);
  EXPECT_NE(a.new_tokens, c.new_tokens);
}

TEST_F(GenerateTest, TopKOneAndTinyTopPAreGreedy) {
  const GenerateResult greedy = run(0.0);
  EXPECT_EQ(run(1.0, 5, 1).new_tokens, greedy.new_tokens);
  EXPECT_EQ(run(3.0, 9, 0, 1e-9).new_tokens, greedy.new_tokens);
  EXPECT_EQ(run(0.0, 9, 40, 0.5).new_tokens, greedy.new_tokens);  // temperature 0 ignores the rest
}

TEST_F(GenerateTest, StopsAtEos) {
  // Use a token the greedy chain emits at step 3 as the end token: generation ends right there.
  const GenerateResult greedy = run(0.0);
  ASSERT_GE(greedy.new_tokens.size(), 4u);
  const int32_t stop = greedy.new_tokens[3];
  const auto first = std::find(greedy.new_tokens.begin(), greedy.new_tokens.end(), stop);
  GenerateOptions o;
  o.max_new_tokens = 24;
  o.sampling.temperature = 0.0;
  const GenerateResult r = generate_tokens(model_, greedy.prompt_tokens, stop, banned_, o).front();
  EXPECT_TRUE(r.stopped_at_eos);
  EXPECT_EQ(r.new_tokens, std::vector<int32_t>(greedy.new_tokens.begin(), first + 1));
  // Without an end token it runs to max_new_tokens.
  const GenerateResult full = generate_tokens(model_, greedy.prompt_tokens, -1, banned_, o).front();
  EXPECT_FALSE(full.stopped_at_eos);
  EXPECT_EQ(full.new_tokens.size(), 24u);
}

TEST_F(GenerateTest, TheRealEosStopsGenerationAndIsNotDecoded) {
  // With every other id banned, EOS is the only choice, greedy or sampled.
  std::vector<int32_t> everything_but_eos;
  for (int32_t id = 1; id < 256; ++id) everything_but_eos.push_back(id);
  for (const double temperature : {0.0, 1.0}) {
    GenerateOptions o;
    o.max_new_tokens = 10;
    o.sampling.temperature = temperature;
    const GenerateResult r =
        generate_tokens(model_, std::vector<int32_t>{2, 65, 67}, tokenizer_.eos(), everything_but_eos, o)
            .front();
    EXPECT_TRUE(r.stopped_at_eos);
    EXPECT_EQ(r.new_tokens, std::vector<int32_t>{0});
    EXPECT_EQ(tokenizer_.decode(r.new_tokens), "");
  }
}

TEST_F(GenerateTest, NeverSamplesBannedTokens) {
  // By default every id but EOS and the DNA alphabet's is banned.
  const std::vector<int32_t> alphabet = {0, 'A', 'C', 'G', 'N', 'T', 'a', 'c', 'g', 'n', 't'};
  EXPECT_EQ(banned_.size(), 256u - alphabet.size());
  for (const int32_t id : alphabet) EXPECT_EQ(std::count(banned_.begin(), banned_.end(), id), 0) << id;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    const GenerateResult r = run(20.0, seed, 0, 1.0, 60);
    for (const int32_t id : r.new_tokens)
      EXPECT_NE(std::find(alphabet.begin(), alphabet.end(), id), alphabet.end()) << id;
  }
  // With any_token, only BOS, PAD and UNK of the nucleotide tokenizer; EOS stays allowed.
  EXPECT_EQ(banned_tokens(tokenizer_, model_.vocab_size(), true), (std::vector<int32_t>{1, 2, 3}));
  GenerateOptions o;
  o.max_new_tokens = 60;
  o.any_token = true;
  o.sampling = {20.0, 0, 1.0, 1};
  const GenerateResult any = generate(model_, tokenizer_, "ACGTTG", o).front();
  for (const int32_t id : any.new_tokens) EXPECT_TRUE(id == 0 || id >= 4) << id;
  EXPECT_TRUE(std::any_of(any.new_tokens.begin(), any.new_tokens.end(), [&](int32_t id) {
    return std::find(alphabet.begin(), alphabet.end(), id) == alphabet.end();
  }));
  // Ids past the tokenizer's vocabulary, and unused ids inside it, are banned too.
  const std::vector<int32_t> b = banned_tokens(data::Tokenizer::char_level(), 520, true);
  EXPECT_EQ(b.front(), 1);  // PAD; EOS (0) is allowed
  EXPECT_EQ(b.size(), 1u + (520 - 256));
  EXPECT_EQ(banned_tokens(data::Tokenizer::char_level(), 520).size(), 520u - alphabet.size());
}

TEST_F(GenerateTest, ThePromptMustBeInTheAlphabet) {
  GenerateOptions o;
  o.max_new_tokens = 2;
  EXPECT_EQ(testing::error_of([&] { generate(model_, tokenizer_, "ACGTXA", o); }),
            "prompt character 5 'X' is not in the DNA alphabet of tokenizer 'nucleotide' (ACGTNacgtn); "
            "any_token allows every character of its vocabulary");
  o.any_token = true;
  EXPECT_EQ(generate(model_, tokenizer_, "ACGTXA", o).front().prompt_text, "ACGTXA");
  EXPECT_EQ(testing::error_of([&] { generate(model_, tokenizer_, "AC\x01G", o); }),
            "the prompt has 1 character outside the vocabulary of tokenizer 'nucleotide'");
}

TEST_F(GenerateTest, ChecksOptionsAndLengths) {
  EXPECT_THROW(run(-1.0), Error);
  EXPECT_THROW(run(NAN), Error);
  EXPECT_THROW(run(1.0, 0, -1), Error);
  EXPECT_THROW(run(1.0, 0, 0, 0.0), Error);
  EXPECT_THROW(run(1.0, 0, 0, 1.5), Error);
  EXPECT_THROW(run(1.0, 0, 0, 1.0, -1), Error);
  EXPECT_TRUE(run(1.0, 0, 0, 1.0, 0).new_tokens.empty());
  // 7 prompt tokens + 250 new exceed the 256 positions.
  try {
    run(1.0, 0, 0, 1.0, 250);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_position_embeddings"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(run(1.0, 0, 0, 1.0, 249));
  // An empty prompt still has BOS; a tokenizer without BOS needs a prompt.
  GenerateOptions o;
  o.max_new_tokens = 3;
  EXPECT_EQ(generate(model_, tokenizer_, "", o).front().prompt_tokens, std::vector<int32_t>{2});
  EXPECT_THROW(generate(model_, data::Tokenizer::char_level(), "AC", o), Error);  // 512 ids > 256
  LlamaModel wide(tiny_llama_config(false, 512), DType::F64);
  wide.init(1);
  EXPECT_THROW(generate(wide, data::Tokenizer::char_level(), "", o), Error);
  EXPECT_EQ(generate(wide, data::Tokenizer::char_level(), "AC", o).front().prompt_tokens,
            (std::vector<int32_t>{65, 67}));
}

// Samples of one prompt decoded together as a batch: sample i draws from Philox stream i, so sample 0 is the
// single-sample generation and the others differ from it; greedy samples all equal the greedy chain; an EOS
// stops one sample while the others go on.
TEST_F(GenerateTest, SamplesDecodedTogetherAreEachTheirOwnGeneration) {
  // Every id that decodes to text: among the alphabet's 11, EOS would end most samples within 24 tokens.
  banned_ = banned_tokens(tokenizer_, model_.vocab_size(), true);
  GenerateOptions o;
  o.any_token = true;
  o.max_new_tokens = 24;
  o.sampling = {2.0, 0, 1.0, 5};
  const GenerateResult single = generate(model_, tokenizer_, "ACGTTG", o).front();
  o.num_samples = 3;
  const std::vector<GenerateResult> batch = generate(model_, tokenizer_, "ACGTTG", o);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch[0].new_tokens, single.new_tokens);
  EXPECT_EQ(batch[0].text, single.text);
  EXPECT_NE(batch[1].new_tokens, batch[0].new_tokens);
  EXPECT_NE(batch[2].new_tokens, batch[1].new_tokens);
  for (const GenerateResult& r : batch) EXPECT_EQ(r.prompt_tokens, single.prompt_tokens);
  EXPECT_EQ(generate(model_, tokenizer_, "ACGTTG", o)[2].new_tokens, batch[2].new_tokens);  // seeded

  o.sampling = {0.0, 0, 1.0, 0};
  o.num_samples = 1;
  const GenerateResult greedy = generate(model_, tokenizer_, "ACGTTG", o).front();
  o.num_samples = 3;
  for (const GenerateResult& r : generate(model_, tokenizer_, "ACGTTG", o))
    EXPECT_EQ(r.new_tokens, greedy.new_tokens);
  // Sample 1's own tokens are the ones the others ride along with: with its 4th token as the end token it
  // stops there, and the others are unaffected until they emit it themselves.
  o.sampling = {2.0, 0, 1.0, 5};
  const int32_t stop = batch[1].new_tokens[3];
  const std::vector<GenerateResult> stopped = generate_tokens(model_, single.prompt_tokens, stop, banned_, o);
  for (size_t i = 0; i < 3; ++i) {
    const std::vector<int32_t>& all = batch[i].new_tokens;
    const auto first = std::find(all.begin(), all.end(), stop);
    EXPECT_EQ(stopped[i].stopped_at_eos, first != all.end());
    EXPECT_EQ(stopped[i].new_tokens,
              std::vector<int32_t>(all.begin(), first == all.end() ? first : first + 1));
  }
  o.num_samples = 0;
  EXPECT_THROW(generate(model_, tokenizer_, "ACGTTG", o), Error);
}

// The sampler on its own, over a fixed logits row.
Tensor row(const std::vector<double>& probabilities) {
  Tensor t = Tensor::empty({static_cast<int64_t>(probabilities.size())}, DType::F32);
  for (size_t i = 0; i < probabilities.size(); ++i)
    t.data<float>()[i] = static_cast<float>(std::log(probabilities[i]) + 3.0);
  return t;
}

std::vector<double> frequencies(const Sampler& s, const Tensor& logits, int draws) {
  std::vector<double> f(static_cast<size_t>(logits.numel()), 0.0);
  for (int i = 0; i < draws; ++i)
    f[static_cast<size_t>(s.sample(logits, static_cast<uint64_t>(i)))] += 1.0 / draws;
  return f;
}

TEST(SamplerTest, DrawsFromTheSoftmax) {
  const Tensor logits = row({0.1, 0.2, 0.3, 0.4});
  const std::vector<double> f = frequencies(Sampler({1.0, 0, 1.0, 42}, {}), logits, 40000);
  const std::vector<double> expected = {0.1, 0.2, 0.3, 0.4};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(f[i], expected[i], 0.01) << i;
  // Temperature 0.5 squares the odds: p ~ p^2.
  const std::vector<double> g = frequencies(Sampler({0.5, 0, 1.0, 42}, {}), logits, 40000);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(g[i], expected[i] * expected[i] / 0.3, 0.01) << i;
}

TEST(SamplerTest, TopKTopPAndBansRestrictTheSupport) {
  const Tensor logits = row({0.1, 0.2, 0.3, 0.4});
  const std::vector<double> k2 = frequencies(Sampler({1.0, 2, 1.0, 1}, {}), logits, 20000);
  EXPECT_EQ(k2[0] + k2[1], 0.0);
  EXPECT_NEAR(k2[3], 0.4 / 0.7, 0.015);
  // top_p 0.5: 0.4 < 0.5, 0.4 + 0.3 >= 0.5 -> the two most likely.
  const std::vector<double> p5 = frequencies(Sampler({1.0, 0, 0.5, 1}, {}), logits, 20000);
  EXPECT_EQ(p5[0] + p5[1], 0.0);
  EXPECT_NEAR(p5[2], 0.3 / 0.7, 0.015);
  // Banning the two most likely leaves the others, in proportion.
  const std::vector<double> b = frequencies(Sampler({1.0, 0, 1.0, 1}, {3, 2}), logits, 20000);
  EXPECT_EQ(b[2] + b[3], 0.0);
  EXPECT_NEAR(b[1], 2.0 / 3.0, 0.015);
  // Greedy with a ban picks the best allowed; ties go to the lower id.
  EXPECT_EQ(Sampler({0.0, 0, 1.0, 0}, {3}).sample(logits, 0), 2);
  EXPECT_EQ(Sampler({0.0, 0, 1.0, 0}, {}).sample(row({0.3, 0.3, 0.3}), 0), 0);
  EXPECT_EQ(Sampler({1.0, 1, 1.0, 0}, {}).sample(row({0.2, 0.4, 0.4}), 7), 1);
}

TEST(SamplerTest, RejectsBadLogits) {
  Tensor logits = row({0.5, 0.5});
  EXPECT_THROW(Sampler({1.0, 0, 1.0, 0}, {0, 1}).sample(logits, 0), Error);  // everything banned
  logits.data<float>()[1] = NAN;
  EXPECT_THROW(Sampler({1.0, 0, 1.0, 0}, {}).sample(logits, 0), Error);
  EXPECT_NO_THROW(Sampler({1.0, 0, 1.0, 0}, {1}).sample(logits, 0));  // a banned NaN is never looked at
}

}  // namespace
}  // namespace strand::infer
