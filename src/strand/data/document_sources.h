// Building the documents of a training run from what users have: sequence files, Megatron datasets, or mock
// data.
#pragma once

#include "strand/data/record_reader.h"
#include "strand/data/token_windows.h"
#include "strand/data/tokenizer.h"

#include <memory>
#include <string>
#include <vector>

namespace strand::data {

struct SourceOptions {
  std::string format = "auto";  // auto | fasta | fastq | jsonl | megatron
  std::string jsonl_field = "text";
  bool skip_malformed = false;
};

// Every record of every input as one document. An input is a FASTA/FASTQ/JSONL file (any compression) or,
// with format megatron or when <path>.idx exists, a Megatron dataset prefix (documents as stored).
// Prints a line per input with records and tokens, and a warning when characters fell outside the vocabulary.
std::shared_ptr<DocumentSource> load_documents(const std::vector<std::string>& inputs,
                                               const SourceOptions& options, const Tokenizer& tokenizer);

// The inputs that are Megatron datasets whose documents already hold BOS or EOD, as their sidecar
// (dataset_sidecar.h, written by strand preprocess --add-bos/--append-eod) records.
std::vector<std::string> inputs_holding_bos_or_eod(const std::vector<std::string>& inputs,
                                                   const SourceOptions& options);

// Inputs grouped into named sets: an entry NAME=PATH (NAME of letters, digits, '_' and '-') adds PATH to set
// NAME, any other entry to the unnamed set (name ""). Sets come in the order their first entry does.
struct NamedInputs {
  std::string name;
  std::vector<std::string> paths;
};
std::vector<NamedInputs> group_named_inputs(const std::vector<std::string>& entries);

// `count` documents of `length` uniformly random A/C/G/T tokens, reproducible from `seed`.
std::shared_ptr<DocumentSource> mock_documents(int64_t count, int64_t length, uint64_t seed,
                                               const Tokenizer& tokenizer);

}  // namespace strand::data
