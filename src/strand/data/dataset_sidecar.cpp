#include "strand/data/dataset_sidecar.h"

#include "strand/core/error.h"
#include "strand/core/json.h"
#include "strand/io/atomic_file.h"

#include <filesystem>

namespace strand::data {

std::string dataset_sidecar_path(const std::string& prefix) {
  return prefix + ".strand.json";
}

void write_dataset_sidecar(const std::string& prefix, const DatasetSidecar& s) {
  const nlohmann::ordered_json j = {{"tokenizer", s.tokenizer},
                                    {"add_bos", s.add_bos},
                                    {"append_eod", s.append_eod},
                                    {"bos", s.bos},
                                    {"eod", s.eod},
                                    {"enforce_sample_length", s.enforce_sample_length},
                                    {"reverse_complement", s.reverse_complement},
                                    {"tag_prefix", s.tag_prefix}};
  io::write_file_atomic(dataset_sidecar_path(prefix), j.dump(2) + "\n");
}

std::optional<DatasetSidecar> read_dataset_sidecar(const std::string& prefix) {
  const std::string path = dataset_sidecar_path(prefix);
  if (!std::filesystem::exists(path)) return std::nullopt;
  const nlohmann::json j = read_json_file(path);
  DatasetSidecar s;
  try {
    s.tokenizer = j.at("tokenizer").get<std::string>();
    s.add_bos = j.at("add_bos").get<bool>();
    s.append_eod = j.at("append_eod").get<bool>();
    s.bos = j.at("bos").get<int32_t>();
    s.eod = j.at("eod").get<int32_t>();
    s.enforce_sample_length = j.at("enforce_sample_length").get<int64_t>();
    s.reverse_complement = j.at("reverse_complement").get<bool>();
    s.tag_prefix = j.at("tag_prefix").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
  return s;
}

}  // namespace strand::data
