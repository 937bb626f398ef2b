#pragma once
// What kcrd reads from a CNI plugin's stdout (CNI SPEC.md, "Success" and
// "Error" results). A plugin is a third-party binary: any bytes it writes
// end in a Status or a value, never in an exception.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "runtime/cni/plugin_exec.h"

namespace kcr::runtime {

// ADD's result: a JSON object. InternalError naming `plugin` otherwise.
StatusOr<nlohmann::json> ParseAddResult(const std::string& plugin, const std::string& out);

// The pod's addresses in a result ("ips", or CNI 0.2.0's "ip4"/"ip6"),
// without prefix length, IPv4 first. Entries of the wrong type are skipped.
std::vector<std::string> ResultIps(const nlohmann::json& result);

// A failed plugin's message: its error object ("msg", "details", "code")
// when it wrote one, else the start of its stderr.
std::string PluginErrorText(const std::string& plugin, const PluginOutput& out);

}  // namespace kcr::runtime
