// The Llama family (transformers' LlamaForCausalLM): genomic decoders.
#pragma once

#include "strand/models/model_family.h"

#include <memory>

namespace strand {

std::unique_ptr<ModelFamily> make_llama_family();

}  // namespace strand
