#include "strand/models/llama/hf_config.h"

#include "strand/core/error.h"
#include "strand/models/hf_config_fields.h"

#include <cmath>

namespace strand {
namespace {

using nlohmann::json;

void read_rope(const HfConfigFields& f, LlamaConfig& c) {
  // transformers 5 writes rope_parameters; older files write rope_theta + rope_scaling. Either may be
  // present.
  const json* rope = nullptr;
  if (f.has("rope_scaling")) rope = &f.raw().at("rope_scaling");
  if (!rope && f.has("rope_parameters")) rope = &f.raw().at("rope_parameters");
  c.rope.theta = f.number("rope_theta", 10000.0);
  c.rope.factor = 0.0;
  if (!rope) return;
  STRAND_CHECK(rope->is_object(), "{}: rope parameters must be an object, got {}", f.source(), rope->dump());
  c.rope.theta = f.number_of(*rope, "rope_theta", c.rope.theta);
  std::string type = "default";
  for (const char* key : {"rope_type", "type"})
    if (rope->contains(key) && rope->at(key).is_string()) type = rope->at(key).get<std::string>();
  if (type == "default") return;
  STRAND_CHECK(type == "llama3",
               "{}: rope_type '{}' is not supported (strand implements 'default' and 'llama3')", f.source(),
               type);
  c.rope.factor = f.number_of(*rope, "factor", 0.0);
  c.rope.low_freq_factor = f.number_of(*rope, "low_freq_factor", 1.0);
  c.rope.high_freq_factor = f.number_of(*rope, "high_freq_factor", 4.0);
  const double orig = f.number_of(*rope, "original_max_position_embeddings", 0.0);
  STRAND_CHECK(orig > 0 && std::floor(orig) == orig,
               "{}: llama3 rope scaling needs a positive integer original_max_position_embeddings",
               f.source());
  c.rope.original_max_position = static_cast<int64_t>(orig);
  STRAND_CHECK(c.rope.factor > 0, "{}: llama3 rope scaling needs a positive 'factor'", f.source());
}

}  // namespace

LlamaConfig llama_config_from_hf(const json& j, const std::string& source) {
  const HfConfigFields f(j, source);
  const std::string model_type = f.string("model_type", "llama");
  STRAND_CHECK(model_type == "llama", "{}: model_type '{}' is not a Llama model", source, model_type);
  const std::string act = f.string("hidden_act", "silu");
  STRAND_CHECK(act == "silu", "{}: hidden_act '{}' is not supported (Llama uses 'silu')", source, act);
  STRAND_CHECK(!f.boolean("attention_bias", false), "{}: attention_bias=true is not supported", source);
  STRAND_CHECK(!f.boolean("mlp_bias", false), "{}: mlp_bias=true is not supported", source);

  LlamaConfig c;
  c.vocab_size = f.required_integer("vocab_size");
  c.hidden_size = f.required_integer("hidden_size");
  c.intermediate_size = f.required_integer("intermediate_size");
  c.num_layers = f.required_integer("num_hidden_layers");
  c.num_heads = f.required_integer("num_attention_heads");
  c.num_kv_heads = f.integer("num_key_value_heads", c.num_heads);
  c.head_dim = f.integer("head_dim", 0);
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  c.tie_embeddings = f.boolean("tie_word_embeddings", false);
  c.init_std = f.number("initializer_range", 0.02);
  c.max_position_embeddings = f.integer("max_position_embeddings", 2048);
  c.bos_token_id = f.token_id("bos_token_id", 1);
  c.eos_token_id = f.token_id("eos_token_id", 2);
  c.pad_token_id = f.token_id("pad_token_id", -1);
  read_rope(f, c);
  try {
    c.validate();
  } catch (const Error& e) {
    rethrow_with_context(e, source);
  }
  return c;
}

json llama_config_to_hf(const LlamaConfig& c, DType weights_dtype) {
  json rope_params = {{"rope_type", "default"}, {"rope_theta", c.rope.theta}};
  json rope_scaling = nullptr;
  if (c.rope.factor != 0) {
    rope_scaling = {{"rope_type", "llama3"},
                    {"factor", c.rope.factor},
                    {"low_freq_factor", c.rope.low_freq_factor},
                    {"high_freq_factor", c.rope.high_freq_factor},
                    {"original_max_position_embeddings", c.rope.original_max_position}};
    rope_params.update(rope_scaling);
  }
  const char* torch_dtype = weights_dtype == DType::BF16  ? "bfloat16"
                            : weights_dtype == DType::F16 ? "float16"
                                                          : "float32";
  json j = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.num_heads},
      {"num_key_value_heads", c.num_kv_heads},
      {"head_dim", c.resolved_head_dim()},
      {"hidden_act", "silu"},
      {"rms_norm_eps", c.rms_norm_eps},
      {"rope_theta", c.rope.theta},
      {"rope_scaling", rope_scaling},
      {"rope_parameters", rope_params},
      {"max_position_embeddings", c.max_position_embeddings},
      {"initializer_range", c.init_std},
      {"tie_word_embeddings", c.tie_embeddings},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"mlp_bias", false},
      {"bos_token_id", c.bos_token_id},
      {"eos_token_id", c.eos_token_id},
      {"pad_token_id", c.pad_token_id >= 0 ? json(c.pad_token_id) : json(nullptr)},
      {"torch_dtype", torch_dtype},
      {"use_cache", true},
  };
  return j;
}

}  // namespace strand
