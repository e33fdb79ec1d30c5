// The ESM-2 family (transformers' EsmForMaskedLM): protein encoders.
#pragma once

#include "strand/models/model_family.h"

#include <memory>

namespace strand {

std::unique_ptr<ModelFamily> make_esm2_family();

}  // namespace strand
