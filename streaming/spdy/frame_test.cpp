// Golden bytes for each frame type, written out from the layouts of the
// SPDY/3 spec (section 2.2 and 2.6): control bit and version 3, type,
// flags, 24-bit length, then the type's fields, all big-endian.
#include "streaming/spdy/frame.h"

#include <gtest/gtest.h>

#include <string>

namespace kcr::streaming::spdy::wire {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

TEST(SpdyFrame, DataFrameLayout) {
  std::string out;
  AppendData(&out, 5, kFlagFin, "hi");
  EXPECT_EQ(out, Bytes({0x00, 0x00, 0x00, 0x05, 0x01, 0x00, 0x00, 0x02, 'h', 'i'}));
}

TEST(SpdyFrame, SynStreamLayout) {
  std::string out;
  AppendSynStream(&out, 3, kFlagFin, "XY");
  // 0x8003 0x0001, flags 1, length 12; stream id, associated id 0,
  // priority 0 << 5, slot 0, the block.
  EXPECT_EQ(out, Bytes({0x80, 0x03, 0x00, 0x01, 0x01, 0x00, 0x00, 0x0c, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 'X', 'Y'}));
}

TEST(SpdyFrame, SynReplyLayout) {
  std::string out;
  AppendSynReply(&out, 7, 0, "Z");
  EXPECT_EQ(out, Bytes({0x80, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05, 0, 0, 0, 7, 'Z'}));
}

TEST(SpdyFrame, RstStreamLayout) {
  std::string out;
  AppendRstStream(&out, 9, 5);
  EXPECT_EQ(out, Bytes({0x80, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0, 0, 0, 9, 0, 0, 0, 5}));
}

TEST(SpdyFrame, SettingsLayout) {
  std::string out;
  AppendSettings(&out, {{kSettingInitialWindowSize, 0x10000}});
  // Count 1; flags 0 and 24-bit id 7; value.
  EXPECT_EQ(out, Bytes({0x80, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0c, 0, 0, 0, 1, 0, 0, 0, 7, 0, 1, 0, 0}));
}

TEST(SpdyFrame, PingLayout) {
  std::string out;
  AppendPing(&out, 0x01020304);
  EXPECT_EQ(out, Bytes({0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 1, 2, 3, 4}));
}

TEST(SpdyFrame, GoAwayLayout) {
  std::string out;
  AppendGoAway(&out, 11, kGoAwayProtocolError);
  EXPECT_EQ(out, Bytes({0x80, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00, 0x08, 0, 0, 0, 11, 0, 0, 0, 1}));
}

TEST(SpdyFrame, WindowUpdateLayout) {
  std::string out;
  AppendWindowUpdate(&out, 1, 0x8000);
  EXPECT_EQ(out, Bytes({0x80, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08, 0, 0, 0, 1, 0, 0, 0x80, 0}));
}

TEST(SpdyFrame, ParseHeaderBothKinds) {
  FrameHeader c = ParseHeader(Bytes({0x80, 0x03, 0x00, 0x08, 0x01, 0x12, 0x34, 0x56}).data());
  EXPECT_TRUE(c.control);
  EXPECT_EQ(c.version, 3);
  EXPECT_EQ(c.type, kHeaders);
  EXPECT_EQ(c.flags, 1);
  EXPECT_EQ(c.length, 0x123456u);
  FrameHeader d = ParseHeader(Bytes({0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}).data());
  EXPECT_FALSE(d.control);
  EXPECT_EQ(d.stream_id, 0x7fffffffu);
  EXPECT_EQ(d.flags, 0xff);
  EXPECT_EQ(d.length, 0xffffffu);
}

}  // namespace
}  // namespace kcr::streaming::spdy::wire
