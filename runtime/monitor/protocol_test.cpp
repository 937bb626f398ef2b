#include "runtime/monitor/protocol.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <string>

namespace kcr::monitor {
namespace {

std::string Frame(const std::string& body) {
  uint32_t n = static_cast<uint32_t>(body.size());
  std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                  static_cast<char>(n)};
  return out + body;
}

TEST(FrameReader, MessagesSplitAcrossReads) {
  std::string s = EncodeFrame({{"op", "hello"}, {"id", 1}}) + EncodeFrame({{"id", 1}, {"ok", true}});
  FrameReader r;
  nlohmann::json m;
  int got = 0;
  for (char c : s) {
    r.Append(&c, 1);
    auto n = r.Next(&m);
    ASSERT_TRUE(n.ok()) << n.status();
    if (*n) got++;
  }
  EXPECT_EQ(got, 2);
  EXPECT_EQ(m, (nlohmann::json{{"id", 1}, {"ok", true}}));
}

TEST(FrameReader, BadFramesAreInvalidArgument) {
  for (const std::string& s : {Frame("[1]"), Frame("{\"a\":"), std::string("\x01\x00\x00\x01", 4)}) {
    FrameReader r;
    r.Append(s.data(), s.size());
    nlohmann::json m;
    auto n = r.Next(&m);
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument) << s;
  }
}

TEST(FrameReader, DescriptorsAreTakenInOrder) {
  FrameReader r;
  r.AddFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(r.TakeFds(2).status().code(), absl::StatusCode::kFailedPrecondition);
  auto one = r.TakeFds(1);
  ASSERT_TRUE(one.ok());
  EXPECT_GE((*one)[0].get(), 0);
}

// Found while adding fuzz_monitor_frame: a frame nested some ten thousand levels deep
// parsed fine, and then copying, comparing or dumping it (every reply's "id"
// is copied) recursed once per level until the stack overflowed.
TEST(FrameReader, DeeplyNestedFrameIsRefused) {
  std::string deep = "{\"id\":" + std::string(200000, '[') + std::string(200000, ']') + "}";
  FrameReader r;
  std::string f = Frame(deep);
  r.Append(f.data(), f.size());
  nlohmann::json m;
  auto n = r.Next(&m);
  if (n.ok() && *n) (void)m.dump();  // the crash without the bound
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  // A spec-sized nesting passes.
  std::string ok = "{\"spec\":" + std::string(20, '[') + std::string(20, ']') + "}";
  f = Frame(ok);
  r.Append(f.data(), f.size());
  n = r.Next(&m);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(*n);
}

}  // namespace
}  // namespace kcr::monitor
