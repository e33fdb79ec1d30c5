#include "strand/train/trainer.h"

#include "strand/core/device_memory.h"
#include "strand/core/philox.h"
#include "strand/data/document_sources.h"
#include "strand/data/lm_batcher.h"
#include "strand/io/atomic_file.h"
#include "strand/io/checkpoint_dir.h"
#include "strand/io/hf_checkpoint.h"
#include "strand/ops/elementwise.h"
#include "strand/ops/precision.h"
#include "strand/ops/work_profile.h"
#include "strand/train/batch_upload.h"
#include "strand/train/checkpoint.h"
#include "strand/train/metrics.h"
#include "strand/train/optimizer.h"
#include "strand/train/work_report.h"

#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <map>
#include <optional>

namespace strand {
namespace {

namespace fs = std::filesystem;

std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) {
  g_stop_signal.store(sig);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

data::WindowOptions window_options(const TrainConfig& c, const data::Tokenizer& tok) {
  data::WindowOptions w;
  w.max_length = c.data.max_length;
  w.overlap = c.data.overlap;
  w.truncate = c.data.truncate;
  w.add_bos_eos = c.data.add_bos_eos;
  STRAND_CHECK(!w.add_bos_eos || tok.bos() >= 0,
               "data.add_bos_eos needs a tokenizer with a BOS token ('{}' has none)", tok.name());
  w.bos = tok.bos();
  w.eos = tok.eos();
  return w;
}

data::BatchOptions batch_options(const TrainConfig& c) {
  data::BatchOptions b;
  b.mode = c.batch.mode == "padded" ? data::BatchMode::Padded : data::BatchMode::Packed;
  b.tokens = c.batch.tokens;
  b.sequences = c.batch.sequences;
  b.max_length = c.data.max_length;
  return b;
}

data::ObjectiveOptions objective_options(const TrainConfig& c) {
  data::ObjectiveOptions o;
  o.objective = c.masked_lm() ? data::Objective::Masked : data::Objective::Causal;
  o.causal.mask_eod = c.loss.mask_eod;
  o.causal.lowercase_weight = c.loss.lowercase_weight;
  o.causal.mask_non_acgt = c.loss.mask_non_acgt;
  o.causal.mask_control_tags = c.loss.mask_control_tags;
  o.causal.uppercase_labels = c.loss.uppercase_labels;
  o.masked.mlm_probability = c.data.mlm_probability;
  o.masked.mask_replace_prob = c.data.mask_replace_prob;
  o.masked.random_replace_prob = c.data.random_replace_prob;
  return o;
}

// Fine-tuning start: weights from a HF directory (config.json present) or a strand checkpoint step directory.
void load_initial_weights(LanguageModel& model, const std::string& from) {
  if (fs::exists(fs::path(from) / "config.json")) {
    const auto source = io::load_hf_model(from);
    const nn::ParameterList src = source->parameters(), dst = model.parameters();
    STRAND_CHECK(src.size() == dst.size(), "{}: the model there differs from the configured one", from);
    for (size_t i = 0; i < src.size(); ++i) {
      STRAND_CHECK(src[i]->name == dst[i]->name && src[i]->value.shape() == dst[i]->value.shape(),
                   "{}: parameter {} {} differs from the configured {} {}", from, src[i]->name,
                   src[i]->value.shape().str(), dst[i]->name, dst[i]->value.shape().str());
      nn::assign(*dst[i], src[i]->value);
    }
    // ESM-2's contact head is no parameter, but travels with the weights to the export.
    auto* esm_dst = dynamic_cast<Esm2Model*>(&model);
    auto* esm_src = dynamic_cast<Esm2Model*>(source.get());
    if (esm_dst != nullptr && esm_src != nullptr) {
      esm_dst->contact_weight() = esm_src->contact_weight();
      esm_dst->contact_bias() = esm_src->contact_bias();
    }
  } else {
    verify_checkpoint(from);
    io::load_parameters(model.parameters(),
                        io::TensorStore::open((fs::path(from) / "model.safetensors").string()),
                        [](const std::string&) { return false; });
  }
  fmt::print("model: weights loaded from {}\n", from);
}

// Makes train.device this thread's device (checking that it exists) and places the model on it.
nn::Placement placement_of(const TrainConfig& c) {
  const Device device = parse_device(c.train.device, "train.device");
  if (device.type == DeviceType::CPU) return DType::F32;
  STRAND_CHECK(cuda_device_count() > 0,
               "train.device={}, but no CUDA GPU is visible (or this strand was built without CUDA)",
               c.train.device);
  try {
    select_device(device);
  } catch (const Error& e) {
    throw Error(fmt::format("train.device={}: {}", c.train.device, e.what()));
  }
  return nn::Placement::cuda(c.train.precision == "bf16" ? DType::BF16 : DType::F32);
}

// Model FLOPs of a training step over these micro-batches (DESIGN.md's definition, the model's attention).
double model_flops(const LanguageModel& model, const std::vector<LMBatch>& micro) {
  std::vector<int64_t> lengths;
  for (const LMBatch& b : micro) {
    const int32_t* cu = b.layout.cu_seqlens.data<int32_t>();
    for (int64_t i = 0; i < b.layout.num_seqs(); ++i) lengths.push_back(cu[i + 1] - cu[i]);
  }
  return model.training_flops(lengths);
}

// The configured model, uninitialised.
std::unique_ptr<LanguageModel> make_model(const TrainConfig& c, const nn::Placement& placement) {
  if (c.model.arch == "esm2") return std::make_unique<Esm2Model>(c.esm2_config(), placement);
  return std::make_unique<LlamaModel>(c.llama_config(), placement);
}

// One optimizer step's micro-batches, their joint loss weight, and the loader position before them.
struct StepBatches {
  std::vector<LMBatch> micro;
  double weight_sum = 0;
  data::LoaderPosition position;
};

struct EvalResult {
  double loss = NAN;
  int64_t tokens = 0;
};

EvalResult evaluate(LanguageModel& model, Arena& arena, BatchUploader& uploader,
                    const std::vector<LMBatch>& batches) {
  LossSums total;
  for (const LMBatch& b : batches) {
    arena.reset();
    const LossSums s = lm_loss(model, arena, uploader.upload(b)).sums;
    total.loss_sum += s.loss_sum;
    total.weight_sum += s.weight_sum;
    total.tokens += s.tokens;
  }
  EvalResult r;
  if (total.weight_sum > 0) r.loss = total.loss_sum / total.weight_sum;
  r.tokens = total.tokens;
  return r;
}

// Entropy (nats) of the counted targets' empirical distribution: the loss of the best context-free predictor.
double unigram_entropy(const std::vector<LMBatch>& batches) {
  std::map<int32_t, double> counts;
  double total = 0;
  for (const LMBatch& b : batches) {
    const int32_t* l = b.labels.data<int32_t>();
    for (int64_t t = 0; t < b.labels.numel(); ++t) {
      if (l[t] == kIgnoreIndex) continue;
      const double w = b.loss_weights.defined() ? b.loss_weights.data<float>()[t] : 1.0;
      counts[l[t]] += w;
      total += w;
    }
  }
  double h = 0;
  for (const auto& [id, n] : counts) h -= n / total * std::log(n / total);
  return total > 0 ? h : NAN;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

TrainResult train(const TrainConfig& c, const nlohmann::json& resolved_config) {
  if (c.train.threads > 0) omp_set_num_threads(static_cast<int>(c.train.threads));
  STRAND_CHECK(c.train.max_steps > 0, "train.max_steps must be positive, got {}", c.train.max_steps);
  STRAND_CHECK(c.batch.grad_accum > 0, "batch.grad_accum must be positive, got {}", c.batch.grad_accum);
  const ScheduleOptions schedule = c.schedule_options();
  validate_schedule(schedule);

  const data::Tokenizer tokenizer = data::Tokenizer::by_name(c.data.tokenizer);
  STRAND_CHECK(tokenizer.vocab_size() <= c.model.vocab_size,
               "the {} tokenizer has {} ids but model.vocab_size is {}", tokenizer.name(),
               tokenizer.vocab_size(), c.model.vocab_size);
  STRAND_CHECK(c.data.max_length <= c.model.max_position_embeddings,
               "data.max_length ({}) exceeds model.max_position_embeddings ({})", c.data.max_length,
               c.model.max_position_embeddings);
  STRAND_CHECK(
      !c.masked_lm() || tokenizer.mask() >= 0,
      "the masked objective needs a tokenizer with a mask token; {} has none (data.tokenizer=esm has one)",
      tokenizer.name());

  // Data.
  data::SourceOptions so{c.data.format, c.data.jsonl_field, c.data.skip_malformed};
  const auto train_docs = c.data.mock ? data::mock_documents(c.data.mock_documents, c.data.mock_length,
                                                             static_cast<uint64_t>(c.data.seed), tokenizer)
                                      : data::load_documents(c.data.train, so, tokenizer);
  const data::WindowOptions window = window_options(c, tokenizer);
  std::vector<data::Window> train_windows = data::make_windows(*train_docs, window), val_windows;
  std::shared_ptr<data::DocumentSource> val_docs;
  if (!c.data.val.empty() && !c.data.mock) {
    val_docs = data::load_documents(c.data.val, so, tokenizer);
    val_windows = data::make_windows(*val_docs, window);
  } else if (c.data.val_fraction > 0) {
    // Every window drawn below the fraction goes to validation (overlapping neighbours may share sequence).
    val_docs = train_docs;
    std::vector<data::Window> kept;
    for (uint64_t i = 0; i < train_windows.size(); ++i)
      (philox_uniform(static_cast<uint64_t>(c.data.seed), 1u << 20, i) < c.data.val_fraction ? val_windows
                                                                                             : kept)
          .push_back(train_windows[i]);
    train_windows = std::move(kept);
  }
  const data::BatchOptions batch = batch_options(c);
  const data::ObjectiveOptions objective = objective_options(c);
  data::TrainLoader loader(train_docs, std::move(train_windows), window, batch, objective, tokenizer,
                           static_cast<uint64_t>(c.data.seed));
  const std::vector<LMBatch> val_batches =
      val_docs ? data::evaluation_batches(*val_docs, val_windows, window, batch, objective, tokenizer,
                                          c.train.eval_batches, static_cast<uint64_t>(c.data.seed))
               : std::vector<LMBatch>{};
  fmt::print("data: {} training windows of up to {} tokens per epoch, {} validation batches\n",
             loader.windows_per_epoch(), c.data.max_length, val_batches.size());

  // Model and optimizer.
  const nn::Placement placement = placement_of(c);
  const std::unique_ptr<LanguageModel> model_ptr = make_model(c, placement);
  LanguageModel& model = *model_ptr;
  model.init(static_cast<uint64_t>(c.train.seed));
  STRAND_CHECK(c.train.recompute_layers >= 0, "train.recompute_layers must be >= 0, got {}",
               c.train.recompute_layers);
  model.set_recompute_layers(c.train.recompute_layers);
  if (!c.model.init_from.empty()) load_initial_weights(model, c.model.init_from);
  const nn::ParameterList params = model.parameters();
  AdamWSettings adamw_settings;
  adamw_settings.beta1 = c.optimizer.beta1;
  adamw_settings.beta2 = c.optimizer.beta2;
  adamw_settings.eps = c.optimizer.eps;
  adamw_settings.weight_decay = c.optimizer.weight_decay;
  adamw_settings.decay_embeddings = c.optimizer.decay_embeddings;
  adamw_settings.clip_grad = c.optimizer.clip_grad;
  AdamW optimizer(params, adamw_settings);
  int64_t parameter_count = 0;
  for (const nn::Parameter* p : params) parameter_count += p->value.numel();
  fmt::print("model: {}, {} parameters, {} layers, hidden {}, on {} computing in {}{}\n", model.arch(),
             parameter_count, model.num_layers(), model.hidden_size(), placement.device.str(),
             dtype_name(placement.compute), c.masked_lm() ? ", masked-token objective" : "");

  // Resume.
  CheckpointManager checkpoints(c.checkpoint_dir(), c.checkpoint.keep_last);
  int64_t step = 0;
  double consumed_tokens = 0;
  TrainResult result;
  if (c.checkpoint.resume) {
    if (const auto dir = checkpoints.newest_complete()) {
      const CheckpointContents ck = load_checkpoint(*dir);
      std::map<std::string, Tensor> by_name;
      for (const auto& t : ck.model) by_name[t.name] = t.tensor;
      for (const auto& t : ck.optimizer) by_name[t.name] = t.tensor;
      for (size_t i = 0; i < params.size(); ++i) {
        const std::string& n = params[i]->name;
        for (const auto& [key, dst] : {std::pair{n, params[i]->value},
                                       {n + ".exp_avg", optimizer.exp_avg()[i]},
                                       {n + ".exp_avg_sq", optimizer.exp_avg_sq()[i]}}) {
          const auto it = by_name.find(key);
          STRAND_CHECK(it != by_name.end(), "{}: checkpoint lacks tensor '{}'", *dir, key);
          STRAND_CHECK(it->second.shape() == dst.shape(), "{}: tensor '{}' has shape {}, expected {}", *dir,
                       key, it->second.shape().str(), dst.shape().str());
          Tensor(dst).copy_from(it->second);
        }
      }
      nn::refresh_compute(params);
      const nlohmann::json& st = ck.trainer_state;
      step = st.at("step").get<int64_t>();
      consumed_tokens = st.at("consumed_tokens").get<double>();
      loader.restore(
          {st.at("loader").at("epoch").get<uint64_t>(), st.at("loader").at("index").get<uint64_t>()});
      result.checkpoint = *dir;
      fmt::print("resume: step {} from {}\n", step, *dir);
    } else {
      fmt::print("resume: no complete checkpoint in {}; starting from scratch\n", c.checkpoint_dir());
    }
  }

  std::optional<StepBatches> prefetched;  // the next step's micro-batches, built before a step's sync
  auto save = [&](int64_t at_step) {
    CheckpointContents ck;
    // Checkpoints hold host copies: the same files whichever device trained.
    for (size_t i = 0; i < params.size(); ++i) {
      ck.model.push_back({params[i]->name, params[i]->value.to(Device::cpu())});
      ck.optimizer.push_back({params[i]->name + ".exp_avg", optimizer.exp_avg()[i].to(Device::cpu())});
      ck.optimizer.push_back({params[i]->name + ".exp_avg_sq", optimizer.exp_avg_sq()[i].to(Device::cpu())});
    }
    const data::LoaderPosition pos = prefetched ? prefetched->position : loader.position();
    ck.trainer_state = {{"step", at_step},
                        {"consumed_tokens", consumed_tokens},
                        {"loader", {{"epoch", pos.epoch}, {"index", pos.index}}},
                        {"data_seed", c.data.seed},
                        {"strand_version", STRAND_VERSION},
                        {"config", resolved_config}};
    result.checkpoint = checkpoints.save(at_step, ck);
  };

  // Metrics.
  fs::create_directories(c.run.dir);
  MetricLogger logger;
  logger.add(make_console_sink(c.train.max_steps, isatty(STDOUT_FILENO) != 0));
  if (c.run.jsonl) logger.add(make_jsonl_sink((fs::path(c.run.dir) / "metrics.jsonl").string()));
  if (c.run.tensorboard) logger.add(make_tensorboard_sink((fs::path(c.run.dir) / "tensorboard").string()));

  Arena arena(size_t{1} << 20, placement.device);
  const Tensor step_sums = Tensor::zeros({3}, DType::F64, placement.device);
  const bool on_gpu = placement.device.type == DeviceType::CUDA;
  BatchUploader uploader(placement.device, statistics_dtype(placement.device, model.dtype()),
                         model.vocab_size(), largest_micro_batch(batch));
  const Tensor step_sums_host =
      on_gpu ? pinned_host_tensor({3}, DType::F64) : Tensor::empty({3}, DType::F64);  // the loss read back
  uint64_t allocator_calls_logged = cuda_allocator_calls().total();
  double lr = 0;
  double window_loss = 0, window_weight = 0, window_tokens = 0, window_time = 0, window_flops = 0;
  int64_t window_steps = 0;
  const WorkProfiling profiling(c.train.profile);
  std::array<double, kWorkKinds> window_work_ms{};
  WorkTimes profiled;  // every step but the first (which builds GEMM plans and sizes the arena)
  int64_t profiled_steps = 0;
  double profiled_seconds = 0;
  result.final_val_loss = NAN;
  result.val_unigram_entropy = unigram_entropy(val_batches);

  auto run_eval = [&](int64_t at_step) {
    if (val_batches.empty()) return;
    const EvalResult e = evaluate(model, arena, uploader, val_batches);
    result.final_val_loss = e.loss;
    logger.write({at_step,
                  now_seconds(),
                  {{"val/loss", e.loss},
                   {"val/ppl", std::exp(e.loss)},
                   {"val/bits_per_base", e.loss / std::log(2.0)},
                   {"val/unigram_entropy", result.val_unigram_entropy}}});
  };

  const int64_t last_step =
      c.train.stop_at_step > 0 ? std::min(c.train.stop_at_step, c.train.max_steps) : c.train.max_steps;
  const int64_t first_step = step + 1;
  // A step's micro-batches come first: the loss is normalised by their joint weight sum. The next step's are
  // built while the GPU runs this one, so the host's packing and masking hide behind it; a checkpoint records
  // the loader position before them (prefetched->position), so a resumed run trains on exactly those batches.
  const auto fetch_step_batches = [&] {
    StepBatches b;
    b.position = loader.position();
    for (int64_t m = 0; m < c.batch.grad_accum; ++m) {
      b.micro.push_back(loader.next());
      const LMBatch& mb = b.micro.back();
      const int32_t* l = mb.labels.data<int32_t>();
      for (int64_t t = 0; t < mb.labels.numel(); ++t)
        if (l[t] != kIgnoreIndex)
          b.weight_sum += mb.loss_weights.defined() ? mb.loss_weights.data<float>()[t] : 1.0;
    }
    return b;
  };
  optimizer.zero_grads();
  while (step < last_step) {
    if (g_stop_signal.load() != 0) break;
    if (c.train.profile) take_work_times();  // drops what evaluation recorded
    const auto t0 = std::chrono::steady_clock::now();
    ++step;
    const StepBatches batches = prefetched ? std::move(*prefetched) : fetch_step_batches();
    prefetched.reset();
    const std::vector<LMBatch>& micro = batches.micro;
    const double weight_sum = batches.weight_sum;
    zero(step_sums);
    double step_tokens = 0;
    for (const LMBatch& b : micro) {
      arena.reset();
      if (weight_sum > 0) lm_loss_accumulate(model, arena, uploader.upload(b), weight_sum, step_sums);
      step_tokens += static_cast<double>(b.tokens.numel());
    }
    lr = learning_rate(schedule, step);
    if (weight_sum > 0) optimizer.step(lr, step);
    // The next step's gradients are cleared (on the GPU, marked pending zero) and its batches built while
    // the GPU still runs this one.
    optimizer.zero_grads();
    if (step < last_step) prefetched = fetch_step_batches();
    // The step's one synchronisation: its loss (and, below, its gradient norm) read back.
    Tensor(step_sums_host).copy_from(step_sums);
    const double loss_sum = step_sums_host.item(0);
    const double loss = weight_sum > 0 ? loss_sum / weight_sum : NAN;
    STRAND_CHECK(std::isfinite(loss) || weight_sum == 0,
                 "loss is {} at step {}: training diverged (lower optimizer.lr, or check the data); the last "
                 "checkpoint is {}",
                 loss, step, result.checkpoint.empty() ? "none" : result.checkpoint);
    // The first step sizes the arena (growing by doubling, then merged to what it used): the logged peak is
    // that of the steady state, as the PyTorch peer's is after its warm-up.
    if (on_gpu && step == first_step) {
      arena.reset();  // merge the first step's chained blocks before the peak starts counting
      reset_cuda_peak_allocated_bytes();
    }
    consumed_tokens += step_tokens;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    window_loss += loss_sum;
    window_weight += weight_sum;
    window_tokens += step_tokens;
    window_time += dt;
    window_flops += model_flops(model, micro);
    ++window_steps;
    if (c.train.profile) {
      const WorkTimes times = take_work_times();
      for (size_t k = 0; k < kWorkKinds; ++k) window_work_ms[k] += times.by_kind[k];
      if (step != first_step) {
        merge_work_times(profiled, times);
        ++profiled_steps;
        profiled_seconds += dt;
      }
    }
    result.final_train_loss = loss;

    if (step % c.train.log_every == 0 || step == c.train.max_steps) {
      std::map<std::string, double> metrics = {
          {"train/loss", window_weight > 0 ? window_loss / window_weight : NAN},
          {"train/lr", lr},
          {"train/grad_norm", optimizer.last_grad_norm()},
          {"train/tokens_per_s", window_tokens / window_time},
          {"train/step_time_s", window_time / static_cast<double>(window_steps)},
          {"train/consumed_tokens", consumed_tokens}};
      if (on_gpu) {
        metrics["train/mfu"] = window_flops / window_time / (c.train.peak_tflops * 1e12);
        metrics["train/peak_gpu_memory_gib"] =
            static_cast<double>(cuda_peak_allocated_bytes()) / static_cast<double>(1 << 30);
        // Allocator calls since the last record: 0 in steady steps, which must neither allocate nor free.
        const uint64_t calls = cuda_allocator_calls().total();
        metrics["train/device_allocations"] = static_cast<double>(calls - allocator_calls_logged);
        allocator_calls_logged = calls;
      }
      if (c.train.profile) {
        const auto steps = static_cast<double>(window_steps);
        double timed_ms = 0;
        for (size_t k = 0; k < kWorkKinds; ++k) {
          metrics[fmt::format("time/{}_ms", work_kind_name(static_cast<WorkKind>(k)))] =
              window_work_ms[k] / steps;
          timed_ms += window_work_ms[k];
        }
        metrics["time/other_ms"] = (window_time * 1e3 - timed_ms) / steps;
        window_work_ms = {};
      }
      logger.write({step, now_seconds(), metrics});
      window_loss = window_weight = window_tokens = window_time = window_flops = 0;
      window_steps = 0;
    }
    if (c.train.eval_every > 0 && step % c.train.eval_every == 0 && step != last_step) run_eval(step);
    if (c.checkpoint.save_every > 0 && step % c.checkpoint.save_every == 0 && step != last_step) save(step);
  }
  if (profiled_steps > 0) {
    const std::string path = (fs::path(c.run.dir) / "profile.tsv").string();
    io::write_file_atomic(path, work_report_tsv(profiled, profiled_steps, profiled_seconds));
    fmt::print("\nTime per step by op over steps {}-{} (all ops: {})\n{}", first_step + 1, step, path,
               work_report_table(profiled, profiled_steps, profiled_seconds, 25));
  }
  if (step < c.train.max_steps && g_stop_signal.load() == 0) {
    save(step);
    logger.flush();
    result.final_step = step;
    result.interrupted = true;
    fmt::print(
        "strand: stopped after step {} as train.stop_at_step asks; checkpoint {} (continue with "
        "checkpoint.resume=true)\n",
        step, result.checkpoint);
    return result;
  }

  if (const int sig = g_stop_signal.load(); sig != 0) {
    save(step);
    logger.flush();
    result.interrupted = true;
    result.final_step = step;
    fmt::print(
        "\nstrand: stopped by {} after step {}; checkpoint {} (continue with checkpoint.resume=true)\n",
        sig == SIGTERM ? "SIGTERM" : "SIGINT", step, result.checkpoint);
    return result;
  }
  run_eval(step);
  if (c.checkpoint.at_end) save(step);
  logger.flush();
  result.final_step = step;
  if (c.export_.hf) {
    result.export_dir = c.export_dir();
    io::save_hf_model(model, result.export_dir, c.export_.dtype == "bf16" ? DType::BF16 : DType::F32);
    tokenizer.write_hf_files(result.export_dir);
  }
  return result;
}

}  // namespace strand
