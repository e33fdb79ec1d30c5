#include "strand/ops/cuda/gemm_tuning.h"

#include "strand/core/error.h"
#include "strand/ops/cuda/fingerprint.h"
#include "strand/ops/cuda/launch.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace strand::cuda {
namespace {

constexpr int kRounds = 2;  // timing rounds over all candidates; each candidate's best round counts
constexpr int kRunsPerRound = 3;

struct TimingEvent {
  TimingEvent() { check_cuda(cudaEventCreate(&event), "gemm tuning: event"); }
  ~TimingEvent() { cudaEventDestroy(event); }
  TimingEvent(const TimingEvent&) = delete;
  TimingEvent& operator=(const TimingEvent&) = delete;
  cudaEvent_t event = nullptr;
};

}  // namespace

int fastest_identical_candidate(int count, void* trial, size_t result_bytes,
                                const std::function<void(int, void*)>& run, cudaStream_t stream) {
  if (count < 2) return 0;
  auto* sum = reinterpret_cast<unsigned long long*>(static_cast<char*>(trial) + result_bytes);
  // Bytes past out_bytes (alignment padding) are zeroed once and never written, so they fingerprint alike.
  check_cuda(cudaMemsetAsync(trial, 0, result_bytes, stream), "gemm tuning: clear");

  std::vector<int> identical;
  uint64_t reference = 0;
  for (int i = 0; i < count; ++i) {
    run(i, trial);
    const uint64_t print = fingerprint(trial, result_bytes, sum, stream);
    if (i == 0) reference = print;
    if (print == reference) identical.push_back(i);
  }

  const TimingEvent start, stop;
  std::vector<float> best(identical.size(), std::numeric_limits<float>::infinity());
  for (int round = 0; round < kRounds; ++round) {
    for (size_t j = 0; j < identical.size(); ++j) {
      check_cuda(cudaEventRecord(start.event, stream), "gemm tuning: event");
      for (int r = 0; r < kRunsPerRound; ++r) run(identical[j], trial);
      check_cuda(cudaEventRecord(stop.event, stream), "gemm tuning: event");
      check_cuda(cudaEventSynchronize(stop.event), "gemm tuning: timing");
      float ms = 0;
      check_cuda(cudaEventElapsedTime(&ms, start.event, stop.event), "gemm tuning: timing");
      best[j] = std::min(best[j], ms);
    }
  }
  return identical[static_cast<size_t>(std::min_element(best.begin(), best.end()) - best.begin())];
}

}  // namespace strand::cuda
