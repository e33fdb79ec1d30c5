// Megatron indexed datasets (<prefix>.bin + <prefix>.idx), byte-compatible with
// megatron/core/datasets/indexed_dataset.py (see the format in the project's specs). Little-endian:
//
//   .idx  "MMIDIDX\0\0" | u64 version = 1 | u8 dtype code | u64 sequence count N | u64 document count D
//         | int32 lengths[N] | int64 byte pointers[N] | int64 document indices[D]
//   .bin  the tokens of every sequence, back to back, no header
//
// dtype codes: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32, 8 uint16.
// The writer makes one document per sequence (document indices [0, 1, ..., N]), as Megatron's preprocessing
// does; the reader accepts any valid grouping of sequences into documents.
#pragma once

#include "strand/core/dtype.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace strand::data {

// Token dtype Megatron picks: U16 for vocabularies under 65500, I32 otherwise.
DType indexed_dtype_for_vocab(int64_t vocab_size);
// Megatron's dtype code of `dtype` (1 for U8, ...); nullopt for a dtype the format has no code for.
std::optional<uint8_t> indexed_dtype_code(DType dtype);
// The dtype of a code; nullopt for an unknown code.
std::optional<DType> indexed_dtype_from_code(uint8_t code);

class IndexedDatasetWriter {
 public:
  // Writes <prefix>.bin/.idx through temporary files renamed into place by finish(); without finish() (an
  // error, an interrupted run) nothing is left that looks like a valid dataset. dtype: U8, U16 or I32.
  IndexedDatasetWriter(std::string prefix, DType dtype);
  ~IndexedDatasetWriter();
  IndexedDatasetWriter(const IndexedDatasetWriter&) = delete;
  IndexedDatasetWriter& operator=(const IndexedDatasetWriter&) = delete;

  // A token outside the dtype's range (or negative), or a document of 2^31 tokens or more, is an error.
  void add_document(std::span<const int32_t> tokens);
  // Writes the index and publishes both files (.bin first, then .idx). Call once; nothing may be added after.
  void finish();
  uint64_t documents() const { return lengths_.size(); }
  uint64_t tokens() const { return total_tokens_; }
  DType dtype() const { return dtype_; }
  std::string bin_path() const { return prefix_ + ".bin"; }
  std::string idx_path() const { return prefix_ + ".idx"; }

 private:
  struct Files;
  std::string prefix_;
  DType dtype_;
  std::unique_ptr<Files> files_;
  std::vector<int32_t> lengths_;
  uint64_t total_tokens_ = 0;
};

class IndexedDataset {
 public:
  // Opens and validates (magic, version, dtype code, counts against file sizes, pointers against lengths,
  // document indices); errors name the file. The .bin is memory-mapped.
  static IndexedDataset open(const std::string& prefix);
  uint64_t size() const { return lengths_.size(); }  // sequences (= documents for datasets strand writes)
  uint64_t length(uint64_t i) const { return static_cast<uint64_t>(lengths_[i]); }
  // Sequence i as int32 ids. Throws strand::Error for i >= size() or a value outside int32.
  std::vector<int32_t> get(uint64_t i) const;
  // Appends tokens [start, start + count) of sequence i to out: a window of a genome-sized sequence without
  // converting the rest of it.
  void read(uint64_t i, uint64_t start, uint64_t count, std::vector<int32_t>& out) const;
  DType dtype() const { return dtype_; }
  uint64_t total_tokens() const;
  const std::string& prefix() const { return prefix_; }
  // [documents + 1] sequence indices: document d holds sequences document_indices()[d] .. [d + 1] - 1.
  const std::vector<int64_t>& document_indices() const { return document_indices_; }

 private:
  std::string prefix_;
  DType dtype_ = DType::U16;
  std::vector<int32_t> lengths_;
  std::vector<int64_t> pointers_;
  std::vector<int64_t> document_indices_;
  std::shared_ptr<const void> bin_;  // the mapped .bin
  uint64_t bin_size_ = 0;
};

}  // namespace strand::data
