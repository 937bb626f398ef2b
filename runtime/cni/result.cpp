#include "runtime/cni/result.h"

#include "common/json.h"

namespace kcr::runtime {

using nlohmann::json;

namespace {

// The string at `key` of `j`, or "" when `j` is no object or the value no
// string (json::value() throws on a wrong type).
std::string StringAt(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

StatusOr<json> ParseAddResult(const std::string& plugin, const std::string& out) {
  json res = ParseJsonBounded(out);
  if (res.is_discarded() || !res.is_object())
    return absl::InternalError("CNI plugin " + plugin + " returned no JSON object (of at most " +
                               std::to_string(kMaxJsonDepth) + " levels) as its ADD result");
  return res;
}

std::vector<std::string> ResultIps(const json& result) {
  std::vector<std::string> v4, v6;
  auto add = [&](std::string cidr) {
    if (cidr.empty()) return;
    cidr = cidr.substr(0, cidr.find('/'));
    (cidr.find(':') == std::string::npos ? v4 : v6).push_back(cidr);
  };
  if (result.is_object() && result.contains("ips") && result["ips"].is_array())
    for (const auto& ip : result["ips"]) add(StringAt(ip, "address"));
  for (const char* k : {"ip4", "ip6"})  // CNI 0.2.0 results
    if (result.is_object() && result.contains(k)) add(StringAt(result[k], "ip"));
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

std::string PluginErrorText(const std::string& plugin, const PluginOutput& out) {
  json e = ParseJsonBounded(out.out);
  std::string msg = "CNI plugin " + plugin + " failed (exit " + std::to_string(out.exit_code) + ")";
  if (e.is_object() && e.contains("msg")) {
    msg += ": " + StringAt(e, "msg");
    if (std::string details = StringAt(e, "details"); !details.empty()) msg += " (" + details + ")";
    if (e.contains("code")) msg += " [code " + e["code"].dump() + "]";
  } else if (!out.err.empty()) {
    msg += ": " + out.err.substr(0, 512);
  }
  return msg;
}

}  // namespace kcr::runtime
