// The packed (THD) batch layout every op and model uses.
//
// n sequences of lengths L_0..L_{n-1} are concatenated into T = sum L_i tokens. cu_seqlens [n+1] (I32) holds
// the prefix sums (cu_seqlens[0] = 0, cu_seqlens[n] = T); positions [T] (I32) counts from 0 within each
// sequence. Nothing may mix tokens of different sequences: attention masks across boundaries, RoPE uses
// positions, and labels at a sequence's last token are ignored. A right-padded batch is the same layout with
// padding tokens carrying ignored labels.
#pragma once

#include "strand/core/tensor.h"

#include <span>
#include <vector>

namespace strand {

// The label of a token at which nothing is predicted (a sequence's last token, a pad, an unmasked residue):
// the loss and its gradient skip it.
inline constexpr int32_t kIgnoreIndex = -100;

struct SeqLayout {
  Tensor cu_seqlens;  // I32 [n+1]
  Tensor positions;   // I32 [T]
  int64_t max_seqlen = 0;

  int64_t num_seqs() const { return cu_seqlens.numel() - 1; }
  int64_t num_tokens() const { return positions.numel(); }

  // Layout of sequences with the given lengths (each > 0), positions from 0.
  static SeqLayout from_lengths(std::span<const int64_t> lengths);
  // Layout from cu_seqlens, checking it: starts at 0, non-decreasing, ends at the token count.
  static SeqLayout from_cu_seqlens(const Tensor& cu_seqlens);
  // Checks the invariants above, naming what is wrong (the contents only of a layout on the host).
  void validate() const;
  // A copy on `device` (max_seqlen stays on the host, where ops need it).
  SeqLayout to(Device device) const;
};

}  // namespace strand
