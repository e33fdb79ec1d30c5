#include "strand/io/atomic_file.h"

#include "strand/core/error.h"

#include "file_bytes.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace strand::io {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public testing::TempDirTest {};

TEST_F(AtomicFileTest, WritesContentsAndLeavesNoTemporaryFile) {
  const std::string target = path("out.bin");
  const std::string contents("binary\0data\n", 12);
  write_file_atomic(target, contents);
  EXPECT_EQ(read_text(target), contents);
  EXPECT_EQ(files(), std::set<std::string>{"out.bin"});
}

TEST_F(AtomicFileTest, ReplacesAnExistingFile) {
  const std::string target = path("out.txt");
  write_file_atomic(target, "first version, longer");
  write_file_atomic(target, "second");
  EXPECT_EQ(read_text(target), "second");
  EXPECT_EQ(files(), std::set<std::string>{"out.txt"});
}

TEST_F(AtomicFileTest, TemporaryFileIsHiddenInTheSameDirectoryUntilCommit) {
  const std::string target = path("out.txt");
  write_file_atomic(target, "old");
  {
    AtomicFile file(target);
    file.write("new ");
    file.write("contents");
    const std::set<std::string> during = files();
    ASSERT_EQ(during.size(), 2u);
    for (const std::string& name : during) {
      if (name != "out.txt") {
        EXPECT_EQ(name.rfind(".out.txt.tmp.", 0), 0u) << name;
      }
    }
    EXPECT_EQ(read_text(target), "old");
    file.commit();
  }
  EXPECT_EQ(read_text(target), "new contents");
  EXPECT_EQ(files(), std::set<std::string>{"out.txt"});
}

TEST_F(AtomicFileTest, UncommittedWriteLeavesTargetUntouched) {
  const std::string target = path("keep.txt");
  write_file_atomic(target, "original");
  {
    AtomicFile file(target);
    file.write("partial");
  }
  EXPECT_EQ(read_text(target), "original");
  EXPECT_EQ(files(), std::set<std::string>{"keep.txt"});
}

TEST_F(AtomicFileTest, MissingDirectoryThrowsNamingTheTarget) {
  const std::string target = path("missing/out.txt");
  try {
    write_file_atomic(target, "x");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(target + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  }
  EXPECT_TRUE(files().empty());
}

TEST_F(AtomicFileTest, TargetThatIsADirectoryFailsAndCleansUp) {
  fs::create_directory(dir_ / "sub");
  fs::create_directory(dir_ / "sub" / "inner");
  EXPECT_THROW(write_file_atomic(path("sub"), "x"), Error);
  EXPECT_EQ(files(), std::set<std::string>{"sub"});
}

TEST_F(AtomicFileTest, PermissionsFollowTheUmask) {
  const mode_t old_mask = ::umask(027);
  write_file_atomic(path("masked"), "x");
  ::umask(old_mask);
  struct stat st {};
  ASSERT_EQ(::stat(path("masked").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

}  // namespace
}  // namespace strand::io
