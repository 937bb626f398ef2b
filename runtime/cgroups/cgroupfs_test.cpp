// The cgroupfs drivers against fake hierarchies (plain directories and
// files): which files each resource writes, for controllers this host may
// not have (hugetlb) and for the v2 layout on a v1 host.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/fs.h"
#include "common/paths.h"
#include "runtime/cgroups/cgroup.h"

namespace kcr::runtime {
namespace {

class FakeCgroupfs : public ::testing::Test {
 protected:
  void SetUp() override { root_ = fs::MakeTempDir("kcr-fake-cgroupfs"); }
  void TearDown() override { fs::RemoveAll(root_).IgnoreError(); }
  std::string Read(const std::string& rel) { return fs::ReadFile(JoinPath(root_, rel)).value_or("<missing>"); }
  void Touch(const std::string& rel) {
    if (auto slash = rel.rfind('/'); slash != std::string::npos) {
      ASSERT_TRUE(fs::MkdirAll(JoinPath(root_, rel.substr(0, slash))).ok());
    }
    ASSERT_TRUE(fs::WriteFileAtomic(JoinPath(root_, rel), "").ok());
  }
  std::string root_;
};

TEST_F(FakeCgroupfs, V1WritesHugepagesAndDeviceRules) {
  for (const char* c : {"cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "hugetlb"})
    Touch(std::string(c) + "/cgroup.procs");
  auto m = NewCgroupfsManager(root_);
  ASSERT_TRUE(m.ok()) << m.status();
  oci::Resources r;
  r.hugepage_limits = {{"2MB", 4 << 20}, {"1GB", 0}};
  r.devices = {{false, "a", {}, {}, "rwm"}, {true, "c", 1, 3, "rw"}};
  ASSERT_TRUE((*m)->Create("pod/ctr", r).ok());
  EXPECT_EQ(Read("hugetlb/pod/ctr/hugetlb.2MB.limit_in_bytes"), "4194304");
  EXPECT_EQ(Read("hugetlb/pod/ctr/hugetlb.1GB.limit_in_bytes"), "0");
  // Rules are written one by one; the file keeps the last.
  EXPECT_EQ(Read("devices/pod/ctr/devices.deny"), "a");
  EXPECT_EQ(Read("devices/pod/ctr/devices.allow"), "c 1:3 rw");
  // unified files belong to v2 only.
  oci::Resources u;
  u.unified = {{"memory.high", "1"}};
  EXPECT_EQ((*m)->Update("pod/ctr", u).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FakeCgroupfs, V1WithoutHugetlbSkipsHugepageLimits) {
  for (const char* c : {"cpu", "cpuacct", "cpuset", "memory", "pids"}) Touch(std::string(c) + "/cgroup.procs");
  auto m = NewCgroupfsManager(root_);
  ASSERT_TRUE(m.ok());
  oci::Resources r;
  r.hugepage_limits = {{"2MB", 0}};  // kubelet sends one per page size it knows
  EXPECT_TRUE((*m)->Create("pod", r).ok());
  struct stat st;
  EXPECT_NE(::stat(JoinPath(root_, "hugetlb").c_str(), &st), 0);
  oci::Resources d;
  d.devices = {{false, "a", {}, {}, "rwm"}};
  EXPECT_EQ((*m)->Update("pod", d).code(), absl::StatusCode::kFailedPrecondition);  // no devices controller
}

// CPU and memory as kubelet sends them: shares, quota/period, cpuset,
// memory and pids, in each layout's files (v2: shares become a weight as
// runc and crun convert them).
TEST_F(FakeCgroupfs, CpuMemoryAndPidsFilesPerLayout) {
  for (const char* c : {"cpu", "cpuacct", "cpuset", "memory", "pids"}) Touch(std::string(c) + "/cgroup.procs");
  oci::Resources r;
  r.cpu_shares = 1024;
  r.cpu_quota = 50000;
  r.cpu_period = 100000;
  r.cpuset_cpus = "0-1";
  r.cpuset_mems = "0";
  r.memory_limit = 128 << 20;
  r.pids_limit = 64;
  auto v1 = NewCgroupfsManager(root_);
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE((*v1)->Create("pod/c", r).ok());
  EXPECT_EQ(Read("cpu/pod/c/cpu.shares"), "1024");
  EXPECT_EQ(Read("cpu/pod/c/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(Read("cpu/pod/c/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(Read("cpuset/pod/c/cpuset.cpus"), "0-1");
  EXPECT_EQ(Read("cpuset/pod/c/cpuset.mems"), "0");
  EXPECT_EQ(Read("memory/pod/c/memory.limit_in_bytes"), "134217728");
  EXPECT_EQ(Read("pids/pod/c/pids.max"), "64");
  ASSERT_TRUE(fs::RemoveAll(root_).ok());
  ASSERT_TRUE(fs::MkdirAll(root_).ok());
  Touch("cgroup.controllers");
  auto v2 = NewCgroupfsManager(root_);
  ASSERT_TRUE(v2.ok());
  ASSERT_TRUE((*v2)->Create("pod/c", r).ok());
  EXPECT_EQ(Read("pod/c/cpu.weight"), "39");  // 1 + (1024-2)*9999/262142
  EXPECT_EQ(Read("pod/c/cpu.max"), "50000 100000");
  EXPECT_EQ(Read("pod/c/cpuset.cpus"), "0-1");
  EXPECT_EQ(Read("pod/c/memory.max"), "134217728");
  EXPECT_EQ(Read("pod/c/pids.max"), "64");
  // An unlimited quota is "max" on v2.
  oci::Resources unlimited;
  unlimited.cpu_quota = -1;
  unlimited.cpu_period = 100000;
  ASSERT_TRUE((*v2)->Update("pod/c", unlimited).ok());
  EXPECT_EQ(Read("pod/c/cpu.max"), "max 100000");
}

TEST_F(FakeCgroupfs, V2WritesHugepagesAndUnifiedFiles) {
  Touch("cgroup.controllers");
  Touch("pod/cgroup.subtree_control");
  Touch("pod/hugetlb.2MB.max");
  auto m = NewCgroupfsManager(root_);
  ASSERT_TRUE(m.ok());
  oci::Resources r;
  r.hugepage_limits = {{"2MB", 2 << 20}, {"1GB", 1 << 30}};  // 1GB: no such file, skipped
  r.unified = {{"memory.high", "50000000"}};
  r.memory_limit = 64 << 20;
  ASSERT_TRUE((*m)->Create("pod", r).ok());
  EXPECT_EQ(Read("pod/hugetlb.2MB.max"), "2097152");
  EXPECT_EQ(Read("pod/hugetlb.1GB.max"), "<missing>");
  EXPECT_EQ(Read("pod/memory.high"), "50000000");
  EXPECT_EQ(Read("pod/memory.max"), "67108864");
}

}  // namespace
}  // namespace kcr::runtime
