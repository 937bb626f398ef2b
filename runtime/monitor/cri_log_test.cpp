#include "runtime/monitor/cri_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <regex>

#include "common/fs.h"

namespace kcr::monitor {

TEST(CriLog, LinesPartialsAndReopen) {
  std::string dir = kcr::fs::MakeTempDir("kcr-log-test");
  std::string path = dir + "/0.log";
  auto w = CriLogWriter::Open(path);
  ASSERT_TRUE(w.ok());
  w->clock = [] { return std::string("T"); };
  w->Write("stdout", "hel", 3);
  w->Write("stderr", "oops\n", 5);
  w->Write("stdout", "lo\nwor", 6);
  std::string big(CriLogWriter::kMaxLine + 10, 'x');
  w->Write("stdout", big.data(), big.size());
  w->Write("stdout", "\n", 1);
  w->Write("stdout", "tail", 4);
  w->Flush("stdout");
  auto got = fs::ReadFile(path);
  ASSERT_TRUE(got.ok());
  std::string want = "T stderr F oops\nT stdout F hello\nT stdout P wor" + std::string(CriLogWriter::kMaxLine - 3, 'x') +
                     "\nT stdout F " + std::string(13, 'x') + "\nT stdout P tail\n";
  EXPECT_EQ(*got, want);
  // Rotation: kubelet renames the file, then asks for a reopen.
  ASSERT_EQ(::rename(path.c_str(), (path + ".1").c_str()), 0);
  ASSERT_TRUE(w->Reopen().ok());
  w->Write("stdout", "new\n", 4);
  EXPECT_EQ(fs::ReadFile(path).value_or(""), "T stdout F new\n");
  ASSERT_TRUE(fs::RemoveAll(dir).ok());
}

TEST(CriLog, TimestampIsRfc3339Nano) {
  EXPECT_TRUE(std::regex_match(Rfc3339NanoNow(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z)")));
}

}  // namespace kcr::monitor
