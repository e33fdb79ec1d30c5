// The batch uploader's host path: the batch as LMBatch::to gives it, ids checked with LMBatch::to's messages,
// and the capacity a recipe's micro-batches need.
#include "strand/train/batch_upload.h"

#include <gtest/gtest.h>

#include "expect_error.h"

namespace strand {
namespace {

LMBatch two_sequences() {
  LMBatch b = LMBatch::from_sequences({{1, 2, 3}, {4, 5}});
  b.loss_weights = Tensor::empty({5}, DType::F32);
  for (int64_t i = 0; i < 5; ++i) b.loss_weights.data<float>()[i] = 0.5f * static_cast<float>(i);
  return b;
}

TEST(BatchUpload, HostPathReturnsTheBatchItself) {
  const LMBatch host = two_sequences();
  BatchUploader uploader(Device::cpu(), DType::F32, 8, {16, 16});
  const LMBatch b = uploader.upload(host);
  EXPECT_EQ(b.tokens.raw(), host.tokens.raw());
  EXPECT_EQ(b.labels.raw(), host.labels.raw());
  EXPECT_EQ(b.loss_weights.raw(), host.loss_weights.raw());
  EXPECT_EQ(b.layout.cu_seqlens.raw(), host.layout.cu_seqlens.raw());
  EXPECT_EQ(b.layout.positions.raw(), host.layout.positions.raw());
  EXPECT_EQ(b.layout.max_seqlen, 3);
}

TEST(BatchUpload, HostPathConvertsLossWeights) {
  const LMBatch host = two_sequences();
  BatchUploader uploader(Device::cpu(), DType::F64, 8, {16, 16});
  const LMBatch b = uploader.upload(host);
  ASSERT_EQ(b.loss_weights.dtype(), DType::F64);
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(b.loss_weights.item(i), 0.5 * static_cast<double>(i));
  EXPECT_FALSE(uploader.upload(LMBatch::from_sequences({{1, 2}})).loss_weights.defined());
}

TEST(BatchUpload, OutOfVocabularyIdsAreNamed) {
  BatchUploader uploader(Device::cpu(), DType::F32, 5, {16, 16});
  EXPECT_EQ(testing::error_of([&] { uploader.upload(two_sequences()); }),
            "token 5 at position 4 is outside the vocabulary [0, 5)");
  LMBatch bad_label = LMBatch::from_sequences({{1, 2, 3}});
  bad_label.labels.data<int32_t>()[1] = -7;
  EXPECT_EQ(testing::error_of([&] { uploader.upload(bad_label); }),
            "label -7 at position 1 is outside the vocabulary [0, 5)");
}

TEST(BatchUpload, LargestMicroBatchOfARecipe) {
  data::BatchOptions packed;
  packed.mode = data::BatchMode::Packed;
  packed.tokens = 4096;
  packed.max_length = 1024;
  EXPECT_EQ(largest_micro_batch(packed).tokens, 4096);
  EXPECT_EQ(largest_micro_batch(packed).sequences, 4096);
  data::BatchOptions padded = packed;
  padded.mode = data::BatchMode::Padded;
  padded.sequences = 8;
  EXPECT_EQ(largest_micro_batch(padded).tokens, 8 * 1024);
  EXPECT_EQ(largest_micro_batch(padded).sequences, 16);
}

}  // namespace
}  // namespace strand
