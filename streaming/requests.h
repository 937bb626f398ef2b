#pragma once
// What cri/ resolved when it answered Exec, Attach or PortForward: the
// streaming server acts on these alone and never reads kcr's store.
#include <string>
#include <variant>
#include <vector>

namespace kcr::streaming {

struct ExecRequest {
  std::string container_id;
  std::string monitor_socket;  // the pod's kcr-monitor (runtime/monitor/PROTOCOL.md)
  std::vector<std::string> cmd;
  bool tty = false, stdin = false, stdout = false, stderr = false;
};

struct AttachRequest {
  std::string container_id;
  std::string monitor_socket;
  bool tty = false, stdin = false, stdout = false, stderr = false;
};

struct PortForwardRequest {
  std::string pod_id;
  std::string netns_path;  // the pod's pinned network namespace; empty with host_network
  bool host_network = false;
};

using Request = std::variant<ExecRequest, AttachRequest, PortForwardRequest>;

}  // namespace kcr::streaming
