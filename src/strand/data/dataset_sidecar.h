// What `strand preprocess` did to the documents of a Megatron dataset, recorded beside it in
// <prefix>.strand.json (the .bin/.idx stay byte-compatible with Megatron's), so that training knows, for
// instance, that every document already starts with BOS and ends with EOD and does not add them again:
//
//   {"tokenizer": "nucleotide", "add_bos": true, "append_eod": true, "bos": 2, "eod": 0,
//    "enforce_sample_length": 0, "reverse_complement": false, "tag_prefix": ""}
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace strand::data {

struct DatasetSidecar {
  std::string tokenizer;
  bool add_bos = false;
  bool append_eod = false;
  int32_t bos = -1, eod = -1;  // the ids added (-1: none)
  int64_t enforce_sample_length = 0;
  bool reverse_complement = false;
  std::string tag_prefix;
};

// "<prefix>.strand.json".
std::string dataset_sidecar_path(const std::string& prefix);
// Written atomically; errors name the file.
void write_dataset_sidecar(const std::string& prefix, const DatasetSidecar& sidecar);
// nullopt when the dataset has none (written by another tool); a malformed one is an error naming the file.
std::optional<DatasetSidecar> read_dataset_sidecar(const std::string& prefix);

}  // namespace strand::data
