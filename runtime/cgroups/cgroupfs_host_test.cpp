// The cgroupfs driver against this host's real v1 memory controller, where
// the kernel, not a fake directory, decides which writes are valid.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "common/fs.h"
#include "common/paths.h"
#include "runtime/cgroups/cgroup.h"

namespace kcr::runtime {
namespace {

constexpr const char* kMemory = "/sys/fs/cgroup/memory";

class HostMemoryCgroup : public ::testing::Test {
 protected:
  void SetUp() override {
    if (DetectCgroupLayout() == CgroupLayout::kV2 || ::access(JoinPath(kMemory, "memory.memsw.limit_in_bytes").c_str(), F_OK) != 0)
      GTEST_SKIP() << "needs a v1 memory controller with swap accounting (memory.memsw.*)";
    auto m = NewCgroupfsManager();
    ASSERT_TRUE(m.ok()) << m.status();
    mgr_ = std::move(*m);
    path_ = "kcr-test-memsw-" + std::to_string(::getpid());
  }
  void TearDown() override {
    if (mgr_) {
      EXPECT_TRUE(mgr_->Destroy(path_).ok());
    }
  }
  std::string Read(const char* file) {
    return fs::ReadFile(JoinPath(JoinPath(kMemory, path_), file)).value_or("<missing>");
  }
  static oci::Resources Memory(int64_t bytes) {
    oci::Resources r;
    r.memory_limit = bytes;
    r.memory_swap = bytes;  // what kubelet sends on v1 (no swap for the container)
    return r;
  }
  std::unique_ptr<CgroupManager> mgr_;
  std::string path_;
};

// kubelet's in-place resize of a running container (UpdateContainerResources)
// raises memory and swap limits together; v1 refuses a memory limit above
// the current memsw limit, so the order of the two writes matters.
TEST_F(HostMemoryCgroup, ResizeRaisesAndLowersMemoryWithSwap) {
  ASSERT_TRUE(mgr_->Create(path_, Memory(32 << 20)).ok());
  EXPECT_EQ(Read("memory.limit_in_bytes"), "33554432\n");
  EXPECT_EQ(Read("memory.memsw.limit_in_bytes"), "33554432\n");

  Status up = mgr_->Update(path_, Memory(100 << 20));
  ASSERT_TRUE(up.ok()) << up;
  EXPECT_EQ(Read("memory.limit_in_bytes"), "104857600\n");
  EXPECT_EQ(Read("memory.memsw.limit_in_bytes"), "104857600\n");

  Status down = mgr_->Update(path_, Memory(16 << 20));
  ASSERT_TRUE(down.ok()) << down;
  EXPECT_EQ(Read("memory.limit_in_bytes"), "16777216\n");
  EXPECT_EQ(Read("memory.memsw.limit_in_bytes"), "16777216\n");
}

}  // namespace
}  // namespace kcr::runtime
