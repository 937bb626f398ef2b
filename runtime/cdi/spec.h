#pragma once
// One CDI spec file (Container Device Interface,
// https://github.com/cncf-tags/container-device-interface/blob/main/SPEC.md):
// its kind, devices and container edits, parsed from JSON or YAML and
// validated. Depends on common/ only; applying the edits to a container is
// the caller's business (cri/).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace kcr::runtime::cdi {

// containerEdits.deviceNodes[]: a node made in the container's /dev.
struct DeviceNode {
  std::string path;       // in the container
  std::string host_path;  // on the host; empty: `path`
  std::string type;       // c, b, u, p; empty: the host node's
  int64_t major = 0, minor = 0;  // 0/0: the host node's
  std::optional<uint32_t> file_mode, uid, gid;
  std::string permissions;  // device cgroup access (r, w, m); empty: rwm
};

// containerEdits.mounts[].
struct Mount {
  std::string host_path, container_path, type;
  std::vector<std::string> options;
};

// containerEdits.hooks[]: an OCI hook at the point hook_name names.
struct Hook {
  std::string hook_name;  // prestart createRuntime createContainer startContainer poststart poststop
  std::string path;
  std::vector<std::string> args, env;
  std::optional<int> timeout;  // seconds, > 0
};

// containerEdits.intelRdt (CDI 0.7.0): parsed so a device that needs it is
// refused by name rather than started without it (kcr's runtime has no
// resctrl support).
struct IntelRdt {
  std::string clos_id, l3_cache_schema, mem_bw_schema;
};

struct ContainerEdits {
  std::vector<std::string> env;  // NAME=value
  std::vector<DeviceNode> device_nodes;
  std::vector<Mount> mounts;
  std::vector<Hook> hooks;
  std::vector<uint32_t> additional_gids;
  std::optional<IntelRdt> intel_rdt;
  // Appends `o`'s edits after this one's (the order CDI applies them in).
  void Append(const ContainerEdits& o);
};

struct Device {
  std::string name;  // the part after '=' of vendor.com/class=name
  ContainerEdits edits;
};

struct Spec {
  std::string version;  // cdiVersion
  std::string kind;     // vendor.com/class
  std::vector<Device> devices;
  ContainerEdits edits;  // applied once with any of this spec's devices
};

// Limits on what one file may hold.
inline constexpr size_t kMaxSpecFileBytes = 4 << 20;
inline constexpr size_t kMaxDevicesPerSpec = 4096;

// The CDI versions kcr reads (0.3.0, the earliest the reference library
// still reads, through 1.0.0; later ones add edits kcr does not apply).
bool SupportedVersion(const std::string& v);

// Parses and validates a spec file's text; `yaml` for .yaml/.yml files
// (JSON is YAML too, but its own parser gives better errors).
// InvalidArgument naming the field and the cause.
StatusOr<Spec> ParseSpec(const std::string& text, bool yaml);

// Checks a spec: version supported and high enough for the fields it uses,
// kind and device names well formed and unique, edits sound (absolute
// paths, no ".." in container paths, known hook names, permissions of
// r/w/m, positive timeouts).
Status ValidateSpec(const Spec& s);

// "vendor.com/class=name" split into kind and name; InvalidArgument naming
// what is wrong with it.
StatusOr<std::pair<std::string, std::string>> ParseQualifiedName(const std::string& name);

// The device names the `cdi.k8s.io/` annotations of a container ask for
// (the values are comma-separated qualified names), in key order.
// InvalidArgument for a key with nothing after the prefix or a name that
// is not qualified.
StatusOr<std::vector<std::string>> DevicesFromAnnotations(const std::map<std::string, std::string>& annotations);

inline constexpr char kAnnotationPrefix[] = "cdi.k8s.io/";

}  // namespace kcr::runtime::cdi
