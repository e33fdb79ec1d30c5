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
  const size_t grow = blocks_.empty() ? 0 : sized_ ? capacity() / 8 : blocks_.back().size * 2;
  size_t size = std::max(min_bytes, grow);
  void* base = nullptr;
  try {
    base = device_alloc(device_, size);
  } catch (const Error&) {
    // Growth is a guess at what the step still needs; when it does not fit, take just what was asked.
    if (size == min_bytes) throw;
    size = min_bytes;
    base = device_alloc(device_, size);
  }
  blocks_.push_back({static_cast<char*>(base), size});
  current_ = blocks_.size() - 1;
  offset_ = 0;
}

void* Arena::allocate(size_t bytes) {
  STRAND_ASSERT(bytes > 0);
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  while (offset_ + rounded > blocks_[current_].size) {
    if (current_ + 1 == blocks_.size()) {
      add_block(rounded);
      break;
    }
    ++current_;  // a block freed by release(): reuse it from its start
    offset_ = 0;
  }
  void* p = blocks_[current_].base + offset_;
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

void Arena::release(const Mark& m) {
  STRAND_ASSERT(m.block < current_ || (m.block == current_ && m.offset <= offset_));
  current_ = m.block;
  offset_ = m.offset;
  in_use_ = m.in_use;
}

void Arena::reset() {
  if (blocks_.size() > 1) {
    // The high-water mark, not the chained capacity: growth by doubling may have overshot it.
    const size_t total = high_water_;
    for (auto& b : blocks_) device_free(device_, b.base);
    blocks_.clear();
    add_block(total);
    sized_ = true;
  }
  current_ = 0;
  offset_ = 0;
  in_use_ = 0;
}

}  // namespace strand
