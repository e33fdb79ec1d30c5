// Mapping between transformers' EsmConfig (config.json of an EsmForMaskedLM) and strand's Esm2Config.
//
// Keys that change the computation in ways strand does not implement (absolute or relative positions, an
// embedding LayerNorm, another activation, a decoder, the ESMFold trunk) are errors naming the key;
// informational keys are ignored. Dropout probabilities only matter in training, where strand has no
// dropout: a non-zero one is reported on stderr and not applied.
#pragma once

#include "strand/core/dtype.h"
#include "strand/models/esm2/config.h"

#include <nlohmann/json.hpp>

#include <string>

namespace strand {

// `source` names the file in error messages.
Esm2Config esm2_config_from_hf(const nlohmann::json& config, const std::string& source);
nlohmann::json esm2_config_to_hf(const Esm2Config& config, DType weights_dtype);

}  // namespace strand
