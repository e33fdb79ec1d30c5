#include "strand/data/token_windows.h"

#include "strand/core/error.h"

#include <algorithm>

namespace strand::data {

std::vector<Window> make_windows(const DocumentSource& docs, const WindowOptions& o) {
  const int64_t content = o.max_length - (o.add_bos_eos ? 2 : 0);
  STRAND_CHECK(content > 0, "max_length {} leaves no room for sequence between BOS and EOS", o.max_length);
  STRAND_CHECK(o.truncate || (o.overlap >= 0 && o.overlap < content),
               "window overlap {} must be at least 0 and less than the {} content tokens of a window",
               o.overlap, content);
  const auto step = static_cast<uint64_t>(content - o.overlap);
  std::vector<Window> windows;
  for (uint64_t d = 0; d < docs.size(); ++d) {
    const uint64_t n = docs.length(d);
    if (n == 0) continue;
    if (o.truncate) {
      windows.push_back({d, 0, std::min<uint64_t>(static_cast<uint64_t>(content), n)});
      continue;
    }
    for (uint64_t start = 0;; start += step) {
      const uint64_t len = std::min<uint64_t>(static_cast<uint64_t>(content), n - start);
      windows.push_back({d, start, len});
      if (start + len >= n) break;
    }
  }
  return windows;
}

std::vector<int32_t> window_tokens(const DocumentSource& docs, const Window& w, const WindowOptions& o) {
  std::vector<int32_t> out;
  out.reserve(w.length + 2);
  if (o.add_bos_eos) out.push_back(o.bos);
  docs.read(w.doc, w.start, w.length, out);
  if (o.add_bos_eos) out.push_back(o.eos);
  return out;
}

}  // namespace strand::data
