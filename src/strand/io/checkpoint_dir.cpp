#include "strand/io/checkpoint_dir.h"

#include "strand/core/error.h"
#include "strand/core/json.h"
#include "strand/io/atomic_file.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_set>

namespace strand::io {
namespace {

namespace fs = std::filesystem;

// The shard names transformers writes and save_tensor_store reuses: model-00001-of-00003.safetensors.
std::string shard_name(size_t k, size_t n) {
  return fmt::format("model-{:05d}-of-{:05d}.safetensors", k + 1, n);
}

bool is_shard_name(const std::string& name) {
  const auto digits = [&name](size_t pos) {
    return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(pos),
                       name.begin() + static_cast<std::ptrdiff_t>(pos + 5),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
  };
  return name.size() == shard_name(0, 1).size() && name.starts_with("model-") && digits(6) &&
         name.compare(11, 4, "-of-") == 0 && digits(15) && name.ends_with(".safetensors");
}

// Shard names in an index are resolved against the index's directory; anything but a plain name could reach
// elsewhere ("../secret", "/etc/...") or be cut short by the C library (an embedded NUL).
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

void remove_if_present(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
  STRAND_CHECK(!ec, "{}: cannot remove stale file: {}", path.string(), ec.message());
}

}  // namespace

TensorStore TensorStore::open(const std::string& dir_or_file) {
  std::error_code ec;
  const fs::file_status status = fs::status(dir_or_file, ec);
  STRAND_CHECK(status.type() != fs::file_type::not_found, "{}: no such file or directory", dir_or_file);
  STRAND_CHECK(!ec, "{}: {}", dir_or_file, ec.message());

  TensorStore store;
  std::string index_path;
  if (fs::is_directory(status)) {
    const fs::path dir(dir_or_file);
    if (fs::exists(dir / kSingleFileName)) {
      store.path_ = (dir / kSingleFileName).string();
    } else if (fs::exists(dir / kIndexFileName)) {
      index_path = (dir / kIndexFileName).string();
    } else {
      STRAND_CHECK(false, "{}: directory holds neither {} nor {}", dir_or_file, kSingleFileName,
                   kIndexFileName);
    }
  } else if (dir_or_file.ends_with(".index.json")) {
    index_path = dir_or_file;
  } else {
    store.path_ = dir_or_file;
  }

  if (index_path.empty()) {
    store.shards_.push_back(SafetensorsFile::open(store.path_));
    for (const TensorInfo& t : store.shards_.front().tensors()) {
      store.names_.push_back(t.name);
      store.shard_of_.emplace(t.name, 0);
    }
    return store;
  }

  store.path_ = index_path;
  const nlohmann::json root = read_json_file(index_path);
  try {
    STRAND_CHECK(root.is_object(), "index is {}, not an object", root.type_name());
    const auto metadata = root.find("metadata");
    STRAND_CHECK(metadata == root.end() || metadata->is_object(), "\"metadata\" is {}, not an object",
                 metadata->type_name());
    const auto weight_map = root.find("weight_map");
    STRAND_CHECK(weight_map != root.end(), "missing \"weight_map\"");
    STRAND_CHECK(weight_map->is_object(), "\"weight_map\" is {}, not an object", weight_map->type_name());

    std::map<std::string, std::unordered_set<std::string>>
        listed;  // shard file -> tensor names; sorted by file
    for (const auto& [name, shard] : weight_map->items()) {
      STRAND_CHECK(shard.is_string(), "weight_map: tensor '{}' maps to {}, not a file name", printable(name),
                   shard.type_name());
      const std::string& file = shard.get_ref<const std::string&>();
      STRAND_CHECK(is_plain_file_name(file),
                   "weight_map: tensor '{}' maps to '{}', which is not a plain file name", printable(name),
                   printable(file));
      listed[file].insert(name);
    }

    const fs::path dir = fs::path(index_path).parent_path();
    for (const auto& [file, names] : listed) {
      const size_t k = store.shards_.size();
      store.shards_.push_back(SafetensorsFile::open((dir / file).string()));
      for (const std::string& name : names) {
        STRAND_CHECK(store.shards_.back().contains(name),
                     "weight_map puts tensor '{}' in {}, which does not contain it", printable(name), file);
      }
      for (const TensorInfo& t : store.shards_.back().tensors()) {
        if (names.count(t.name) == 0) continue;
        store.names_.push_back(t.name);
        store.shard_of_.emplace(t.name, k);
      }
    }
  } catch (const Error& e) {
    rethrow_with_context(e, index_path);
  }
  return store;
}

const SafetensorsFile& TensorStore::shard_of(const std::string& name) const {
  const auto it = shard_of_.find(name);
  STRAND_CHECK(it != shard_of_.end(), "{}: no tensor '{}'", path_, printable(name));
  return shards_[it->second];
}

const TensorInfo& TensorStore::info(const std::string& name) const {
  return shard_of(name).info(name);
}

Tensor TensorStore::read(const std::string& name) const {
  return shard_of(name).read(name);
}

std::map<std::string, std::string> TensorStore::metadata() const {
  return shards_.empty() ? std::map<std::string, std::string>{} : shards_.front().metadata();
}

void save_tensor_store(const std::string& dir, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata, uint64_t max_shard_bytes) {
  // Names must be unique across shards, checked before anything is written; save_safetensors checks the rest.
  std::unordered_set<std::string_view> seen;
  uint64_t total = 0;
  for (const NamedTensor& nt : tensors) {
    STRAND_CHECK(seen.insert(nt.name).second, "{}: tensor '{}': duplicate name", dir, printable(nt.name));
    total += nt.tensor.nbytes();
  }

  std::vector<std::vector<NamedTensor>> groups(1);
  if (max_shard_bytes != 0 && total > max_shard_bytes) {
    uint64_t group_bytes = 0;
    for (const NamedTensor& nt : tensors) {
      if (!groups.back().empty() && group_bytes + nt.tensor.nbytes() > max_shard_bytes) {
        groups.emplace_back();
        group_bytes = 0;
      }
      groups.back().push_back(nt);
      group_bytes += nt.tensor.nbytes();
    }
  } else {
    groups.front() = tensors;
  }

  const fs::path root(dir);
  std::set<std::string> written;
  // The entry file of the other layout goes first: a crash midway then leaves a directory that fails to open
  // rather than one that opens to the previous save.
  if (groups.size() == 1) {
    remove_if_present(root / kIndexFileName);
    save_safetensors((root / kSingleFileName).string(), tensors, metadata);
  } else {
    remove_if_present(root / kSingleFileName);
    nlohmann::json weight_map = nlohmann::json::object();
    for (size_t k = 0; k < groups.size(); ++k) {
      const std::string file = shard_name(k, groups.size());
      save_safetensors((root / file).string(), groups[k], metadata);
      for (const NamedTensor& nt : groups[k]) weight_map[nt.name] = file;
      written.insert(file);
    }
    const nlohmann::json index = {{"metadata", {{"total_size", total}}},
                                  {"weight_map", std::move(weight_map)}};
    write_file_atomic((root / kIndexFileName).string(), index.dump(2) + "\n");
  }

  std::vector<fs::path> stale;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (is_shard_name(name) && written.count(name) == 0) stale.push_back(it->path());
  }
  STRAND_CHECK(!ec, "{}: cannot list the directory to remove stale shards: {}", dir, ec.message());
  for (const fs::path& path : stale) remove_if_present(path);
}

}  // namespace strand::io
