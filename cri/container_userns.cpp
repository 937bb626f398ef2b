#include "cri/container_userns.h"

#include <algorithm>

namespace kcr::cri {

namespace v1 = ::runtime::v1;
namespace oci = kcr::runtime::oci;

namespace {

using Mappings = google::protobuf::RepeatedPtrField<v1::IDMapping>;

bool PodHasUserns(const v1::PodSandboxConfig& pod) {
  const auto& ns = pod.linux().security_context().namespace_options();
  return ns.has_userns_options() && ns.userns_options().mode() == v1::POD;
}

std::vector<oci::IdMapping> ToOci(const Mappings& m) {
  std::vector<oci::IdMapping> out;
  for (const auto& e : m) out.push_back({e.container_id(), e.host_id(), e.length()});
  return out;
}

bool Same(const Mappings& a, const Mappings& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const v1::IDMapping& x, const v1::IDMapping& y) {
    return x.container_id() == y.container_id() && x.host_id() == y.host_id() && x.length() == y.length();
  });
}

void AddOption(oci::Mount& m, const char* opt) {
  if (std::find(m.options.begin(), m.options.end(), opt) == m.options.end()) m.options.push_back(opt);
}

}  // namespace

std::vector<oci::IdMapping> PodUidMappings(const v1::PodSandboxConfig& pod) {
  if (!PodHasUserns(pod)) return {};
  return ToOci(pod.linux().security_context().namespace_options().userns_options().uids());
}

std::vector<oci::IdMapping> PodGidMappings(const v1::PodSandboxConfig& pod) {
  if (!PodHasUserns(pod)) return {};
  return ToOci(pod.linux().security_context().namespace_options().userns_options().gids());
}

Status ApplyPodUserNamespace(const v1::ContainerConfig& config, const v1::PodSandboxConfig& pod,
                             const std::string& pod_dir, oci::Spec* spec) {
  const std::string name = "container " + config.metadata().name();
  const auto& cns = config.linux().security_context().namespace_options();
  if (!PodHasUserns(pod)) {
    if (cns.has_userns_options() && cns.userns_options().mode() == v1::POD)
      return absl::InvalidArgumentError(name + ": asks for the pod's user namespace, but the pod has none");
    for (const auto& m : config.mounts())
      if (!m.uidmappings().empty() || !m.gidmappings().empty())
        return absl::InvalidArgumentError(name + ": mount " + m.container_path() +
                                          " has id mappings, but the pod has no user namespace");
    return absl::OkStatus();
  }
  const auto& pu = pod.linux().security_context().namespace_options().userns_options();
  // kubelet repeats the pod's options in each container; a container
  // without them (crictl) follows its pod.
  if (cns.has_userns_options() &&
      (cns.userns_options().mode() != v1::POD || !Same(cns.userns_options().uids(), pu.uids()) ||
       !Same(cns.userns_options().gids(), pu.gids())))
    return absl::InvalidArgumentError(name + ": its userns_options differ from its pod's (a container joins the pod's "
                                             "user namespace)");
  for (const auto& m : config.mounts())
    if ((!m.uidmappings().empty() || !m.gidmappings().empty()) &&
        (!Same(m.uidmappings(), pu.uids()) || !Same(m.gidmappings(), pu.gids())))
      return absl::InvalidArgumentError(name + ": mount " + m.container_path() +
                                        " has id mappings other than the pod's user namespace's");
  spec->linux.namespaces.push_back({"user", "pod"});
  spec->linux.uid_mappings = ToOci(pu.uids());
  spec->linux.gid_mappings = ToOci(pu.gids());
  for (auto& m : spec->mounts) {
    // kcr's own files of the pod (hosts, hostname, resolv.conf, shm).
    if (m.type == "bind" && m.source.rfind(pod_dir + "/", 0) == 0) AddOption(m, "idmap");
    // devpts' group "tty" is the container's gid 5, on the host its mapped id.
    if (m.type == "devpts")
      for (auto& o : m.options)
        if (o.rfind("gid=", 0) == 0)
          if (auto g = oci::HostId(spec->linux.gid_mappings, static_cast<uint32_t>(std::stoul(o.substr(4)))))
            o = "gid=" + std::to_string(*g);
  }
  // The CRI mounts that carry the mappings: kubelet's volumes (an image
  // volume's overlay has its layers idmapped). The others stay as they are
  // on the host: ids there are host ids, unmapped ones show as nobody.
  for (const auto& cm : config.mounts()) {
    if (cm.uidmappings().empty()) continue;
    for (auto& m : spec->mounts)
      if (m.destination == cm.container_path() && (m.type == "bind" || m.type == "overlay")) AddOption(m, "idmap");
  }
  return absl::OkStatus();
}

}  // namespace kcr::cri
