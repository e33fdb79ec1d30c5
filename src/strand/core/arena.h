// Arena: bump allocation for activations and workspaces that live for one step.
//
// Allocation is a pointer increment inside a block; when a block is full a new one is chained. reset() frees
// everything at once and, if more than one block was used, replaces them with a single block of the most that
// was ever in use, so from the second step on a step of the same shape allocates nothing from the system.
// Growth doubles while the arena finds its size (before the first merge); after that, a step that needs a
// little more (a batch of another composition) chains a block of an eighth of the capacity, not of twice
// the last block, which for a model filling most of a GPU would not fit.
// mark() and release() free the newest allocations early, stack-wise (a layer's backward temporaries).
// Not thread-safe: one arena per thread of control.
#pragma once

#include "strand/core/tensor.h"

#include <cstddef>
#include <vector>

namespace strand {

class Arena {
 public:
  static constexpr size_t kAlignment = 64;

  explicit Arena(size_t initial_bytes = size_t{1} << 20, Device device = Device::cpu());
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // REQUIRES: bytes > 0. The memory is uninitialised and aligned to kAlignment.
  void* allocate(size_t bytes);
  void reset();

  // A point in the allocation stack; release(m) frees everything allocated after mark() returned m (tensors
  // from that span must no longer be used; device work already queued on them stays ordered by its stream).
  struct Mark {
    size_t block = 0, offset = 0, in_use = 0;
  };
  Mark mark() const { return {current_, offset_, in_use_}; }
  void release(const Mark& m);

  Device device() const { return device_; }
  size_t bytes_in_use() const { return in_use_; }
  size_t high_water_mark() const { return high_water_; }
  size_t capacity() const;
  size_t block_count() const { return blocks_.size(); }

 private:
  struct Block {
    char* base;
    size_t size;
  };
  void add_block(size_t min_bytes);

  Device device_;
  std::vector<Block> blocks_;
  size_t current_ = 0;  // the block allocations come from; later ones are free after a release
  size_t offset_ = 0;   // into blocks_[current_]
  size_t in_use_ = 0;
  size_t high_water_ = 0;
  bool sized_ = false;  // a reset has merged the blocks to the high-water mark
};

}  // namespace strand
