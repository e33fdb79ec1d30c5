#include "strand/io/checkpoint_dir.h"

#include "strand/core/error.h"

#include "file_bytes.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace strand::io {
namespace {

namespace fs = std::filesystem;

class CheckpointDirTest : public testing::TempDirTest {};

void write_text(const std::string& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << file;
}

// Five 64-byte tensors of mixed dtypes.
std::vector<NamedTensor> five_tensors() {
  return {{"embed.weight", random_tensor({4, 8}, DType::BF16, 1)},
          {"layers.0.attn.w", random_tensor({16}, DType::F32, 2)},
          {"layers.0.mlp.w", random_tensor({8, 8}, DType::U8, 3)},
          {"layers.1.attn.w", random_tensor({2, 4}, DType::I64, 4)},
          {"head.weight", random_tensor({4, 4}, DType::F32, 5)}};
}

void expect_same_tensors(const TensorStore& store, const std::vector<NamedTensor>& tensors) {
  std::vector<std::string> expected_names;
  for (const NamedTensor& nt : tensors) {
    expected_names.push_back(nt.name);
    SCOPED_TRACE(nt.name);
    ASSERT_TRUE(store.contains(nt.name));
    EXPECT_EQ(store.info(nt.name).dtype, nt.tensor.dtype());
    EXPECT_EQ(store.info(nt.name).shape, nt.tensor.shape());
    EXPECT_EQ(bytes_of(store.read(nt.name)), bytes_of(nt.tensor));
  }
  EXPECT_EQ(store.names(), expected_names);
}

void expect_error(const std::function<void()>& fn, const std::string& prefix, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected '" << needle << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(prefix + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "expected '" << needle << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST_F(CheckpointDirTest, WritesOneFileUnderTheLimit) {
  const auto tensors = five_tensors();
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  save_tensor_store(dir_.string(), tensors, metadata, 0);
  EXPECT_EQ(files(), std::set<std::string>{"model.safetensors"});
  save_tensor_store(dir_.string(), tensors, metadata, 320);  // exactly the total: still one file
  EXPECT_EQ(files(), std::set<std::string>{"model.safetensors"});

  for (const std::string& p : {dir_.string(), path("model.safetensors")}) {
    SCOPED_TRACE(p);
    const TensorStore store = TensorStore::open(p);
    EXPECT_EQ(store.path(), path("model.safetensors"));
    EXPECT_EQ(store.shards().size(), 1u);
    EXPECT_EQ(store.metadata(), metadata);
    expect_same_tensors(store, tensors);
  }
}

TEST_F(CheckpointDirTest, ShardsOverTheLimitWithHfIndex) {
  const auto tensors = five_tensors();
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"step", "7"}};
  save_tensor_store(dir_.string(), tensors, metadata, 150);  // 64 + 64 fit, a third does not
  EXPECT_EQ(files(),
            (std::set<std::string>{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                   "model-00003-of-00003.safetensors", "model.safetensors.index.json"}));

  const auto index = nlohmann::json::parse(read_text(path("model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), 320u);
  const nlohmann::json expected_map = {{"embed.weight", "model-00001-of-00003.safetensors"},
                                       {"layers.0.attn.w", "model-00001-of-00003.safetensors"},
                                       {"layers.0.mlp.w", "model-00002-of-00003.safetensors"},
                                       {"layers.1.attn.w", "model-00002-of-00003.safetensors"},
                                       {"head.weight", "model-00003-of-00003.safetensors"}};
  EXPECT_EQ(index["weight_map"], expected_map);

  for (const std::string& p : {dir_.string(), path("model.safetensors.index.json")}) {
    SCOPED_TRACE(p);
    const TensorStore store = TensorStore::open(p);
    EXPECT_EQ(store.path(), path("model.safetensors.index.json"));
    ASSERT_EQ(store.shards().size(), 3u);
    for (const SafetensorsFile& shard : store.shards()) EXPECT_EQ(shard.metadata(), metadata);
    EXPECT_EQ(store.metadata(), metadata);
    expect_same_tensors(store, tensors);
  }

  // One shard opened on its own is a plain file with just its tensors.
  const TensorStore shard = TensorStore::open(path("model-00002-of-00003.safetensors"));
  EXPECT_EQ(shard.names(), (std::vector<std::string>{"layers.0.mlp.w", "layers.1.attn.w"}));
}

TEST_F(CheckpointDirTest, OversizedTensorGetsAShardOfItsOwn) {
  const std::vector<NamedTensor> tensors = {{"small0", random_tensor({4}, DType::U8, 1)},
                                            {"big", random_tensor({40}, DType::U8, 2)},
                                            {"small1", random_tensor({4}, DType::U8, 3)},
                                            {"small2", random_tensor({4}, DType::U8, 4)}};
  save_tensor_store(dir_.string(), tensors, {}, 10);
  const TensorStore store = TensorStore::open(dir_.string());
  ASSERT_EQ(store.shards().size(), 3u);
  EXPECT_EQ(store.shards()[0].tensors().size(), 1u);
  EXPECT_EQ(store.shards()[1].tensors().size(), 1u);
  EXPECT_EQ(store.shards()[2].tensors().size(), 2u);
  EXPECT_TRUE(store.metadata().empty());
  expect_same_tensors(store, tensors);
}

TEST_F(CheckpointDirTest, ResavingSwitchesLayoutAndRemovesStaleFiles) {
  auto tensors = five_tensors();
  write_text(path("config.json"), "{}");
  save_tensor_store(dir_.string(), tensors, {}, 70);  // five shards
  EXPECT_EQ(files().size(), 7u);

  tensors.pop_back();
  save_tensor_store(dir_.string(), tensors, {}, 0);
  EXPECT_EQ(files(), (std::set<std::string>{"config.json", "model.safetensors"}));
  expect_same_tensors(TensorStore::open(dir_.string()), tensors);

  save_tensor_store(dir_.string(), tensors, {}, 130);
  EXPECT_EQ(files(),
            (std::set<std::string>{"config.json", "model-00001-of-00002.safetensors",
                                   "model-00002-of-00002.safetensors", "model.safetensors.index.json"}));
  expect_same_tensors(TensorStore::open(dir_.string()), tensors);
}

TEST_F(CheckpointDirTest, RejectsDuplicatesAcrossShardsBeforeWriting) {
  auto tensors = five_tensors();
  tensors.push_back({"embed.weight", random_tensor({1}, DType::F32, 9)});
  expect_error([&] { save_tensor_store(dir_.string(), tensors, {}, 64); }, dir_.string(),
               "tensor 'embed.weight': duplicate name");
  EXPECT_TRUE(files().empty());
}

TEST_F(CheckpointDirTest, SaveIntoMissingDirectoryThrows) {
  const std::string missing = path("not/there");
  EXPECT_THROW(save_tensor_store(missing, five_tensors(), {}, 0), Error);
  EXPECT_THROW(save_tensor_store(missing, five_tensors(), {}, 100), Error);
  EXPECT_TRUE(files().empty());
}

TEST_F(CheckpointDirTest, OpenReportsWhatIsMissing) {
  expect_error([&] { TensorStore::open(path("absent")); }, path("absent"), "no such file or directory");
  expect_error([&] { TensorStore::open(dir_.string()); }, dir_.string(), "neither model.safetensors nor");
  save_tensor_store(dir_.string(), five_tensors(), {}, 100);
  const TensorStore store = TensorStore::open(dir_.string());
  EXPECT_FALSE(store.contains("nope"));
  expect_error([&] { store.info("nope"); }, store.path(), "no tensor 'nope'");
  expect_error([&] { store.read("nope"); }, store.path(), "no tensor 'nope'");
}

TEST_F(CheckpointDirTest, UnlistedTensorInShardIsIgnored) {
  save_tensor_store(dir_.string(), five_tensors(), {}, 150);
  const nlohmann::json index = {
      {"metadata", {{"total_size", 64}}},
      {"weight_map", {{"layers.0.attn.w", "model-00001-of-00003.safetensors"}}},
  };
  write_text(path("model.safetensors.index.json"), index.dump());
  const TensorStore store = TensorStore::open(dir_.string());
  EXPECT_EQ(store.names(), std::vector<std::string>{"layers.0.attn.w"});
  EXPECT_FALSE(store.contains("embed.weight"));
  EXPECT_EQ(store.shards().size(), 1u);
}

TEST_F(CheckpointDirTest, RejectsMalformedIndex) {
  save_tensor_store(dir_.string(), five_tensors(), {}, 150);
  const std::string index_path = path("model.safetensors.index.json");
  const std::string valid = read_text(index_path);
  // A real file outside the checkpoint, so that a traversal would succeed if it were followed.
  const std::string outside =
      (dir_.parent_path() / fmt::format("strand_ckpt_outside_{}.safetensors", ::getpid())).string();
  fs::copy_file(path("model-00001-of-00003.safetensors"), outside, fs::copy_options::overwrite_existing);

  const auto with_map = [](const nlohmann::json& weight_map) {
    return nlohmann::json{{"metadata", nlohmann::json::object()}, {"weight_map", weight_map}}.dump();
  };
  const struct {
    const char* name;
    std::string text;
    std::string needle;
  } cases[] = {
      {"missing shard", with_map({{"embed.weight", "model-00009-of-00009.safetensors"}}), "cannot open"},
      {"parent traversal", with_map({{"embed.weight", "../" + fs::path(outside).filename().string()}}),
       "not a plain file name"},
      {"absolute path", with_map({{"embed.weight", outside}}), "not a plain file name"},
      {"subdirectory", with_map({{"embed.weight", "sub/model.safetensors"}}), "not a plain file name"},
      {"dot dot", with_map({{"embed.weight", ".."}}), "not a plain file name"},
      {"empty name", with_map({{"embed.weight", ""}}), "not a plain file name"},
      {"backslash", with_map({{"embed.weight", "..\\x.safetensors"}}), "not a plain file name"},
      {"embedded nul", with_map({{"embed.weight", std::string("model-00001-of-00003.safetensors\0x", 34)}}),
       "not a plain file name"},
      {"tensor not in shard", with_map({{"head.weight", "model-00001-of-00003.safetensors"}}),
       "puts tensor 'head.weight' in model-00001-of-00003.safetensors, which does not contain it"},
      {"shard not a string", with_map({{"embed.weight", 1}}), "maps to number"},
      {"weight_map missing", R"({"metadata": {}})", "missing \"weight_map\""},
      {"weight_map array", R"({"weight_map": []})", "\"weight_map\" is array"},
      {"metadata string", R"({"metadata": "x", "weight_map": {}})", "\"metadata\" is string"},
      {"root array", "[]", "not an object"},
      {"invalid json", "{\"weight_map\": {", "invalid JSON"},
      {"duplicate key",
       R"({"weight_map": {"embed.weight": "model-00001-of-00003.safetensors", "embed.weight": "model-00002-of-00003.safetensors"}})",
       "duplicate key 'embed.weight'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    write_text(index_path, c.text);
    expect_error([&] { TensorStore::open(dir_.string()); }, index_path, c.needle);
    expect_error([&] { TensorStore::open(index_path); }, index_path, c.needle);
  }

  // A shard the index names correctly but which is itself corrupt: the message leads with the index, then the
  // shard.
  write_text(index_path, valid);
  const std::string shard = path("model-00002-of-00003.safetensors");
  fs::resize_file(shard, fs::file_size(shard) - 1);
  expect_error([&] { TensorStore::open(dir_.string()); }, index_path, shard + ": tensor 'layers.1.attn.w'");
  fs::remove(outside);
}

}  // namespace
}  // namespace strand::io
