#include "strand/train/checkpoint.h"

#include "strand/core/error.h"
#include "strand/train/metrics.h"

#include "expect_error.h"
#include "temp_dir.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace strand {
namespace {

using testing::error_of;

namespace fs = std::filesystem;

class CheckpointTest : public testing::TempDirTest {
 protected:
  std::string root() const { return path("ckpt"); }
  std::string step_dir(int64_t step) const { return path("ckpt/step_" + std::to_string(step)); }
  // Names of the entries in the checkpoint root.
  std::set<std::string> root_entries() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(root())) names.insert(e.path().filename().string());
    return names;
  }
};

// Deterministic arbitrary bit patterns (NaNs and subnormals included for the float types).
Tensor random_tensor(const Shape& shape, DType dtype, uint32_t seed) {
  Tensor t = Tensor::empty(shape, dtype);
  std::mt19937 rng(seed);
  auto* p = static_cast<unsigned char*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<unsigned char>(rng());
  return t;
}

std::string bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw()), c.nbytes());
}

std::string read_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out.good()) << file;
}

// A small checkpoint whose contents depend on `seed`.
CheckpointContents contents_for(int64_t step, uint32_t seed = 0) {
  CheckpointContents c;
  c.model = {{"embed.weight", random_tensor({4, 8}, DType::F32, seed + 1)},
             {"layers.0.norm.weight", random_tensor({8}, DType::F32, seed + 2)}};
  c.optimizer = {{"embed.weight.exp_avg", random_tensor({4, 8}, DType::F32, seed + 3)},
                 {"embed.weight.exp_avg_sq", random_tensor({4, 8}, DType::F32, seed + 4)}};
  c.trainer_state = {{"step", step}, {"seed", seed}};
  return c;
}

void expect_same_tensors(const std::vector<io::NamedTensor>& got, const std::vector<io::NamedTensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].tensor.dtype(), want[i].tensor.dtype());
    EXPECT_EQ(got[i].tensor.shape(), want[i].tensor.shape());
    EXPECT_EQ(bytes_of(got[i].tensor), bytes_of(want[i].tensor));
  }
}

std::vector<int64_t> steps_of(const std::vector<std::pair<int64_t, std::string>>& complete) {
  std::vector<int64_t> steps;
  for (const auto& [step, dir] : complete) steps.push_back(step);
  return steps;
}

// A pid that no process has: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  EXPECT_GT(child, 0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

TEST_F(CheckpointTest, RoundTripIsBitwiseAndManifestDescribesTheFiles) {
  CheckpointContents saved = contents_for(7);
  saved.model.push_back({"bf16.weight", random_tensor({3, 5}, DType::BF16, 11)});
  // 3 MiB and a bit: the CRC is computed over several read chunks.
  saved.model.push_back({"big.weight", random_tensor({786433}, DType::F32, 12)});
  saved.trainer_state = {{"step", 7},
                         {"tokens", 123456789012LL},
                         {"lr", 0.1},
                         {"rng", {{"state", {1, 2, 3}}}},
                         {"config", {{"name", "tiny"}, {"dropout", 0.0}}}};
  saved.extra_files = {{"config.yaml", "model: tiny\n"}, {"empty.txt", ""}};

  CheckpointManager manager(root(), 3);
  const std::string dir = manager.save(7, saved);
  EXPECT_EQ(dir, step_dir(7));
  EXPECT_EQ(root_entries(), (std::set<std::string>{"step_7"}));

  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.insert(e.path().filename().string());
  EXPECT_EQ(files, (std::set<std::string>{"MANIFEST.json", "model.safetensors", "optimizer.safetensors",
                                          "trainer_state.json", "config.yaml", "empty.txt"}));

  const nlohmann::json manifest = nlohmann::json::parse(read_file(dir + "/MANIFEST.json"));
  EXPECT_EQ(manifest["format"], "strand-checkpoint");
  EXPECT_EQ(manifest["version"], 1);
  EXPECT_EQ(manifest["step"], 7);
  ASSERT_EQ(manifest["files"].size(), 5u);
  for (const auto& [name, entry] : manifest["files"].items()) {
    SCOPED_TRACE(name);
    const std::string bytes = read_file(dir + "/" + name);
    EXPECT_EQ(entry["size"].get<uint64_t>(), bytes.size());
    EXPECT_EQ(entry["crc32c"], fmt::format("{:08x}", crc32c(bytes.data(), bytes.size())));
  }
  EXPECT_GT(manifest["files"]["model.safetensors"]["size"].get<uint64_t>(), uint64_t{3} << 20);
  EXPECT_EQ(manifest["files"]["empty.txt"]["crc32c"], "00000000");

  EXPECT_NO_THROW(verify_checkpoint(dir));
  const CheckpointContents loaded = load_checkpoint(dir);
  expect_same_tensors(loaded.model, saved.model);
  expect_same_tensors(loaded.optimizer, saved.optimizer);
  EXPECT_EQ(loaded.trainer_state, saved.trainer_state);
  EXPECT_EQ(loaded.extra_files, saved.extra_files);
}

TEST_F(CheckpointTest, KeepsTheNewestKeepLast) {
  CheckpointManager manager(root(), 2);
  for (const int64_t step : {10, 20, 30, 40}) manager.save(step, contents_for(step));
  EXPECT_EQ(root_entries(), (std::set<std::string>{"step_30", "step_40"}));
  EXPECT_EQ(steps_of(manager.list_complete()), (std::vector<int64_t>{30, 40}));
}

TEST_F(CheckpointTest, KeepLastZeroKeepsEverything) {
  CheckpointManager manager(root(), 0);
  for (const int64_t step : {1, 2, 3, 4, 5}) manager.save(step, contents_for(step));
  EXPECT_EQ(steps_of(manager.list_complete()), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_THROW(CheckpointManager(root(), -1), Error);
}

TEST_F(CheckpointTest, NeverPrunesTheCheckpointJustSaved) {
  CheckpointManager manager(root(), 1);
  manager.save(50, contents_for(50));
  manager.save(20, contents_for(20));  // older than the one kept, e.g. after a rollback
  EXPECT_EQ(root_entries(), (std::set<std::string>{"step_20", "step_50"}));
}

TEST_F(CheckpointTest, ResumePicksTheNewestComplete) {
  CheckpointManager manager(root(), 0);
  EXPECT_EQ(manager.newest_complete(), std::nullopt);  // the root does not exist yet
  EXPECT_TRUE(manager.list_complete().empty());
  // Saved out of order: the newest is the highest step, not the latest written.
  for (const int64_t step : {100, 300, 200}) manager.save(step, contents_for(step));
  EXPECT_EQ(manager.newest_complete(), step_dir(300));
  const auto complete = manager.list_complete();
  EXPECT_EQ(steps_of(complete), (std::vector<int64_t>{100, 200, 300}));
  EXPECT_EQ(complete.front().second, step_dir(100));
  EXPECT_EQ(load_checkpoint(*manager.newest_complete()).trainer_state["step"], 300);

  // An older damaged checkpoint does not matter to resume: it is neither read nor reported.
  fs::resize_file(step_dir(100) + "/trainer_state.json", 1);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(manager.newest_complete(), step_dir(300));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  std::vector<std::string> skipped;
  EXPECT_EQ(steps_of(manager.list_complete(&skipped)), (std::vector<int64_t>{200, 300}));
  EXPECT_EQ(skipped.size(), 1u);
}

TEST_F(CheckpointTest, TruncatedFileIsSkippedNamingIt) {
  CheckpointManager manager(root(), 0);
  manager.save(10, contents_for(10));
  manager.save(20, contents_for(20));
  const std::string model = step_dir(20) + "/model.safetensors";
  const uint64_t size = fs::file_size(model);
  fs::resize_file(model, 100);

  std::vector<std::string> skipped;
  EXPECT_EQ(steps_of(manager.list_complete(&skipped)), (std::vector<int64_t>{10}));
  const std::string reason = fmt::format("model.safetensors: size 100 differs from MANIFEST ({})", size);
  EXPECT_EQ(skipped, (std::vector<std::string>{step_dir(20) + ": " + reason}));

  ::testing::internal::CaptureStderr();
  const std::optional<std::string> newest = manager.newest_complete();
  const std::string stderr_text = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(newest, step_dir(10));
  EXPECT_EQ(stderr_text, "strand: skipping incomplete checkpoint " + step_dir(20) + ": " + reason + "\n");

  EXPECT_EQ(error_of([&] { verify_checkpoint(step_dir(20)); }),
            fmt::format("{}: size 100 differs from MANIFEST ({})", model, size));
  EXPECT_EQ(error_of([&] { load_checkpoint(step_dir(20)); }),
            fmt::format("{}: size 100 differs from MANIFEST ({})", model, size));
}

TEST_F(CheckpointTest, FlippedByteIsCaughtByTheCrc) {
  CheckpointManager manager(root(), 0);
  manager.save(10, contents_for(10));
  manager.save(20, contents_for(20));
  const std::string model = step_dir(20) + "/model.safetensors";
  std::string bytes = read_file(model);
  bytes[bytes.size() - 5] ^= 0x10;  // tensor data: the file still parses as safetensors
  write_file(model, bytes);

  std::vector<std::string> skipped;
  EXPECT_EQ(steps_of(manager.list_complete(&skipped)), (std::vector<int64_t>{10}));
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].rfind(step_dir(20) + ": model.safetensors: CRC-32C 0x", 0), 0u) << skipped[0];
  EXPECT_NE(skipped[0].find("differs from MANIFEST 0x"), std::string::npos) << skipped[0];
  const std::string message = error_of([&] { verify_checkpoint(step_dir(20)); });
  EXPECT_EQ(message.rfind(model + ": CRC-32C 0x", 0), 0u) << message;
  EXPECT_THROW(load_checkpoint(step_dir(20)), Error);
  // The intact one still loads.
  expect_same_tensors(load_checkpoint(step_dir(10)).model, contents_for(10).model);
}

TEST_F(CheckpointTest, DirectoryWithoutManifestIsSkipped) {
  CheckpointManager manager(root(), 0);
  manager.save(20, contents_for(20));
  // A crash before the MANIFEST was written, had the directory been published early.
  fs::create_directory(step_dir(30));
  for (const char* name : {"model.safetensors", "optimizer.safetensors", "trainer_state.json"})
    fs::copy_file(step_dir(20) + "/" + name, step_dir(30) + "/" + name);

  std::vector<std::string> skipped;
  EXPECT_EQ(steps_of(manager.list_complete(&skipped)), (std::vector<int64_t>{20}));
  EXPECT_EQ(skipped,
            (std::vector<std::string>{step_dir(30) + ": MANIFEST.json: missing (checkpoint incomplete)"}));
  EXPECT_EQ(error_of([&] { verify_checkpoint(step_dir(30)); }),
            step_dir(30) + "/MANIFEST.json: missing (checkpoint incomplete)");
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(manager.newest_complete(), step_dir(20));
  ::testing::internal::GetCapturedStderr();
}

TEST_F(CheckpointTest, MissingListedFileIsSkipped) {
  CheckpointManager manager(root(), 0);
  manager.save(20, contents_for(20));
  fs::remove(step_dir(20) + "/optimizer.safetensors");
  EXPECT_EQ(error_of([&] { verify_checkpoint(step_dir(20)); }),
            step_dir(20) + "/optimizer.safetensors: missing (listed in MANIFEST)");
}

TEST_F(CheckpointTest, InvalidManifestsAreRejectedNamingTheManifest) {
  CheckpointManager manager(root(), 0);
  manager.save(20, contents_for(20));
  const std::string manifest_path = step_dir(20) + "/MANIFEST.json";
  const nlohmann::json good = nlohmann::json::parse(read_file(manifest_path));
  const auto verify_with = [&](const nlohmann::json& manifest) {
    write_file(manifest_path, manifest.dump());
    return error_of([&] { verify_checkpoint(step_dir(20)); });
  };
  const std::string prefix = manifest_path + ": ";

  nlohmann::json m = good;
  m["files"].erase("model.safetensors");
  EXPECT_EQ(verify_with(m), prefix + "does not list model.safetensors");
  m = good;
  m["files"].erase("trainer_state.json");
  EXPECT_EQ(verify_with(m), prefix + "does not list trainer_state.json");
  m = good;
  m["format"] = "something-else";
  EXPECT_EQ(verify_with(m), prefix + "format \"something-else\" is not \"strand-checkpoint\"");
  m = good;
  m["version"] = 2;
  EXPECT_EQ(verify_with(m), prefix + "version 2 is not supported (this build reads version 1)");
  m = good;
  m["step"] = 10;  // a directory copied or renamed to another step's name
  EXPECT_EQ(verify_with(m), prefix + "step 10 differs from the directory name");
  m = good;
  m["files"]["../step_10/model.safetensors"] = good["files"]["model.safetensors"];
  EXPECT_EQ(verify_with(m),
            prefix + "\"files\" lists '../step_10/model.safetensors', which is not a file name it may list");
  m = good;
  m["files"]["model.safetensors"]["crc32c"] = "xyz";
  EXPECT_EQ(verify_with(m), prefix + "entry of model.safetensors has no \"crc32c\" of 8 hex digits");
  m = good;
  m["files"]["model.safetensors"]["size"] = -1;
  EXPECT_EQ(verify_with(m), prefix + "entry of model.safetensors has no \"size\" that is an integer >= 0");

  write_file(manifest_path, R"({"format": "strand-checkpoint", "format": "x"})");
  EXPECT_EQ(error_of([&] { verify_checkpoint(step_dir(20)); }), prefix + "duplicate key 'format'");
  write_file(manifest_path, "{");
  EXPECT_EQ(error_of([&] { verify_checkpoint(step_dir(20)); }).rfind(prefix + "invalid JSON: ", 0), 0u);

  write_file(manifest_path, good.dump());
  EXPECT_NO_THROW(verify_checkpoint(step_dir(20)));
  EXPECT_EQ(error_of([&] { verify_checkpoint(path("nowhere")); }), path("nowhere") + ": not a directory");
}

TEST_F(CheckpointTest, StaleTemporaryDirectoriesAreRemovedOnTheNextSave) {
  CheckpointManager manager(root(), 0);
  manager.save(10, contents_for(10));
  const pid_t dead = dead_pid();
  // Leftovers of a crashed process, of an earlier process that had our pid, and of a process still running
  // (pid 1), besides names that merely look similar.
  const std::vector<std::string> stale = {fmt::format(".tmp.step_20.{}.0", dead),
                                          fmt::format(".old.step_10.{}.3", dead),
                                          fmt::format(".tmp.step_30.{}.999999", ::getpid())};
  const std::vector<std::string> kept = {".tmp.step_40.1.0", ".tmp.notes", ".tmp.step_x.123.0",
                                         fmt::format(".tmp.step_20.{}", dead)};
  for (const std::string& name : stale) {
    fs::create_directory(path("ckpt/" + name));
    write_file(path("ckpt/" + name + "/model.safetensors"), "partial");
  }
  for (const std::string& name : kept) fs::create_directory(path("ckpt/" + name));
  // Incomplete checkpoints are not leftovers: they stay for inspection.
  fs::create_directory(step_dir(5));

  manager.save(20, contents_for(20));
  std::set<std::string> expected = {"step_5", "step_10", "step_20"};
  expected.insert(kept.begin(), kept.end());
  EXPECT_EQ(root_entries(), expected);
}

TEST_F(CheckpointTest, SavingTheSameStepTwiceReplacesIt) {
  CheckpointManager manager(root(), 2);
  manager.save(10, contents_for(10, /*seed=*/100));
  CheckpointContents second = contents_for(10, /*seed=*/200);
  second.model.push_back({"extra.weight", random_tensor({2}, DType::F32, 7)});
  EXPECT_EQ(manager.save(10, second), step_dir(10));
  EXPECT_EQ(root_entries(), (std::set<std::string>{"step_10"}));
  const CheckpointContents loaded = load_checkpoint(step_dir(10));
  expect_same_tensors(loaded.model, second.model);
  expect_same_tensors(loaded.optimizer, second.optimizer);
  EXPECT_EQ(loaded.trainer_state, second.trainer_state);
}

TEST_F(CheckpointTest, OtherNamesAreIgnored) {
  fs::create_directories(root());
  for (const char* name : {"step_abc", "step_-1", "step_+3", "step_01", "step_", "best", "step_5x",
                           "step_1.5", "step_99999999999999999999", "STEP_2"})
    fs::create_directory(path(std::string("ckpt/") + name));
  write_file(path("ckpt/step_7"), "a file, not a directory");
  CheckpointManager manager(root(), 1);
  manager.save(3, contents_for(3));
  manager.save(4, contents_for(4));

  std::vector<std::string> skipped;
  EXPECT_EQ(steps_of(manager.list_complete(&skipped)), (std::vector<int64_t>{4}));
  EXPECT_TRUE(skipped.empty()) << skipped[0];
  EXPECT_EQ(root_entries(),
            (std::set<std::string>{"step_abc", "step_-1", "step_+3", "step_01", "step_", "best", "step_5x",
                                   "step_1.5", "step_99999999999999999999", "STEP_2", "step_7", "step_4"}));
  EXPECT_EQ(manager.newest_complete(), step_dir(4));
}

TEST_F(CheckpointTest, UnwritableRootThrowsAndLeavesNothing) {
  write_file(path("file"), "not a directory");
  for (const std::string& bad_root : {path("file"), path("file/sub")}) {
    SCOPED_TRACE(bad_root);
    CheckpointManager manager(bad_root, 2);
    const std::string message = error_of([&] { manager.save(10, contents_for(10)); });
    EXPECT_EQ(message.rfind("cannot save checkpoint step 10 to " + bad_root + "/step_10: ", 0), 0u)
        << message;
    EXPECT_NE(message.find(bad_root + ": cannot create the checkpoint directory"), std::string::npos)
        << message;
    EXPECT_THROW(manager.list_complete(), Error);
  }
  EXPECT_EQ(files(), (std::set<std::string>{"file"}));
  EXPECT_EQ(read_file(path("file")), "not a directory");
}

TEST_F(CheckpointTest, FailedSaveRemovesItsTemporaryDirectory) {
  CheckpointManager manager(root(), 2);
  manager.save(10, contents_for(10));
  CheckpointContents bad = contents_for(20);
  bad.optimizer.push_back(
      bad.optimizer.front());  // a duplicate name, found after model.safetensors is written
  const std::string message = error_of([&] { manager.save(20, bad); });
  EXPECT_NE(message.find("optimizer.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("duplicate name"), std::string::npos) << message;

  CheckpointContents bad_name = contents_for(20);
  bad_name.extra_files["../escape"] = "x";
  EXPECT_THROW(manager.save(20, bad_name), Error);
  bad_name.extra_files = {{"MANIFEST.json", "{}"}};
  EXPECT_THROW(manager.save(20, bad_name), Error);
  EXPECT_THROW(manager.save(-1, contents_for(20)), Error);

  EXPECT_EQ(root_entries(), (std::set<std::string>{"step_10"}));
  EXPECT_NO_THROW(verify_checkpoint(step_dir(10)));
}

// Disk full, simulated with a file size limit: writes past it fail with EFBIG (SIGXFSZ ignored).
TEST_F(CheckpointTest, DiskFullLeavesExistingCheckpointsUntouched) {
  CheckpointManager manager(root(), 1);
  manager.save(10, contents_for(10));
  const std::string before = read_file(step_dir(10) + "/model.safetensors");
  CheckpointContents large = contents_for(20);
  large.model.push_back({"big.weight", random_tensor({1 << 18}, DType::F32, 9)});  // 1 MiB

  rlimit saved_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved_limit), 0);
  const auto saved_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved_limit;
  small.rlim_cur = 256 << 10;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    manager.save(20, large);
  } catch (const Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved_limit);
  ::signal(SIGXFSZ, saved_handler);

  EXPECT_EQ(message.rfind("cannot save checkpoint step 20 to " + step_dir(20) + ": ", 0), 0u) << message;
  EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_EQ(root_entries(), (std::set<std::string>{"step_10"}));
  EXPECT_EQ(read_file(step_dir(10) + "/model.safetensors"), before);
  EXPECT_NO_THROW(verify_checkpoint(step_dir(10)));
}

// Concurrent saves must not take each other's temporary directories for leftovers.
TEST_F(CheckpointTest, ConcurrentSavesDoNotRemoveEachOthersWork) {
  CheckpointManager manager(root(), 0);
  constexpr int kThreads = 4, kSavesPerThread = 6;
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kSavesPerThread; ++i) {
          CheckpointContents c = contents_for(t * 100 + i);
          c.model.push_back({"big.weight", random_tensor({1 << 16}, DType::F32, 5)});
          manager.save(t * 100 + i, c);
        }
      } catch (const Error& e) {
        errors[static_cast<size_t>(t)] = e.what();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& e : errors) EXPECT_EQ(e, "");
  std::vector<std::string> skipped;
  EXPECT_EQ(manager.list_complete(&skipped).size(), size_t{kThreads * kSavesPerThread});
  EXPECT_TRUE(skipped.empty());
  EXPECT_EQ(root_entries().size(), size_t{kThreads * kSavesPerThread});  // no leftovers
}

}  // namespace
}  // namespace strand
