// safetensors files: an 8-byte little-endian header length N, N bytes of UTF-8 JSON naming each tensor's
// dtype, shape and byte range, then the data buffer (see shared/specs/formats.md).
//
// The reader trusts nothing in the file: open() checks every rule of the format (header size and syntax,
// duplicate keys, dtypes, shapes, offsets that tile the buffer exactly and end at the end of the file) and
// reports the first violation as a one-line strand::Error that starts with the file's path. Tensor data is
// read with pread on demand, never loaded whole, so opening a multi-GB file costs only its header.
#pragma once

#include "strand/core/dtype.h"
#include "strand/core/tensor.h"


#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace strand::io {

// Headers above this are refused before anything is allocated for them (the limit of the reference reader).
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range relative to the start of the data buffer

  uint64_t nbytes() const { return end - begin; }
};

class SafetensorsFile {
 public:
  // Opens and fully validates; on any problem throws strand::Error whose one-line message starts with the
  // path.
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }               // ordered by begin offset
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // "__metadata__"
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Throws strand::Error naming the tensor and the file if there is no such tensor.
  const TensorInfo& info(const std::string& name) const;
  // An owning, contiguous, 64-byte-aligned host copy of the tensor. Safe to call from several threads at
  // once.
  Tensor read(const std::string& name) const;

 private:
  class Descriptor;  // the open file, shared by copies and closed with the last one

  SafetensorsFile() = default;

  std::string path_;
  std::shared_ptr<const Descriptor> file_;
  uint64_t data_start_ = 0;  // file offset of the data buffer: 8 + N
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// Writes atomically (temporary file, fsync, rename): the header JSON lists "__metadata__" first (only if
// non-empty), then the tensors in the given order with contiguous increasing offsets, and is padded with
// spaces to a multiple of 8 so that the data buffer starts 8-byte aligned. Tensors may be non-contiguous
// (their contiguous copy is written) but must be defined and on the host; names must be unique, valid UTF-8
// and not "__metadata__".
void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace strand::io
