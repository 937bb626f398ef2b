#include "cri/validate.h"

#include <string>

#include "runtime/oci/spec.h"
#include "runtime/pod/pod_files.h"

namespace kcr::cri {

using ::runtime::v1::NamespaceMode;

namespace {

Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

// One mapping list of a pod user namespace (`what`: "uids" or "gids").
// kcr makes one contiguous range per pod, as kubelet allocates them (and
// containerd accepts): exactly one mapping, of container id 0 (the image's
// root must be someone), not empty, not wrapping past 2^32-1, and not
// reaching host id 0 (the pod's ids would include the host's root).
Status ValidateIdMappings(const google::protobuf::RepeatedPtrField<::runtime::v1::IDMapping>& m, const char* what) {
  std::string field = std::string("namespace_options.userns_options.") + what;
  if (m.size() != 1)
    return Invalid(field + ": " + std::to_string(m.size()) + " mappings given; a pod user namespace takes exactly one");
  const auto& e = m[0];
  if (e.container_id() != 0)
    return Invalid(field + ": container id 0 is not mapped (the mapping starts at container id " +
                   std::to_string(e.container_id()) + ")");
  if (e.length() == 0) return Invalid(field + ": the mapping's length is 0");
  if (uint64_t{e.host_id()} + e.length() > uint64_t{UINT32_MAX})
    return Invalid(field + ": host ids " + std::to_string(e.host_id()) + " + " + std::to_string(e.length()) +
                   " go past 4294967295");
  if (e.host_id() == 0) return Invalid(field + ": the mapping includes host id 0 (the host's root)");
  return absl::OkStatus();
}

}  // namespace

Status ValidateUserNamespace(const ::runtime::v1::NamespaceOption& ns) {
  if (!ns.has_userns_options()) return absl::OkStatus();
  const auto& u = ns.userns_options();
  switch (u.mode()) {
    case NamespaceMode::NODE:
      if (!u.uids().empty() || !u.gids().empty())
        return Invalid("namespace_options.userns_options: mode NODE (the host's user namespace) takes no mappings");
      return absl::OkStatus();
    case NamespaceMode::POD: break;
    case NamespaceMode::CONTAINER:
      return Invalid("namespace_options.userns_options: mode CONTAINER is not supported (a user namespace is the pod's)");
    default:
      return Invalid("namespace_options.userns_options: mode " + NamespaceMode_Name(u.mode()) +
                     " is not supported (only POD or NODE)");
  }
  KCR_RETURN_IF_ERROR(ValidateIdMappings(u.uids(), "uids"));
  KCR_RETURN_IF_ERROR(ValidateIdMappings(u.gids(), "gids"));
  if (u.uids(0).length() != u.gids(0).length())
    return Invalid("namespace_options.userns_options: the uid mapping's length (" + std::to_string(u.uids(0).length()) +
                   ") differs from the gid mapping's (" + std::to_string(u.gids(0).length()) + ")");
  // Kubernetes refuses hostUsers: false with any host namespace: the
  // pod's network, IPC and PID namespaces are what the user namespace
  // confines.
  for (auto [mode, name] : {std::pair{ns.network(), "network"}, std::pair{ns.ipc(), "ipc"}, std::pair{ns.pid(), "pid"}})
    if (mode == NamespaceMode::NODE)
      return Invalid(std::string("namespace_options: a pod user namespace cannot be combined with the host's ") + name +
                     " namespace");
  return absl::OkStatus();
}

std::string SandboxNameKey(const ::runtime::v1::PodSandboxMetadata& m) {
  return m.name() + "_" + m.namespace_() + "_" + m.uid() + "_" + std::to_string(m.attempt());
}

std::string ContainerNameKey(const ::runtime::v1::ContainerMetadata& c, const ::runtime::v1::PodSandboxMetadata& p) {
  return c.name() + "_" + p.name() + "_" + p.namespace_() + "_" + p.uid() + "_" + std::to_string(c.attempt());
}

Status ValidateSysctls(const google::protobuf::Map<std::string, std::string>& sysctls, bool host_network,
                       bool host_ipc) {
  for (const auto& [raw_key, value] : sysctls) {
    std::string key = raw_key;
    for (char& c : key)
      if (c == '/') c = '.';
    if (key.empty() || value.find('\n') != std::string::npos)
      return Invalid("sysctl \"" + raw_key + "\" is malformed");
    std::string ns = runtime::oci::SysctlNamespace(key);
    bool ipc = ns == "ipc", uts = ns == "uts", net = ns == "network";
    if (!ipc && !uts && !net)
      return Invalid("sysctl \"" + raw_key + "\" is not namespaced and cannot be set for a pod");
    if (ipc && host_ipc) return Invalid("sysctl \"" + raw_key + "\" needs the pod's IPC namespace (host IPC asked)");
    if ((net || uts) && host_network)
      return Invalid("sysctl \"" + raw_key + "\" needs the pod's own network and UTS namespaces (host network asked)");
  }
  return absl::OkStatus();
}

Status ValidateSandboxConfig(const ::runtime::v1::PodSandboxConfig& c) {
  if (!c.has_metadata()) return Invalid("pod sandbox config: metadata is missing");
  const auto& m = c.metadata();
  if (m.name().empty()) return Invalid("pod sandbox config: metadata.name is empty");
  if (m.namespace_().empty()) return Invalid("pod sandbox config: metadata.namespace is empty");
  if (m.uid().empty()) return Invalid("pod sandbox config: metadata.uid is empty");
  for (const std::string& s : {m.name(), m.namespace_(), m.uid()})
    if (s.find('/') != std::string::npos || s.find('\0') != std::string::npos)
      return Invalid("pod sandbox config: metadata field \"" + s + "\" contains '/' or NUL");
  const auto& ns = c.linux().security_context().namespace_options();
  bool host_net = ns.network() == NamespaceMode::NODE;
  if (!c.hostname().empty()) KCR_RETURN_IF_ERROR(Annotate(runtime::ValidateHostname(c.hostname()), "hostname"));
  if (c.has_dns_config()) {
    runtime::DnsConfig d{{c.dns_config().servers().begin(), c.dns_config().servers().end()},
                         {c.dns_config().searches().begin(), c.dns_config().searches().end()},
                         {c.dns_config().options().begin(), c.dns_config().options().end()}};
    KCR_RETURN_IF_ERROR(runtime::ResolvConf(d, "").status());
  }
  for (const auto& p : c.port_mappings()) {
    if (p.container_port() <= 0 || p.container_port() > 65535)
      return Invalid("port_mappings: container_port " + std::to_string(p.container_port()) + " out of range");
    if (p.host_port() < 0 || p.host_port() > 65535)
      return Invalid("port_mappings: host_port " + std::to_string(p.host_port()) + " out of range");
  }
  if (!c.log_directory().empty() && c.log_directory()[0] != '/')
    return Invalid("log_directory \"" + c.log_directory() + "\" is not an absolute path");
  if (ns.pid() == NamespaceMode::TARGET) return Invalid("namespace_options.pid: TARGET is only valid for containers");
  KCR_RETURN_IF_ERROR(ValidateUserNamespace(ns));
  return ValidateSysctls(c.linux().sysctls(), host_net, ns.ipc() == NamespaceMode::NODE);
}

Status ValidateContainerConfig(const ::runtime::v1::ContainerConfig& c) {
  if (!c.has_metadata()) return Invalid("container config: metadata is missing");
  if (c.metadata().name().empty()) return Invalid("container config: metadata.name is empty");
  if (c.metadata().name().find('/') != std::string::npos)
    return Invalid("container config: metadata.name \"" + c.metadata().name() + "\" contains '/'");
  if (!c.has_image() || c.image().image().empty()) return Invalid("container config: image.image is empty");
  for (const auto& m : c.mounts()) {
    if (m.container_path().empty()) return Invalid("mount: container_path is empty");
    if (m.container_path()[0] != '/')
      return Invalid("mount: container_path \"" + m.container_path() + "\" is not an absolute path");
    if (m.host_path().empty() && m.image().image().empty())
      return Invalid("mount " + m.container_path() + ": host_path is empty");
    if (m.recursive_read_only() && !m.readonly())
      return Invalid("mount " + m.container_path() + ": recursive_read_only needs readonly");
    if (m.recursive_read_only() && m.propagation() != ::runtime::v1::PROPAGATION_PRIVATE)
      return Invalid("mount " + m.container_path() + ": recursive_read_only needs private propagation");
  }
  KCR_RETURN_IF_ERROR(ValidateUserNamespace(c.linux().security_context().namespace_options()));
  for (const auto& d : c.devices())
    if (d.container_path().empty() || d.container_path()[0] != '/')
      return Invalid("device: container_path \"" + d.container_path() + "\" is not an absolute path");
  if (!c.log_path().empty() && c.log_path()[0] == '/')
    return Invalid("log_path \"" + c.log_path() + "\" must be relative to the pod's log_directory");
  if (c.log_path().find("..") != std::string::npos)
    return Invalid("log_path \"" + c.log_path() + "\" must not contain \"..\"");
  const auto& sc = c.linux().security_context();
  if (sc.has_run_as_group() && !sc.has_run_as_user() && sc.run_as_username().empty())
    return Invalid("security_context: run_as_group is set without run_as_user or run_as_username");
  if (!c.working_dir().empty() && c.working_dir()[0] != '/')
    return Invalid("working_dir \"" + c.working_dir() + "\" is not an absolute path");
  for (const auto& e : c.envs())
    if (e.key().empty() || e.key().find('=') != std::string::npos)
      return Invalid("envs: invalid variable name \"" + e.key() + "\"");
  return absl::OkStatus();
}

}  // namespace kcr::cri
