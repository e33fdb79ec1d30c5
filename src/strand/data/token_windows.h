// Training examples cut from token documents, the genomic recipes' way: long documents are split into windows
// of at most max_length tokens (BOS and EOS included when add_bos_eos), consecutive windows of one document
// sharing `overlap` content tokens, so no stretch of sequence is seen only at a window's edge. Or the protein
// recipes' way (truncate): one example per document, its first max_length tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace strand::data {

// The documents a dataset draws from: token ids without BOS/EOS, read a slice at a time (a genome is one
// document of millions of tokens; a window needs a few thousand).
class DocumentSource {
 public:
  virtual ~DocumentSource() = default;
  virtual uint64_t size() const = 0;
  virtual uint64_t length(uint64_t doc) const = 0;
  // Appends tokens [start, start + count) of document `doc` to out. REQUIRES: the range lies in the document.
  virtual void read(uint64_t doc, uint64_t start, uint64_t count, std::vector<int32_t>& out) const = 0;
};

// Documents held in memory (from FASTA/JSONL after tokenisation, or generated mock data).
class InMemoryDocuments final : public DocumentSource {
 public:
  explicit InMemoryDocuments(std::vector<std::vector<int32_t>> docs) : docs_(std::move(docs)) {}
  uint64_t size() const override { return docs_.size(); }
  uint64_t length(uint64_t doc) const override { return docs_[doc].size(); }
  void read(uint64_t doc, uint64_t start, uint64_t count, std::vector<int32_t>& out) const override {
    const auto first = docs_[doc].begin() + static_cast<int64_t>(start);
    out.insert(out.end(), first, first + static_cast<int64_t>(count));
  }

 private:
  std::vector<std::vector<int32_t>> docs_;
};

struct WindowOptions {
  int64_t max_length = 1024;  // tokens per window, BOS/EOS included
  int64_t overlap = 0;        // content tokens shared by consecutive windows of a document (not truncate)
  // One window per document: as many of its first tokens as max_length holds (with BOS and EOS when
  // add_bos_eos), the rest dropped, as bionemo's ESM-2 recipe tokenizes with truncation=True (a truncated
  // protein still ends with EOS).
  bool truncate = false;
  bool add_bos_eos = true;
  int32_t bos = 2;
  int32_t eos = 0;
};

struct Window {
  uint64_t doc = 0;
  uint64_t start = 0;   // first content token
  uint64_t length = 0;  // content tokens
};

// Every window of every document, in document order; empty documents have none. Checks that overlap leaves
// room to advance.
std::vector<Window> make_windows(const DocumentSource& docs, const WindowOptions& options);

// The tokens of a window: [BOS] content [EOS].
std::vector<int32_t> window_tokens(const DocumentSource& docs, const Window& w, const WindowOptions& options);

}  // namespace strand::data
