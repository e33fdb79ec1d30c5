// Sequence files (FASTA, FASTQ, JSONL; plain or gzip/zstd/xz) to a Megatron indexed dataset, as Megatron's
// and savanna's preprocess_data.py and bionemo's Evo 2 preprocessing do.
//
// Each record becomes one document (two with reverse_complement: the record, then its reverse complement):
//
//   [BOS]  tag_prefix + sequence  [EOD]  [PAD ... up to enforce_sample_length]
//
// where the sequence has had its case changed first (the tag never is), BOS is added only with add_bos, EOD
// only with append_eod, and padding (PAD, right side) only with enforce_sample_length; a document longer than
// that length is an error naming the file, line, record and length, or with drop_long a dropped and counted
// document. Records with an empty sequence are skipped and counted.
//
// Output: <output_prefix>_<key>_document.bin/.idx, key = the JSONL field ("text" by default), as Megatron
// names it, and <...>_document.strand.json recording whether BOS/EOD were added (dataset_sidecar.h).
// Documents are written in input order whatever the number of workers, so the bytes are identical for any
// `workers`. On any error nothing is left at the output paths (temporary files are removed) and the error
// propagates as strand::Error.
#pragma once

#include "strand/core/dtype.h"
#include "strand/data/record_reader.h"
#include "strand/data/tokenizer.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strand::data {

enum class CaseChange { None, Upper, Lower };

struct PreprocessOptions {
  std::vector<std::string> inputs;    // files, read in this order
  std::string output_prefix;          // required
  ReaderOptions reader;               // format, JSONL fields (reader.jsonl_field is the output key), skipping
  bool append_eod = false;            // append the tokenizer's EOS/EOD id to every document
  bool add_bos = false;               // prepend the tokenizer's BOS id (the tokenizer must have one)
  int64_t enforce_sample_length = 0;  // > 0: right-pad every document with PAD to exactly this many tokens
  bool drop_long = false;             // with enforce_sample_length: drop longer documents instead of failing
  bool reverse_complement = false;    // also write the reverse complement of each record as its own document
  std::string tag_prefix;             // text put before every sequence (e.g. "|d__Bacteria;p__...|")
  CaseChange case_change = CaseChange::None;
  std::optional<DType> dtype;            // U8, U16 or I32; default: Megatron's choice for the vocabulary size
  int workers = 1;                       // tokenising threads (>= 1); reading and writing have their own
  size_t batch_records = 1024;           // records handed to a worker at a time
  size_t batch_bytes = size_t{4} << 20;  // ... or fewer, once their sequences hold this many bytes
};

struct PreprocessSummary {
  uint64_t files = 0;
  uint64_t records = 0;    // well-formed records read (empty ones included)
  uint64_t documents = 0;  // documents written
  uint64_t tokens = 0;     // tokens written, BOS/EOD/padding included
  uint64_t unknown = 0;    // characters encoded as UNK in the written documents
  uint64_t skipped = 0;    // malformed records skipped (skip_malformed)
  uint64_t empty = 0;      // records with an empty sequence, skipped
  uint64_t dropped = 0;    // documents longer than enforce_sample_length, dropped (drop_long)
  DType dtype = DType::U16;
  std::string bin_path, idx_path;
  std::string sidecar_path;  // <prefix>.strand.json: the options above that shaped the documents
};

// "<output_prefix>_<key>_document".
std::string preprocess_dataset_prefix(const PreprocessOptions& options);

PreprocessSummary preprocess(const PreprocessOptions& options, const Tokenizer& tokenizer);

// The reverse complement of a nucleotide sequence: A<->T, C<->G, U->A and the IUPAC ambiguity codes (R<->Y,
// K<->M, B<->V, D<->H; S, W, N unchanged), lower case kept; any other character is kept as is (and reversed;
// a multi-byte UTF-8 character as a whole).
std::string reverse_complement(std::string_view sequence);

}  // namespace strand::data
