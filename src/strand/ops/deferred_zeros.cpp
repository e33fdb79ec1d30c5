#include "strand/ops/deferred_zeros.h"

#include "strand/core/error.h"
#include "strand/ops/elementwise.h"

#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>

namespace strand {
namespace {

// Pending regions by first byte address; each keeps a view of its tensor so that it can be zeroed on its
// device (and its memory stays allocated meanwhile). Regions never overlap.
struct Pending {
  std::mutex mutex;
  std::map<uintptr_t, Tensor> regions;
};

// Never destroyed: regions left pending at exit must not free device memory after the CUDA runtime is gone.
Pending& pending() {
  static Pending* const p = new Pending;
  return *p;
}

uintptr_t begin_of(const Tensor& t) {
  return reinterpret_cast<uintptr_t>(t.raw());
}

uintptr_t end_of(const Tensor& t) {
  return begin_of(t) + t.nbytes();
}

// The first region that may overlap a range starting at begin: the one holding begin, if any, else the first
// after it.
std::map<uintptr_t, Tensor>::iterator first_overlap(std::map<uintptr_t, Tensor>& regions, uintptr_t begin) {
  auto it = regions.upper_bound(begin);
  if (it != regions.begin() && end_of(std::prev(it)->second) > begin) --it;
  return it;
}

// Removes the regions overlapping [begin, end), zeroing first those that reach outside it, or all of them
// when zero_all.
void remove_overlapping(std::map<uintptr_t, Tensor>& regions, uintptr_t begin, uintptr_t end, bool zero_all) {
  auto it = first_overlap(regions, begin);
  while (it != regions.end() && it->first < end) {
    const bool inside = it->first >= begin && end_of(it->second) <= end;
    if (zero_all || !inside) zero(it->second);
    it = regions.erase(it);
  }
}

void check_contiguous(const Tensor& t, const char* what) {
  STRAND_CHECK(t.defined() && t.is_contiguous(), "{}: needs a defined contiguous tensor, got {}", what,
               t.defined() ? t.str() : "undefined");
}

}  // namespace

void defer_zero(const Tensor& t) {
  check_contiguous(t, "defer_zero");
  if (t.nbytes() == 0) return;
  Pending& p = pending();
  const std::lock_guard lock(p.mutex);
  remove_overlapping(p.regions, begin_of(t), end_of(t), /*zero_all=*/false);
  p.regions.emplace(begin_of(t), t);
}

bool accumulate_into(const Tensor& grad, bool writes_every_element) {
  check_contiguous(grad, "accumulate_into");
  if (grad.nbytes() == 0) return true;
  Pending& p = pending();
  const std::lock_guard lock(p.mutex);
  const uintptr_t begin = begin_of(grad), end = end_of(grad);
  // Regions inside grad are disjoint, so their sizes add up to grad's only when they cover it exactly.
  size_t inside = 0;
  bool only_inside = true;
  for (auto it = first_overlap(p.regions, begin); it != p.regions.end() && it->first < end; ++it) {
    if (it->first < begin || end_of(it->second) > end) only_inside = false;
    inside += it->second.nbytes();
  }
  const bool assign = writes_every_element && only_inside && inside == grad.nbytes();
  remove_overlapping(p.regions, begin, end, /*zero_all=*/!assign);
  return !assign;
}

void flush_deferred_zeros() {
  Pending& p = pending();
  const std::lock_guard lock(p.mutex);
  for (const auto& [address, t] : p.regions) zero(t);
  p.regions.clear();
}

size_t deferred_zero_bytes() {
  Pending& p = pending();
  const std::lock_guard lock(p.mutex);
  size_t bytes = 0;
  for (const auto& [address, t] : p.regions) bytes += t.nbytes();
  return bytes;
}

}  // namespace strand
