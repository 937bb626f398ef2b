#include "cri/root_lock.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/fs.h"

namespace kcr::cri {

TEST(RootLock, SecondHolderIsRefusedNamingThePid) {
  std::string dir = kcr::fs::MakeTempDir("kcr-lock-test");
  std::string path = dir + "/kcr.lock";
  {
    auto first = RootLock::Acquire(path);
    ASSERT_TRUE(first.ok()) << first.status();
    auto second = RootLock::Acquire(path);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(second.status().message().find(std::to_string(getpid())), absl::string_view::npos)
        << second.status();
  }
  // Released with its owner.
  EXPECT_TRUE(RootLock::Acquire(path).ok());
  ASSERT_TRUE(fs::RemoveAll(dir).ok());
}

}  // namespace kcr::cri
