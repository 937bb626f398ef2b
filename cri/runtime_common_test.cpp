#include "cri/runtime_common.h"

#include <gtest/gtest.h>

namespace kcr::cri {
namespace {

std::string Cgroup(const std::string& parent, bool systemd = false, const std::string& own = "kcr.slice") {
  ::runtime::v1::PodSandboxConfig c;
  c.mutable_linux()->set_cgroup_parent(parent);
  auto p = PodCgroup(c, "abc", own, systemd);
  return p.ok() ? *p : "error: " + std::string(p.status().message());
}

TEST(PodCgroup, KubeletParentsAndKcrsOwn) {
  EXPECT_EQ(Cgroup("/kubepods/burstable/pod1"), "kubepods/burstable/pod1");  // cgroupfs kubelet
  // systemd kubelet: slice names expand as systemd lays them out.
  EXPECT_EQ(Cgroup("kubepods-burstable-pod1.slice"), "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice");
  EXPECT_EQ(Cgroup("kubepods.slice"), "kubepods.slice");
  EXPECT_EQ(Cgroup(""), "kcr.slice/abc");  // no parent: kcr's own
  EXPECT_EQ(Cgroup("/kubepods/../etc"), "error: linux.cgroup_parent \"/kubepods/../etc\" may not hold \"..\"");
}

TEST(PodCgroup, SystemdDriverWantsSlices) {
  EXPECT_EQ(Cgroup("kubepods-besteffort-pod1.slice", true),
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice");
  EXPECT_EQ(Cgroup("/kubepods.slice", true), "kubepods.slice");
  EXPECT_EQ(Cgroup("", true), "kcr.slice/kcr-abc.slice");  // kcr's own slice per pod
  EXPECT_EQ(Cgroup("", true, "/pods"), "pods.slice/pods-abc.slice");
  EXPECT_NE(Cgroup("/kubepods/burstable/pod1", true).find("must be a slice name"), std::string::npos);
  EXPECT_NE(Cgroup("a--b.slice", true).find("is not a systemd slice name"), std::string::npos);
  EXPECT_NE(Cgroup("", true, "a/b").find("config cgroup.parent"), std::string::npos);
}

TEST(SlicePath, SystemdLayout) {
  EXPECT_EQ(*kcr::runtime::SlicePath("a-b-c.slice"), "a.slice/a-b.slice/a-b-c.slice");
  EXPECT_EQ(*kcr::runtime::SlicePath("-.slice"), "");
  for (const char* bad : {"a.scope", ".slice", "-a.slice", "a-.slice", "a b.slice", "a/b.slice"})
    EXPECT_EQ(kcr::runtime::SlicePath(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
}

}  // namespace
}  // namespace kcr::cri
