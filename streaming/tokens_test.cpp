#include "streaming/tokens.h"

#include <gtest/gtest.h>

#include <set>

namespace kcr::streaming {
namespace {

using Clock = TokenStore::Clock;

ExecRequest Exec(const std::string& id) {
  ExecRequest e;
  e.container_id = id;
  e.cmd = {"true"};
  return e;
}

TEST(TokenStoreTest, ATokenIsUsedOnce) {
  TokenStore s(std::chrono::minutes(1));
  auto t = s.Insert(Exec("c1"));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(TokenStore::WellFormed(*t));
  auto r = s.Take(*t);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(std::get<ExecRequest>(*r).container_id, "c1");
  EXPECT_TRUE(absl::IsNotFound(s.Take(*t).status()));
}

TEST(TokenStoreTest, ExpiredAndUnknownAreNotFoundMalformedIsInvalid) {
  Clock::time_point now = Clock::now();
  TokenStore s(std::chrono::seconds(60), 16, [&now] { return now; });
  auto t = s.Insert(Exec("c1"));
  ASSERT_TRUE(t.ok());
  now += std::chrono::seconds(61);
  EXPECT_TRUE(absl::IsNotFound(s.Take(*t).status()));
  EXPECT_TRUE(absl::IsNotFound(s.Take(std::string(TokenStore::kTokenLength, 'A')).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(s.Take("short").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(s.Take(std::string(TokenStore::kTokenLength, '/')).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(s.Take("").status()));
}

TEST(TokenStoreTest, TokensAreDistinctAndPendingOnesBounded) {
  TokenStore s(std::chrono::minutes(1), 8);
  std::set<std::string> seen;
  std::vector<std::string> order;
  for (int i = 0; i < 100; i++) {
    auto t = s.Insert(Exec("c" + std::to_string(i)));
    ASSERT_TRUE(t.ok());
    EXPECT_TRUE(seen.insert(*t).second);
    order.push_back(*t);
  }
  // Only the newest 8 remain.
  EXPECT_TRUE(absl::IsNotFound(s.Take(order[0]).status()));
  EXPECT_TRUE(s.Take(order[99]).ok());
}

// A guess that shares all but the last character with a live token is
// just unknown (404), and does not spend the real one.
TEST(TokenStoreTest, AGuessWithTheRightPrefixIsUnknownAndSpendsNothing) {
  TokenStore s(std::chrono::minutes(1));
  auto t = s.Insert(Exec("c1"));
  ASSERT_TRUE(t.ok());
  std::string guess = *t;
  guess.back() = guess.back() == 'A' ? 'B' : 'A';
  EXPECT_TRUE(absl::IsNotFound(s.Take(guess).status()));
  EXPECT_TRUE(s.Take(*t).ok());
}

}  // namespace
}  // namespace kcr::streaming
