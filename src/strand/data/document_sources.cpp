#include "strand/data/document_sources.h"

#include "strand/core/error.h"
#include "strand/core/philox.h"
#include "strand/data/dataset_sidecar.h"
#include "strand/data/indexed_dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace strand::data {
namespace {

// Documents from several sources, concatenated.
class ConcatenatedDocuments final : public DocumentSource {
 public:
  void add(std::shared_ptr<const DocumentSource> part) {
    offsets_.push_back(total_);
    total_ += part->size();
    parts_.push_back(std::move(part));
  }
  uint64_t size() const override { return total_; }
  uint64_t length(uint64_t doc) const override {
    const auto [part, local] = locate(doc);
    return parts_[part]->length(local);
  }
  void read(uint64_t doc, uint64_t start, uint64_t count, std::vector<int32_t>& out) const override {
    const auto [part, local] = locate(doc);
    parts_[part]->read(local, start, count, out);
  }

 private:
  std::pair<size_t, uint64_t> locate(uint64_t doc) const {
    size_t p = parts_.size() - 1;
    while (offsets_[p] > doc) --p;
    return {p, doc - offsets_[p]};
  }
  std::vector<std::shared_ptr<const DocumentSource>> parts_;
  std::vector<uint64_t> offsets_;
  uint64_t total_ = 0;
};

// A Megatron dataset read in place. Its ids are checked against the tokenizer's vocabulary as they are read
// (the batcher and the embedding index tables with them), unless the dtype cannot hold a larger one.
class IndexedDocuments final : public DocumentSource {
 public:
  IndexedDocuments(IndexedDataset dataset, const Tokenizer& tokenizer)
      : dataset_(std::move(dataset)),
        vocab_size_(tokenizer.vocab_size()),
        tokenizer_name_(tokenizer.name()),
        check_ids_(!(dataset_.dtype() == DType::U8 && vocab_size_ >= 256) &&
                   !(dataset_.dtype() == DType::U16 && vocab_size_ >= 65536)) {}
  uint64_t size() const override { return dataset_.size(); }
  uint64_t length(uint64_t doc) const override { return dataset_.length(doc); }
  void read(uint64_t doc, uint64_t start, uint64_t count, std::vector<int32_t>& out) const override {
    const size_t first = out.size();
    dataset_.read(doc, start, count, out);
    if (!check_ids_) return;
    for (size_t t = first; t < out.size(); ++t)
      STRAND_CHECK(out[t] >= 0 && out[t] < vocab_size_,
                   "{}.bin: document {} holds token id {} at position {}, outside the {} tokenizer's "
                   "vocabulary [0, {})",
                   dataset_.prefix(), doc, out[t], start + (t - first), tokenizer_name_, vocab_size_);
  }

 private:
  IndexedDataset dataset_;
  int64_t vocab_size_;
  std::string tokenizer_name_;
  bool check_ids_;
};

bool is_megatron_input(const std::string& path, const SourceOptions& options) {
  return options.format == "megatron" || (options.format == "auto" && std::filesystem::exists(path + ".idx"));
}

RecordFormat record_format(const std::string& format) {
  if (format == "fasta") return RecordFormat::Fasta;
  if (format == "fastq") return RecordFormat::Fastq;
  if (format == "jsonl") return RecordFormat::Jsonl;
  return RecordFormat::Auto;
}

}  // namespace

std::shared_ptr<DocumentSource> load_documents(const std::vector<std::string>& inputs,
                                               const SourceOptions& options, const Tokenizer& tokenizer) {
  STRAND_CHECK(!inputs.empty(), "no input files given");
  auto all = std::make_shared<ConcatenatedDocuments>();
  for (const std::string& path : inputs) {
    if (is_megatron_input(path, options)) {
      IndexedDataset ds = IndexedDataset::open(path);
      fmt::print("data: {} (Megatron dataset): {} documents, {} tokens\n", path, ds.size(),
                 ds.total_tokens());
      all->add(std::make_shared<IndexedDocuments>(std::move(ds), tokenizer));
      continue;
    }
    ReaderOptions ro;
    ro.format = record_format(options.format);
    ro.jsonl_field = options.jsonl_field;
    ro.skip_malformed = options.skip_malformed;
    auto reader = RecordReader::open(path, ro);
    std::vector<std::vector<int32_t>> docs;
    SequenceRecord record;
    uint64_t tokens = 0;
    const uint64_t unknown_before = tokenizer.unknown_count();
    while (reader->next(record)) {
      std::vector<int32_t> ids;
      tokenizer.encode(record.sequence, ids);
      tokens += ids.size();
      if (!ids.empty()) docs.push_back(std::move(ids));
    }
    fmt::print("data: {}: {} records, {} tokens{}\n", path, docs.size(), tokens,
               reader->skipped() ? fmt::format(", {} malformed records skipped", reader->skipped()) : "");
    const uint64_t unknown = tokenizer.unknown_count() - unknown_before;
    if (unknown > 0)
      fmt::print(stderr, "strand: warning: {}: {} characters outside the {} vocabulary were mapped to UNK\n",
                 path, unknown, tokenizer.name());
    all->add(std::make_shared<InMemoryDocuments>(std::move(docs)));
  }
  return all;
}

std::vector<std::string> inputs_holding_bos_or_eod(const std::vector<std::string>& inputs,
                                                   const SourceOptions& options) {
  std::vector<std::string> holding;
  for (const std::string& path : inputs) {
    if (!is_megatron_input(path, options)) continue;
    const std::optional<DatasetSidecar> sidecar = read_dataset_sidecar(path);
    if (sidecar && (sidecar->add_bos || sidecar->append_eod)) holding.push_back(path);
  }
  return holding;
}

std::vector<NamedInputs> group_named_inputs(const std::vector<std::string>& entries) {
  std::vector<NamedInputs> sets;
  for (const std::string& entry : entries) {
    const size_t eq = entry.find('=');
    const std::string name = eq == std::string::npos ? "" : entry.substr(0, eq);
    const bool named = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
    const std::string set = named ? name : "", path = named ? entry.substr(eq + 1) : entry;
    STRAND_CHECK(!path.empty(), "input '{}' names the set '{}' but no file", entry, set);
    auto it = std::find_if(sets.begin(), sets.end(), [&](const NamedInputs& s) { return s.name == set; });
    if (it == sets.end()) it = sets.insert(sets.end(), NamedInputs{set, {}});
    it->paths.push_back(path);
  }
  return sets;
}

std::shared_ptr<DocumentSource> mock_documents(int64_t count, int64_t length, uint64_t seed,
                                               const Tokenizer& tokenizer) {
  STRAND_CHECK(count > 0 && length > 0, "mock data needs positive document count and length");
  std::vector<int32_t> acgt;
  tokenizer.encode("ACGT", acgt);
  std::vector<std::vector<int32_t>> docs(static_cast<size_t>(count));
  for (int64_t d = 0; d < count; ++d) {
    auto& doc = docs[static_cast<size_t>(d)];
    doc.resize(static_cast<size_t>(length));
    for (int64_t i = 0; i < length; ++i)
      doc[static_cast<size_t>(i)] =
          acgt[philox_bits(seed, static_cast<uint64_t>(d), static_cast<uint64_t>(i)) & 3u];
  }
  return std::make_shared<InMemoryDocuments>(std::move(docs));
}

}  // namespace strand::data
