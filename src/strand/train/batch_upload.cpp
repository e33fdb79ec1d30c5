#include "strand/train/batch_upload.h"

#include "strand/core/device_memory.h"
#include "strand/core/error.h"

#include <cstring>

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/launch.h"
#endif

namespace strand {
namespace {

// Each tensor of a slot starts on a 256-byte boundary, as cudaMalloc's own allocations do, so kernels' vector
// loads see the alignment they would on a tensor of its own.
constexpr size_t kAlignment = 256;

size_t aligned(size_t bytes) {
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

// Where each of a batch's tensors lies in a slot, in bytes from its start.
struct Packing {
  size_t tokens = 0, labels = 0, weights = 0, cu_seqlens = 0, positions = 0, bytes = 0;
};

// weight_bytes: the size of one loss weight, 0 for a batch without weights.
Packing packing(int64_t tokens, int64_t sequences, size_t weight_bytes) {
  Packing p;
  const auto add = [&](size_t bytes) {
    const size_t at = p.bytes;
    p.bytes += aligned(bytes);
    return at;
  };
  const size_t ids = static_cast<size_t>(tokens) * sizeof(int32_t);
  p.tokens = add(ids);
  p.labels = add(ids);
  p.weights = add(static_cast<size_t>(tokens) * weight_bytes);
  p.cu_seqlens = add(static_cast<size_t>(sequences + 1) * sizeof(int32_t));
  p.positions = add(ids);
  return p;
}

}  // namespace

BatchCapacity largest_micro_batch(const data::BatchOptions& batch) {
  if (batch.mode == data::BatchMode::Padded) return {batch.sequences * batch.max_length, 2 * batch.sequences};
  return {batch.tokens, batch.tokens};
}

#if defined(STRAND_WITH_CUDA)

struct BatchUploader::Slots {
  Device device;
  size_t slot_bytes = 0;
  char* staging = nullptr;              // pinned, two slots
  std::shared_ptr<void> device_buffer;  // two slots; views of returned batches share it
  std::array<cudaEvent_t, 2> copied{};  // recorded after each slot's copy
  std::array<bool, 2> copying{};        // whether copied[i] was recorded
  int next = 0;

  explicit Slots(Device d) : device(d) {
    for (cudaEvent_t& e : copied)
      cuda::check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "batch upload: event");
  }
  ~Slots() {
    wait_for_copies();
    pinned_host_free(staging);
    for (cudaEvent_t e : copied) cudaEventDestroy(e);
  }
  Slots(const Slots&) = delete;
  Slots& operator=(const Slots&) = delete;

  void wait_for_copies() noexcept {
    for (size_t i = 0; i < copied.size(); ++i)
      if (copying[i]) cudaEventSynchronize(copied[i]);
    copying = {};
  }

  // Room for `bytes` per slot. The staging memory is freed once no copy reads it; the old device buffer
  // lives on in the batches that view it.
  void grow(size_t bytes) {
    wait_for_copies();
    pinned_host_free(staging);
    staging = nullptr;
    slot_bytes = 0;
    staging = static_cast<char*>(pinned_host_alloc(2 * bytes));
    const Device d = device;
    device_buffer = std::shared_ptr<void>(device_alloc(d, 2 * bytes), [d](void* p) { device_free(d, p); });
    slot_bytes = bytes;
  }

  // The GPU path of upload() (batch_upload.h).
  LMBatch upload(const LMBatch& host, DType weight_dtype, int64_t vocab_size) {
    check_tensor(host.tokens, "tokens", DType::I32, {-1});
    const int64_t tokens = host.tokens.numel(), sequences = host.layout.num_seqs();
    check_tensor(host.labels, "labels", DType::I32, {tokens});
    check_tensor(host.layout.cu_seqlens, "cu_seqlens", DType::I32, {sequences + 1});
    check_tensor(host.layout.positions, "positions", DType::I32, {tokens});
    const bool weighted = host.loss_weights.defined();
    if (weighted) check_tensor(host.loss_weights, "loss_weights", host.loss_weights.dtype(), {tokens});
    for (const Tensor* t :
         {&host.tokens, &host.labels, &host.layout.cu_seqlens, &host.layout.positions, &host.loss_weights})
      STRAND_CHECK(!t->defined() || t->is_cpu(), "batch upload: the batch must be on the host, got {}",
                   t->str());
    STRAND_CHECK(current_cuda_device() == device, "batch upload to {}, but {} is this thread's device",
                 device.str(), current_cuda_device().str());
    host.check_ids(vocab_size);

    const Packing p = packing(tokens, sequences, weighted ? dtype_size(weight_dtype) : 0);
    if (p.bytes > slot_bytes) grow(p.bytes);
    const auto slot = static_cast<size_t>(next);
    next ^= 1;
    if (copying[slot]) cuda::check_cuda(cudaEventSynchronize(copied[slot]), "batch upload: staging reuse");

    char* stage = staging + slot * slot_bytes;
    const auto n = static_cast<size_t>(tokens);
    std::memcpy(stage + p.tokens, host.tokens.raw(), host.tokens.nbytes());
    std::memcpy(stage + p.labels, host.labels.raw(), host.labels.nbytes());
    if (weighted)
      convert_elements(host.loss_weights.raw(), host.loss_weights.dtype(), stage + p.weights, weight_dtype,
                       n);
    std::memcpy(stage + p.cu_seqlens, host.layout.cu_seqlens.raw(), host.layout.cu_seqlens.nbytes());
    std::memcpy(stage + p.positions, host.layout.positions.raw(), host.layout.positions.nbytes());

    char* dev = static_cast<char*>(device_buffer.get()) + slot * slot_bytes;
    const cudaStream_t stream = cuda::stream();
    cuda::check_cuda(cudaMemcpyAsync(dev, stage, p.bytes, cudaMemcpyHostToDevice, stream), "batch upload");
    cuda::check_cuda(cudaEventRecord(copied[slot], stream), "batch upload: event");
    copying[slot] = true;

    const auto view = [&](size_t at, const Shape& shape, DType dtype) {
      return Tensor::wrap(dev + at, shape, dtype, device, device_buffer);
    };
    LMBatch b;
    b.tokens = view(p.tokens, {tokens}, DType::I32);
    b.labels = view(p.labels, {tokens}, DType::I32);
    if (weighted) b.loss_weights = view(p.weights, {tokens}, weight_dtype);
    b.layout.cu_seqlens = view(p.cu_seqlens, {sequences + 1}, DType::I32);
    b.layout.positions = view(p.positions, {tokens}, DType::I32);
    b.layout.max_seqlen = host.layout.max_seqlen;
    return b;
  }
};

BatchUploader::BatchUploader(Device device, DType weight_dtype, int64_t vocab_size, BatchCapacity capacity)
    : device_(device), weight_dtype_(weight_dtype), vocab_size_(vocab_size) {
  if (device.type == DeviceType::CPU) return;
  slots_ = std::make_unique<Slots>(device);
  slots_->grow(packing(capacity.tokens, capacity.sequences, dtype_size(weight_dtype)).bytes);
}

#else

struct BatchUploader::Slots {};

BatchUploader::BatchUploader(Device device, DType weight_dtype, int64_t vocab_size, BatchCapacity)
    : device_(device), weight_dtype_(weight_dtype), vocab_size_(vocab_size) {
  STRAND_CHECK(device.type == DeviceType::CPU, "batch upload to {}, but this strand was built without CUDA",
               device.str());
}

#endif

BatchUploader::~BatchUploader() = default;

LMBatch BatchUploader::upload(const LMBatch& host) {
#if defined(STRAND_WITH_CUDA)
  if (slots_ != nullptr) return slots_->upload(host, weight_dtype_, vocab_size_);
#endif
  return host.to(device_, weight_dtype_, vocab_size_);
}

}  // namespace strand
