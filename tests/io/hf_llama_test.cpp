// HF Llama directories: config.json mapping both ways, weight round trips, and errors that name the key or
// tensor.
#include "strand/interop/hf_checkpoint.h"
#include "strand/io/safetensors.h"
#include "strand/models/esm2/model.h"
#include "strand/models/llama/hf_config.h"
#include "strand/models/llama/model.h"

#include "temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace strand {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class HfLlama : public testing::TempDirTest {};

json tiny_json() {
  return json::parse(R"({
    "model_type": "llama", "vocab_size": 32, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 64},
    "tie_word_embeddings": false, "bos_token_id": 2, "eos_token_id": 0, "pad_token_id": 1,
    "transformers_version": "4.45.0", "use_cache": true})");
}

TEST_F(HfLlama, ReadsLegacyAndCurrentRopeSpellings) {
  const LlamaConfig legacy = llama_config_from_hf(tiny_json(), "config.json");
  EXPECT_EQ(legacy.num_kv_heads, 2);
  EXPECT_EQ(legacy.resolved_head_dim(), 4);
  EXPECT_EQ(legacy.rope.theta, 500000.0);
  EXPECT_EQ(legacy.rope.factor, 8.0);
  EXPECT_EQ(legacy.rope.original_max_position, 64);

  json current = tiny_json();
  current.erase("rope_theta");
  current.erase("rope_scaling");
  current["rope_parameters"] = {{"rope_type", "llama3"},   {"rope_theta", 250000.0},
                                {"factor", 4.0},           {"low_freq_factor", 1.0},
                                {"high_freq_factor", 2.0}, {"original_max_position_embeddings", 32}};
  const LlamaConfig c = llama_config_from_hf(current, "config.json");
  EXPECT_EQ(c.rope.theta, 250000.0);
  EXPECT_EQ(c.rope.factor, 4.0);
  EXPECT_EQ(c.rope.high_freq_factor, 2.0);

  current["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 10000.0}};
  EXPECT_EQ(llama_config_from_hf(current, "config.json").rope.factor, 0.0);
}

TEST_F(HfLlama, ConfigRoundTrips) {
  const LlamaConfig a = llama_config_from_hf(tiny_json(), "config.json");
  const LlamaConfig b = llama_config_from_hf(llama_config_to_hf(a, DType::F32), "written");
  EXPECT_EQ(b.hidden_size, a.hidden_size);
  EXPECT_EQ(b.num_kv_heads, a.num_kv_heads);
  EXPECT_EQ(b.rope.theta, a.rope.theta);
  EXPECT_EQ(b.rope.factor, a.rope.factor);
  EXPECT_EQ(b.rope.original_max_position, a.rope.original_max_position);
  EXPECT_EQ(b.rms_norm_eps, a.rms_norm_eps);
  EXPECT_EQ(b.pad_token_id, a.pad_token_id);
  const json j = llama_config_to_hf(a, DType::BF16);
  EXPECT_EQ(j["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(j["rope_parameters"]["rope_type"], "llama3");
  EXPECT_EQ(j["torch_dtype"], "bfloat16");
}

TEST_F(HfLlama, UnsupportedOrMistypedKeysAreNamed) {
  auto message = [](const json& j) {
    try {
      llama_config_from_hf(j, "model/config.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  json j = tiny_json();
  j["hidden_size"] = "16";
  EXPECT_EQ(message(j), "model/config.json: 'hidden_size' must be an integer, got \"16\"");
  j = tiny_json();
  j.erase("vocab_size");
  EXPECT_EQ(message(j), "model/config.json: missing required key 'vocab_size'");
  j = tiny_json();
  j["attention_bias"] = true;
  EXPECT_EQ(message(j), "model/config.json: attention_bias=true is not supported");
  j = tiny_json();
  j["rope_scaling"]["rope_type"] = "yarn";
  EXPECT_EQ(
      message(j),
      "model/config.json: rope_type 'yarn' is not supported (strand implements 'default' and 'llama3')");
  j = tiny_json();
  j["num_key_value_heads"] = 3;
  EXPECT_EQ(message(j),
            "model/config.json: llama config: num_attention_heads (4) must be a multiple of "
            "num_key_value_heads (3)");
}

TEST_F(HfLlama, ExportedDirectoryLoadsWithIdenticalLogits) {
  LlamaModel model(llama_config_from_hf(tiny_json(), "config.json"));
  model.init(9);
  interop::save_hf_model(model, path("model"));
  EXPECT_TRUE(fs::exists(dir_ / "model" / "config.json"));
  EXPECT_TRUE(fs::exists(dir_ / "model" / "model.safetensors"));
  const auto loaded = interop::load_hf_model_as<LlamaModel>(path("model"));

  const LMBatch batch = LMBatch::from_sequences({{2, 5, 7, 11, 30, 0}, {2, 30, 30}});
  Arena a1, a2;
  const Tensor x = model.forward(a1, batch.tokens, batch.layout);
  const Tensor y = loaded->forward(a2, batch.tokens, batch.layout);
  ASSERT_EQ(x.shape(), y.shape());
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(x.item(i), y.item(i));

  const io::SafetensorsFile weights =
      io::SafetensorsFile::open((dir_ / "model" / "model.safetensors").string());
  EXPECT_EQ(weights.metadata().at("format"), "pt");
  EXPECT_TRUE(weights.contains("lm_head.weight"));
  EXPECT_EQ(weights.tensors().size(), model.parameters().size());
}

TEST_F(HfLlama, Bf16ExportRoundsWeights) {
  LlamaModel model(llama_config_from_hf(tiny_json(), "config.json"));
  model.init(3);
  interop::save_hf_model(model, path("model"), DType::BF16);
  const io::SafetensorsFile weights =
      io::SafetensorsFile::open((dir_ / "model" / "model.safetensors").string());
  EXPECT_EQ(weights.info("model.norm.weight").dtype, DType::BF16);
  const auto loaded = interop::load_hf_model_as<LlamaModel>(path("model"));
  const nn::Parameter& q = *loaded->parameters()[2];
  const nn::Parameter& q0 = *model.parameters()[2];
  for (int64_t i = 0; i < q.value.numel(); ++i)
    ASSERT_EQ(q.value.item(i), bf16_to_f32(f32_to_bf16(static_cast<float>(q0.value.item(i)))));
}

TEST_F(HfLlama, TiedModelOmitsHead) {
  json j = tiny_json();
  j["tie_word_embeddings"] = true;
  LlamaModel model(llama_config_from_hf(j, "config.json"));
  model.init(1);
  interop::save_hf_model(model, path("model"));
  const io::SafetensorsFile weights =
      io::SafetensorsFile::open((dir_ / "model" / "model.safetensors").string());
  EXPECT_FALSE(weights.contains("lm_head.weight"));
  EXPECT_NO_THROW(interop::load_hf_model_as<LlamaModel>(path("model")));
}

TEST_F(HfLlama, MissingWrongOrExtraTensorsAreNamed) {
  LlamaModel model(llama_config_from_hf(tiny_json(), "config.json"));
  model.init(1);
  interop::save_hf_model(model, path("model"));
  const std::string weights = (dir_ / "model" / "model.safetensors").string();
  std::vector<io::NamedTensor> tensors;
  for (nn::Parameter* p : model.parameters()) tensors.push_back({p->name, p->value});

  auto expect_error = [&](std::vector<io::NamedTensor> ts, const std::string& text) {
    io::save_safetensors(weights, ts);
    try {
      interop::load_hf_model_as<LlamaModel>(path("model"));
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  auto missing = tensors;
  missing.erase(missing.begin() + 3);
  expect_error(missing, "missing tensor 'model.layers.0.self_attn.k_proj.weight'");
  auto wrong = tensors;
  wrong[1].tensor = Tensor::zeros({15}, DType::F32);
  expect_error(wrong,
               "tensor 'model.layers.0.input_layernorm.weight' has shape [15], the model expects [16]");
  auto extra = tensors;
  extra.push_back({"model.layers.9.mlp.up_proj.weight", Tensor::zeros({2}, DType::F32)});
  expect_error(extra, "unexpected tensor 'model.layers.9.mlp.up_proj.weight'");
}

}  // namespace
}  // namespace strand
