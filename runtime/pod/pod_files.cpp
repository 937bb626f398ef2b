#include "runtime/pod/pod_files.h"

#include <arpa/inet.h>

#include <cctype>

namespace kcr::runtime {

namespace {
bool HasSpace(const std::string& s) {
  for (char c : s)
    if (std::isspace(static_cast<unsigned char>(c))) return true;
  return s.empty();
}
}  // namespace

StatusOr<std::string> ResolvConf(const DnsConfig& dns, const std::string& host_resolv) {
  if (dns.servers.empty() && dns.searches.empty() && dns.options.empty()) return host_resolv;
  std::string out;
  if (!dns.searches.empty()) {
    out += "search";
    for (const auto& s : dns.searches) {
      if (HasSpace(s)) return absl::InvalidArgumentError("dns_config.searches: invalid domain \"" + s + "\"");
      out += " " + s;
    }
    out += "\n";
  }
  for (const auto& s : dns.servers) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) != 1 && inet_pton(AF_INET6, s.c_str(), buf) != 1)
      return absl::InvalidArgumentError("dns_config.servers: \"" + s + "\" is not an IP address");
    out += "nameserver " + s + "\n";
  }
  if (!dns.options.empty()) {
    out += "options";
    for (const auto& o : dns.options) {
      if (HasSpace(o)) return absl::InvalidArgumentError("dns_config.options: invalid option \"" + o + "\"");
      out += " " + o;
    }
    out += "\n";
  }
  return out;
}

std::string PodHosts() {
  return "127.0.0.1\tlocalhost\n"
         "::1\tlocalhost ip6-localhost ip6-loopback\n"
         "fe00::0\tip6-localnet\n"
         "fe00::0\tip6-mcastprefix\n"
         "fe00::1\tip6-allnodes\n"
         "fe00::2\tip6-allrouters\n";
}

Status ValidateHostname(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return absl::InvalidArgumentError("hostname \"" + name + "\" must be 1 to 64 characters");
  size_t label = 0;
  for (size_t i = 0; i < name.size(); i++) {
    char c = name[i];
    if (c == '.') {
      if (label == 0 || name[i - 1] == '-')
        return absl::InvalidArgumentError("hostname \"" + name + "\" has an empty or badly ended label");
      label = 0;
      continue;
    }
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || (c == '-' && label > 0);
    if (!ok) return absl::InvalidArgumentError("hostname \"" + name + "\" is not a valid RFC 1123 name");
    label++;
  }
  if (name.back() == '-' || name.back() == '.')
    return absl::InvalidArgumentError("hostname \"" + name + "\" is not a valid RFC 1123 name");
  return absl::OkStatus();
}

}  // namespace kcr::runtime
