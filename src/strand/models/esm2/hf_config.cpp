#include "strand/models/esm2/hf_config.h"

#include "strand/models/hf_config_fields.h"

#include <cstdio>

namespace strand {

using nlohmann::json;

Esm2Config esm2_config_from_hf(const json& j, const std::string& source) {
  const HfConfigFields f(j, source);
  const std::string model_type = f.string("model_type", "esm");
  STRAND_CHECK(model_type == "esm", "{}: model_type '{}' is not an ESM model", source, model_type);
  const std::string positions = f.string("position_embedding_type", "absolute");
  STRAND_CHECK(positions == "rotary",
               "{}: position_embedding_type '{}' is not supported (ESM-2 uses 'rotary'; ESM-1b's absolute "
               "positions are not implemented)",
               source, positions);
  const double theta = f.number("rope_theta", 10000.0);
  STRAND_CHECK(theta == 10000.0, "{}: rope_theta {} is not supported (ESM-2's rotary base is 10000)", source,
               theta);
  const std::string act = f.string("hidden_act", "gelu");
  STRAND_CHECK(act == "gelu", "{}: hidden_act '{}' is not supported (ESM-2 uses exact 'gelu')", source, act);
  STRAND_CHECK(!f.boolean("emb_layer_norm_before", false), "{}: emb_layer_norm_before=true is not supported",
               source);
  STRAND_CHECK(!f.boolean("is_folding_model", false),
               "{}: is_folding_model=true (ESMFold) is not supported, only the ESM-2 language model", source);
  STRAND_CHECK(!f.boolean("is_decoder", false), "{}: is_decoder=true is not supported (ESM-2 is an encoder)",
               source);
  for (const char* key : {"hidden_dropout_prob", "attention_probs_dropout_prob"}) {
    const double p = f.number(key, 0.0);
    if (p != 0.0)
      std::fprintf(stderr, "%s: %s=%g is not applied: strand trains ESM-2 without dropout\n", source.c_str(),
                   key, p);
  }

  Esm2Config c;
  c.vocab_size = f.required_integer("vocab_size");
  c.hidden_size = f.required_integer("hidden_size");
  c.intermediate_size = f.required_integer("intermediate_size");
  c.num_layers = f.required_integer("num_hidden_layers");
  c.num_heads = f.required_integer("num_attention_heads");
  c.layer_norm_eps = f.number("layer_norm_eps", 1e-12);
  c.max_position_embeddings = f.integer("max_position_embeddings", 1026);
  c.pad_token_id = f.token_id("pad_token_id", 1);
  c.mask_token_id = f.token_id("mask_token_id", 32);
  c.token_dropout = f.boolean("token_dropout", false);
  c.tie_embeddings = f.boolean("tie_word_embeddings", true);
  c.init_std = f.number("initializer_range", 0.02);
  try {
    c.validate();
  } catch (const Error& e) {
    rethrow_with_context(e, source);
  }
  return c;
}

json esm2_config_to_hf(const Esm2Config& c, DType weights_dtype) {
  const char* torch_dtype = weights_dtype == DType::BF16  ? "bfloat16"
                            : weights_dtype == DType::F16 ? "float16"
                                                          : "float32";
  return {
      {"architectures", {"EsmForMaskedLM"}},
      {"model_type", "esm"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.num_heads},
      {"hidden_act", "gelu"},
      {"hidden_dropout_prob", 0.0},
      {"attention_probs_dropout_prob", 0.0},
      {"layer_norm_eps", c.layer_norm_eps},
      {"max_position_embeddings", c.max_position_embeddings},
      {"position_embedding_type", "rotary"},
      {"emb_layer_norm_before", false},
      {"token_dropout", c.token_dropout},
      {"pad_token_id", c.pad_token_id},
      {"mask_token_id", c.mask_token_id},
      {"tie_word_embeddings", c.tie_embeddings},
      {"initializer_range", c.init_std},
      {"is_folding_model", false},
      {"use_cache", true},
      {"torch_dtype", torch_dtype},
  };
}

}  // namespace strand
