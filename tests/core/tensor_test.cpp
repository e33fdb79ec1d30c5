#include "strand/core/tensor.h"
#include "strand/core/arena.h"
#include "strand/core/device_memory.h"

#include <gtest/gtest.h>

namespace strand {
namespace {

Tensor iota(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

TEST(Tensor, ShapeAndStrides) {
  Tensor t = iota({2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_EQ(t.stride(0), 12);
  EXPECT_EQ(t.stride(2), 1);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.str(), "F32[2, 3, 4] cpu");
  EXPECT_THROW(t.size(3), Error);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = iota({4, 6});
  Tensor v = t.view({-1, 3});
  EXPECT_EQ(v.shape(), Shape({8, 3}));
  v.data<float>()[5] = 100.0f;
  EXPECT_EQ(t.item(5), 100.0);
  EXPECT_THROW(t.view({5, 5}), Error);
  EXPECT_THROW(t.view({-1, -1}), Error);

  Tensor rows = t.narrow(0, 1, 2);
  EXPECT_TRUE(rows.is_contiguous());
  EXPECT_EQ(rows.contiguous().item(0), 6.0);
  Tensor cols = t.narrow(1, 2, 3);
  EXPECT_FALSE(cols.is_contiguous());
  Tensor c = cols.contiguous();
  EXPECT_EQ(c.shape(), Shape({4, 3}));
  EXPECT_EQ(c.item(0), 2.0);
  EXPECT_EQ(c.item(3), 8.0);
  EXPECT_THROW(t.narrow(1, 4, 3), Error);
}

TEST(Tensor, TransposeCopiesElementsInPlace) {
  Tensor t = iota({2, 3});
  Tensor tt = t.transpose(0, 1).contiguous();
  EXPECT_EQ(tt.shape(), Shape({3, 2}));
  const double expect[6] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(tt.item(i), expect[i]);
}

TEST(Tensor, DtypeConversionAndFill) {
  Tensor t = iota({5});
  Tensor b = t.to(DType::BF16);
  EXPECT_EQ(b.data<uint16_t>()[1], 0x3F80);
  Tensor back = b.to(DType::F64);
  EXPECT_EQ(back.item(4), 4.0);
  t.fill(0.5);
  EXPECT_EQ(t.item(3), 0.5);
  Tensor s = t.narrow(0, 1, 2);
  s.fill(2.0);
  EXPECT_EQ(t.item(0), 0.5);
  EXPECT_EQ(t.item(2), 2.0);
  EXPECT_THROW(t.data<double>(), Error);
}

TEST(Tensor, CopyFromChecksShape) {
  Tensor a = iota({2, 2});
  Tensor b = Tensor::zeros({4}, DType::F32);
  EXPECT_THROW(b.copy_from(a), Error);
  b.copy_from(a.view({4}));
  EXPECT_EQ(b.item(3), 3.0);
}

TEST(Tensor, CheckTensorNamesArgument) {
  Tensor a = iota({2, 3});
  check_tensor(a, "x", DType::F32, {2, -1});
  try {
    check_tensor(a, "weight", DType::F32, {3, 3});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "weight must have shape [3, 3], got F32[2, 3] cpu");
  }
  EXPECT_THROW(check_tensor(a, "x", DType::F64, {2, 3}), Error);
  EXPECT_THROW(check_tensor(Tensor(), "x", {2}), Error);
}

TEST(Tensor, CudaWithoutGpuIsAClearError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present";
  EXPECT_THROW(Tensor::empty({4}, DType::F32, Device::cuda()), Error);
}

TEST(Arena, BumpsAlignsAndReuses) {
  Arena arena(256);
  void* a = arena.allocate(10);
  void* b = arena.allocate(10);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % Arena::kAlignment, 0u);
  EXPECT_EQ(static_cast<char*>(b) - static_cast<char*>(a), 64);
  arena.allocate(1000);  // chains a new block
  EXPECT_EQ(arena.block_count(), 2u);
  EXPECT_EQ(arena.bytes_in_use(), 64u + 64u + 1024u);
  arena.reset();
  EXPECT_EQ(arena.block_count(), 1u);  // merged: the next identical step fits in one block, no larger
  EXPECT_EQ(arena.capacity(), 64u + 64u + 1024u);
  EXPECT_EQ(arena.bytes_in_use(), 0u);
  arena.allocate(10);
  arena.allocate(10);
  arena.allocate(1000);
  EXPECT_EQ(arena.block_count(), 1u);
  EXPECT_EQ(arena.high_water_mark(), 64u + 64u + 1024u);
}

// Once sized by a merge, an arena that needs a little more grows by an eighth of its capacity, not by doubling.
TEST(Arena, GrowsModeratelyOnceSized) {
  Arena arena(256);
  arena.allocate(64 * 1024);  // chains a block
  arena.reset();              // merged: one block of the high-water mark
  const size_t sized = arena.capacity();
  arena.allocate(sized);
  arena.allocate(64);  // a little more than the last step
  EXPECT_EQ(arena.block_count(), 2u);
  EXPECT_EQ(arena.capacity(), sized + sized / 8);
}

TEST(Arena, ReleaseFreesTheNewestAllocationsForReuse) {
  Arena arena(256);
  void* kept = arena.allocate(64);
  const Arena::Mark mark = arena.mark();
  void* first = arena.allocate(128);
  arena.allocate(1000);  // chains a second block
  EXPECT_EQ(arena.block_count(), 2u);
  arena.release(mark);
  EXPECT_EQ(arena.bytes_in_use(), 64u);
  EXPECT_EQ(arena.allocate(128), first);  // the released span is handed out again
  void* big = arena.allocate(1000);       // and the chained block is reused, not a third one added
  EXPECT_EQ(arena.block_count(), 2u);
  EXPECT_NE(big, kept);
  EXPECT_EQ(arena.high_water_mark(), 64u + 128u + 1024u);
}

TEST(Arena, TensorsFromArena) {
  Arena arena;
  Tensor t = Tensor::from_arena(arena, {3, 5}, DType::F64);
  t.fill(1.0);
  EXPECT_EQ(t.item(14), 1.0);
  EXPECT_EQ(arena.bytes_in_use(), 128u);
}

}  // namespace
}  // namespace strand
