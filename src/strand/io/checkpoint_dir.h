// A set of named tensors stored the way Hugging Face stores model weights: one model.safetensors, or shards
// model-00001-of-0000N.safetensors listed by model.safetensors.index.json
// ({"metadata": {"total_size": n}, "weight_map": {tensor name: shard file name}}).
#pragma once

#include "strand/io/safetensors.h"

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace strand::io {

inline constexpr const char* kSingleFileName = "model.safetensors";
inline constexpr const char* kIndexFileName = "model.safetensors.index.json";

class TensorStore {
 public:
  // `dir_or_file` is a directory holding model.safetensors or model.safetensors.index.json (the single file
  // wins when both exist, as in transformers), a .safetensors file, or an index file. Every file is validated
  // as in SafetensorsFile::open, and an index must name only plain file names (no directories, so it cannot
  // reach outside its own directory) of shards that exist and hold the tensors it assigns to them. Tensors a
  // shard holds beyond those its index lists are ignored. Errors start with the path of the file at fault
  // (the index for a shard the index got wrong).
  static TensorStore open(const std::string& dir_or_file);

  // The file that was opened: model.safetensors or the index.
  const std::string& path() const { return path_; }
  // Distinct files in shard-name order; one for an unsharded store.
  const std::vector<SafetensorsFile>& shards() const { return shards_; }
  // In shard order, then data order within a shard.
  std::vector<std::string> names() const { return names_; }
  bool contains(const std::string& name) const { return shard_of_.count(name) != 0; }
  // Throw strand::Error naming the tensor and the store if there is no such tensor.
  const TensorInfo& info(const std::string& name) const;
  Tensor read(const std::string& name) const;
  // "__metadata__" of the first shard (writers give every shard the same).
  std::map<std::string, std::string> metadata() const;

 private:
  const SafetensorsFile& shard_of(const std::string& name) const;

  std::string path_;
  std::vector<SafetensorsFile> shards_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, size_t> shard_of_;  // name -> position in shards_
};

// Writes `tensors` into `dir` (which must exist) as model.safetensors, or, when their total size exceeds
// max_shard_bytes (0: never shard), as shards of at most max_shard_bytes of tensor data each (a larger tensor
// gets a shard to itself) plus model.safetensors.index.json; every shard carries `metadata`. Files of the
// other layout and shards of an earlier save that the new one does not overwrite are removed, so that open()
// cannot pick up stale data. Each file is written atomically, the set is not (see atomic_file.h).
void save_tensor_store(const std::string& dir, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata, uint64_t max_shard_bytes = 0);

}  // namespace strand::io
