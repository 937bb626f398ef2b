#include "common/fs.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

namespace kcr::fs {
namespace {
std::string TempDir() {
  return kcr::fs::MakeTempDir("kcr-fs-test");
}
}  // namespace

TEST(Fs, AtomicWriteReplacesWholeFile) {
  auto dir = TempDir();
  std::string f = dir + "/x";
  ASSERT_TRUE(WriteFileAtomic(f, "first").ok());
  ASSERT_TRUE(WriteFileAtomic(f, "second").ok());
  auto got = ReadFile(f);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "second");
  EXPECT_TRUE(RemoveAll(dir).ok());
  struct stat st;
  EXPECT_NE(::stat(dir.c_str(), &st), 0);
}

TEST(Fs, ReadMissingIsNotFound) {
  EXPECT_EQ(ReadFile("/nonexistent/kcr").status().code(), absl::StatusCode::kNotFound);
}

TEST(Fs, MkdirAllAndUsage) {
  auto dir = TempDir();
  ASSERT_TRUE(MkdirAll(dir + "/a/b/c").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/a/b/c/f", std::string(10000, 'x')).ok());
  auto u = Usage(dir);
  EXPECT_GE(u.inodes, 5u);
  EXPECT_GE(u.bytes, 10000u);
  EXPECT_TRUE(RemoveAll(dir).ok());
  EXPECT_TRUE(RemoveAll(dir).ok());  // idempotent
}
}  // namespace kcr::fs
