#include "strand/train/trainer.h"

#include "strand/core/device_memory.h"
#include "strand/core/philox.h"
#include "strand/core/progress.h"
#include "strand/data/document_sources.h"
#include "strand/data/lm_batcher.h"
#include "strand/data/markov_baseline.h"
#include "strand/interop/hf_checkpoint.h"
#include "strand/io/atomic_file.h"
#include "strand/io/checkpoint_dir.h"
#include "strand/io/stale_temporaries.h"
#include "strand/models/registry.h"
#include "strand/ops/elementwise.h"
#include "strand/ops/precision.h"
#include "strand/ops/work_profile.h"
#include "strand/train/batch_upload.h"
#include "strand/train/checkpoint.h"
#include "strand/train/loss_plot.h"
#include "strand/train/metrics.h"
#include "strand/train/optimizer.h"
#include "strand/train/resume_check.h"
#include "strand/train/run_directory.h"
#include "strand/train/work_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
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

// Datasets preprocessed with --add-bos/--append-eod hold them already: windows add none again.
bool documents_hold_bos_or_eod(const TrainConfig& c) {
  if (c.data.mock) return false;
  std::vector<std::string> inputs = c.data.train;
  for (const data::NamedInputs& set : data::group_named_inputs(c.data.val))
    inputs.insert(inputs.end(), set.paths.begin(), set.paths.end());
  const std::vector<std::string> holding =
      data::inputs_holding_bos_or_eod(inputs, {c.data.format, c.data.jsonl_field, c.data.skip_malformed});
  if (holding.empty()) return false;
  fmt::print(
      stderr,
      "strand: warning: {} already hold BOS/EOD (strand preprocess --add-bos/--append-eod, recorded in "
      "<prefix>.strand.json): windows add none again, as with data.add_bos_eos=false\n",
      fmt::join(holding, ", "));
  return true;
}

data::WindowOptions window_options(const TrainConfig& c, const data::Tokenizer& tok) {
  data::WindowOptions w;
  w.max_length = c.data.max_length;
  w.overlap = c.data.overlap;
  w.truncate = c.data.truncate;
  w.add_bos_eos = c.data.add_bos_eos && !documents_hold_bos_or_eod(c);
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
// The config.json keys on which two models of one family differ, as "key: there X, configured Y".
std::vector<std::string> hf_config_differences(const LanguageModel& there, const LanguageModel& configured) {
  const ModelFamily& family = model_family_of(configured);
  const nlohmann::json a = family.to_hf_config(there, DType::F32),
                       b = family.to_hf_config(configured, DType::F32);
  std::vector<std::string> out;
  for (const auto& [key, value] : b.items())
    if (!a.contains(key) || a[key] != value)
      out.push_back(fmt::format("{} is {} there, {} configured", key,
                                a.contains(key) ? a[key].dump() : "absent", value.dump()));
  return out;
}

void load_initial_weights(LanguageModel& model, const std::string& from) {
  if (interop::is_hf_model_directory(from)) {
    const auto source = interop::load_hf_model(from);
    STRAND_CHECK(source->arch() == model.arch(), "model.init_from={} holds a {} model, but model.arch is {}",
                 from, source->arch(), model.arch());
    const std::vector<std::string> differences = hf_config_differences(*source, model);
    STRAND_CHECK(
        differences.empty(),
        "model.init_from={}: its config.json differs from the configured model: {} (leave the recipe's "
        "model section out to take the architecture from config.json)",
        from, fmt::join(differences, "; "));
    const nn::ParameterList src = source->parameters(), dst = model.parameters();
    STRAND_CHECK(src.size() == dst.size(), "{}: the model there differs from the configured one", from);
    for (size_t i = 0; i < src.size(); ++i) {
      STRAND_CHECK(src[i]->name == dst[i]->name && src[i]->value.shape() == dst[i]->value.shape(),
                   "{}: parameter {} {} differs from the configured {} {}", from, src[i]->name,
                   src[i]->value.shape().str(), dst[i]->name, dst[i]->value.shape().str());
      nn::assign(*dst[i], src[i]->value);
    }
    // Buffers (ESM-2's contact head) are no parameters, but travel with the weights to the export.
    const std::vector<ModelBuffer> src_buffers = source->buffers(), dst_buffers = model.buffers();
    for (size_t i = 0; i < src_buffers.size() && i < dst_buffers.size(); ++i)
      if (src_buffers[i].name == dst_buffers[i].name) *dst_buffers[i].value = *src_buffers[i].value;
  } else {
    verify_checkpoint(from);
    interop::load_parameters(model.parameters(),
                             io::TensorStore::open((fs::path(from) / "model.safetensors").string()),
                             [](const std::string&) { return false; });
  }
  fmt::print("model: weights loaded from {}\n", from);
}

// Makes train.device this thread's device (checking that it exists) and places the model on it.
nn::Placement placement_of(const TrainConfig& c) {
  const Device device = select_requested_device(c.train.device, "train.device");
  if (device.type == DeviceType::CPU) return DType::F32;
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

// One optimizer step's micro-batches, their joint loss weight, and the loader position before them.
struct StepBatches {
  std::vector<LMBatch> micro;
  double weight_sum = 0;
  data::LoaderPosition position;
};

// One validation set: its batches, and the baselines its loss is read against.
struct ValSet {
  std::string name;  // metrics under val/<name>/ (val/ when empty)
  std::vector<LMBatch> batches;
  double unigram_entropy = NAN;
  double markov_loss = NAN;  // NaN without a Markov baseline
  std::string metric(const std::string& what) const {
    return name.empty() ? "val/" + what : "val/" + name + "/" + what;
  }
};

struct EvalResult {
  double loss = NAN;
  int64_t tokens = 0;
};

// On a terminal, a progress line while it runs (a whole validation set can take minutes on a CPU).
EvalResult evaluate(LanguageModel& model, Arena& arena, BatchUploader& uploader,
                    const std::vector<LMBatch>& batches, const std::string& set_name) {
  LossSums total;
  Progress progress(fmt::format("strand train: validation{}", set_name.empty() ? "" : " " + set_name),
                    "batches");
  progress.set_total(static_cast<int64_t>(batches.size()));
  for (const LMBatch& b : batches) {
    arena.reset();
    const LossSums s = lm_loss(model, arena, uploader.upload(b)).sums;
    total.loss_sum += s.loss_sum;
    total.weight_sum += s.weight_sum;
    total.tokens += s.tokens;
    progress.advance();
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

// One training run, in phases. Set-up: data, model and optimizer, resume, metrics. Each step then runs
//   fetch       the step's micro-batches on the host (built while the GPU ran the step before) and their
//               label weight, summed over ranks into the loss normaliser;
//   upload and forward/backward, micro-batch by micro-batch: each goes through the pinned staging buffer
//               into the device batch arena (BatchUploader), and the last one's backward reports finished
//               gradients to the sync;
//   sync        every gradient reduced (GradientSync::finish);
//   optimizer   clip and update;
//   bookkeeping the step's one read-back (its loss), metrics, evaluation and checkpoints;
// and the stop decision, taken with every rank.
class Trainer {
 public:
  Trainer(const TrainConfig& c, const ConfigSchema& schema, GradientSync& sync)
      : c_(c), resolved_config_(schema.to_json()), resolved_yaml_(schema.to_yaml()), sync_(sync) {}

  TrainResult run();

 private:
  void check_earlier_outputs() const;
  void claim_run_directory();
  void check_memory() const;
  void load_data();
  void fit_markov_baseline(const data::DocumentSource& docs, const std::vector<data::Window>& windows,
                           const data::WindowOptions& window, const data::BatchOptions& batch,
                           const data::ObjectiveOptions& objective);
  void build_model();
  void resume();
  void open_metrics();

  StepBatches fetch();
  void forward_backward(const std::vector<LMBatch>& micro, double normaliser);
  void bookkeeping(const StepBatches& batches, double normaliser,
                   std::chrono::steady_clock::time_point start);
  bool stop_requested(int64_t last_step);

  void check_update(int64_t at_step);
  void save(int64_t at_step);
  std::vector<io::NamedTensor> host_weights() const;
  void check_finite(const std::vector<io::NamedTensor>& weights, int64_t at_step, const char* what) const;
  void run_eval(int64_t at_step);
  void log_window();
  void write_profile_report();

  const TrainConfig& c_;
  const nlohmann::json resolved_config_;
  const std::string resolved_yaml_;
  GradientSync& sync_;
  TrainResult result_;
  std::optional<RunDirectoryLock> run_dir_lock_;

  // Data.
  std::optional<data::Tokenizer> tokenizer_;
  std::optional<data::TrainLoader> loader_;
  std::vector<ValSet> val_sets_;
  std::optional<StepBatches> prefetched_;  // the next step's micro-batches, built before a step's sync

  // Model and optimizer.
  nn::Placement placement_;
  std::unique_ptr<LanguageModel> model_;
  nn::ParameterList params_;
  std::unique_ptr<AdamW> optimizer_;
  std::unique_ptr<Arena> arena_;
  std::unique_ptr<BatchUploader> uploader_;
  Tensor step_sums_;       // F64 [3] on the model's device: the step's loss sums (lm_loss_accumulate)
  Tensor step_sums_host_;  // their read-back, pinned on a GPU
  bool on_gpu_ = false;
  uint64_t allocator_calls_logged_ = 0;  // device allocations and frees up to the last metrics record

  // Progress.
  std::optional<CheckpointManager> checkpoints_;
  int64_t step_ = 0;
  int64_t first_step_ = 1;
  double consumed_tokens_ = 0;
  double lr_ = 0;
  int64_t skipped_in_a_row_ = 0;  // consecutive steps whose gradient norm was not finite
  double grad_norm_ = 0;          // the last update's, read back once by check_update

  // Metrics.
  MetricLogger logger_;
  double window_loss_ = 0, window_weight_ = 0, window_tokens_ = 0, window_time_ = 0, window_flops_ = 0;
  int64_t window_steps_ = 0;
  std::array<double, kWorkKinds> window_work_ms_{};
  WorkTimes profiled_;  // every step but the first (which builds GEMM plans and sizes the arena)
  int64_t profiled_steps_ = 0;
  double profiled_seconds_ = 0;
};

void Trainer::load_data() {
  tokenizer_.emplace(data::Tokenizer::by_name(c_.data.tokenizer));
  const data::Tokenizer& tokenizer = *tokenizer_;
  const LanguageModel& model = *model_;
  STRAND_CHECK(tokenizer.vocab_size() <= model.vocab_size(),
               "the {} tokenizer has {} ids but model.vocab_size is {}", tokenizer.name(),
               tokenizer.vocab_size(), model.vocab_size());
  STRAND_CHECK(model.max_positions() <= 0 || c_.data.max_length <= model.max_positions(),
               "data.max_length ({}) exceeds model.max_position_embeddings ({})", c_.data.max_length,
               model.max_positions());
  STRAND_CHECK(
      !c_.masked_lm() || tokenizer.mask() >= 0,
      "the masked objective needs a tokenizer with a mask token; {} has none (data.tokenizer=esm has one)",
      tokenizer.name());

  data::SourceOptions so{c_.data.format, c_.data.jsonl_field, c_.data.skip_malformed};
  const auto train_docs = c_.data.mock ? data::mock_documents(c_.data.mock_documents, c_.data.mock_length,
                                                              static_cast<uint64_t>(c_.data.seed), tokenizer)
                                       : data::load_documents(c_.data.train, so, tokenizer);
  const data::WindowOptions window = window_options(c_, tokenizer);
  std::vector<data::Window> train_windows = data::make_windows(*train_docs, window), val_windows;
  const data::BatchOptions batch = batch_options(c_);
  const data::ObjectiveOptions objective = objective_options(c_);
  const auto add_val_set = [&](const std::string& name, const data::DocumentSource& docs,
                               const std::vector<data::Window>& windows) {
    val_sets_.push_back(
        {name, data::evaluation_batches(docs, windows, window, batch, objective, tokenizer,
                                        c_.train.eval_batches, static_cast<uint64_t>(c_.data.seed))});
  };
  if (!c_.data.val.empty() && !c_.data.mock) {
    for (const data::NamedInputs& set : data::group_named_inputs(c_.data.val)) {
      const auto docs = data::load_documents(set.paths, so, tokenizer);
      add_val_set(set.name, *docs, data::make_windows(*docs, window));
    }
  } else if (c_.data.val_fraction > 0) {
    // Every window drawn below the fraction goes to validation (overlapping neighbours may share sequence).
    std::vector<data::Window> kept;
    for (uint64_t i = 0; i < train_windows.size(); ++i)
      (philox_uniform(static_cast<uint64_t>(c_.data.seed), 1u << 20, i) < c_.data.val_fraction ? val_windows
                                                                                               : kept)
          .push_back(train_windows[i]);
    train_windows = std::move(kept);
    add_val_set("", *train_docs, val_windows);
  }
  for (ValSet& v : val_sets_) v.unigram_entropy = unigram_entropy(v.batches);
  if (c_.train.markov_order > 0 && !c_.masked_lm() && !val_sets_.empty())
    fit_markov_baseline(*train_docs, train_windows, window, batch, objective);
  loader_.emplace(train_docs, std::move(train_windows), window, batch, objective, tokenizer,
                  static_cast<uint64_t>(c_.data.seed));
  size_t val_batches = 0;
  for (const ValSet& v : val_sets_) val_batches += v.batches.size();
  fmt::print("data: {} training windows of up to {} tokens per epoch, {} validation batches\n",
             loader_->windows_per_epoch(), c_.data.max_length, val_batches);
}

// The Markov baseline is fitted on the training windows as the loader batches them (the same targets and
// weights), a slice at a time, so that only the counts stay in memory; large datasets are fitted on their
// first kMarkovFitTokens tokens.
void Trainer::fit_markov_baseline(const data::DocumentSource& docs, const std::vector<data::Window>& windows,
                                  const data::WindowOptions& window, const data::BatchOptions& batch,
                                  const data::ObjectiveOptions& objective) {
  constexpr uint64_t kMarkovFitTokens = uint64_t{1} << 24;
  constexpr size_t kSlice = 512;
  data::MarkovBaseline markov(static_cast<int>(c_.train.markov_order), tokenizer_->vocab_size());
  uint64_t fitted = 0;
  for (size_t first = 0; first < windows.size() && fitted < kMarkovFitTokens; first += kSlice) {
    const std::vector<data::Window> slice(
        windows.begin() + static_cast<int64_t>(first),
        windows.begin() + static_cast<int64_t>(std::min(first + kSlice, windows.size())));
    for (const LMBatch& b : data::evaluation_batches(docs, slice, window, batch, objective, *tokenizer_, 0,
                                                     static_cast<uint64_t>(c_.data.seed))) {
      markov.fit(b);
      fitted += static_cast<uint64_t>(b.tokens.numel());
    }
  }
  for (ValSet& v : val_sets_) v.markov_loss = markov.loss(v.batches);
  fmt::print("data: order-{} Markov baseline fitted on {} training tokens\n", markov.order(), fitted);
}

void Trainer::build_model() {
  placement_ = placement_of(c_);
  on_gpu_ = placement_.device.type == DeviceType::CUDA;
  model_ = c_.build_model(placement_);
}

// A fresh run where an earlier one left outputs refuses before any work, unless run.overwrite removes them
// (once the run holds the directory's lock, so that a live run's files are never removed).
void Trainer::check_earlier_outputs() const {
  if (c_.checkpoint.resume || c_.run.overwrite) return;
  const std::vector<std::string> earlier = existing_outputs(c_.run_outputs());
  STRAND_CHECK(
      earlier.empty(),
      "run.dir {} holds an earlier run's outputs ({}): continue it with checkpoint.resume=true, start "
      "afresh with run.overwrite=true (deleting them), or give another run.dir",
      c_.run.dir, fmt::join(earlier, ", "));
}

// Before anything is written, once the recipe, model and data are known to be good (so that a bad recipe
// leaves no run directory behind): the lock, and run.overwrite's removal.
void Trainer::claim_run_directory() {
  run_dir_lock_.emplace(c_.run.dir);
  // What a killed run's writers left: temporary files beside the outputs, temporary checkpoint directories.
  for (const std::string& dir : {c_.run.dir, c_.export_dir()}) io::remove_stale_temporaries(dir);
  CheckpointManager(c_.checkpoint_dir(), c_.checkpoint.keep_last).remove_stale_directories();
  if (c_.checkpoint.resume || !c_.run.overwrite) return;
  const std::vector<std::string> earlier = existing_outputs(c_.run_outputs());
  if (earlier.empty()) return;
  remove_outputs(earlier);
  fmt::print("run.overwrite: removed {}\n", fmt::join(earlier, ", "));
}

// What training will hold besides the weights (checked by the model before it allocated them): gradients and
// AdamW's two moments, and a lower bound of a micro-batch's activations (each block keeps at least its
// input, its attention output and its MLP input, plus the logits).
void Trainer::check_memory() const {
  double parameters = 0;
  for (const nn::Parameter* p : model_->parameters()) parameters += static_cast<double>(p->value.numel());
  const double state = parameters * 3 * static_cast<double>(dtype_size(placement_.master));
  const double tokens = c_.batch.mode == "padded" ? static_cast<double>(c_.batch.sequences) *
                                                        static_cast<double>(c_.data.max_length)
                                                  : static_cast<double>(c_.batch.tokens);
  const double per_token = 3.0 * static_cast<double>(model_->num_layers() * model_->hidden_size()) +
                           2.0 * static_cast<double>(model_->vocab_size());
  const double activations = tokens * per_token * static_cast<double>(dtype_size(placement_.compute));
  check_memory_available(
      placement_.device, state + activations,
      fmt::format("training (gradients and AdamW moments of {:.3g} parameters, and at least "
                  "{:.3g} GiB of activations for a micro-batch of {:.3g} tokens: batch.{})",
                  parameters, activations / (1 << 30), tokens,
                  c_.batch.mode == "padded" ? "sequences" : "tokens"));
}

void Trainer::resume() {
  if (!c_.checkpoint.resume) return;
  const auto dir = checkpoints_->newest_complete();
  if (!dir) {
    std::vector<std::string> unusable;
    checkpoints_->list_complete(&unusable);
    STRAND_CHECK(
        unusable.empty(),
        "checkpoint.resume=true, but no checkpoint in {} is usable, and they are kept as they are: {}",
        c_.checkpoint_dir(), fmt::join(unusable, "; "));
    const int64_t dropped = truncate_metrics_log((fs::path(c_.run.dir) / "metrics.jsonl").string(), 0);
    fmt::print(
        "resume: no checkpoint in {} yet; starting from step 0{}\n", c_.checkpoint_dir(),
        dropped > 0 ? fmt::format(" ({} metric records of the interrupted start dropped)", dropped) : "");
    return;
  }
  const CheckpointContents ck = load_checkpoint(*dir);
  const nlohmann::json& state = ck.trainer_state;
  if (state.contains("config"))
    for (const std::string& change : check_resume_config(state["config"], resolved_config_, *dir))
      fmt::print("resume: {}\n", change);
  const int64_t saved_step = state.at("step").get<int64_t>();
  STRAND_CHECK(saved_step <= c_.train.max_steps,
               "checkpoint {} is at step {}, beyond train.max_steps={}: it belongs to a longer run (raise "
               "train.max_steps to continue it, or start afresh with run.overwrite=true)",
               *dir, saved_step, c_.train.max_steps);
  std::map<std::string, Tensor> by_name;
  for (const auto& t : ck.model) by_name[t.name] = t.tensor;
  for (const auto& t : ck.optimizer) by_name[t.name] = t.tensor;
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& n = params_[i]->name;
    for (const auto& [key, dst] : {std::pair{n, params_[i]->value},
                                   {n + ".exp_avg", optimizer_->exp_avg()[i]},
                                   {n + ".exp_avg_sq", optimizer_->exp_avg_sq()[i]}}) {
      const auto it = by_name.find(key);
      STRAND_CHECK(it != by_name.end(), "{}: checkpoint lacks tensor '{}'", *dir, key);
      STRAND_CHECK(it->second.shape() == dst.shape(), "{}: tensor '{}' has shape {}, expected {}", *dir, key,
                   it->second.shape().str(), dst.shape().str());
      Tensor(dst).copy_from(it->second);
    }
  }
  nn::refresh_compute(params_);
  const nlohmann::json& st = ck.trainer_state;
  step_ = st.at("step").get<int64_t>();
  consumed_tokens_ = st.at("consumed_tokens").get<double>();
  loader_->restore(
      {st.at("loader").at("epoch").get<uint64_t>(), st.at("loader").at("index").get<uint64_t>()});
  result_.checkpoint = *dir;
  const int64_t dropped = truncate_metrics_log((fs::path(c_.run.dir) / "metrics.jsonl").string(), step_);
  fmt::print("resume: step {} from {}{}\n", step_, *dir,
             dropped > 0 ? fmt::format(" (metrics.jsonl: {} records after it dropped)", dropped) : "");
}

void Trainer::open_metrics() {
  io::write_file_atomic(c_.saved_config_path(), resolved_yaml_);
  logger_.add(make_console_sink(c_.train.max_steps, isatty(STDOUT_FILENO) != 0));
  if (c_.run.jsonl) logger_.add(make_jsonl_sink((fs::path(c_.run.dir) / "metrics.jsonl").string()));
  if (c_.run.tensorboard) logger_.add(make_tensorboard_sink((fs::path(c_.run.dir) / "tensorboard").string()));
  if (c_.run.plot) logger_.add(make_loss_plot_sink((fs::path(c_.run.dir) / "loss.png").string()));
}

// A step's micro-batches come first: the loss is normalised by their joint weight sum (over every rank).
StepBatches Trainer::fetch() {
  StepBatches b;
  b.position = loader_->position();
  for (int64_t m = 0; m < c_.batch.grad_accum; ++m) {
    b.micro.push_back(loader_->next());
    const LMBatch& mb = b.micro.back();
    const int32_t* l = mb.labels.data<int32_t>();
    for (int64_t t = 0; t < mb.labels.numel(); ++t)
      if (l[t] != kIgnoreIndex)
        b.weight_sum += mb.loss_weights.defined() ? mb.loss_weights.data<float>()[t] : 1.0;
  }
  return b;
}

void Trainer::forward_backward(const std::vector<LMBatch>& micro, double normaliser) {
  for (size_t i = 0; i < micro.size(); ++i) {
    arena_->reset();
    // Only the last micro-batch's backward leaves final gradients to reduce.
    if (i + 1 == micro.size())
      model_->set_gradients_ready([this](const nn::ParameterList& p) { sync_.gradients_ready(p); });
    lm_loss_accumulate(*model_, *arena_, uploader_->upload(micro[i]), normaliser, step_sums_);
    model_->set_gradients_ready({});
  }
}

bool Trainer::stop_requested(int64_t last_step) {
  return sync_.any(g_stop_signal.load() != 0 || step_ >= last_step);
}

// A skipped update (non-finite gradient norm, decided on the device) left the weights as they were; too many
// in a row stop the run.
void Trainer::check_update(int64_t at_step) {
  const double norm = grad_norm_ = optimizer_->last_grad_norm();
  if (std::isfinite(norm)) {
    skipped_in_a_row_ = 0;
    return;
  }
  ++skipped_in_a_row_;
  ++result_.skipped_steps;
  STRAND_CHECK(
      skipped_in_a_row_ <= c_.train.max_skipped_steps,
      "the gradient norm is {} at step {}, {} step(s) in a row (train.max_skipped_steps={}): training "
      "diverged (lower optimizer.lr, or check the data); the weights are those before these steps, "
      "and the last checkpoint is {}",
      norm, at_step, skipped_in_a_row_, c_.train.max_skipped_steps,
      result_.checkpoint.empty() ? "none" : result_.checkpoint);
  std::fprintf(stderr, "strand: warning: the gradient norm is %g at step %lld: the update was skipped\n",
               norm, static_cast<long long>(at_step));
}

// Nothing non-finite is ever written: neither a checkpoint (which would replace good ones) nor an export.
std::vector<io::NamedTensor> Trainer::host_weights() const {
  std::vector<io::NamedTensor> out;
  for (const nn::Parameter* p : params_) out.push_back({p->name, p->value.to(Device::cpu())});
  return out;
}

void Trainer::check_finite(const std::vector<io::NamedTensor>& weights, int64_t at_step,
                           const char* what) const {
  for (const auto& [name, host] : weights) {
    const float* v = host.data<float>();
    for (int64_t i = 0; i < host.numel(); ++i)
      STRAND_CHECK(
          std::isfinite(v[i]),
          "{} holds {} after step {}: training diverged (lower optimizer.lr; optimizer.eps=0 divides by "
          "zero where a gradient is 0); not writing the {}; the last good checkpoint is {}",
          name, v[i], at_step, what, result_.checkpoint.empty() ? "none" : result_.checkpoint);
  }
}

void Trainer::save(int64_t at_step) {
  CheckpointContents ck;
  // Checkpoints hold host copies: the same files whichever device trained.
  ck.model = host_weights();
  check_finite(ck.model, at_step, "checkpoint");
  for (size_t i = 0; i < params_.size(); ++i) {
    ck.optimizer.push_back({params_[i]->name + ".exp_avg", optimizer_->exp_avg()[i].to(Device::cpu())});
    ck.optimizer.push_back({params_[i]->name + ".exp_avg_sq", optimizer_->exp_avg_sq()[i].to(Device::cpu())});
  }
  const data::LoaderPosition pos = prefetched_ ? prefetched_->position : loader_->position();
  ck.trainer_state = {{"step", at_step},
                      {"consumed_tokens", consumed_tokens_},
                      {"loader", {{"epoch", pos.epoch}, {"index", pos.index}}},
                      {"data_seed", c_.data.seed},
                      {"strand_version", STRAND_VERSION},
                      {"config", resolved_config_}};
  result_.checkpoint = checkpoints_->save(at_step, ck);
}

void Trainer::run_eval(int64_t at_step) {
  if (val_sets_.empty()) return;
  MetricRecord record{at_step, now_seconds(), {}};
  for (size_t i = 0; i < val_sets_.size(); ++i) {
    const ValSet& v = val_sets_[i];
    const EvalResult e = evaluate(*model_, *arena_, *uploader_, v.batches, v.name);
    if (i == 0) result_.final_val_loss = e.loss;
    record.scalars[v.metric("loss")] = e.loss;
    record.scalars[v.metric("ppl")] = std::exp(e.loss);
    record.scalars[v.metric("bits_per_base")] = e.loss / std::log(2.0);
    record.scalars[v.metric("unigram_entropy")] = v.unigram_entropy;
    if (!std::isnan(v.markov_loss)) record.scalars[v.metric("markov_loss")] = v.markov_loss;
  }
  logger_.write(record);
}

void Trainer::log_window() {
  std::map<std::string, double> metrics = {
      {"train/loss", window_weight_ > 0 ? window_loss_ / window_weight_ : NAN},
      {"train/lr", lr_},
      {"train/grad_norm", grad_norm_},
      {"train/tokens_per_s", window_tokens_ / window_time_},
      {"train/step_time_s", window_time_ / static_cast<double>(window_steps_)},
      {"train/consumed_tokens", consumed_tokens_}};
  if (on_gpu_) {
    metrics["train/mfu"] = window_flops_ / window_time_ / (c_.train.peak_tflops * 1e12);
    metrics["train/peak_gpu_memory_gib"] =
        static_cast<double>(cuda_peak_allocated_bytes()) / static_cast<double>(1 << 30);
    // Allocator calls since the last record: 0 in steady steps, which must neither allocate nor free.
    const uint64_t calls = cuda_allocator_calls().total();
    metrics["train/device_allocations"] = static_cast<double>(calls - allocator_calls_logged_);
    allocator_calls_logged_ = calls;
  }
  if (c_.train.profile) {
    const auto steps = static_cast<double>(window_steps_);
    double timed_ms = 0;
    for (size_t k = 0; k < kWorkKinds; ++k) {
      metrics[fmt::format("time/{}_ms", work_kind_name(static_cast<WorkKind>(k)))] =
          window_work_ms_[k] / steps;
      timed_ms += window_work_ms_[k];
    }
    metrics["time/other_ms"] = (window_time_ * 1e3 - timed_ms) / steps;
    window_work_ms_ = {};
  }
  logger_.write({step_, now_seconds(), metrics});
  window_loss_ = window_weight_ = window_tokens_ = window_time_ = window_flops_ = 0;
  window_steps_ = 0;
}

// The step's one synchronisation: its loss (and, when logged, its gradient norm) read back.
void Trainer::bookkeeping(const StepBatches& batches, double normaliser,
                          std::chrono::steady_clock::time_point start) {
  const double weight_sum = normaliser;
  Tensor(step_sums_host_).copy_from(step_sums_);
  // The read-back waits for the GPU: the step's time ends here.
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double loss_sum = sync_.global_sum(step_sums_host_.item(0));
  const double loss = weight_sum > 0 ? loss_sum / weight_sum : NAN;
  STRAND_CHECK(std::isfinite(loss) || weight_sum == 0,
               "loss is {} at step {}: training diverged (lower optimizer.lr, or check the data); the last "
               "checkpoint is {}",
               loss, step_, result_.checkpoint.empty() ? "none" : result_.checkpoint);
  // The first step sizes the arena (growing by doubling, then merged to what it used): the logged peak is
  // that of the steady state, as the PyTorch peer's is after its warm-up.
  if (on_gpu_ && step_ == first_step_) {
    arena_->reset();  // merge the first step's chained blocks before the peak starts counting
    reset_cuda_peak_allocated_bytes();
  }
  double step_tokens = 0;
  for (const LMBatch& b : batches.micro) step_tokens += static_cast<double>(b.tokens.numel());
  consumed_tokens_ += step_tokens;
  window_loss_ += loss_sum;
  window_weight_ += weight_sum;
  window_tokens_ += step_tokens;
  window_time_ += seconds;
  window_flops_ += model_flops(*model_, batches.micro);
  ++window_steps_;
  if (c_.train.profile) {
    const WorkTimes times = take_work_times();
    for (size_t k = 0; k < kWorkKinds; ++k) window_work_ms_[k] += times.by_kind[k];
    if (step_ != first_step_) {
      merge_work_times(profiled_, times);
      ++profiled_steps_;
      profiled_seconds_ += seconds;
    }
  }
  result_.final_train_loss = loss;
}

void Trainer::write_profile_report() {
  if (profiled_steps_ == 0) return;
  const std::string path = (fs::path(c_.run.dir) / "profile.tsv").string();
  io::write_file_atomic(path, work_report_tsv(profiled_, profiled_steps_, profiled_seconds_));
  fmt::print("\nTime per step by op over steps {}-{} (all ops: {})\n{}", first_step_ + 1, step_, path,
             work_report_table(profiled_, profiled_steps_, profiled_seconds_, 25));
}

TrainResult Trainer::run() {
  if (c_.train.threads > 0) omp_set_num_threads(static_cast<int>(c_.train.threads));
  const ScheduleOptions schedule = c_.schedule_options();
  validate_schedule(schedule);
  check_earlier_outputs();

  // Set-up: the model's shape first, since the data must fit it.
  build_model();
  check_memory();
  load_data();
  claim_run_directory();
  LanguageModel& model = *model_;
  model.init(static_cast<uint64_t>(c_.train.seed));
  model.set_recompute_layers(c_.train.recompute_layers);
  if (!c_.model.init_from.empty()) load_initial_weights(model, c_.model.init_from);
  params_ = model.parameters();
  AdamWSettings adamw_settings;
  adamw_settings.beta1 = c_.optimizer.beta1;
  adamw_settings.beta2 = c_.optimizer.beta2;
  adamw_settings.eps = c_.optimizer.eps;
  adamw_settings.weight_decay = c_.optimizer.weight_decay;
  adamw_settings.decay_embeddings = c_.optimizer.decay_embeddings;
  adamw_settings.clip_grad = c_.optimizer.clip_grad;
  optimizer_ = std::make_unique<AdamW>(params_, adamw_settings);
  int64_t parameter_count = 0;
  for (const nn::Parameter* p : params_) parameter_count += p->value.numel();
  fmt::print("model: {}, {} parameters, {} layers, hidden {}, on {} computing in {}{}\n", model.arch(),
             parameter_count, model.num_layers(), model.hidden_size(), placement_.device.str(),
             dtype_name(placement_.compute), c_.masked_lm() ? ", masked-token objective" : "");

  checkpoints_.emplace(c_.checkpoint_dir(), c_.checkpoint.keep_last);
  result_.final_val_loss = NAN;
  resume();
  open_metrics();
  arena_ = std::make_unique<Arena>(size_t{1} << 20, placement_.device);
  step_sums_ = Tensor::zeros({3}, DType::F64, placement_.device);
  step_sums_host_ = on_gpu_ ? pinned_host_tensor({3}, DType::F64) : Tensor::empty({3}, DType::F64);
  uploader_ =
      std::make_unique<BatchUploader>(placement_.device, statistics_dtype(placement_.device, model.dtype()),
                                      model.vocab_size(), largest_micro_batch(batch_options(c_)));
  allocator_calls_logged_ = cuda_allocator_calls().total();
  const WorkProfiling profiling(c_.train.profile);
  result_.val_unigram_entropy = val_sets_.empty() ? NAN : val_sets_.front().unigram_entropy;

  const int64_t last_step =
      c_.train.stop_at_step > 0 ? std::min(c_.train.stop_at_step, c_.train.max_steps) : c_.train.max_steps;
  first_step_ = step_ + 1;
  if (c_.schedule.warmup_steps > c_.train.max_steps)
    std::fprintf(stderr,
                 "strand: warning: schedule.warmup_steps (%lld) > train.max_steps (%lld): the learning rate "
                 "never reaches optimizer.lr\n",
                 static_cast<long long>(c_.schedule.warmup_steps),
                 static_cast<long long>(c_.train.max_steps));
  // A fine-tuning run shows where it starts from.
  if (!c_.model.init_from.empty() && step_ == 0) run_eval(0);
  optimizer_->zero_grads();
  while (!stop_requested(last_step)) {
    if (c_.train.profile) take_work_times();  // drops what evaluation recorded
    const auto t0 = std::chrono::steady_clock::now();
    ++step_;
    // Fetch: the next step's batches were built while the GPU ran this one, so the host's packing and
    // masking hide behind it; a checkpoint records the loader position before them (prefetched_->position),
    // so a resumed run trains on exactly those batches.
    const StepBatches batches = prefetched_ ? std::move(*prefetched_) : fetch();
    prefetched_.reset();
    const double normaliser = sync_.global_sum(batches.weight_sum);
    // Upload and forward/backward.
    zero(step_sums_);
    if (normaliser > 0) forward_backward(batches.micro, normaliser);
    // Gradient sync and optimizer.
    sync_.finish();
    lr_ = learning_rate(schedule, step_);
    if (normaliser > 0) optimizer_->step(lr_, step_);
    ++result_.steps_run;
    // The next step's gradients are cleared (on the GPU, marked pending zero) and its batches built while
    // the GPU still runs this one.
    optimizer_->zero_grads();
    if (step_ < last_step) prefetched_ = fetch();
    // Bookkeeping.
    bookkeeping(batches, normaliser, t0);
    if (normaliser > 0) check_update(step_);
    if (step_ % c_.train.log_every == 0 || step_ == c_.train.max_steps) log_window();
    if (c_.train.eval_every > 0 && step_ % c_.train.eval_every == 0 && step_ != last_step) run_eval(step_);
    if (c_.checkpoint.save_every > 0 && step_ % c_.checkpoint.save_every == 0 && step_ != last_step)
      save(step_);
  }
  write_profile_report();
  result_.final_step = step_;

  if (step_ < c_.train.max_steps) {
    save(step_);
    logger_.flush();
    result_.interrupted = true;
    result_.stop_signal = g_stop_signal.load();
    if (const int sig = result_.stop_signal; sig != 0) {
      fmt::print(
          "\nstrand: stopped by {} after step {}; checkpoint {} (continue with checkpoint.resume=true)\n",
          sig == SIGTERM ? "SIGTERM" : "SIGINT", step_, result_.checkpoint);
    } else {
      fmt::print(
          "strand: stopped after step {} as train.stop_at_step asks; checkpoint {} (continue with "
          "checkpoint.resume=true)\n",
          step_, result_.checkpoint);
    }
    return result_;
  }
  run_eval(step_);
  if (c_.checkpoint.at_end) save(step_);
  logger_.flush();
  if (c_.export_.hf) {
    if (!c_.checkpoint.at_end) check_finite(host_weights(), step_, "export");  // else save() just did
    result_.export_dir = c_.export_dir();
    interop::save_hf_model(model, result_.export_dir, c_.export_.dtype == "bf16" ? DType::BF16 : DType::F32);
    tokenizer_->write_hf_files(result_.export_dir);
  }
  return result_;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

TrainResult train(const TrainConfig& config, const ConfigSchema& schema, GradientSync& sync) {
  return Trainer(config, schema, sync).run();
}

TrainResult train(const TrainConfig& config, const ConfigSchema& schema) {
  LocalGradientSync local;
  return train(config, schema, local);
}

}  // namespace strand
