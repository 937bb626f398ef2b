#include "cri/runtime_common.h"

#include <gtest/gtest.h>

namespace kcr::cri {
namespace {

std::string Cgroup(const std::string& parent) {
  ::runtime::v1::PodSandboxConfig c;
  c.mutable_linux()->set_cgroup_parent(parent);
  return PodCgroup(c, "abc", "kcr.slice");
}

TEST(PodCgroup, KubeletParentsAndKcrsOwn) {
  EXPECT_EQ(Cgroup("/kubepods/burstable/pod1"), "kubepods/burstable/pod1");  // cgroupfs kubelet
  // systemd kubelet: slice names expand as systemd lays them out.
  EXPECT_EQ(Cgroup("kubepods-burstable-pod1.slice"), "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice");
  EXPECT_EQ(Cgroup("kubepods.slice"), "kubepods.slice");
  EXPECT_EQ(Cgroup(""), "kcr.slice/abc");  // no parent: kcr's own
}

}  // namespace
}  // namespace kcr::cri
