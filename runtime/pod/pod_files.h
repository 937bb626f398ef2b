#pragma once
// The per-pod files every container of a pod sees: /etc/hostname,
// /etc/hosts and /etc/resolv.conf, written into the pod directory.
#include <string>
#include <vector>

#include "common/status.h"

namespace kcr::runtime {

struct DnsConfig {
  std::vector<std::string> servers, searches, options;
};

// resolv.conf for a pod: from `dns` when it names anything (CRI DNSConfig),
// else the host's file (`host_resolv`) verbatim, as containerd does.
// InvalidArgument for a server that is not an IP address or a search/option
// with whitespace.
StatusOr<std::string> ResolvConf(const DnsConfig& dns, const std::string& host_resolv);

// /etc/hosts for a pod with its own network: localhost entries only
// (kubelet manages its own hosts file where it wants more).
std::string PodHosts();

// Validates a hostname (RFC 1123 labels, <= 64 chars for uname).
Status ValidateHostname(const std::string& name);

}  // namespace kcr::runtime
