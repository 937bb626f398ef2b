#pragma once
// Logging: spdlog, configured once by the daemon's main. Include this header
// (not spdlog directly) so absl::string_view and absl::Status format.
#include <string>

#include "common/status.h"
#include "spdlog/spdlog.h"
#include "spdlog/fmt/fmt.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Ctx>
  auto format(absl::string_view v, Ctx& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(v.data(), v.size()), ctx);
  }
};

template <>
struct fmt::formatter<absl::Status> : fmt::formatter<std::string> {
  template <typename Ctx>
  auto format(const absl::Status& s, Ctx& ctx) const {
    return fmt::formatter<std::string>::format(s.ToString(), ctx);
  }
};

namespace kcr {
// Sets the global level from "trace|debug|info|warn|error". InvalidArgument on others.
Status SetLogLevel(const std::string& level);
}  // namespace kcr
