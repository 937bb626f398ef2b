// The sub-protocols a client offers (Sec-WebSocket-Protocol,
// X-Stream-Protocol-Version): a comma-separated list, each name trimmed,
// empty names dropped, in the client's order of preference.
#pragma once

#include <absl/strings/ascii.h>
#include <absl/strings/str_split.h>

#include <string>
#include <string_view>
#include <vector>

namespace kcr::streaming {

inline std::vector<std::string> OfferedProtocols(std::string_view header) {
  std::vector<std::string> out;
  for (absl::string_view a : absl::StrSplit(absl::string_view(header.data(), header.size()), ',')) {
    a = absl::StripAsciiWhitespace(a);
    if (!a.empty()) out.emplace_back(a);
  }
  return out;
}

}  // namespace kcr::streaming
