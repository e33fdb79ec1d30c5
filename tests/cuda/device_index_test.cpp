// Devices by index: ops on an explicitly selected cuda:0 (and cuda:1 where there is one), the refusal of a
// GPU that is not there, the allocator-call counter, and the batch uploader's device path.
#include "strand/core/device_memory.h"
#include "strand/core/philox.h"
#include "strand/ops/linear.h"
#include "strand/train/batch_upload.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "expect_error.h"

namespace strand {
namespace {

class CudaDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
    select_device(Device::cuda(0));
  }
};

Tensor random_host(const Shape& shape, uint64_t stream) {
  Tensor t = Tensor::empty(shape, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = philox_normal(5, stream, static_cast<uint64_t>(i));
  return t;
}

// y = x w^T on `device` (selected first) against the host, in F32.
void expect_linear_matches_host(Device device) {
  select_device(device);
  EXPECT_EQ(current_cuda_device(), device);
  const Tensor x = random_host({37, 64}, 1), w = random_host({48, 64}, 2);
  const Tensor y_host = Tensor::empty({37, 48}, DType::F32);
  linear_forward(y_host, x, w, Tensor());
  const Tensor y = Tensor::empty({37, 48}, DType::F32, device);
  linear_forward(y, x.to(device), w.to(device), Tensor());
  const Tensor back = y.to(Device::cpu());
  double err = 0, norm = 0;
  for (int64_t i = 0; i < back.numel(); ++i) {
    err += std::pow(back.item(i) - y_host.item(i), 2);
    norm += std::pow(y_host.item(i), 2);
  }
  EXPECT_LT(std::sqrt(err / norm), 1e-5) << device.str();
}

TEST_F(CudaDevice, LinearOnExplicitCuda0MatchesHost) {
  expect_linear_matches_host(parse_device("cuda:0", "test"));
}

TEST_F(CudaDevice, LinearOnCuda1MatchesHost) {
  if (cuda_device_count() < 2) GTEST_SKIP() << "one CUDA device on this machine";
  expect_linear_matches_host(Device::cuda(1));
  expect_linear_matches_host(Device::cuda(0));  // cuda:0's per-device state still serves it
  const Tensor x = Tensor::empty({4, 8}, DType::F32, Device::cuda(1)),
               w = Tensor::empty({2, 8}, DType::F32, Device::cuda(1)),
               y = Tensor::empty({4, 2}, DType::F32, Device::cuda(1));
  EXPECT_CONTAINS(testing::error_of([&] { linear_forward(y, x, w, Tensor()); }),
                  "is on cuda:1 but this thread's device is cuda:0");
}

TEST_F(CudaDevice, MissingIndexIsRefusedAndTheCurrentDeviceKept) {
  const int visible = cuda_device_count();
  EXPECT_EQ(
      testing::error_of([&] { select_device(Device::cuda(visible)); }),
      fmt::format("cuda:{} requested, {} CUDA GPU{} visible", visible, visible, visible == 1 ? "" : "s"));
  EXPECT_EQ(current_cuda_device(), Device::cuda(0));
}

TEST_F(CudaDevice, AllocatorCallsAreCounted) {
  const CudaAllocatorCalls before = cuda_allocator_calls();
  { const Tensor t = Tensor::empty({1024}, DType::F32, Device::cuda(0)); }
  { const Tensor p = pinned_host_tensor({1024}, DType::F32); }
  const CudaAllocatorCalls after = cuda_allocator_calls();
  EXPECT_EQ(after.allocations - before.allocations, 2u);
  EXPECT_EQ(after.frees - before.frees, 2u);
}

LMBatch weighted_batch(const std::vector<std::vector<int32_t>>& sequences) {
  LMBatch b = LMBatch::from_sequences(sequences);
  b.loss_weights = Tensor::empty(b.tokens.shape(), DType::F32);
  for (int64_t i = 0; i < b.tokens.numel(); ++i)
    b.loss_weights.data<float>()[i] = 0.25f * static_cast<float>(i);
  return b;
}

void expect_same_batch(const LMBatch& device, const LMBatch& host) {
  const auto expect_same = [](const Tensor& d, const Tensor& h, const char* what) {
    ASSERT_EQ(d.defined(), h.defined()) << what;
    if (!h.defined()) return;
    EXPECT_EQ(d.device(), Device::cuda(0)) << what;
    const Tensor back = d.to(Device::cpu());
    ASSERT_EQ(back.shape(), h.shape()) << what;
    for (int64_t i = 0; i < h.numel(); ++i) EXPECT_EQ(back.item(i), h.item(i)) << what << " " << i;
  };
  expect_same(device.tokens, host.tokens, "tokens");
  expect_same(device.labels, host.labels, "labels");
  expect_same(device.loss_weights, host.loss_weights, "loss_weights");
  expect_same(device.layout.cu_seqlens, host.layout.cu_seqlens, "cu_seqlens");
  expect_same(device.layout.positions, host.layout.positions, "positions");
  EXPECT_EQ(device.layout.max_seqlen, host.layout.max_seqlen);
}

TEST_F(CudaDevice, BatchUploaderCopiesIntoItsOwnBuffers) {
  BatchUploader uploader(Device::cuda(0), DType::F32, 64, {32, 32});
  const CudaAllocatorCalls sized = cuda_allocator_calls();
  std::vector<LMBatch> hosts;
  for (int32_t i = 0; i < 8; ++i)
    hosts.push_back(weighted_batch({{i, i + 1, i + 2, 3}, {i + 5, 7}, {i + 9, i + 10, i + 11}}));
  hosts.push_back(LMBatch::from_sequences({{1, 2, 3, 4, 5, 6}}));  // unweighted
  LMBatch previous;
  for (size_t i = 0; i < hosts.size(); ++i) {
    const LMBatch b = uploader.upload(hosts[i]);
    expect_same_batch(b, hosts[i]);
    if (i > 0) expect_same_batch(previous, hosts[i - 1]);  // the other slot: untouched by this upload
    previous = b;
  }
  EXPECT_EQ(cuda_allocator_calls().total(), sized.total());

  // A batch larger than the buffers grows them; a batch of the old buffers stays readable.
  std::vector<int32_t> long_sequence(100);
  for (size_t i = 0; i < long_sequence.size(); ++i) long_sequence[i] = static_cast<int32_t>(i % 64);
  const LMBatch large = weighted_batch({long_sequence});
  expect_same_batch(uploader.upload(large), large);
  EXPECT_GT(cuda_allocator_calls().allocations, sized.allocations);
  expect_same_batch(previous, hosts.back());

  EXPECT_EQ(testing::error_of([&] {
              uploader.upload(LMBatch::from_sequences({{1, 64}}));
            }),
            "token 64 at position 1 is outside the vocabulary [0, 64)");
}

}  // namespace
}  // namespace strand
