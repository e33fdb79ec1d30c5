// Naming and selecting devices: "cpu", "cuda" and "cuda:N" parse, anything else is an error naming its key;
// a GPU that is not there is refused with the count that is.
#include "strand/core/device_memory.h"

#include <gtest/gtest.h>

#include "expect_error.h"

namespace strand {
namespace {

TEST(Device, ParsesCpuCudaAndAnIndex) {
  EXPECT_EQ(parse_device("cpu", "train.device"), Device::cpu());
  EXPECT_EQ(parse_device("cuda", "train.device"), Device::cuda(0));
  EXPECT_EQ(parse_device("cuda:0", "train.device"), Device::cuda(0));
  EXPECT_EQ(parse_device("cuda:7", "train.device"), Device::cuda(7));
  EXPECT_EQ(parse_device("cuda:12", "--device"), Device::cuda(12));
}

TEST(Device, MalformedNamesAreErrorsNamingTheKey) {
  for (const char* text : {"gpu", "CUDA", "cuda:", "cuda:-1", "cuda:x", "cuda:1x", "cuda:+1", "cuda0", " cpu",
                           "cuda:99999999999", ""}) {
    EXPECT_FALSE(try_parse_device(text).has_value()) << text;
    EXPECT_EQ(testing::error_of([&] { parse_device(text, "train.device"); }),
              std::string("train.device: expected cpu, cuda or cuda:N, got ") + text);
  }
  EXPECT_EQ(testing::error_of([] { parse_device("tpu", "--device"); }),
            "--device: expected cpu, cuda or cuda:N, got tpu");
}

TEST(Device, SelectingTheCpuDoesNothing) {
  const CudaAllocatorCalls before = cuda_allocator_calls();
  select_device(Device::cpu());
  const Tensor t = Tensor::zeros({16}, DType::F32);
  EXPECT_EQ(cuda_allocator_calls().total(), before.total());  // host memory is not the CUDA allocator's
}

TEST(Device, AMissingGpuIsRefusedWithTheVisibleCount) {
  const int visible = cuda_device_count();
  const std::string message = testing::error_of([&] { select_device(Device::cuda(visible)); });
#if defined(STRAND_WITH_CUDA)
  EXPECT_EQ(message, fmt::format("cuda:{} requested, {} CUDA GPU{} visible", visible, visible,
                                 visible == 1 ? "" : "s"));
#else
  EXPECT_EQ(message, fmt::format("cuda:{} requested, but this strand was built without CUDA", visible));
#endif
}

}  // namespace
}  // namespace strand
