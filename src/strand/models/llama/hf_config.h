// Mapping between transformers' LlamaConfig (config.json) and strand's LlamaConfig.
//
// Reading accepts both spellings of the rotary settings: transformers 5's "rope_parameters"
// ({"rope_type", "rope_theta", "factor", ...}) and the older top-level "rope_theta" with "rope_scaling".
// Keys that change the computation in ways strand does not implement (biases, another activation, another
// rope type) are errors naming the key; informational keys (transformers_version, use_cache, ...) are
// ignored. Writing emits both spellings, so transformers 4.x and 5.x read the same file.
#pragma once

#include "strand/core/dtype.h"
#include "strand/models/llama/config.h"

#include <nlohmann/json.hpp>

#include <string>

namespace strand {

// `source` names the file in error messages.
LlamaConfig llama_config_from_hf(const nlohmann::json& config, const std::string& source);
nlohmann::json llama_config_to_hf(const LlamaConfig& config, DType weights_dtype);

}  // namespace strand
