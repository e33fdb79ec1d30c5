#include "strand/core/arena.h"

#include "strand/core/device_memory.h"

#include <algorithm>

namespace strand {

Arena::Arena(size_t initial_bytes, Device device) : device_(device) {
  add_block(initial_bytes);
}

Arena::~Arena() {
  for (auto& b : blocks_) device_free(device_, b.base);
}

void Arena::add_block(size_t min_bytes) {
  const size_t grow = blocks_.empty() ? 0 : blocks_.back().size * 2;
  const size_t size = std::max(min_bytes, grow);
  blocks_.push_back({static_cast<char*>(device_alloc(device_, size)), size});
  offset_ = 0;
}

void* Arena::allocate(size_t bytes) {
  STRAND_ASSERT(bytes > 0);
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (offset_ + rounded > blocks_.back().size) add_block(rounded);
  void* p = blocks_.back().base + offset_;
  offset_ += rounded;
  in_use_ += rounded;
  high_water_ = std::max(high_water_, in_use_);
  return p;
}

size_t Arena::capacity() const {
  size_t total = 0;
  for (const auto& b : blocks_) total += b.size;
  return total;
}

void Arena::reset() {
  if (blocks_.size() > 1) {
    const size_t total = capacity();
    for (auto& b : blocks_) device_free(device_, b.base);
    blocks_.clear();
    add_block(total);
  }
  offset_ = 0;
  in_use_ = 0;
}

}  // namespace strand
