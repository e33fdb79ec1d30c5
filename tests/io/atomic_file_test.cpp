#include "strand/io/atomic_file.h"

#include "strand/core/error.h"

#include "expect_error.h"
#include "file_bytes.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
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

// Note [Output targets]: what the path names decides how it is written.
TEST_F(AtomicFileTest, ASymlinkStaysALinkAndItsTargetGetsTheContents) {
  fs::create_directory(dir_ / "real");
  write_file_atomic(path("real/out.txt"), "old");
  fs::create_symlink("real/out.txt", dir_ / "relative");
  fs::create_symlink(dir_ / "relative", dir_ / "chain");  // a link to a link
  write_file_atomic(path("chain"), "new contents");
  EXPECT_TRUE(fs::is_symlink(dir_ / "chain"));
  EXPECT_TRUE(fs::is_symlink(dir_ / "relative"));
  EXPECT_EQ(read_text(path("real/out.txt")), "new contents");
  EXPECT_EQ(files(), (std::set<std::string>{"chain", "real", "relative"}));
  std::set<std::string> in_real;
  for (const auto& e : fs::directory_iterator(dir_ / "real")) in_real.insert(e.path().filename().string());
  EXPECT_EQ(in_real, std::set<std::string>{"out.txt"});  // the temporary file was next to the target
  // A dangling link: its target is created.
  fs::create_symlink("real/later.txt", dir_ / "dangling");
  write_file_atomic(path("dangling"), "created");
  EXPECT_TRUE(fs::is_symlink(dir_ / "dangling"));
  EXPECT_EQ(read_text(path("real/later.txt")), "created");
}

TEST_F(AtomicFileTest, UncommittedWriteThroughALinkLeavesItsTargetUntouched) {
  write_file_atomic(path("target"), "original");
  fs::create_symlink("target", dir_ / "link");
  {
    AtomicFile file(path("link"));
    file.write("partial");
  }
  EXPECT_EQ(read_text(path("target")), "original");
  EXPECT_EQ(files(), (std::set<std::string>{"link", "target"}));
}

TEST_F(AtomicFileTest, CharacterDevicesAreWrittenStraightThrough) {
  write_file_atomic("/dev/null", "discarded");
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  fs::create_symlink("/dev/null", dir_ / "null");
  write_file_atomic(path("null"), "discarded too");
  EXPECT_TRUE(fs::is_symlink(dir_ / "null"));
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST_F(AtomicFileTest, AFifoGetsTheBytesAsTheyAreWritten) {
  const std::string fifo = path("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // The reader runs on its own thread: opening a FIFO for writing waits for one.
  std::future<std::string> read = std::async(std::launch::async, [&fifo] { return read_text(fifo); });
  {
    AtomicFile file(fifo);
    file.write("first ");
    file.write("second");
    file.commit();
  }
  release_reader(fifo);
  EXPECT_EQ(read.get(), "first second");
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(files(), std::set<std::string>{"pipe"});
}

TEST_F(AtomicFileTest, DirectoriesAndLinksToThemAreErrorsNamingThePath) {
  fs::create_directory(dir_ / "sub");
  fs::create_symlink("sub", dir_ / "to_sub");
  EXPECT_EQ(testing::error_of([&] { write_file_atomic(path("sub"), "x"); }),
            path("sub") + ": is a directory, not a file to write");
  EXPECT_EQ(testing::error_of([&] { write_file_atomic(path("to_sub"), "x"); }),
            path("to_sub") + " (a link to " + path("sub") + "): is a directory, not a file to write");
  fs::create_symlink("loop", dir_ / "loop");
  EXPECT_EQ(testing::error_of([&] { write_file_atomic(path("loop"), "x"); }),
            path("loop") + ": too many levels of symbolic links");
  EXPECT_EQ(files(), (std::set<std::string>{"loop", "sub", "to_sub"}));
}

}  // namespace
}  // namespace strand::io
