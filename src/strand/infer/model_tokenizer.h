// Which tokenizer reads the inputs of a model directory.
#pragma once

#include "strand/data/tokenizer.h"

#include <string>

namespace strand::infer {

// `name` when not empty (Tokenizer::by_name: "nucleotide", "char", "esm" or a tokenizer.json path), else
// DIR/tokenizer.json when present, else the default tokenizer of the family that DIR/config.json's model_type
// names (ModelFamily::default_tokenizer: the esm tokenizer for an ESM-2 directory, whose files carry
// EsmTokenizer's vocab.txt), else the nucleotide one.
data::Tokenizer model_tokenizer(const std::string& model_dir, const std::string& name);

}  // namespace strand::infer
