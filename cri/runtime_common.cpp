#include "cri/runtime_common.h"

#include <chrono>

namespace kcr::cri {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

::runtime::v1::PodSandboxConfig SandboxConfigOf(const kcr::runtime::SandboxRecord& s) {
  ::runtime::v1::PodSandboxConfig c;
  c.ParseFromString(s.config);
  return c;
}

::runtime::v1::ContainerConfig ContainerConfigOf(const kcr::runtime::ContainerRecord& r) {
  ::runtime::v1::ContainerConfig c;
  c.ParseFromString(r.config);
  return c;
}

::runtime::v1::ContainerState CriState(kcr::runtime::ContainerState s) {
  switch (s) {
    case kcr::runtime::ContainerState::kCreated: return ::runtime::v1::CONTAINER_CREATED;
    case kcr::runtime::ContainerState::kRunning: return ::runtime::v1::CONTAINER_RUNNING;
    case kcr::runtime::ContainerState::kExited: return ::runtime::v1::CONTAINER_EXITED;
    default: return ::runtime::v1::CONTAINER_UNKNOWN;
  }
}

void MarkStarted(kcr::runtime::ContainerRecord& c, const nlohmann::json& started) {
  c.state = kcr::runtime::ContainerState::kRunning;
  c.started_ns = started.value("started_ns", NowNs());
  nlohmann::json extra = nlohmann::json::parse(c.extra.empty() ? "{}" : c.extra, nullptr, false);
  if (!extra.is_object()) extra = nlohmann::json::object();
  extra["pid"] = started.value("pid", -1);
  c.extra = extra.dump();
}

void MarkLost(kcr::runtime::ContainerRecord& c, const std::string& why) {
  c.state = kcr::runtime::ContainerState::kExited;
  c.exit_code = 255;
  c.finished_ns = NowNs();
  c.reason = "Unknown";
  c.message = "the container's pod monitor is gone: " + why;
}

void MarkNotReady(kcr::runtime::SandboxRecord& s, const std::string& why) {
  nlohmann::json extra = nlohmann::json::parse(s.extra.empty() ? "{}" : s.extra, nullptr, false);
  if (!extra.is_object()) extra = nlohmann::json::object();
  extra["notReadyReason"] = why;
  s.extra = extra.dump();
  s.state = kcr::runtime::SandboxState::kNotReady;
}

std::string NotReadyReason(const kcr::runtime::SandboxRecord& s) {
  nlohmann::json extra = nlohmann::json::parse(s.extra.empty() ? "{}" : s.extra, nullptr, false);
  if (!extra.is_object() || !extra.contains("notReadyReason") || !extra["notReadyReason"].is_string()) return "";
  return extra["notReadyReason"].get<std::string>();
}

bool SharesPidNamespace(const kcr::runtime::SandboxRecord& s) {
  return SandboxConfigOf(s).linux().security_context().namespace_options().pid() == ::runtime::v1::POD;
}

StatusOr<std::string> PodCgroup(const ::runtime::v1::PodSandboxConfig& c, const std::string& pod_id,
                                const std::string& default_parent, bool systemd) {
  auto trim = [](std::string p) {
    while (!p.empty() && p.front() == '/') p.erase(0, 1);
    while (!p.empty() && p.back() == '/') p.pop_back();
    return p;
  };
  std::string parent = trim(c.linux().cgroup_parent());
  if (parent.find("..") != std::string::npos)
    return absl::InvalidArgumentError("linux.cgroup_parent \"" + c.linux().cgroup_parent() + "\" may not hold \"..\"");
  bool slice_name = parent.find('/') == std::string::npos && parent.ends_with(".slice");
  // The slice whose systemd path is the pod's cgroup, if it is one.
  std::string slice;
  if (systemd) {
    slice = parent;
    if (parent.empty()) {
      std::string base = trim(default_parent);
      if (base.ends_with(".slice")) base.resize(base.size() - 6);
      if (base.empty() || base.find('/') != std::string::npos)
        return absl::InvalidArgumentError("config cgroup.parent \"" + default_parent +
                                          "\" must be a slice name for the systemd driver");
      slice = base + "-" + pod_id + ".slice";
    } else if (!slice_name) {
      return absl::InvalidArgumentError("linux.cgroup_parent \"" + c.linux().cgroup_parent() +
                                        "\" must be a slice name such as kubepods-burstable-pod<uid>.slice "
                                        "(kcr's cgroup driver is systemd)");
    }
  } else if (slice_name && parent != "-.slice") {
    // A slice name from a kubelet using the systemd driver is where systemd
    // would put it: kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice.
    slice = parent;
  }
  if (!slice.empty()) {
    auto path = kcr::runtime::SlicePath(slice);
    if (!path.ok()) return Annotate(path.status(), "linux.cgroup_parent");
    return *path;
  }
  if (!parent.empty()) return parent;
  std::string base = trim(default_parent);
  return (base.empty() ? std::string("kcr") : base) + "/" + pod_id;
}

std::string ContainerCgroup(const kcr::runtime::CgroupManager& cgroups, const kcr::runtime::SandboxRecord& pod,
                            const std::string& container_id) {
  return cgroups.ContainerParent(pod.cgroup_parent, pod.id) + "/" + container_id;
}

bool LabelsMatch(const google::protobuf::Map<std::string, std::string>& selector,
                 const std::map<std::string, std::string>& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

StatusOr<kcr::runtime::oci::Resources> ResourcesFromCri(const ::runtime::v1::LinuxContainerResources& r) {
  kcr::runtime::oci::Resources res;
  if (r.cpu_shares() > 0) res.cpu_shares = static_cast<uint64_t>(r.cpu_shares());
  if (r.cpu_quota() != 0) res.cpu_quota = r.cpu_quota();
  if (r.cpu_period() > 0) res.cpu_period = static_cast<uint64_t>(r.cpu_period());
  res.cpuset_cpus = r.cpuset_cpus();
  res.cpuset_mems = r.cpuset_mems();
  if (r.memory_limit_in_bytes() > 0) res.memory_limit = r.memory_limit_in_bytes();
  if (r.memory_swap_limit_in_bytes() > 0) res.memory_swap = r.memory_swap_limit_in_bytes();
  for (const auto& h : r.hugepage_limits()) {
    if (h.page_size().empty() || h.page_size().find_first_of("/.") != std::string::npos)
      return absl::InvalidArgumentError("resources.hugepage_limits: page size \"" + h.page_size() + "\" is invalid");
    res.hugepage_limits.push_back({h.page_size(), h.limit()});
  }
  for (const auto& [k, v] : r.unified()) {
    if (k.empty() || k.find('/') != std::string::npos || k.find("..") != std::string::npos)
      return absl::InvalidArgumentError("resources.unified: \"" + k + "\" is not a cgroup file name");
    res.unified[k] = v;
  }
  return res;
}

}  // namespace kcr::cri
