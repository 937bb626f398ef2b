#include "streaming/connection_limits.h"

#include <gtest/gtest.h>

#include <vector>

namespace kcr::streaming {
namespace {

TEST(PreAuthLimitsTest, PastItsBoundASourceLosesItsOldestConnectionNotTheNewOne) {
  PreAuthLimits l(3);
  std::vector<int> closed;
  std::vector<std::unique_ptr<PreAuthLimits::Slot>> a;
  for (int i = 0; i < 5; i++) a.push_back(l.Admit("10.0.0.1", [&closed, i] { closed.push_back(i); }));
  EXPECT_EQ(closed, (std::vector<int>{0, 1}));
  EXPECT_EQ(l.Count("10.0.0.1"), 3u);
  // Another address is not touched by that flood.
  auto other = l.Admit("10.0.0.2", [&closed] { closed.push_back(100); });
  EXPECT_EQ(closed.size(), 2u);
  EXPECT_EQ(l.Total(), 4u);
  // An evicted slot destroyed later (its connection ended) is not counted twice.
  a[0].reset();
  a[1].reset();
  EXPECT_EQ(l.Count("10.0.0.1"), 3u);
}

TEST(PreAuthLimitsTest, AuthenticatedOrEndedConnectionsNoLongerCount) {
  PreAuthLimits l(2);
  int closed = 0;
  auto a = l.Admit("::1", [&closed] { closed++; });
  auto b = l.Admit("::1", [&closed] { closed++; });
  a->Done();  // its token checked out
  b.reset();  // it ended
  EXPECT_EQ(l.Count("::1"), 0u);
  auto c = l.Admit("::1", [&closed] { closed++; });
  auto d = l.Admit("::1", [&closed] { closed++; });
  EXPECT_EQ(closed, 0);
  a.reset();
}

TEST(PreAuthLimitsTest, EvictOldestTakesTheOldestOfAnySource) {
  PreAuthLimits l(10);
  std::vector<std::string> closed;
  auto a = l.Admit("a", [&closed] { closed.push_back("a"); });
  auto b = l.Admit("b", [&closed] { closed.push_back("b"); });
  // The close handler may be replaced (TLS hands the connection on).
  a->SetClose([&closed] { closed.push_back("a2"); });
  EXPECT_TRUE(l.EvictOldest());
  EXPECT_TRUE(l.EvictOldest());
  EXPECT_FALSE(l.EvictOldest());
  EXPECT_EQ(closed, (std::vector<std::string>{"a2", "b"}));
}

}  // namespace
}  // namespace kcr::streaming
