// Which v1 hierarchies a container's /sys/fs/cgroup is built from.
#include "runtime/linux/cgroup_mount.h"

#include <gtest/gtest.h>

namespace kcr::runtime::child {
namespace {

const std::set<std::string> kControllers = {"cpu", "cpuacct", "cpuset", "memory", "net_cls", "net_prio",
                                            "hugetlb", "pids", "devices"};

TEST(ParseV1Hierarchies, CoMountedNamedAndHybridLayouts) {
  const std::string mountinfo =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
      "33 31 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,xattr,memory\n"
      "34 31 0:31 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio,clone_children\n"
      "35 31 0:32 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd,release_agent=/x\n"
      "36 31 0:33 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
      "37 23 0:34 / /mnt/elsewhere/pids rw - cgroup cgroup rw,pids\n"
      "38 31 0:35 / /sys/fs/cgroup/bad\\040name rw - cgroup cgroup rw,devices\n";
  auto hs = ParseV1Hierarchies(mountinfo, "/sys/fs/cgroup", kControllers);
  ASSERT_EQ(hs.size(), 4u);
  EXPECT_EQ(hs[0].name, "cpu,cpuacct");
  EXPECT_EQ(hs[0].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(hs[0].options, "cpu,cpuacct");
  EXPECT_EQ(hs[1].name, "memory");
  EXPECT_EQ(hs[1].options, "memory");  // xattr is an option, not a controller
  EXPECT_EQ(hs[2].options, "net_cls,net_prio");
  EXPECT_EQ(hs[3].name, "systemd");
  EXPECT_EQ(hs[3].options, "name=systemd");
}

TEST(ParseV1Hierarchies, UnifiedHostHasNone) {
  EXPECT_TRUE(ParseV1Hierarchies("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
                                 "/sys/fs/cgroup", kControllers)
                  .empty());
}

}  // namespace
}  // namespace kcr::runtime::child
