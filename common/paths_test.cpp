#include "common/paths.h"

#include <gtest/gtest.h>

namespace kcr {
TEST(Paths, LayoutUnderRootAndState) {
  Paths p("/var/lib/kcr/", "/run/kcr");
  EXPECT_EQ(p.Database(), "/var/lib/kcr/kcr.db");
  EXPECT_EQ(p.Blob("ab12"), "/var/lib/kcr/content/blobs/sha256/ab12");
  EXPECT_EQ(p.SnapshotFs("7"), "/var/lib/kcr/snapshots/7/fs");
  EXPECT_EQ(p.MonitorSocket("pod1"), "/run/kcr/monitors/pod1.sock");
  EXPECT_EQ(p.DefaultSocket(), "/run/kcr/kcr.sock");
}
TEST(Paths, JoinPathNormalisesSlashes) {
  EXPECT_EQ(JoinPath("/a/", "/b"), "/a/b");
  EXPECT_EQ(JoinPath("/", "b"), "/b");
  EXPECT_EQ(JoinPath("a", ""), "a");
}
}  // namespace kcr
